"""Run a strategy and write the output contract: pareto.json, trials.csv, pareto.png, run.json
(:mod:`search.outputs`).

A run's files are written together (:class:`space.StagedOutputs`): a failed or interrupted run
leaves an output folder's earlier files as they were, and one process at a time writes to a
folder (:func:`space.lock_folder`). The checks before any work live in :mod:`search.checks`,
what ``run.json`` records of the machine in :mod:`search.provenance`, and the stop on SIGINT
and SIGTERM in :mod:`search.signals` (a trial in progress is recorded FAIL, interrupted; the
output files are then written for the finished trials); this module re-exports them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikebits.results import TrialRecord, hypervolume, pareto_front
from spikebits.search.base import DEFAULT_TRIALS, ConfigEvaluator, Progress, Strategy, TrialCallback, get_strategy
from spikebits.search.checks import (
    check_metrics,
    check_objectives,
    check_output_dir,
    check_run,
    default_reference,
    extreme_costs,
)
from spikebits.search.driver import RunControl
from spikebits.search.executors import Executor, LocalExecutor
from spikebits.search.identity import claim_run_folder, run_settings, write_settings
from spikebits.search.outputs import run_summary, write_outputs
from spikebits.search.provenance import VERSIONED_PACKAGES, environment, git_revision, versions
from spikebits.search.scoring import finetune_front, scored_one_shot
from spikebits.search.signals import StopOnSignals
from spikebits.space import DEFAULT_OBJECTIVES, Budget, SearchError, StagedOutputs, lock_folder

__all__ = [
    "VERSIONED_PACKAGES",
    "SearchResult",
    "StopOnSignals",
    "check_metrics",
    "check_objectives",
    "check_output_dir",
    "check_run",
    "check_some_finished",
    "default_reference",
    "environment",
    "extreme_costs",
    "git_revision",
    "run_search",
    "versions",
    "write_outputs",
]


@dataclass(frozen=True)
class SearchResult:
    records: list[TrialRecord]
    front: list[TrialRecord]
    hypervolume: float
    reference: dict[str, float]
    out_dir: Path | None
    wall_time_s: float
    artifacts: tuple[Path, ...] = ()
    #: Whether the search was stopped early (a stop request, e.g. by SIGINT; a deadline is not one).
    interrupted: bool = False
    #: ``time.monotonic()`` when the executor started (``wall_time_s`` counts from there).
    started_at: float = 0.0
    #: Why the search stopped early (None: it did not).
    stop_reason: str | None = None


def run_search(
    strategy: str | Strategy,
    evaluator: ConfigEvaluator,
    *,
    budget: Budget | None = None,
    objectives: Sequence[str] = DEFAULT_OBJECTIVES,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    callback: TrialCallback | None = None,
    run_info: dict[str, Any] | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    sensitivity: Any = None,
    checked: bool = False,
    control: RunControl | None = None,
    restart: bool = False,
    settings: dict[str, Any] | None = None,
    **options: Any,
) -> SearchResult:
    """Search with ``strategy`` (a registry name or an instance) on ``executor`` (default:
    :class:`LocalExecutor`) and, with ``out_dir``, write the four output files.

    With a name, the strategy is built here: ``options`` are fields of its options dataclass
    (``storage``, ``study_name``, ``warm_starts``, ``targets``, ...; see ``spikebits
    strategies``), ``progress`` and ``sensitivity`` go to its constructor. ``checked``: the
    caller has already made :func:`check_run` (the CLI does, before it writes anything).
    ``control``: what may stop the run early (a deadline, a stop request from a signal
    handler, :class:`search.driver.RunControl`).

    With ``out_dir``, the run's settings (:func:`search.identity.run_settings`, with
    ``settings`` added: a comparison's evaluation budget) are recorded in ``settings.json``
    before the first trial; a folder holding a run made with other settings is refused in one
    line, unless ``restart`` discards that run (:func:`search.identity.claim_run_folder`)."""
    budget = budget or Budget()
    objectives = tuple(objectives)
    check_objectives(objectives)
    if isinstance(strategy, str):
        strategy = get_strategy(strategy)(
            evaluator.space, evaluator, budget, objectives, seed=seed, n_trials=n_trials,
            progress=progress, sensitivity=sensitivity, **options,
        )
    elif options:
        raise TypeError("options go to the strategy's constructor when run_search is given a strategy instance")
    if not checked:
        check_run(evaluator, objectives, budget, strategy)
    folder = check_output_dir(out_dir) if out_dir is not None else None
    executor = executor or LocalExecutor()
    control = control if control is not None else RunControl()
    with lock_folder(folder) if folder is not None else contextlib.nullcontext():
        if folder is not None:
            identity = run_settings(strategy, evaluator, objectives, budget, executor=executor, extra=settings)
            claim_run_folder(folder, identity, restart=restart)
        started_at = time.monotonic()
        records = executor.run(strategy, n_trials, callback, control)
        if scored_one_shot(evaluator) and control.stop_reason is None:
            records, front = finetune_front(evaluator, records, objectives, budget, log=evaluator.log)
        else:
            front = pareto_front(records, objectives) if not scored_one_shot(evaluator) else []
        wall = time.monotonic() - started_at
        reference = default_reference(evaluator, objectives)
        hv = hypervolume(front, objectives, reference) if front else 0.0
        artifacts: tuple[Path, ...] = ()
        if folder is not None:
            info = {
                "schema": "spikebits.run/1", "strategy": strategy.describe(), "executor": executor.describe(), "seed": seed,
                "n_trials": n_trials, **run_summary(evaluator, objectives, budget, records, front, hv, reference),
                "wall_time_s": wall, "interrupted": control.stop_reason, "versions": versions(), "environment": environment(),
                "command": sys.argv, **(run_info or {}),
            }
            artifacts = publish_run(folder, strategy, records, front, identity, info, objectives=objectives, budget=budget,
                                    reference=reference, hv=hv)
        else:
            strategy.publish(records, front, None)
    result = SearchResult(records, front, hv, reference, folder, wall, artifacts, interrupted=control.stop_reason is not None,
                          started_at=started_at, stop_reason=control.stop_reason)
    check_outcome(result, control)
    return result


def check_outcome(result: SearchResult, control: RunControl) -> None:
    """A run that a trial's data or output error stopped (:meth:`RunControl.fail`), or whose
    every trial failed, is a one-line :class:`space.SearchError`, raised after its files are
    written (a run stopped on request before any trial finished has not failed)."""
    if control.failure is not None:
        finished = sum(r.state == "COMPLETE" for r in result.records)
        where = f"; the {finished} finished trials are in {result.out_dir}" if result.out_dir is not None else ""
        raise SearchError(f"the search stopped: {control.failure}{where}")
    if not result.interrupted:
        check_some_finished(result.records, result.out_dir)


def publish_run(folder: Path, strategy: Strategy, records: Sequence[TrialRecord], front: Sequence[TrialRecord],
                settings: dict[str, Any], info: dict[str, Any], *, objectives: Sequence[str], budget: Budget,
                reference: dict[str, float], hv: float) -> tuple[Path, ...]:
    """A finished run's files, moved into ``folder`` together (:class:`space.StagedOutputs`):
    the strategy's own (returned), ``settings.json`` and the output contract."""
    with StagedOutputs(folder) as staged:
        drawn = [Path(p).name for p in strategy.publish(records, front, staged.path)]
        write_settings(staged.path, settings)  # listed in run.json's files with the others
        write_outputs(staged.path, records, front, objectives=objectives, budget=budget, reference=reference, hv=hv, run_info=info)
    return tuple(folder / name for name in drawn)


def check_some_finished(records: Sequence[TrialRecord], folder: Path | None) -> None:
    """A search whose every trial failed is a :class:`space.SearchError` naming the most
    common reason (raised after its files are written)."""
    failed = [r for r in records if r.state in ("FAIL", "PRUNED")]
    if not failed or any(r.state == "COMPLETE" for r in records):
        return
    reasons = Counter(r.error or "no reason recorded" for r in failed)
    reason, count = reasons.most_common(1)[0]
    where = f"; see {folder / 'trials.csv'}" if folder is not None else ""
    raise SearchError(f"every trial failed ({len(failed)}); the most common reason, {count} of {len(failed)}: {reason}{where}")
