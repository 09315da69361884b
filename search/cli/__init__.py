"""The ``spikebits`` command line, one module per subcommand: ``search``, ``compare``,
``report``, ``evaluate``, ``sensitivity``, ``space``, ``export``, ``strategies``, ``chips``.

Errors a user can cause print one line and exit with code 2, without a traceback; any other
exception (a bug) prints one line and exits with code 1. ``--debug`` (anywhere on the command
line) prints the traceback as well. An interrupted command (Ctrl-C, SIGTERM; training stopped at
a batch boundary, :class:`space.TrainingStopped`) exits with 130.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Sequence

from spikebits.search.cli import chips, compare, evaluate, export, report, search, sensitivity, space, strategies
from spikebits.search.cli.common import Parser
from spikebits.space import SpikebitsError, TrainingStopped, one_line

#: Errors of a write that found no room (a full disk, a quota): the user's to fix, not a bug.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

#: The subcommands, in the order ``spikebits --help`` lists them.
SUBCOMMANDS = (search, compare, report, evaluate, sensitivity, space, export, strategies, chips)


def build_parser() -> Parser:
    parser = Parser(prog="spikebits", description="Search per-layer bit widths and time steps of spiking neural networks.")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error too (may also follow the subcommand)")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def user_message(err: SpikebitsError) -> str:
    """The error's one line. A data loader's worker process hands its error back wrapped in
    the worker's traceback ("Caught DataError in DataLoader worker process 0. Original
    Traceback ..."): only the original message, the traceback's last line, is kept."""
    text = str(err)
    if "Original Traceback" in text:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        name = type(err).__name__
        text = last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    return one_line(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv:
        argv = ["search"]  # the embedded default: digits_cnn on digits
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a one-line argparse error: return its code
        return stop.code if isinstance(stop.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TrainingStopped as err:  # stopped on SIGINT/SIGTERM at a batch boundary, outside a trial
        if debug:
            traceback.print_exc()
        print(f"spikebits: {one_line(err)}", file=sys.stderr)
        return 130
    except SpikebitsError as err:
        if debug:
            traceback.print_exc()
        print(f"spikebits: error: {user_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("spikebits: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`spikebits chips | head -1`): say nothing, as
        # `cat` does; stdout goes to /dev/null so that Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        if isinstance(err, OSError) and err.errno in NO_ROOM:
            where = f" writing {err.filename}" if err.filename else ""
            print(f"spikebits: error: no room left on the disk{where} ({err.strerror}); free some space or choose another "
                  "--out and --cache-dir, then run the same command again", file=sys.stderr)
            return 2
        print(f"spikebits: internal error: {type(err).__name__}: {one_line(err)} (run again with --debug for the traceback, "
              "and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
