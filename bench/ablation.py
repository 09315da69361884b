"""Ablation of the differentiable search: uniform QAT at an equal or larger bit budget against
learnable bits, with and without step-size renewal (the shape of the seed paper's ablation,
CIFAR-10 at 1/1/1: 74.8 -> 95.7 -> 96.2), over several seeds, on MNIST and digits.

Per data set, seed and target, three arms, each trained for the same number of epochs from
the same cached full-precision network (the supernet's default length: ⌈12,000 / training
images⌉ epochs, 1 on MNIST and 10 on digits, unless ``--epochs``):

a. uniform QAT: every unpinned layer at one choice, fine-tuned (the evaluator's fine-tune,
   those epochs) — the uniform choice of the *smallest bit budget at or above* the larger of
   the two learnable arms' budgets (ties: the larger W, then the larger S), so the uniform
   arm never has less budget than the arm it is compared with;
b. learnable B̂_w, B̂_s,t, T̂ with the budget loss, no step-size renewal;
c. as b, with step-size renewal of the spike quantizers (the seed paper's best; the
   strategy's default).

b and c score the supernet's own network at the config it learned (snapped to the space's
options, BatchNorm recomputed; no fitting, no fine-tune: what the strategy hands on when the
target is met), at the bit budget of that config. Validation and test accuracy, mean ±
sample standard deviation over the seeds (each seed its own data split, pretraining and
training), the bit budget reached (mean), and the late changes (rounded-config changes in the
last 10% of the steps in which the bits learn). The default space (W 1,2,3,4,8; S 1,2,4; T
1,2,4; uniform and power-of-two weights); conv1 pinned at W8/S8/T1.

Writes ``bench/results/ablation.json`` and ``.md`` (the README's table is copied from it):

    .venv/bin/python bench/ablation.py [--datasets mnist,digits] [--targets 1/1/1,2/2/1,3/3/1] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from spikebits.evaluators import Evaluator
from spikebits.search.differentiable import DifferentiableOptions, supernet_epochs, train_supernet
from spikebits.search.supernet_network import hand_on
from spikebits.space import BitTargets, LayerChoice, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
MNIST = ROOT.parent / "shared" / "data" / "mnist"
MODELS = {"mnist": "mnist_cnn", "digits": "digits_cnn"}
ARMS = ("a. uniform QAT, budget >= b, c", "b. learnable", "c. learnable + renewal")


def uniform_at_least(evaluator: Evaluator, bit_budget: float) -> LayerChoice:
    """The uniform choice (uniform scheme) of the smallest bit budget at or above
    ``bit_budget`` (ties: larger W, then larger S); the largest one if none reaches it."""
    space = evaluator.space
    reps = space.decisions
    w_opts = sorted(set.intersection(*(set(space.layers[r].w_bits) for r in reps)))
    s_opts = sorted(set.intersection(*(set(space.layers[r].s_bits) for r in reps)))
    t_opts = sorted(set.intersection(*(set(space.layers[r].timesteps) for r in reps)))
    choices = [LayerChoice(w, s, t, "uniform") for w in w_opts for s in s_opts for t in t_opts]
    budgets = [(evaluator.cost(space.uniform(c))["bit_budget"], c) for c in choices]
    reaching = [(b, -c.w_bits, -c.s_bits, c) for b, c in budgets if b >= bit_budget - 1e-9]
    if not reaching:
        return max(budgets, key=lambda bc: bc[0])[1]
    return min(reaching, key=lambda x: x[:3])[3]


def run_seed(dataset: str, seed: int, targets: tuple[BitTargets, ...], epochs: int | None, device: str) -> list[dict]:
    root = MNIST if dataset == "mnist" else None
    evaluator = Evaluator(MODELS[dataset], dataset, seed=seed, device=device, data_root=root)
    evaluator.prepare()
    n = epochs if epochs is not None else supernet_epochs(len(evaluator.data.train))
    rows = []
    for target in targets:
        row: dict = {"target": str(target), "epochs": n}
        for arm, renewal in ((ARMS[1], "none"), (ARMS[2], "spikes")):
            run = train_supernet(evaluator, target, DifferentiableOptions(supernet_epochs=n, renewal=renewal), seed=seed)
            model = hand_on(run.supernet, run.config, run.config, evaluator)
            scores = evaluator.score(model)
            row[arm] = {
                "accuracy": scores["accuracy"], "test_accuracy": scores["test_accuracy"],
                "bit_budget": evaluator.cost(run.config)["bit_budget"], "config": run.config.short(),
                "late_changes": run.late_changes["changes"], "wall_time_s": run.wall_time_s,
            }
        choice = uniform_at_least(evaluator, max(row[ARMS[1]]["bit_budget"], row[ARMS[2]]["bit_budget"]))
        config = evaluator.space.uniform(choice)
        start = time.perf_counter()
        scores = evaluator.score(evaluator.finetune(config, epochs=n))
        row[ARMS[0]] = {
            "accuracy": scores["accuracy"], "test_accuracy": scores["test_accuracy"],
            "bit_budget": evaluator.cost(config)["bit_budget"], "config": config.short(), "wall_time_s": time.perf_counter() - start,
        }
        rows.append(row)
        print(f"  {dataset} seed {seed} {target}: " + "; ".join(
            f"{arm[:2]} {100 * row[arm]['accuracy']:.2f}/{100 * row[arm]['test_accuracy']:.2f} @ {row[arm]['bit_budget']:.2f}" for arm in ARMS
        ), flush=True)
    return rows


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}"


def table(dataset: str, targets: tuple[BitTargets, ...], by_seed: list[list[dict]]) -> list[str]:
    lines = [
        f"| {dataset} target | " + " | ".join(ARMS) + " | late changes b / c |",
        "|---|" + "---|" * (len(ARMS) + 1),
    ]
    for i, target in enumerate(targets):
        cells = []
        for arm in ARMS:
            val = [100 * rows[i][arm]["accuracy"] for rows in by_seed]
            test = [100 * rows[i][arm]["test_accuracy"] for rows in by_seed]
            budget = statistics.fmean(rows[i][arm]["bit_budget"] for rows in by_seed)
            cells.append(f"val {mean_sd(val)}, test {mean_sd(test)} ({budget:.2f})")
        late = " / ".join(f"{sum(rows[i][a]['late_changes'] for rows in by_seed)}" for a in ARMS[1:])
        lines.append(f"| {target} | " + " | ".join(cells) + f" | {late} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist,digits", help="mnist and/or digits (default both)")
    parser.add_argument("--targets", default="1/1/1,2/2/1,3/3/1", help="W/S/T targets, comma-separated (default 1/1/1,2/2/1,3/3/1)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs of every arm (default: the supernet's default length)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--out", default=str(OUT / "ablation"), help="output stem (default bench/results/ablation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    targets = BitTargets.parse_list(args.targets)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    results: dict = {"command": sys.argv, "seeds": seeds, "targets": [str(t) for t in targets], "arms": list(ARMS), "datasets": {}}
    lines = ["# Ablation of the differentiable search (bench/ablation.py)", "", f"`{' '.join(['.venv/bin/python', *sys.argv])}`", ""]
    for dataset in args.datasets.split(","):
        by_seed = [run_seed(dataset, seed, targets, args.epochs, args.device) for seed in seeds]
        results["datasets"][dataset] = by_seed
        lines += [
            f"{MODELS[dataset]} on {dataset}, seeds {args.seeds}, {by_seed[0][0]['epochs']} epoch(s) per arm; accuracy in %, "
            "mean ± sd over the seeds; in brackets the bit budget (mean)", "", *table(dataset, targets, by_seed), "",
        ]
    results["wall_time_s"] = time.perf_counter() - start
    lines.append(f"Total wall time {results['wall_time_s']:.0f} s, {torch.get_num_threads()} torch threads.")
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(results, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
