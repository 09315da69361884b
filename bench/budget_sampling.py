"""Budget-aware sampling on digits: hypervolume after the same wall time, with and without.

For each strategy (default random and nsga2) two searches run one after the other on the same
evaluator (digits_cnn on digits, 1 fine-tuning epoch per trial, cached pretraining) under the
same budget (default ``bit_budget<=2``) and seed:

* ``train``: every sampled config is fine-tuned and scored, and only then found infeasible
  (the behaviour before issue 13);
* the strategy's default (random: ``skip``, draw again; nsga2/tpe: ``repair`` by the fit
  rule): a config that breaks the data-free budget is recorded untrained.

Each trained trial's finishing time is taken from the search's callback; the table gives the
hypervolume (the search's own reference point: accuracy 0, the space's largest costs) of the
feasible front reached by each wall-time mark, and the share of the fine-tuning time that went
into infeasible configs.

    .venv/bin/python bench/budget_sampling.py [--budget 'bit_budget<=2'] [--trials 30] [--marks 15,30,45]
"""

from __future__ import annotations

import argparse
import time

import torch

from spikebits.evaluators import Evaluator
from spikebits.results import TrialRecord, hypervolume, pareto_front
from spikebits.search import get_strategy, run_search
from spikebits.search.runner import default_reference
from spikebits.space import Budget

OBJECTIVES = ("accuracy", "bit_budget", "s_ace")


def timed_search(evaluator: Evaluator, strategy: str, mode: str, budget: Budget, n_trials: int, seed: int) -> list[tuple[float, TrialRecord]]:
    """(seconds since the start, record) of every trained trial, in the order they finished."""
    finished: list[tuple[float, TrialRecord]] = []
    start = time.perf_counter()
    run_search(strategy, evaluator, budget=budget, objectives=OBJECTIVES, n_trials=n_trials, seed=seed, infeasible=mode,
               callback=lambda record: finished.append((time.perf_counter() - start, record)))
    return finished


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="bit_budget<=2", help="budget (default bit_budget<=2)")
    parser.add_argument("--strategies", default="random,nsga2", help="comma-separated (default random,nsga2)")
    parser.add_argument("--trials", type=int, default=30, help="trained trials per search (default 30)")
    parser.add_argument("--marks", default="15,30,45", help="wall-time marks in seconds (default 15,30,45)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs per trial (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    budget = Budget.parse(args.budget)
    marks = [float(m) for m in args.marks.split(",")]
    evaluator = Evaluator("digits_cnn", "digits", seed=args.seed, epochs=args.epochs)
    evaluator.pretrained()
    reference = default_reference(evaluator, OBJECTIVES)
    print(f"digits_cnn on digits, {args.epochs} epoch(s) per trial, budget {budget}, seed {args.seed}; hypervolume of the feasible front by each mark")
    header = f"{'strategy':>8} {'infeasible':>10} | " + " | ".join(f"{'HV @' + format(m, 'g') + ' s':>12}" for m in marks)
    header += " | trained  feasible  time on infeasible"
    print(header)
    print("-" * len(header))
    for name in args.strategies.split(","):
        default_mode = get_strategy(name).Options().infeasible
        for mode in ("train", default_mode):
            finished = timed_search(evaluator, name, mode, budget, args.trials, args.seed)
            cells = []
            for mark in marks:
                front = pareto_front([r for t, r in finished if t <= mark], OBJECTIVES)
                cells.append(f"{hypervolume(front, OBJECTIVES, reference) if front else 0.0:>12.4g}")
            total = sum(r.wall_time_s for _, r in finished)
            wasted = sum(r.wall_time_s for _, r in finished if not r.feasible)
            feasible = sum(r.feasible for _, r in finished)
            print(f"{name:>8} {mode:>10} | " + " | ".join(cells)
                  + f" | {len(finished):>7}  {feasible:>8}  {100 * wasted / max(total, 1e-9):>17.0f}%", flush=True)


if __name__ == "__main__":
    main()
