"""Ray Tune scaling on this machine, digits_cnn on digits, in one run: trials per minute with 2
concurrent trials ÷ with 1, the per-trial overhead, and the start cost of a Ray search.

Both runs use the same random-sampler search (1 fine-tuning epoch per trial, 1 CPU and one
torch thread per trial, the same seed and so the same configs) on one in-process Ray instance
with 2 CPUs. Every trial's completion is timestamped in the driver (the strategy's callback):

* start cost: from ``RayExecutor.run`` to the first completion, less that trial's own
  evaluation (``wall_time_s``, measured in the trainable around ``Evaluator.__call__``): Tune
  starts a fresh worker process per concurrent trial for each run (it does not keep them
  between runs), which imports torch and Ray Tune and unpickles the evaluator, and the first
  trial in a fresh process pays torch's warm-up;
* per-trial overhead (steady state, 1 concurrent): median over the later trials of the time
  between two completions less the second trial's evaluation — the trial protocol itself
  (ask, schedule on the reused actor, report, tell);
* scaling: trials/min at 2 concurrent ÷ at 1, over the whole run (start cost included) and in
  steady state (the completions after the first c, c = trials at once, per minute between
  the c-th completion and the last).

Targets (issue 13): scaling ≥ 1.6 (limit 2.0), overhead ≤ 0.3 s per trial.

    .venv/bin/python bench/ray_scaling.py [--trials 12] [--epochs 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from spikebits.evaluators import Evaluator
from spikebits.search import get_strategy
from spikebits.search.ray_search import RayExecutor, init_ray
from spikebits.space import Budget


def timed_run(evaluator: Evaluator, n_trials: int, concurrent: int, seed: int, storage: str) -> dict:
    strategy = get_strategy("random")(evaluator.space, evaluator, Budget(), ("accuracy", "bit_budget"), seed=seed, n_trials=n_trials)
    told: list[tuple[float, float]] = []  # (time since start, the trial's own evaluation)
    start = time.perf_counter()
    records = RayExecutor(max_concurrent=concurrent, ray_storage=storage).run(
        strategy, n_trials, lambda record: told.append((time.perf_counter() - start, record.wall_time_s))
    )
    wall = time.perf_counter() - start
    done = [r for r in records if r.state == "COMPLETE"]
    times = [t for t, _ in told]
    return {
        "wall": wall,
        "done": len(done),
        "evaluation": sum(r.wall_time_s for r in done) / len(done),
        "start_cost": told[0][0] - told[0][1],
        "gaps": [told[i][0] - told[i - 1][0] - told[i][1] for i in range(1, len(told))],
        # after the first `concurrent` completions every worker is busy and warm
        "steady_rate": (
            60 * (len(times) - concurrent) / (times[-1] - times[concurrent - 1]) if len(times) > concurrent else float("nan")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    evaluator = Evaluator("digits_cnn", "digits", epochs=args.epochs)
    evaluator.pretrained()
    init_ray(None, num_cpus=2)
    with tempfile.TemporaryDirectory(prefix="sb-ray-bench-") as folder:
        timed_run(evaluator, 2, 2, seed=99, storage=f"{folder}/warm")  # Ray's own first-use costs
        one = timed_run(evaluator, args.trials, 1, seed=1, storage=f"{folder}/c1")
        two = timed_run(evaluator, args.trials, 2, seed=1, storage=f"{folder}/c2")
    rate_1, rate_2 = 60 * one["done"] / one["wall"], 60 * two["done"] / two["wall"]
    print(f"digits_cnn on digits, {args.trials} random-sampler trials of {args.epochs} fine-tuning epoch(s), 1 CPU per trial")
    for name, run, rate in (("1 concurrent", one, rate_1), ("2 concurrent", two, rate_2)):
        print(
            f"  {name}: {run['done']} trials in {run['wall']:.1f} s = {rate:.1f} trials/min "
            f"(steady state {run['steady_rate']:.1f}/min); evaluation {run['evaluation']:.2f} s per trial; "
            f"start cost {run['start_cost']:.1f} s"
        )
    print(f"  scaling 2 ÷ 1: {rate_2 / rate_1:.2f} whole run, {two['steady_rate'] / one['steady_rate']:.2f} steady state  (target >= 1.6, limit 2.0)")
    print(f"  per-trial overhead (steady state, 1 concurrent): {statistics.median(one['gaps']):.3f} s median  (target <= 0.3 s)")
    print(f"  start cost of a Ray search: {one['start_cost']:.1f} s (1 worker), {two['start_cost']:.1f} s (2 workers)")


if __name__ == "__main__":
    main()
