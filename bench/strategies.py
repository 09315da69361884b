"""The default comparison on digits: every strategy, 3 seeds, the same wall-time budget each;
about 20 minutes on 2 cores. Writes ``bench/results/digits/`` (compare.json, report.md,
compare.png, allocation_compare.png, and ``MACHINE.md`` with the date, the machine and the
command); the per-run folders go to ``runs/`` under it, which git ignores (compare.json holds
every run's front and timeline, and ``spikebits report bench/results/digits`` redraws the rest).

    .venv/bin/python bench/strategies.py [--time-budget 50] [--seeds 3] [--out bench/results/digits]

Run again with the same --out to resume an interrupted comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from spikebits.search import available
from spikebits.search.cli import main as spikebits

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", type=float, default=50.0, help="wall seconds per strategy and seed (default 50)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per trial (the search default)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "digits"))
    args = parser.parse_args()
    argv = [
        "compare", "--strategies", ",".join(available()), "--seeds", str(args.seeds), "--time-budget", str(args.time_budget),
        "--epochs", str(args.epochs), "--out", args.out, "--quiet",
    ]
    start = time.perf_counter()
    code = spikebits(argv)
    if code:
        sys.exit(code)
    wall = time.perf_counter() - start
    out = Path(args.out)
    (out / "MACHINE.md").write_text(
        f"# The default comparison on digits\n\n"
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"- machine: {machine()}\n"
        f"- command: `.venv/bin/python bench/strategies.py --time-budget {args.time_budget:g} --seeds {args.seeds} "
        f"--epochs {args.epochs}` (= `spikebits {' '.join(argv[:-3])}`)\n"
        f"- wall time of this invocation: {wall / 60:.1f} min (runs kept from an interrupted invocation not included)\n"
        f"- the table and the winner: [report.md](report.md)\n"
    )


if __name__ == "__main__":
    main()
