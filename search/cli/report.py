"""``spikebits report DIR``: redraw the plots, the table and ``report.md`` of a finished
comparison (``compare.json``) or search (``pareto.json`` and ``trials.csv``) from its stored
results, recomputing nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spikebits.space import DataError


def add_parser(sub: Any) -> None:
    r = sub.add_parser("report", help="redraw the plots and report of a finished comparison or search")
    r.add_argument("folder", metavar="DIR", help="the --out folder of `spikebits compare` or `spikebits search`")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give the --out folder of a finished run")
    if present(folder / "compare.json"):  # the readers refuse anything but a regular file, in one line
        from spikebits.results.compare import read_compare_json, write_report

        data = read_compare_json(folder / "compare.json")
        written = write_report(folder, data)
        print((folder / "report.md").read_text())
        print(f"wrote {folder}/{', '.join(p.name for p in written)}")
        return 0
    if present(folder / "pareto.json") and present(folder / "trials.csv"):
        from spikebits.results import format_front_table, read_run_json
        from spikebits.results.plots import redraw_search
        from spikebits.search.base import get_strategy

        run_info = read_run_json(folder / "run.json") if present(folder / "run.json") else {}  # every file read before one is drawn
        name = (run_info.get("strategy") or {}).get("name")
        draw = get_strategy(name).draw_artifacts if name else None
        records, front, objectives = redraw_search(folder)
        written = ["pareto.png"]
        if draw is not None:
            written += [p.name for p in draw(folder, run_info, records)]
        print(format_front_table(front, objectives))
        print(f"wrote {folder}/{', '.join(written)}")
        return 0
    raise DataError(f"{folder} holds neither compare.json nor pareto.json and trials.csv; give the --out folder of a finished run")


def present(path: Path) -> bool:
    """Whether something is at ``path`` (a link too, even a broken one)."""
    return path.exists() or path.is_symlink()
