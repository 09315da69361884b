"""``spikebits compare``: several strategies, several seeds, one budget each; ``compare.json``,
``report.md`` and the comparison plots (see :mod:`search.compare`)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from spikebits.search.base import DEFAULT_STRATEGY, available, trials_notes
from spikebits.search.cli.common import (
    add_common_arguments,
    add_scoring_arguments,
    check_names,
    chip_budget,
    default_out,
    epoch_count,
    make_evaluator,
    positive_float,
    seed_count,
    set_threads,
    trial_count,
)
from spikebits.search.cli.search import DEFAULT_EPOCHS, add_ray_arguments, make_executor
from spikebits.search.driver import RunControl
from spikebits.search.signals import StopOnSignals
from spikebits.space import DEFAULT_OBJECTIVES, Budget, ConfigError, lock_folder, parse_objectives

DEFAULT_STRATEGIES = f"{DEFAULT_STRATEGY},nsga2,random"


def add_parser(sub: Any) -> None:
    c = sub.add_parser("compare", help="compare strategies on equal budgets over several seeds")
    add_common_arguments(c)
    c.add_argument("--strategies", default=DEFAULT_STRATEGIES,
                   help=f"comma-separated strategies (default {DEFAULT_STRATEGIES}; any of {', '.join(available())})")
    c.add_argument("--seeds", type=seed_count, default=3, help="seeds 0 … K−1 for every strategy (default 3)")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--evaluations", type=trial_count, metavar="N",
                       help=f"fine-tuned trials per run ({trials_notes()})")
    which.add_argument("--time-budget", type=positive_float, metavar="SECONDS", help="wall time per run: no trial is asked after it")
    c.add_argument("--epochs", type=epoch_count, default=DEFAULT_EPOCHS, help="fine-tuning epochs per trial")
    c.add_argument("--budget", action="append", metavar="METRIC<=X", help="constraint, e.g. 'bit_budget<=2.5' (repeatable)")
    c.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES), help="comma-separated metrics to optimise")
    c.add_argument("--out", help="output folder (default runs/compare-DATE-TIME); run again with the same --out to resume (other "
                   "settings are refused)")
    c.add_argument("--restart", action="store_true", help="discard every run in --out and run the comparison afresh with these settings")
    add_scoring_arguments(c)
    add_ray_arguments(c)
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spikebits.results.compare import write_report
    from spikebits.search.compare import EvaluationBudget, check_strategies, run_comparison

    check_names(args)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    objectives = parse_objectives(args.objectives)
    budget = Budget.parse(args.budget)
    evaluation_budget = EvaluationBudget(args.evaluations, args.time_budget)
    if args.resume:
        raise ConfigError("a comparison resumes by itself: run the same command with the same --out (drop --resume)")
    out = Path(args.out or default_out("compare"))
    set_threads(args.threads)

    if args.seed != 0:
        raise ConfigError(f"a comparison runs seeds 0 … K−1 (--seeds K), not one --seed; drop --seed {args.seed}")
    made: list[Any] = []  # every seed's evaluator, each asked to stop on SIGINT or SIGTERM

    def evaluator_for(seed: int) -> Any:
        made.append(make_evaluator(argparse.Namespace(**{**vars(args), "seed": seed})))
        return made[-1]

    def on_run(strategy: str, seed: int, what: str) -> None:
        if not args.quiet:
            words = {"start": "running", "done": "finished", "kept": "kept (finished before)"}
            print(f"{strategy} seed {seed}: {words[what]}", file=sys.stderr, flush=True)

    def announce(signum: int) -> None:
        print(f"spikebits: {signal.Signals(signum).name}: stopping at the next batch; the finished runs stay in {out} "
              "(press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    check_strategies(strategies)
    budget = chip_budget(budget, make_evaluator(args).chip)  # checks every input before --out is touched; does no work
    control = RunControl()
    with StopOnSignals(control, made, announce):  # run_comparison checks everything, then writes --out under its lock
        data = run_comparison(
            strategies, list(range(args.seeds)), evaluator_for, budget=budget, objectives=objectives,
            evaluation_budget=evaluation_budget, out_dir=out, make_executor=lambda folder: make_executor(args, str(folder)),
            command=sys.argv, model=args.model, dataset=args.dataset, on_run=on_run, control=control, restart=args.restart,
        )
    with lock_folder(out):
        written = write_report(out, data)
    print((out / "report.md").read_text())
    print(f"wrote {out}/compare.json, {', '.join(p.name for p in written)}")
    return 0
