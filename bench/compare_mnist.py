"""The decisive comparison: every strategy on MNIST at an equal wall-time budget, 5 seeds.

``spikebits compare`` (:mod:`search.compare`) with ``--dataset mnist``: every strategy runs for
every seed with the same space, evaluator, pretrained network and reference point, and asks
no new trial once ``--time-budget`` seconds have passed since its start (its supernet
training, for ``differentiable`` and ``gumbel``, included). The report gives each strategy's
final hypervolume (accuracy, bit budget, S-ACE) mean ± sd and the two-sided Mann-Whitney
p-value of the primary strategy (the first of ``--strategies``) against each other one.

Two cores: the strategies are split into two groups that run side by side, one
``spikebits compare`` process each with one torch thread, so every run shares the machine
with one other run the whole time (the two groups' sums of run times are about equal). Before
they start, each seed's pretraining is done once, one after another, so that the two
processes read it from the cache instead of training it twice. Then the two
``compare.json`` are merged (same reference point: it depends on the space only) into
``bench/results/mnist/compare/`` with its ``report.md`` and plots; the runs' own folders stay
in ``--work`` (default ``runs/compare-mnist``, not committed).

    .venv/bin/python bench/compare_mnist.py [--seeds 5] [--time-budget 150] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mnist"
OUT = ROOT / "bench" / "results" / "mnist" / "compare"
#: Two groups of about equal running time (the supernet strategies apart; ilp and boost
#: together, as they share the seed's sensitivity report).
GROUPS = ("differentiable,gumbel,nsga2,random", "tpe,gp,qmc,ilp,boost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 … K−1 (default 5)")
    parser.add_argument("--time-budget", type=float, default=150.0, help="wall seconds per run (default 150)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs per trial (default 1)")
    parser.add_argument("--groups", default=";".join(GROUPS), help="strategy groups run side by side, ';'-separated")
    parser.add_argument("--data-dir", default=str(DATA), help="the MNIST IDX folder (default ../shared/data/mnist)")
    parser.add_argument("--work", default=str(ROOT / "runs" / "compare-mnist"), help="folder of the two comparisons' runs")
    parser.add_argument("--out", default=str(OUT), help="folder of the merged compare.json and report (default bench/results/mnist/compare)")
    args = parser.parse_args()
    spikebits = str(Path(sys.executable).with_name("spikebits"))
    common = ["--dataset", "mnist", "--data-dir", args.data_dir, "--seeds", str(args.seeds), "--time-budget", str(args.time_budget),
              "--epochs", str(args.epochs), "--threads", "1", "--quiet"]
    start = time.perf_counter()

    from spikebits.evaluators import Evaluator

    for seed in range(args.seeds):  # pretraining once per seed, before the clocks of the two processes
        Evaluator("mnist_cnn", "mnist", seed=seed, data_root=args.data_dir).prepare()
    print(f"pretrained {args.seeds} seeds ({time.perf_counter() - start:.0f} s)", flush=True)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    groups = [g for g in args.groups.split(";") if g]
    procs = []
    for k, group in enumerate(groups):
        folder = work / f"group-{k}"
        log = open(work / f"group-{k}.log", "w")  # noqa: SIM115 - the child process writes it until it ends
        procs.append(subprocess.Popen([spikebits, "compare", "--strategies", group, *common, "--out", str(folder)],
                                      stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a comparison failed (exit codes {codes}); see {work}/group-K.log")

    from spikebits.results.compare import read_compare_json, write_report
    from spikebits.space import atomic_write_text

    parts = [read_compare_json(work / f"group-{k}" / "compare.json") for k in range(len(groups))]
    merged = dict(parts[0])
    if any(p["reference_point"] != merged["reference_point"] for p in parts):
        raise SystemExit("the groups' reference points differ; they were not run on the same space")
    merged["strategies"] = [s for p in parts for s in p["strategies"]]
    merged["runs"] = [r for p in parts for r in p["runs"]]
    merged["command"] = [sys.executable, *sys.argv]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.json", json.dumps(merged, indent=2) + "\n")
    written = write_report(out, merged)
    print((out / "report.md").read_text())
    print(f"wrote {out}/compare.json, {', '.join(p.name for p in written)} ({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
