"""Ray Tune scaling on this machine: trials per minute with 2 concurrent trials ÷ with 1, and
the per-trial overhead in seconds, digits_cnn on digits, in one run.

Both runs use the same random-sampler search (1 fine-tuning epoch per trial, 1 CPU and one
torch thread per trial) on one in-process Ray instance with 2 CPUs; a warm-up run first
starts the worker processes (and their torch import), as a long search would amortise.
Overhead = wall time per trial at concurrency 1 − the trial's own evaluation time (the
``wall_time_s`` the trainable measures around ``Evaluator.__call__``).
Targets: ratio ≥ 1.6 (the limit is 2.0), overhead ≤ 1 s.

    .venv/bin/python bench/ray_scaling.py [--trials 8] [--epochs 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from spikebits.evaluators import Evaluator
from spikebits.search import get_strategy
from spikebits.search.ray_search import RayExecutor, init_ray
from spikebits.space import Budget


def timed_run(evaluator: Evaluator, n_trials: int, concurrent: int, seed: int, storage: str) -> tuple[float, list]:
    strategy = get_strategy("random")(evaluator.space, evaluator, Budget(), ("accuracy", "bit_budget"), seed=seed, n_trials=n_trials)
    start = time.perf_counter()
    records = RayExecutor(max_concurrent=concurrent, ray_storage=storage).run(strategy, n_trials)
    return time.perf_counter() - start, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    evaluator = Evaluator("digits_cnn", "digits", epochs=args.epochs)
    evaluator.pretrained()
    init_ray(None, num_cpus=2)
    with tempfile.TemporaryDirectory(prefix="sb-ray-bench-") as folder:
        timed_run(evaluator, 2, 2, seed=99, storage=f"{folder}/warm")  # start the workers
        wall_1, records_1 = timed_run(evaluator, args.trials, 1, seed=1, storage=f"{folder}/c1")
        wall_2, records_2 = timed_run(evaluator, args.trials, 2, seed=1, storage=f"{folder}/c2")
    done_1 = [r for r in records_1 if r.state == "COMPLETE"]
    done_2 = [r for r in records_2 if r.state == "COMPLETE"]
    rate_1, rate_2 = 60 * len(done_1) / wall_1, 60 * len(done_2) / wall_2
    evaluation = sum(r.wall_time_s for r in done_1) / len(done_1)
    overhead = wall_1 / len(done_1) - evaluation
    print(f"digits_cnn on digits, {args.trials} random-sampler trials of {args.epochs} fine-tuning epoch(s), 1 CPU per trial")
    print(f"  1 concurrent: {len(done_1)} trials in {wall_1:.1f} s = {rate_1:.1f} trials/min")
    print(f"  2 concurrent: {len(done_2)} trials in {wall_2:.1f} s = {rate_2:.1f} trials/min")
    print(f"  scaling 2 ÷ 1: {rate_2 / rate_1:.2f}  (target >= 1.6, limit 2.0)")
    print(f"  per-trial overhead: {overhead:.2f} s (wall per trial {wall_1 / len(done_1):.2f} s - evaluation {evaluation:.2f} s; target <= 1 s)")


if __name__ == "__main__":
    main()
