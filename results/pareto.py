"""Pareto fronts and hypervolume of trial records (moocore does the geometry).

Directions come from :func:`space.direction`: ``accuracy`` is maximized, every other metric
minimized. Only finished (``state == "COMPLETE"``), feasible records that carry a finite value
for every objective take part; failed, pruned, running and infeasible trials never reach a
front, so every strategy is ranked by the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import moocore
import numpy as np

from spikebits.space import COST_METRICS, BudgetError, Config, direction, worst_values
from spikebits.space.metrics import ACCURACY, BIT_BUDGET

from spikebits.results.records import TrialRecord


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    """Validate objective names (known metrics, each listed once, at least one)."""
    names = tuple(objectives)
    if not names:
        raise BudgetError("no objectives given; use for example accuracy,bit_budget,s_ace")
    for name in names:
        direction(name)
    if len(set(names)) != len(names):
        raise BudgetError(f"objective listed twice in {','.join(names)}; list each once")
    return names


def maximise_flags(objectives: Sequence[str]) -> list[bool]:
    """moocore's ``maximise`` argument: True where ``direction(metric) == "maximize"``."""
    return [direction(m) == "maximize" for m in objectives]


def eligible(records: Iterable[TrialRecord], objectives: Sequence[str]) -> list[TrialRecord]:
    """Records that may enter a front: COMPLETE, feasible, finite value for every objective."""
    return [r for r in records if r.state == "COMPLETE" and r.feasible and all(r.has(m) for m in objectives)]


def objective_matrix(records: Sequence[TrialRecord], objectives: Sequence[str]) -> np.ndarray:
    """``(len(records), len(objectives))`` float array of the records' objective values."""
    return np.array([[r.metrics[m] for m in objectives] for r in records], dtype=float).reshape(
        len(records), len(objectives)
    )


def _sort_key(record: TrialRecord, objectives: Sequence[str]) -> tuple[float, ...]:
    """Best-first key: the first cost (minimized) objective ascending, then the others
    (each in its better-first direction), then the trial number."""
    costs = [m for m in objectives if direction(m) == "minimize"]
    order = costs[:1] + [m for m in objectives if m not in costs[:1]]
    key = [record.metrics[m] if direction(m) == "minimize" else -record.metrics[m] for m in order]
    return (*key, float(record.number))


def pareto_front(records: Iterable[TrialRecord], objectives: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated eligible records, sorted by the first cost objective ascending.

    A record dominates another when it is at least as good in every objective and better in
    one. Weakly non-dominated ties stay: two different configs with equal objective vectors
    are both on the front. The same config appearing more than once on the front (a repeated
    evaluation) is kept once, at its first occurrence in ``records``.
    """
    objectives = check_objectives(objectives)
    candidates = eligible(records, objectives)
    if not candidates:
        return []
    points = objective_matrix(candidates, objectives)
    mask = moocore.is_nondominated(points, maximise=maximise_flags(objectives), keep_weakly=True)
    front: list[TrialRecord] = []
    seen: set[Config] = set()
    for record, keep in zip(candidates, mask):
        if not keep:
            continue
        if record.config is not None:
            if record.config in seen:
                continue
            seen.add(record.config)
        front.append(record)
    return sorted(front, key=lambda r: _sort_key(r, objectives))


def reference_point(objectives: Sequence[str], worst: Mapping[str, float]) -> dict[str, float]:
    """The hypervolume reference point: ``worst[metric]`` for every objective.

    A data metric with a declared worst value (accuracy: 0.0) defaults to it when ``worst``
    leaves it out; any other objective must be given (a budget limit is a natural choice,
    e.g. ``budget.to_dict()``).
    """
    objectives = check_objectives(objectives)
    declared = worst_values({})
    ref: dict[str, float] = {}
    for metric in objectives:
        if metric in worst:
            ref[metric] = float(worst[metric])
        elif metric in declared:
            ref[metric] = declared[metric]
        else:
            raise BudgetError(f"no reference value for objective {metric!r}; give its worst acceptable value")
    return ref


def hypervolume(
    records_or_front: Iterable[TrialRecord],
    objectives: Sequence[str],
    reference: Mapping[str, float],
) -> float:
    """Hypervolume dominated by the eligible records, bounded by ``reference``.

    HV = Lebesgue measure of ∪_p {z : p ≼ z ≼ r} in objective space (maximized objectives
    negated, so that every objective is minimized). Dominated records add nothing, so a whole
    list of records gives the same value as its front. Points not strictly better than the
    reference in every objective contribute nothing. An empty set has hypervolume 0.0.
    """
    objectives = check_objectives(objectives)
    missing = [m for m in objectives if m not in reference]
    if missing:
        raise BudgetError(f"reference point lacks {', '.join(missing)}; give a value for every objective")
    candidates = eligible(records_or_front, objectives)
    if not candidates:
        return 0.0
    maximise = np.array(maximise_flags(objectives))
    sign = np.where(maximise, -1.0, 1.0)
    points = objective_matrix(candidates, objectives) * sign
    ref = np.array([float(reference[m]) for m in objectives]) * sign
    inside = np.all(points < ref, axis=1)
    if not inside.any():
        return 0.0
    return float(moocore.hypervolume(points[inside], ref=ref))


class RunningFront:
    """The front of the records added so far, kept as they come: what
    :func:`results.pareto_front` of all of them would say of the newest, without recomputing it.

    A record that may enter a front (:func:`results.eligible`) is on the front of those added
    so far iff no earlier eligible record dominates it (at least as good in every objective,
    better in one; equal vectors do not dominate each other), and no earlier record of the same
    config is on that front (a repeated evaluation counts once, at its first occurrence).
    Dominance is transitive, so an earlier record dominates the new one iff a record of the
    kept non-dominated set does: that set (every non-dominated record, repeated configs
    included) is all that is kept.
    """

    def __init__(self, objectives: Sequence[str]) -> None:
        self.objectives = tuple(objectives)
        #: +1 for a maximized objective, −1 for a minimized one.
        self._signs = [1.0 if direction(m) == "maximize" else -1.0 for m in self.objectives]
        #: The non-dominated eligible records added so far, in the order they came.
        self.members: list[TrialRecord] = []

    def _dominates(self, a: TrialRecord, b: TrialRecord) -> bool:
        better = False
        for metric, sign in zip(self.objectives, self._signs):
            difference = sign * (a.metrics[metric] - b.metrics[metric])
            if difference < 0:
                return False
            better = better or difference > 0
        return better

    def add(self, record: TrialRecord) -> bool:
        """Add ``record`` (the newest); whether it is on the front of the records added so far."""
        if not eligible([record], self.objectives):
            return False
        if any(self._dominates(member, record) for member in self.members):
            return False
        self.members = [member for member in self.members if not self._dominates(record, member)]
        repeated = record.config is not None and any(member.config == record.config for member in self.members)
        self.members.append(record)
        return not repeated


def front_axes(objectives: Sequence[str], budget_metrics: Sequence[str] = ()) -> tuple[str, str]:
    """(x, y) of a front's figure: y is accuracy (else the first objective), x the first
    other objective; for a single objective, the first cost metric of ``budget_metrics`` (what
    its budget holds), else ``bit_budget``, so the figure still shows what the front costs."""
    y = ACCURACY.name if ACCURACY.name in objectives else objectives[0]
    other = next((m for m in objectives if m != y), None)
    if other is None:
        other = next((m for m in budget_metrics if m != y and m in COST_METRICS), BIT_BUDGET.name if y != BIT_BUDGET.name else ACCURACY.name)
    return other, y
