"""Run a strategy and write the output contract: pareto.json, trials.csv, pareto.png, run.json.

A run's files are written together (:class:`space.StagedOutputs`): a failed or interrupted run
leaves an output folder's earlier files as they were, and one process at a time writes to a
folder (:func:`space.lock_folder`). :class:`StopOnSignals` turns SIGINT and SIGTERM into "stop
at the next batch of whatever trains now" (a trial in progress is recorded FAIL, interrupted;
a pretraining keeps its partial checkpoint; the output files are then written for the finished
trials); a second signal stops at once.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from spikebits.results import (
    STATES,
    TrialRecord,
    hypervolume,
    pareto_front,
    reference_point,
    write_pareto_json,
    write_run_json,
    write_trials_csv,
)
from spikebits.search.base import DEFAULT_TRIALS, ConfigEvaluator, Progress, Strategy, TrialCallback, get_strategy
from spikebits.search.executors import Executor, LocalExecutor
from spikebits.search.scoring import finetune_front, scored_one_shot
from spikebits.space import (
    COST_METRICS,
    DEFAULT_OBJECTIVES,
    Budget,
    BudgetError,
    SearchError,
    StagedOutputs,
    check_output_folder,
    lock_folder,
)


@dataclass(frozen=True)
class SearchResult:
    records: list[TrialRecord]
    front: list[TrialRecord]
    hypervolume: float
    reference: dict[str, float]
    out_dir: Path | None
    wall_time_s: float
    artifacts: tuple[Path, ...] = ()
    #: Whether the search was stopped early (:meth:`Strategy.request_stop`, e.g. by SIGINT).
    interrupted: bool = False
    #: ``time.monotonic()`` when the executor started (``wall_time_s`` counts from there).
    started_at: float = 0.0


def check_output_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` if needed and prove it writable now, before any work is done."""
    return check_output_folder(out, "--out")


class StopOnSignals:
    """``with StopOnSignals(strategy):`` the first SIGINT or SIGTERM asks ``strategy`` to ask
    nothing more (:meth:`Strategy.request_stop`) and its evaluator's training in progress —
    pretraining, fine-tuning, a supernet — to stop after the current batch (the evaluator's
    ``stop``, an :class:`evaluators.StopRequest`, if it has one), then calls
    ``announce(signum)``; a second one raises :class:`KeyboardInterrupt` at once. Outside the
    main thread (where Python cannot catch signals) it does nothing. ``received`` is the first
    signal's number."""

    def __init__(self, strategy: Strategy, announce: Callable[[int], None] | None = None) -> None:
        self.strategy = strategy
        self.announce = announce
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            reason = f"stopped by {signal.Signals(signum).name}"
            self.strategy.request_stop(reason)
            stop = getattr(self.strategy.evaluator, "stop", None)
            if stop is not None:
                stop.request(reason)
            if self.announce is not None:
                self.announce(signum)
            return
        raise KeyboardInterrupt

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def default_reference(evaluator: ConfigEvaluator, objectives: Sequence[str]) -> dict[str, float]:
    """Hypervolume reference point: accuracy 0 and the costs of the space's most expensive
    config (costs the evaluator cannot compute without data fall back to the observed worst)."""
    worst = dict(evaluator.cost(evaluator.space.largest_config()))
    if "energy_pj" in objectives and hasattr(evaluator, "energy_model"):
        # The scheme enters energy: the dearest config takes each layer's dearest choice.
        from spikebits.evaluators.cost import energy_minimal_config

        dearest = energy_minimal_config(evaluator.space, evaluator.specs, evaluator.energy_model, largest=True)
        worst["energy_pj"] = max(worst["energy_pj"], evaluator.cost(dearest)["energy_pj"])
    worst["accuracy"] = 0.0
    worst["firing_rate"] = 1.0
    # Event-driven costs scale each layer by a rate ≤ 1: the dense value bounds them.
    for active, dense in (("s_ace_active", "s_ace"), ("energy_pj_active", "energy_pj")):
        if dense in worst:
            worst[active] = worst[dense]
    return reference_point(objectives, worst)


def check_budget_reachable(evaluator: ConfigEvaluator, budget: Budget) -> None:
    """A budget on data-free costs that no config of the space meets is a one-line
    :class:`space.BudgetError`, before any work (the least of each cost over the space: the
    smallest config; for energy, the config of least energy)."""
    limits = {m: lim for m, lim in budget.to_dict().items() if m in COST_METRICS}
    if not limits:
        return
    least = dict(evaluator.cost(evaluator.space.smallest_config()))
    if "energy_pj" in limits and hasattr(evaluator, "energy_model"):
        from spikebits.evaluators.cost import energy_minimal_config

        cheapest = energy_minimal_config(evaluator.space, evaluator.specs, evaluator.energy_model)
        least["energy_pj"] = min(least["energy_pj"], evaluator.cost(cheapest)["energy_pj"])
    over = [f"{m} {least[m]:.4g}" for m, lim in limits.items() if m in least and least[m] > lim]
    if over:
        raise BudgetError(f"budget {budget} cannot be met: the smallest config of the space has {', '.join(over)}; loosen the budget")


def check_metrics(evaluator: ConfigEvaluator, objectives: Sequence[str], budget: Budget) -> None:
    """Every objective and budgeted metric must be one the evaluator produces."""
    produced = set(getattr(evaluator, "metric_names", ()))
    if not produced:
        return
    for m in (*objectives, *budget.metrics):
        if m not in produced:
            raise BudgetError(f"metric {m!r} is not computed by this evaluator; use one of {', '.join(sorted(produced))}")


#: Packages whose versions ``run.json`` records (what can change a search's numbers).
VERSIONED_PACKAGES = ("spikebits", "torch", "optuna", "moocore", "numpy", "scipy", "scikit-learn", "ray")


def git_revision() -> str | None:
    """The commit of the git checkout spikebits runs from (an editable install), with
    ``+dirty`` when tracked files differ from it; None for an installed wheel, without git, or
    outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def versions() -> dict[str, str]:
    """Python's and :data:`VERSIONED_PACKAGES`' versions, and spikebits' git revision."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    revision = git_revision()
    if revision is not None:
        out["spikebits_git"] = revision
    return out


def environment() -> dict[str, Any]:
    """What else changes a search's numbers on one machine: torch's CPU threads (floating-point
    sums are split differently across threads), the deterministic-algorithms flag, the host."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def write_outputs(
    out_dir: Path,
    records: Sequence[TrialRecord],
    front: Sequence[TrialRecord],
    *,
    objectives: Sequence[str],
    budget: Budget,
    reference: dict[str, float],
    hv: float,
    run_info: dict[str, Any],
) -> None:
    write_trials_csv(out_dir / "trials.csv", records)
    energy = (run_info.get("evaluator") or {}).get("energy_model")
    extra = {"energy": {"model": energy["name"], "datapath": energy["datapath"], "basis": "estimate"}} if energy else None
    write_pareto_json(
        out_dir / "pareto.json", front, objectives=objectives, budget=budget, reference=reference, hypervolume=hv, extra=extra
    )
    x = next((m for m in objectives if m != "accuracy"), "bit_budget")
    y = "accuracy" if "accuracy" in objectives else objectives[0]
    from spikebits.results import plot_front  # matplotlib: only where a plot is drawn

    plot_front(out_dir / "pareto.png", records, front, x=x, y=y, budget=budget, title=run_info.get("title"))
    files = sorted({*(p.name for p in out_dir.iterdir() if p.is_file()), "run.json"})
    write_run_json(out_dir / "run.json", {**run_info, "files": files})


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
    **options: Any,
) -> SearchResult:
    """Search with ``strategy`` (a registry name or an instance) on ``executor`` (default:
    :class:`LocalExecutor`) and, with ``out_dir``, write the four output files.

    With a name, the strategy is built here: ``options`` are fields of its options dataclass
    (``storage``, ``study_name``, ``warm_starts``, ``targets``, ...; see ``spikebits
    strategies``), ``progress`` and ``sensitivity`` go to its constructor."""
    budget = budget or Budget()
    objectives = tuple(objectives)
    check_objectives(objectives)
    check_metrics(evaluator, objectives, budget)
    check_budget_reachable(evaluator, budget)
    folder = check_output_dir(out_dir) if out_dir is not None else None
    if isinstance(strategy, str):
        strategy = get_strategy(strategy)(
            evaluator.space, evaluator, budget, objectives, seed=seed, n_trials=n_trials,
            progress=progress, sensitivity=sensitivity, **options,
        )
    elif options:
        raise TypeError("options go to the strategy's constructor when run_search is given a strategy instance")
    executor = executor or LocalExecutor()
    with lock_folder(folder) if folder is not None else contextlib.nullcontext():
        started_at = time.monotonic()
        records = executor.run(strategy, n_trials, callback)
        if scored_one_shot(evaluator) and strategy.stop_reason is None:
            records, front = finetune_front(evaluator, records, objectives, budget, log=getattr(evaluator, "log", None))
        else:
            front = pareto_front(records, objectives) if not scored_one_shot(evaluator) else []
        wall = time.monotonic() - started_at
        reference = default_reference(evaluator, objectives)
        hv = hypervolume(front, objectives, reference) if front else 0.0
        artifacts: tuple[Path, ...] = ()
        if folder is not None:
            info = {
                "schema": "spikebits.run/1",
                "strategy": strategy.describe(),
                "executor": executor.describe(),
                "seed": seed,
                "n_trials": n_trials,
                "objectives": list(objectives),
                "budget": budget.to_dict(),
                "space": evaluator.space.to_dict(),
                "evaluator": getattr(evaluator, "describe", dict)(),
                "trials": {s: sum(r.state == s for r in records) for s in STATES},
                "feasible_trials": sum(r.feasible for r in records),
                "pareto_points": len(front),
                "hypervolume": hv,
                "reference_point": reference,
                "wall_time_s": wall,
                "interrupted": strategy.stop_reason,
                "versions": versions(),
                "environment": environment(),
                "command": sys.argv,
                **(run_info or {}),
            }
            with StagedOutputs(folder) as staged:
                drawn = [Path(p).name for p in strategy.write_artifacts(staged.path)]
                write_outputs(staged.path, records, front, objectives=objectives, budget=budget, reference=reference, hv=hv, run_info=info)
            artifacts = tuple(folder / name for name in drawn)
        strategy.publish(records, front)
    result = SearchResult(records, front, hv, reference, folder, wall, artifacts, interrupted=strategy.stop_reason is not None,
                          started_at=started_at)
    if not result.interrupted:  # a run stopped before any trial finished has not failed
        check_some_finished(records, folder)
    return result


def check_objectives(objectives: Sequence[str]) -> None:
    """A search trades accuracy against cost: ``accuracy`` must be among the objectives."""
    if "accuracy" not in objectives:
        raise BudgetError(
            f"--objectives {','.join(objectives)} leaves out accuracy; a front is accuracy against cost, "
            f"for example accuracy,{objectives[0] if objectives else 'bit_budget'}"
        )


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
