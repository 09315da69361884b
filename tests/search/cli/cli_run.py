"""The CLI driven in-process, for the table-driven CLI tests."""

from __future__ import annotations

from spikebits.search.cli import main


def run_main(capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001 - pytest's capsys
    """``main(argv)`` → (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
