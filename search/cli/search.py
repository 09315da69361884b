"""``spikebits search``: search the Pareto front of accuracy against cost.

The strategy options are not written here: their flags are built from the registered
strategies' options dataclasses (:func:`add_strategy_arguments`), so a new strategy is one new
file and no edit of the CLI.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from collections import defaultdict
from typing import Any

from spikebits.search.base import DEFAULT_STRATEGY, DEFAULT_TRIALS, available, get_strategy, taking_option, trials_notes
from spikebits.search.cli.common import (
    add_common_arguments,
    add_scoring_arguments,
    check_names,
    chip_budget,
    default_out,
    load_config,
    concurrent_count,
    epoch_count,
    make_evaluator,
    nonnegative_trial_devices,
    print_placement,
    progress_factory,
    retry_count,
    set_threads,
    trial_count,
    trial_devices,
    warn_chance_level,
)
from spikebits.search.cli.strategies import format_default
from spikebits.search.options import OptionInfo
from spikebits.search.identity import check_run_folder, run_settings
from spikebits.search.checks import check_objectives, check_output_dir, check_run
from spikebits.search.driver import RunControl
from spikebits.search.signals import StopOnSignals
from spikebits.space import DEFAULT_OBJECTIVES, Budget, ConfigError, check_folder_path, lock_folder, parse_objectives
from spikebits.space.metrics import ACCURACY

DEFAULT_EPOCHS = 2
#: The journal storage a search keeps in its --out folder when --storage is not given (Optuna
#: strategies), so that the same command continues an interrupted search.
AUTO_STORAGE = "study.journal"
#: Prefix of the argparse destinations of strategy options.
OPTION_DEST = "option_"
#: argparse ``type`` of each option kind ("floats" are parsed by the options dataclass).
ARG_TYPES = {"int": int, "float": float, "str": str, "floats": str}


def strategy_flags() -> dict[str, list[tuple[str, OptionInfo]]]:
    """Flag → [(strategy, option), ...] over every registered strategy's CLI options."""
    flags: dict[str, list[tuple[str, OptionInfo]]] = defaultdict(list)
    for name in available():
        for info in get_strategy(name).Options.fields_info():
            if info.cli:
                flags[info.flag].append((name, info))
    return dict(flags)


def add_strategy_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per strategy option (shared by the strategies that declare it); a flag that
    is not given is absent from the namespace, so the strategy's own default applies."""
    group = parser.add_argument_group("strategy options (each applies to the strategies named; see `spikebits strategies`)")
    for flag, entries in sorted(strategy_flags().items()):
        name, info = entries[0]
        by_default: dict[str, list[str]] = defaultdict(list)
        for strategy, option in entries:
            by_default[format_default(option)].append(strategy)
        defaults = "; ".join(f"{', '.join(names)}: default {value}" for value, names in by_default.items())
        same_choices = all(option.choices == info.choices for _, option in entries)
        group.add_argument(
            flag,
            dest=OPTION_DEST + info.name,
            type=ARG_TYPES[info.kind],
            choices=info.choices if same_choices else None,
            metavar=info.metavar or (None if same_choices and info.choices else info.name.upper()),
            default=argparse.SUPPRESS,
            # argparse %-formats help text: a literal % (as in "24%") must be doubled.
            help=f"{info.help} [{defaults}]".replace("%", "%%"),
        )


def add_parser(sub: Any) -> None:
    s = sub.add_parser("search", help="search the Pareto front of accuracy against cost")
    add_common_arguments(s)
    s.add_argument("--strategy", default=DEFAULT_STRATEGY, help=f"search strategy: {', '.join(available())} (default {DEFAULT_STRATEGY})")
    s.add_argument("--trials", type=trial_count, help=f"finished trials to reach (default {DEFAULT_TRIALS}; {trials_notes()})")
    s.add_argument("--epochs", type=epoch_count, default=DEFAULT_EPOCHS, help="fine-tuning epochs per trial")
    s.add_argument("--budget", action="append", metavar="METRIC<=X", help="constraint, e.g. 'bit_budget<=2.5' (repeatable)")
    s.add_argument("--objectives", default=",".join(DEFAULT_OBJECTIVES), help="comma-separated metrics to optimise")
    s.add_argument("--warm-start", action="append", metavar="CONFIG.json",
                   help=f"config evaluated first (repeatable; {', '.join(taking_option('warm_starts'))})")
    s.add_argument("--out", help="output folder (default runs/search-DATE-TIME); the same command with the same --out resumes or redoes "
                   "the run there, other settings are refused")
    s.add_argument("--restart", action="store_true",
                   help="discard the run in --out (its output files and the study kept there) and start afresh with these settings")
    add_scoring_arguments(s)
    add_ray_arguments(s)
    add_strategy_arguments(s)
    s.set_defaults(func=run)


def add_ray_arguments(s: argparse.ArgumentParser) -> None:
    """The Ray Tune executor's flags (``search`` and ``compare``)."""
    r = s.add_argument_group("Ray Tune executor")
    r.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS", help="run the trials with Ray Tune: in-process, or on the cluster at HOST:PORT")
    r.add_argument("--cpus-per-trial", type=trial_devices, default=1.0, help="CPUs per Ray trial (also its torch threads; default 1)")
    r.add_argument("--gpus-per-trial", type=nonnegative_trial_devices, default=0.0, help="GPUs per Ray trial (default 0)")
    r.add_argument("--max-concurrent", type=concurrent_count, help="most trials at once (default: as many as the cluster fits)")
    r.add_argument("--max-failures", type=retry_count, default=0, help="retries of a trial that raises before it counts as failed")
    r.add_argument(
        "--early-stop", action="store_true",
        help="stop trials that fall behind during fine-tuning (ASHA): locally, at epochs 1, η, η², ... before the last, the top 1/η "
        "of the validation accuracies recorded there go on; with --ray, Ray Tune's ASHAScheduler",
    )
    r.add_argument("--reduction-factor", type=int, metavar="η", help="η of the local --early-stop (default 3)")
    r.add_argument("--resume", action="store_true", help="continue an interrupted Ray search from its study (same --storage and --study)")
    r.add_argument("--ray-storage", help="Ray experiment folder, shared by every node of a cluster (default OUT/ray)")


def strategy_options(args: argparse.Namespace, strategy: str, warm: list) -> dict:
    """The strategy options given on the command line, checked against ``strategy``'s
    (``warm``: the warm starts, or the paths they are read from)."""
    given = {k[len(OPTION_DEST):]: v for k, v in vars(args).items() if k.startswith(OPTION_DEST)}
    cls = get_strategy(strategy)
    names = {info.name for info in cls.Options.fields_info()}
    flags = strategy_flags()
    for name in given:
        if name not in names:
            flag = next(f for f, entries in flags.items() if entries[0][1].name == name)
            takers = ", ".join(s for s, _ in flags[flag])
            raise ConfigError(f"{flag} applies to {takers}; the {strategy} strategy does not take it (see `spikebits strategies {strategy}`)")
    if warm:
        if "warm_starts" not in names:
            takers = ", ".join(n for n in available() if "warm_starts" in {i.name for i in get_strategy(n).Options.fields_info()})
            raise ConfigError(f"--warm-start applies to {takers}; the {strategy} strategy does not take it")
        given["warm_starts"] = tuple(warm)
    return given


def make_executor(args: argparse.Namespace, out: str):
    """A :class:`search.RayExecutor` with ``--ray``, else a :class:`search.LocalExecutor`."""
    from spikebits.search.executors import LocalExecutor

    if args.early_stop and getattr(args, "scoring", "finetune") == "one-shot":
        raise ConfigError("--early-stop stops fine-tunes early, and --scoring one-shot fine-tunes only its front at the end; drop one of them")
    if args.reduction_factor is not None and (args.ray is not None or not args.early_stop):
        raise ConfigError("--reduction-factor sets η of the local --early-stop: give --early-stop without --ray (Ray Tune's ASHA keeps its own), or drop it")
    if args.ray is None:
        if any((args.resume, args.max_failures, args.max_concurrent, args.ray_storage)):
            raise ConfigError("--resume, --max-failures, --max-concurrent and --ray-storage need --ray")
        return LocalExecutor(early_stop=args.early_stop, **({} if args.reduction_factor is None else {"reduction": args.reduction_factor}))
    from spikebits.search.ray_search import RayExecutor, check_address

    check_address(None if args.ray == "local" else args.ray)
    if args.ray_storage is not None and "://" not in args.ray_storage:  # a local folder (a URI is Ray's to check)
        check_folder_path(args.ray_storage, "--ray-storage")
    return RayExecutor(
        args.ray, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        max_failures=args.max_failures, early_stop=args.early_stop, resume=args.resume,
        ray_storage=args.ray_storage or os.path.join(out, "ray"),
    )


def run(args: argparse.Namespace) -> int:
    objectives = parse_objectives(args.objectives)
    budget = Budget.parse(args.budget)
    strategy_cls = get_strategy(args.strategy)
    check_names(args)
    n_trials = DEFAULT_TRIALS if args.trials is None else args.trials
    check_objectives(objectives)
    given = strategy_options(args, args.strategy, args.warm_start or [])  # checks that the strategy takes them
    if args.warm_start:
        given["warm_starts"] = tuple(load_config(p) for p in args.warm_start)
    out = args.out or default_out("search")
    if given.get("storage") is not None:
        from spikebits.search.study_storage import open_storage

        open_storage(given["storage"])  # a bad --storage is refused before any work
    elif "storage" in {info.name for info in strategy_cls.Options.fields_info()}:
        given["storage"] = os.path.join(out, AUTO_STORAGE)  # resumable: the same command continues it
    options = strategy_cls.Options.from_mapping(given)
    executor = make_executor(args, out)
    set_threads(args.threads)
    progress = progress_factory(args.quiet)
    evaluator = make_evaluator(args, progress=progress)  # checks every input; does no work yet
    budget = chip_budget(budget, evaluator.chip)
    strategy = strategy_cls(evaluator.space, evaluator, budget, objectives, seed=args.seed, n_trials=n_trials,
                            options=options, progress=progress)
    executor.check(strategy)
    check_run(evaluator, objectives, budget, strategy)
    check_run_folder(Path(out), run_settings(strategy, evaluator, objectives, budget, executor=executor), restart=args.restart)
    evaluator.data  # noqa: B018 - read (and so check) the data before anything is written
    check_output_dir(out)  # the first thing written
    with lock_folder(out):  # one process per --out; run_search takes it again
        return search_locked(args, strategy, evaluator, executor, out, budget, objectives, n_trials)


def search_locked(args: argparse.Namespace, strategy: Any, evaluator: Any, executor: Any, out: str, budget: Budget,
                  objectives: tuple[str, ...], n_trials: int) -> int:
    """The search once ``out`` is locked: run, print."""
    from spikebits.results import format_front_table
    from spikebits.search.runner import run_search

    bars = []  # made at the first finished trial: the strategy's start may still refuse the budget
    told = [0]

    def on_trial(record) -> None:  # noqa: ANN001 - a TrialRecord
        told[0] += 1
        if args.quiet:
            return
        if not bars:
            from tqdm import tqdm

            bars.append(tqdm(total=told[0] + strategy.remaining(n_trials, told[0]), desc=f"{args.strategy} trials", position=0,
                             dynamic_ncols=True))
        acc = record.metrics.get(ACCURACY.name)
        bars[0].set_postfix_str(f"last {'failed' if acc is None else f'acc {acc:.3f}'}")
        bars[0].update(1)

    def announce(signum: int) -> None:
        print(f"spikebits: {signal.Signals(signum).name}: stopping at the next batch and writing {out} for the finished "
              "trials (an unfinished pretraining resumes from its checkpoint with the same command; press Ctrl-C again to stop "
              "at once)", file=sys.stderr, flush=True)

    try:
        control = RunControl()
        with StopOnSignals(control, evaluator, announce):
            result = run_search(strategy, evaluator, budget=budget, objectives=objectives, n_trials=n_trials, seed=args.seed,
                                out_dir=out, callback=on_trial, executor=executor, checked=True, control=control,
                                restart=args.restart)
    finally:
        for bar in bars:
            bar.close()
    described = evaluator.describe()
    fp, fp_test = described.get("full_precision_accuracy"), described.get("full_precision_test_accuracy")
    skipped = sum(r.state == "SKIPPED" for r in result.records)
    print(f"{args.strategy} on {args.model}/{args.dataset}: {len(result.records) - skipped} trials"
          + (f" (and {skipped} configs that broke the budget, skipped untrained)" if skipped else "")
          + f", {sum(r.feasible for r in result.records)} feasible, {len(result.front)} on the Pareto front"
          + (f"; full-precision accuracy {100 * fp:.2f}% validation" if fp is not None else "")
          + (f", {100 * fp_test:.2f}% test" if fp_test is not None else ""))
    print("accuracy: validation split (what the search decided on); test_accuracy: test split, read once to report")
    print(f"budget: {budget}   objectives: {', '.join(objectives)}   hypervolume: {result.hypervolume:.6g}")
    print(format_front_table(result.front, objectives))
    if evaluator.chip is not None and result.front:
        print_placement(evaluator, result.front)
    warn_chance_level(evaluator, fp, [r.metrics.get(ACCURACY.name) for r in result.front])
    written = ["pareto.json", "trials.csv", "pareto.png", "run.json", *(p.name for p in result.artifacts)]
    print(f"wrote {result.out_dir}/{', '.join(written)}")
    if result.interrupted:
        resume = "; run the same command (same --out) to continue it" if strategy.resumable else ""
        print(f"spikebits: interrupted ({result.stop_reason}) after {len(result.records)} trials{resume}", file=sys.stderr)
        return 130
    return 0
