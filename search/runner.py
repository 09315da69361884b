"""Run a strategy and write the output contract: pareto.json, trials.csv, pareto.png, run.json."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
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
from spikebits.space import DEFAULT_OBJECTIVES, Budget, BudgetError, OutputError


@dataclass(frozen=True)
class SearchResult:
    records: list[TrialRecord]
    front: list[TrialRecord]
    hypervolume: float
    reference: dict[str, float]
    out_dir: Path | None
    wall_time_s: float
    artifacts: tuple[Path, ...] = ()


def check_output_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` if needed and prove it writable now, before any work is done."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".spikebits-probe-")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"--out {out} is a file, not a folder; choose a folder") from None
    except OSError as err:
        raise OutputError(f"cannot write to --out {out} ({err.strerror}); choose a folder you can write to") from None
    return path


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


def check_metrics(evaluator: ConfigEvaluator, objectives: Sequence[str], budget: Budget) -> None:
    """Every objective and budgeted metric must be one the evaluator produces."""
    produced = set(getattr(evaluator, "metric_names", ()))
    if not produced:
        return
    for m in (*objectives, *budget.metrics):
        if m not in produced:
            raise BudgetError(f"metric {m!r} is not computed by this evaluator; use one of {', '.join(sorted(produced))}")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("spikebits", "torch", "optuna", "moocore", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


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
    write_run_json(out_dir / "run.json", run_info)


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
    check_metrics(evaluator, objectives, budget)
    folder = check_output_dir(out_dir) if out_dir is not None else None
    if isinstance(strategy, str):
        strategy = get_strategy(strategy)(
            evaluator.space, evaluator, budget, objectives, seed=seed, n_trials=n_trials,
            progress=progress, sensitivity=sensitivity, **options,
        )
    elif options:
        raise TypeError("options go to the strategy's constructor when run_search is given a strategy instance")
    executor = executor or LocalExecutor()
    start = time.perf_counter()
    records = executor.run(strategy, n_trials, callback)
    wall = time.perf_counter() - start
    front = pareto_front(records, objectives)
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
            "versions": versions(),
            "command": sys.argv,
            **(run_info or {}),
        }
        write_outputs(folder, records, front, objectives=objectives, budget=budget, reference=reference, hv=hv, run_info=info)
        artifacts = tuple(strategy.write_artifacts(folder))
    return SearchResult(records, front, hv, reference, folder, wall, artifacts)
