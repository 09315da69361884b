"""Compare search strategies on equal terms: :func:`run_comparison` (``spikebits compare``).

Every strategy runs for every seed with

* the same space, evaluator settings and pretrained checkpoint (one evaluator per seed, shared
  by the strategies of that seed: the seed fixes the data split and the pretraining, which
  happens before any run's clock starts); the sensitivity report that ``ilp`` and ``boost``
  read is likewise measured (or read from the cache) before their clock starts
  (:meth:`Strategy.prepare`), so neither pays for the other,
* the same objectives and budgets,
* the same evaluation budget: ``evaluations`` N fine-tuned trials — ``nsga2``, ``tpe`` and
  ``random`` run N trials, ``ilp`` and ``boost`` N budget levels, while ``differentiable`` and
  ``gumbel`` run their targets (three by default, each a whole supernet run ending in one
  fine-tuned trial), so their N is their number of targets; or ``seconds`` S of wall time —
  every strategy asks for new trials until S seconds after its start (its supernet training
  included) and the trials in flight finish; defaults that depend on the number of trials
  (NSGA-II's population, the ILP's ladder) are sized for :data:`TIMED_NOMINAL_TRIALS`,
* one hypervolume reference point for the whole comparison: accuracy 0 and the costs of the
  space's dearest config (:func:`search.runner.default_reference`), recorded in the output.

Each run keeps its standard output folder under ``OUT/runs/STRATEGY/seed-K/`` plus a
``timeline.json`` (hypervolume after each finished evaluation, against wall time and
evaluations) written last: a run whose ``timeline.json`` says ``complete`` is not run again,
so an interrupted comparison resumes where it stopped. ``compare.json`` (schema
``spikebits.compare/1``, :mod:`results.compare`) gathers every run; ``report.md``,
``compare.png`` and ``allocation_compare.png`` are drawn from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spikebits.results import TrialRecord, hypervolume, pareto_front, read_timeline_file, to_jsonable
from spikebits.results.compare import COMPARE_SCHEMA
from spikebits.results.storage import pareto_point
from spikebits.search.base import ConfigEvaluator, available, get_strategy, prepare_sensitivity
from spikebits.search.driver import RunControl
from spikebits.search.executors import Executor, LocalExecutor
from spikebits.search.checks import check_objectives, check_output_dir, check_run, default_reference
from spikebits.search.identity import check_run_folder, run_settings
from spikebits.search.provenance import versions
from spikebits.search.runner import run_search
from spikebits.space import Budget, ConfigError, DataError, TrainingStopped, atomic_write_text, direction, lock_folder

#: Written last in each run's folder: the run finished (what a resumed comparison keeps).
TIMELINE = "timeline.json"


@dataclass(frozen=True)
class EvaluationBudget:
    """What every strategy of a comparison may spend: ``evaluations`` fine-tuned trials or
    ``seconds`` of wall time (exactly one)."""

    evaluations: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if (self.evaluations is None) == (self.seconds is None):
            raise ConfigError("give the comparison one budget: --evaluations N or --time-budget SECONDS")
        if self.evaluations is not None and self.evaluations < 1:
            raise ConfigError("--evaluations must be at least 1")
        if self.seconds is not None and not self.seconds > 0:
            raise ConfigError("--time-budget must be more than 0 seconds")

    def to_dict(self) -> dict[str, float]:
        return {"evaluations": self.evaluations} if self.evaluations is not None else {"seconds": float(self.seconds)}


#: Trials no time-budgeted run can exceed (the deadline ends it long before).
MAX_TIMED_TRIALS = 100_000
#: Under a time budget, the trial count strategies size their defaults by (NSGA-II's
#: population, a third of it; the ILP and boost budget ladders): the deadline, not this
#: number, ends the run.
TIMED_NOMINAL_TRIALS = 30


def run_folder(out: Path, strategy: str, seed: int) -> Path:
    return out / "runs" / strategy / f"seed-{seed}"


def read_timeline(folder: Path, strategy: str, seed: int) -> dict[str, Any] | None:
    """The finished run's ``timeline.json`` (:func:`results.read_timeline_file`: a regular file,
    not a link, every field checked), or None when the run did not finish. A timeline of
    another strategy or seed than its folder's is a one-line :class:`space.DataError`."""
    path = folder / TIMELINE
    if not path.exists() and not path.is_symlink():
        return None
    return read_timeline_file(path, strategy=strategy, seed=seed)


def run_one(
    strategy_name: str,
    evaluator: ConfigEvaluator,
    *,
    seed: int,
    budget: Budget,
    objectives: Sequence[str],
    evaluation_budget: EvaluationBudget,
    reference: dict[str, float],
    folder: Path,
    executor: Executor,
    callback: Callable[[TrialRecord], None] | None = None,
    control: RunControl | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """One strategy for one seed into ``folder`` (its standard outputs, then ``timeline.json``).
    ``control``: what stops the comparison (a signal); a run it stops is not marked finished
    (no ``timeline.json``) and ends in :class:`space.TrainingStopped`."""
    strategy = comparison_strategy(strategy_name, evaluator, seed=seed, budget=budget, objectives=objectives,
                                   evaluation_budget=evaluation_budget)
    executor.check(strategy)
    prepare_sensitivity(strategy)  # the seed's sensitivity report, like its checkpoint, before the clock starts
    told: list[TrialRecord] = []
    timeline: list[dict[str, float]] = []
    start = time.monotonic()

    def on_trial(record: TrialRecord) -> None:
        if record.state == "SKIPPED":  # not trained: no evaluation spent
            return
        told.append(record)
        front = pareto_front(told, objectives)
        hv = hypervolume(front, objectives, reference) if front else 0.0
        timeline.append({"time_s": time.monotonic() - start, "evaluations": len(told), "hypervolume": hv})
        if callback is not None:
            callback(record)

    control = control if control is not None else RunControl()
    control.deadline = start + evaluation_budget.seconds if evaluation_budget.seconds is not None else None
    result = run_search(strategy, evaluator, budget=budget, objectives=objectives, n_trials=trials_of(evaluation_budget),
                        seed=seed, out_dir=folder, callback=on_trial, executor=executor, control=control, restart=restart,
                        settings=comparison_settings(evaluation_budget))
    if result.interrupted:
        raise TrainingStopped(f"comparison {result.stop_reason} during {strategy_name} seed {seed}; the finished runs are kept: "
                              "run the same command (same --out) to go on")
    trained = [r for r in result.records if r.state != "SKIPPED"]
    hv = hypervolume(result.front, objectives, reference) if result.front else 0.0
    wall = result.started_at + result.wall_time_s - start  # on the timeline's clock
    run = {
        "strategy": strategy_name,
        "seed": seed,
        "state": "complete",
        "wall_time_s": wall,
        "evaluations": len(trained),
        "feasible_fraction": sum(r.feasible for r in trained) / len(trained) if trained else 0.0,
        "hypervolume": hv,
        "timeline": _monotone(timeline, hv, wall, len(trained)),
        "front": [pareto_point(r) for r in result.front],
    }
    atomic_write_text(folder / TIMELINE, json.dumps(to_jsonable(run), indent=1, allow_nan=False) + "\n")
    return run


def trials_of(evaluation_budget: EvaluationBudget) -> int:
    """The trials a run of the comparison asks for (under a time budget, the deadline ends it)."""
    return MAX_TIMED_TRIALS if evaluation_budget.seconds is not None else int(evaluation_budget.evaluations)


def comparison_strategy(name: str, evaluator: ConfigEvaluator, *, seed: int, budget: Budget, objectives: Sequence[str],
                        evaluation_budget: EvaluationBudget) -> Any:
    """The strategy ``name`` as a comparison runs it (under a time budget, with its defaults
    sized for :data:`TIMED_NOMINAL_TRIALS`)."""
    n_trials = TIMED_NOMINAL_TRIALS if evaluation_budget.seconds is not None else trials_of(evaluation_budget)
    return get_strategy(name)(evaluator.space, evaluator, budget, objectives, seed=seed, n_trials=n_trials)


def comparison_settings(evaluation_budget: EvaluationBudget) -> dict[str, Any]:
    """What a comparison adds to each run's settings (:func:`search.identity.run_settings`)."""
    return {"evaluation_budget": evaluation_budget.to_dict()}


def _monotone(timeline: list[dict[str, float]], final_hv: float, wall: float, evaluations: int) -> list[dict[str, float]]:
    """The timeline with its hypervolume never falling (a front only grows, so this guards
    against rounding); when the callbacks saw nothing (a split strategy whose parts ran on
    Ray and were merged at the end), one entry at the end with the final hypervolume."""
    if not timeline:
        return [{"time_s": wall, "evaluations": evaluations, "hypervolume": final_hv}] if evaluations else []
    out: list[dict[str, float]] = []
    best = 0.0
    for entry in timeline:
        best = max(best, entry["hypervolume"])
        out.append({**entry, "hypervolume": best})
    return out


def check_strategies(strategies: Sequence[str]) -> None:
    """The strategies of a comparison: at least one, each registered, none twice (one-line
    :class:`space.ConfigError` otherwise)."""
    if not strategies:
        raise ConfigError(f"--strategies names no strategy; give at least one of {', '.join(available())}")
    if len(set(strategies)) != len(strategies):
        raise ConfigError("--strategies names a strategy twice; name each once")
    for name in strategies:
        get_strategy(name)


#: Most seeds one comparison runs (each is every strategy's whole run).
MAX_SEEDS = 1000


def run_comparison(
    strategies: Sequence[str],
    seeds: Sequence[int],
    make_evaluator: Callable[[int], ConfigEvaluator],
    *,
    budget: Budget,
    objectives: Sequence[str],
    evaluation_budget: EvaluationBudget,
    out_dir: str | Path,
    make_executor: Callable[[Path], Executor] | None = None,
    command: Sequence[str] = (),
    model: str = "",
    dataset: str = "",
    on_run: Callable[[str, int, str], None] | None = None,
    control: RunControl | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """Every strategy for every seed (see the module docstring); writes and returns the
    ``compare.json`` data. ``make_evaluator(seed)`` builds one evaluator per seed;
    ``make_executor(folder)`` one executor per run (default local). ``on_run(strategy, seed,
    what)`` is told ``"start"``, ``"done"`` or ``"kept"`` (finished in an earlier, interrupted
    comparison) for each run. Before any pretraining, every run is checked: its strategy's
    budgets and objectives, and its folder's recorded settings (a run made with other settings
    is refused in one line; ``restart`` discards every earlier run instead). ``control`` stops
    the comparison (a signal handler's request): the run in progress is not marked finished,
    and :class:`space.TrainingStopped` ends it."""
    seeds = check_comparison(strategies, seeds, objectives)
    objectives = tuple(objectives)
    evaluators = {seed: make_evaluator(seed) for seed in seeds}
    executors = check_runs(strategies, evaluators, Path(out_dir), make_executor or (lambda folder: LocalExecutor()), budget=budget,
                           objectives=objectives, evaluation_budget=evaluation_budget, restart=restart)
    for evaluator in evaluators.values():  # read (and so check) each seed's data before anything is written
        getattr(evaluator, "data", None)
    check_not_a_search(Path(out_dir))
    out = check_output_dir(out_dir)
    with lock_folder(out):  # one comparison per --out (each run's folder is locked by its search too)
        runs, reference = run_all(strategies, evaluators, executors, out, budget=budget, objectives=objectives,
                                  evaluation_budget=evaluation_budget, on_run=on_run, control=control, restart=restart)
        data = {
            "schema": COMPARE_SCHEMA,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": [str(c) for c in command],
            "model": model,
            "dataset": dataset,
            "objectives": {m: direction(m) for m in objectives},
            "budget": budget.to_dict(),
            "reference_point": reference,
            "evaluation_budget": evaluation_budget.to_dict(),
            "seeds": list(seeds),
            "strategies": list(strategies),
            "versions": versions(),
            "runs": runs,
        }
        data = to_jsonable(data)
        atomic_write_text(out / "compare.json", json.dumps(data, indent=1, allow_nan=False) + "\n")
    return data


def run_all(
    strategies: Sequence[str],
    evaluators: Mapping[int, ConfigEvaluator],
    executors: Mapping[tuple[str, int], Executor],
    out: Path,
    *,
    budget: Budget,
    objectives: tuple[str, ...],
    evaluation_budget: EvaluationBudget,
    on_run: Callable[[str, int, str], None] | None,
    control: RunControl | None,
    restart: bool,
) -> tuple[list[dict[str, Any]], dict[str, float] | None]:
    """Every run of a checked comparison, seed by seed (each seed's checkpoint prepared before
    its runs' clocks start); a finished run is kept. Returns the runs' ``compare.json`` entries
    and the one reference point."""
    runs: list[dict[str, Any]] = []
    reference: dict[str, float] | None = None
    for seed, evaluator in evaluators.items():
        evaluator.prepare()  # the checkpoint and the data are shared: read or trained before any run's clock starts
        seed_reference = default_reference(evaluator, objectives)
        if reference is None:
            reference = seed_reference
        elif seed_reference != reference:
            raise ConfigError("the seeds' evaluators give different reference points; compare on one space and model")
        for name in strategies:
            folder = run_folder(out, name, seed)
            kept = None if restart else read_timeline(folder, name, seed)
            ran = kept is None
            if ran:
                if on_run is not None:
                    on_run(name, seed, "start")
                kept = run_one(name, evaluator, seed=seed, budget=budget, objectives=objectives, evaluation_budget=evaluation_budget,
                               reference=reference, folder=check_output_dir(folder), executor=executors[name, seed],
                               control=control, restart=restart)
            runs.append(_with_folder(kept, folder, out))
            if on_run is not None:
                on_run(name, seed, "done" if ran else "kept")
    return runs, reference


def check_not_a_search(out: Path) -> None:
    """A comparison's ``--out`` may not be a search's output folder (its runs would be mixed
    with the search's files): a one-line :class:`space.ConfigError`."""
    found = [name for name in ("run.json", "pareto.json", "trials.csv", "settings.json", "study.journal") if (out / name).exists()]
    if found:
        raise ConfigError(f"--out {out} holds a search's results ({', '.join(found)}), not a comparison's; choose another --out")


def check_runs(
    strategies: Sequence[str],
    evaluators: Mapping[int, ConfigEvaluator],
    out: Path,
    make_executor: Callable[[Path], Executor],
    *,
    budget: Budget,
    objectives: tuple[str, ...],
    evaluation_budget: EvaluationBudget,
    restart: bool,
) -> dict[tuple[str, int], Executor]:
    """Every check of a comparison's runs that needs no data, before the first pretraining:
    each strategy's objectives and budgets (:func:`search.checks.check_run`), and each run
    folder's recorded settings (:func:`search.identity.check_run_folder`). Returns each run's
    executor."""
    executors: dict[tuple[str, int], Executor] = {}
    first = next(iter(evaluators))
    for seed, evaluator in evaluators.items():
        for name in strategies:
            folder = run_folder(out, name, seed)
            strategy = comparison_strategy(name, evaluator, seed=seed, budget=budget, objectives=objectives,
                                           evaluation_budget=evaluation_budget)
            executors[name, seed] = make_executor(folder)
            if seed == first:
                check_run(evaluator, objectives, budget, strategy)
            settings = run_settings(strategy, evaluator, objectives, budget, executor=executors[name, seed],
                                    extra=comparison_settings(evaluation_budget))
            check_run_folder(folder, settings, restart=restart, label=f"the comparison's run folder {folder}")
            if not restart:
                read_timeline(folder, name, seed)  # a damaged, linked or foreign timeline: one line before any pretraining
    return executors


def check_comparison(strategies: Sequence[str], seeds: Sequence[int], objectives: Sequence[str]) -> list[int]:
    """The strategies (:func:`check_strategies`), the seeds (1 to :data:`MAX_SEEDS`, none
    twice) and the objectives of a comparison, checked in one line each; the seeds as a list."""
    check_strategies(strategies)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("--seeds must be at least 1")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"--seeds {len(seeds)} is more than {MAX_SEEDS} seeds, each a whole run of every strategy; give fewer")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("the seeds of a comparison must differ; give each once")
    for metric in objectives:
        direction(metric)
    check_objectives(tuple(objectives))
    return seeds


def _with_folder(run: dict[str, Any], folder: Path, out: Path) -> dict[str, Any]:
    """The run's entry of ``compare.json``: its folder relative to the comparison's."""
    keys = ("strategy", "seed", "state", "wall_time_s", "evaluations", "feasible_fraction", "hypervolume", "timeline", "front")
    missing = [k for k in keys if k not in run]
    if missing:
        raise DataError(f"{folder / TIMELINE} lacks {', '.join(missing)}; delete it to run that strategy and seed again")
    return {"strategy": run["strategy"], "seed": run["seed"], "folder": folder.relative_to(out).as_posix(),
            **{k: run[k] for k in keys[2:]}}
