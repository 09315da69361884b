"""The ``spikebits`` command line, one module per subcommand: ``search``, ``compare``,
``report``, ``evaluate``, ``sensitivity``, ``space``, ``export``, ``strategies``.

Errors a user can cause print one line and exit with code 2, without a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from spikebits.search.cli import compare, evaluate, export, report, search, sensitivity, space, strategies
from spikebits.search.cli.common import Parser
from spikebits.space import SpikebitsError

#: The subcommands, in the order ``spikebits --help`` lists them.
SUBCOMMANDS = (search, compare, report, evaluate, sensitivity, space, export, strategies)


def build_parser() -> Parser:
    parser = Parser(prog="spikebits", description="Search per-layer bit widths and time steps of spiking neural networks.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["search"]  # the embedded default: digits_cnn on digits
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpikebitsError as err:
        print(f"spikebits: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikebits: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
