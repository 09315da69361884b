"""Ablation of the differentiable search on digits: uniform QAT vs learnable bits vs learnable
bits + spike step-size renewal, at equal epochs from the same cached full-precision model.

The shape of the seed paper's ablation (CIFAR-10 at 1/1/1: 74.8 -> 95.7 -> 96.2):

a. uniform QAT: every unpinned layer fixed at the target W/S/T (uniform scheme), fine-tuned;
b. learnable B̂_w, B̂_s,t, T̂ with the budget loss, no step-size renewal;
c. as b, with step-size renewal of the spike quantizers (the seed paper's best).

Accuracies are on the test set. For b and c it is the supernet's own accuracy at the end of
its training (the trained network, as in the paper, not a re-fine-tuned snapped config),
with W̄/S̄/T̄ the mean of the averages over the last epoch's steps, to show whether the run
reached its target. The space has contiguous options (W 1-8, S 1-4, T 1-4, uniform) so the
learnable rounding and the final snap agree; conv1 stays pinned at W8/S8/T1. Target (seed
paper): b >> a and c >= b at 1/1/1.

    .venv/bin/python bench/ablation.py [--targets 1/1/1,2/2/1,3/3/1] [--epochs 10] [--seed 0] [--init largest]
"""

from __future__ import annotations

import argparse
import time

import torch

from spikebits import models
from spikebits.evaluators import Evaluator
from spikebits.search.differentiable import DifferentiableOptions, SupernetRun, train_supernet
from spikebits.space import BitTargets, LayerChoice, LayerOptions

#: Contiguous options: learnable values round to integers that are all allowed.
OPTIONS = LayerOptions(w_bits=(1, 2, 3, 4, 5, 6, 7, 8), s_bits=(1, 2, 3, 4), timesteps=(1, 2, 3, 4), schemes=("uniform",))


def last_epoch_averages(run: SupernetRun, epochs: int) -> tuple[float, float, float]:
    """Mean W̄, S̄, T̄ over the history entries of the last epoch's steps."""
    last = [h for h in run.history if h["step"] > 0 and h["epoch"] > epochs - 1]
    return tuple(sum(h[k] for h in last) / len(last) for k in ("w_bits", "s_bits", "timesteps"))  # type: ignore[return-value]


def learnable(run: SupernetRun, epochs: int) -> str:
    w, s, t = last_epoch_averages(run, epochs)
    return f"{100 * run.supernet_accuracy:5.1f}% ({w:.2f}/{s:.2f}/{t:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1/1/1,2/2/1,3/3/1", help="W/S/T targets, comma-separated (default 1/1/1,2/2/1,3/3/1)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every method (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="data split, pretraining and training seed (default 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--init", default="largest", help='supernet start, "largest" or W/S/T (default largest)')
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    targets = BitTargets.parse_list(args.targets)
    space = models.default_space(models.build("digits_cnn"), OPTIONS)
    evaluator = Evaluator("digits_cnn", "digits", seed=args.seed, space=space, device=args.device)
    _, full_acc = evaluator.pretrained()

    rows = []
    start = time.perf_counter()
    for target in targets:
        choice = LayerChoice(round(target.w_bits), round(target.s_bits), round(target.timesteps), "uniform")
        qat = evaluator.score(evaluator.finetune(space.uniform(choice), epochs=args.epochs))["accuracy"]
        runs = {}
        for renewal in ("none", "spikes"):
            settings = DifferentiableOptions(supernet_epochs=args.epochs, renewal=renewal, init_bits=args.init)
            runs[renewal] = train_supernet(evaluator, target, settings, seed=args.seed)
        rows.append((target, choice, qat, runs["none"], runs["spikes"]))
        print(f"  target {target} done ({time.perf_counter() - start:.0f} s)", flush=True)

    print()
    print(f"digits_cnn on digits, seed {args.seed}, {args.epochs} epochs per method, supernet init {args.init}, {args.threads} threads")
    print(f"full-precision test accuracy: {100 * full_acc:.1f}%")
    print("test accuracy; (W̄/S̄/T̄) = mean over the last epoch of the supernet's averages")
    header = f"{'target':>7} | {'uniform QAT':>15} | {'learnable, no renewal':>24} | {'learnable + spike renewal':>25} | spike renewals (off at epoch)"
    print(header)
    print("-" * len(header))
    for target, choice, qat, plain, renewed in rows:
        off = renewed.renewal_off_epoch.get("spikes")
        print(
            f"{str(target):>7} | {100 * qat:5.1f}% ({choice.short()}) | {learnable(plain, args.epochs):>24} | "
            f"{learnable(renewed, args.epochs):>25} | {renewed.renewals['spikes']} ({off if off is not None else 'never'})"
        )
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
