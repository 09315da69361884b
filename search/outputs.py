"""The output contract of a run (DESIGN): ``trials.csv``, ``pareto.json``, ``pareto.png`` and
``run.json``, written into a staged folder (:class:`space.StagedOutputs`) by the runner."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spikebits.results import STATES, TrialRecord, front_axes, write_pareto_json, write_run_json, write_trials_csv
from spikebits.search.base import ConfigEvaluator
from spikebits.space import Budget


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
    x, y = front_axes(objectives, list(budget.to_dict()))
    from spikebits.results import plot_front  # matplotlib: only where a plot is drawn

    plot_front(out_dir / "pareto.png", records, front, x=x, y=y, budget=budget, title=run_info.get("title"))
    files = sorted({*(p.name for p in out_dir.iterdir() if p.is_file()), "run.json"})
    write_run_json(out_dir / "run.json", {**run_info, "files": files})


def run_summary(
    evaluator: ConfigEvaluator,
    objectives: Sequence[str],
    budget: Budget,
    records: Sequence[TrialRecord],
    front: Sequence[TrialRecord],
    hv: float,
    reference: dict[str, float],
) -> dict[str, Any]:
    """What ``run.json`` says of a run's problem and outcome: objectives, budget, space,
    evaluator, trial counts by state, the front's size and hypervolume."""
    return {
        "objectives": list(objectives),
        "budget": budget.to_dict(),
        "space": evaluator.space.to_dict(),
        "evaluator": evaluator.describe(),
        "trials": {s: sum(r.state == s for r in records) for s in STATES},
        "feasible_trials": sum(r.feasible for r in records),
        "pareto_points": len(front),
        "hypervolume": hv,
        "reference_point": reference,
    }
