"""Ablation of the differentiable search on digits, over several seeds and at equal bit budget.

Four arms per target and seed, all trained for the same number of epochs from the same cached
full-precision model (the shape of the seed paper's ablation, CIFAR-10 at 1/1/1:
74.8 -> 95.7 -> 96.2):

a. uniform QAT at the target: every unpinned layer fixed at the target W/S/T (uniform
   scheme), fine-tuned;
b. uniform QAT at the bit budget the learnable arm d actually reached: the uniform config of
   the largest bit budget W·S·T that is at most d's (ties: larger W, then larger S, then
   smaller T), fine-tuned — the fair comparison when d misses its target;
c. learnable B̂_w, B̂_s,t, T̂ with the budget loss, no step-size renewal;
d. as c, with step-size renewal of the spike quantizers (the seed paper's best).

Accuracies are on the validation split, mean ± sample standard deviation over the seeds (each seed
its own data split, pretraining and training). For c and d it is the supernet's own accuracy
at the end of its training (the trained network, as in the paper, not a re-fine-tuned
snapped config); their bit budget is that of the snapped config. The space has contiguous
options (W 1-8, S 1-4, T 1-4, uniform), so the learnable rounding and the snap agree; conv1
stays pinned at W8/S8/T1. Target (seed paper): d >= b at every target.

    .venv/bin/python bench/ablation.py [--targets 1/1/1,2/2/1,3/3/1] [--epochs 10] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from spikebits import models
from spikebits.evaluators import Evaluator
from spikebits.search.differentiable import DifferentiableOptions, train_supernet
from spikebits.space import BitTargets, LayerChoice, LayerOptions

#: Contiguous options: learnable values round to integers that are all allowed.
OPTIONS = LayerOptions(w_bits=(1, 2, 3, 4, 5, 6, 7, 8), s_bits=(1, 2, 3, 4), timesteps=(1, 2, 3, 4), schemes=("uniform",))
ARMS = ("a. QAT at target", "b. QAT at reached BB", "c. learnable", "d. learnable + renewal")


def uniform_at_most(bit_budget: float) -> LayerChoice:
    """The uniform choice of the largest W·S·T ≤ ``bit_budget`` (ties: larger W, larger S,
    smaller T); the smallest choice if none fits."""
    o = OPTIONS
    fitting = [(w * s * t, w, s, -t) for w in o.w_bits for s in o.s_bits for t in o.timesteps if w * s * t <= bit_budget + 1e-9]
    if not fitting:
        return LayerChoice(min(o.w_bits), min(o.s_bits), min(o.timesteps), "uniform")
    _, w, s, neg_t = max(fitting)
    return LayerChoice(w, s, -neg_t, "uniform")


def run_seed(seed: int, targets: tuple[BitTargets, ...], epochs: int, device: str) -> list[dict]:
    space = models.default_space(models.build("digits_cnn"), OPTIONS)
    evaluator = Evaluator("digits_cnn", "digits", seed=seed, space=space, device=device)
    evaluator.pretrained()
    rows = []
    for target in targets:
        row: dict = {"target": str(target)}
        at_target = LayerChoice(round(target.w_bits), round(target.s_bits), round(target.timesteps), "uniform")
        row[ARMS[0]] = (evaluator.score(evaluator.finetune(space.uniform(at_target), epochs=epochs))["accuracy"],
                        evaluator.cost(space.uniform(at_target))["bit_budget"])
        for arm, renewal in ((ARMS[2], "none"), (ARMS[3], "spikes")):
            run = train_supernet(evaluator, target, DifferentiableOptions(supernet_epochs=epochs, renewal=renewal), seed=seed)
            row[arm] = (run.supernet_accuracy, evaluator.cost(run.config)["bit_budget"])
            row[arm + " late changes"] = run.late_changes["changes"]
        fair = uniform_at_most(row[ARMS[3]][1])
        row[ARMS[1]] = (evaluator.score(evaluator.finetune(space.uniform(fair), epochs=epochs))["accuracy"],
                        evaluator.cost(space.uniform(fair))["bit_budget"])
        rows.append(row)
    return rows


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1/1/1,2/2/1,3/3/1", help="W/S/T targets, comma-separated (default 1/1/1,2/2/1,3/3/1)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every arm (default 10)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    targets = BitTargets.parse_list(args.targets)
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    by_seed = []
    for seed in seeds:
        by_seed.append(run_seed(seed, targets, args.epochs, args.device))
        print(f"  seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)

    print()
    print(f"digits_cnn on digits, seeds {args.seeds}, {args.epochs} epochs per arm; validation accuracy in %, mean ± sd over seeds")
    print("(bit budget reached, mean over seeds); late changes = rounded-config changes in the supernet's last 10% of steps")
    header = f"{'target':>7} | " + " | ".join(f"{arm:>24}" for arm in ARMS) + " | late changes c / d"
    print(header)
    print("-" * len(header))
    for i, target in enumerate(targets):
        cells = []
        for arm in ARMS:
            accs = [100 * rows[i][arm][0] for rows in by_seed]
            budget = statistics.fmean(rows[i][arm][1] for rows in by_seed)
            cells.append(f"{mean_sd(accs)} ({budget:.2f})")
        late = [f"{sum(rows[i][a + ' late changes'] for rows in by_seed) / len(by_seed):.1f}" for a in ARMS[2:]]
        print(f"{str(target):>7} | " + " | ".join(f"{c:>24}" for c in cells) + f" | {' / '.join(late)}")
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
