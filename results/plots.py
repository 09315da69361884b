"""``pareto.png``: every finished trial, the front as a staircase, the budget limit.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global
backend switch), saved into memory and written with :func:`results.storage.atomic_write_bytes`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from space import Budget, BudgetError, direction

from results.pareto import pareto_front
from results.records import TrialRecord
from results.storage import atomic_write_bytes

#: Axis labels, with units.
AXIS_LABELS: dict[str, str] = {
    "accuracy": "accuracy",
    "bit_budget": "bit budget (W̄·S̄·T̄)",
    "s_ace": "S-ACE (bit-ops)",
    "energy_pj": "energy (pJ, estimate)",
    "size_bits": "model size (bits)",
    "firing_rate": "firing rate (spikes per neuron per step)",
    "effective_resolution": "effective resolution (bits per weight)",
}
#: Metrics whose axis turns logarithmic when their values span more than LOG_SPAN.
LOG_METRICS: frozenset[str] = frozenset({"s_ace", "energy_pj", "size_bits"})
LOG_SPAN = 20.0


def use_log_scale(metric: str, values: Iterable[float]) -> bool:
    """Log axis when ``metric`` is in :data:`LOG_METRICS` and max/min of the positive values
    exceeds :data:`LOG_SPAN` (a factor 20)."""
    if metric not in LOG_METRICS:
        return False
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return bool(positive) and max(positive) / min(positive) > LOG_SPAN


def step_where(x: str) -> str:
    """``drawstyle`` of the front's staircase, with the points sorted by x ascending.

    When x is minimized, the best y attainable at cost ≤ x is that of the last point at or
    left of x, so the line holds each value until the next point ("steps-post"); when x is
    maximized it holds the next point's value ("steps-pre").
    """
    return "steps-post" if direction(x) == "minimize" else "steps-pre"


def _finished(records: Iterable[TrialRecord], x: str, y: str) -> list[TrialRecord]:
    return [r for r in records if r.state == "COMPLETE" and r.has(x) and r.has(y)]


def plot_front(
    path: str | os.PathLike[str],
    records: Sequence[TrialRecord],
    front: Sequence[TrialRecord],
    *,
    x: str,
    y: str = "accuracy",
    budget: Budget | None = None,
    title: str | None = None,
) -> None:
    """Plot ``y`` against ``x`` and write a PNG to ``path`` atomically.

    Feasible finished trials are grey dots, infeasible ones red crosses. Every point of
    ``front`` is highlighted; the staircase joins those of them that are non-dominated in the
    (x, y) plane (all of them for a 2-objective front). A dashed line marks a budget limit on
    x (and on y). The x axis is logarithmic for S-ACE, energy and size when the values span
    more than a factor 20. Accuracy is shown in percent.
    """
    direction(x)
    direction(y)
    if x == y:
        raise BudgetError(f"plot axes are both {x!r}; choose two different metrics")
    finished = _finished(records, x, y)
    shown_front = _finished(front, x, y)
    feasible = [r for r in finished if r.feasible]
    infeasible = [r for r in finished if not r.feasible]

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if feasible:
        ax.scatter([r.metrics[x] for r in feasible], [r.metrics[y] for r in feasible],
                   s=14, c="0.6", alpha=0.7, label=f"trials ({len(feasible)})", zorder=2)
    if infeasible:
        ax.scatter([r.metrics[x] for r in infeasible], [r.metrics[y] for r in infeasible],
                   s=22, c="tab:red", marker="x", linewidths=1.0,
                   label=f"over budget ({len(infeasible)})", zorder=2)
    if shown_front:
        ax.scatter([r.metrics[x] for r in shown_front], [r.metrics[y] for r in shown_front],
                   s=40, c="tab:blue", edgecolors="k", linewidths=0.6,
                   label=f"Pareto front ({len(shown_front)})", zorder=4)
        stairs = sorted(pareto_front(shown_front, (x, y)), key=lambda r: (r.metrics[x], r.metrics[y]))
        ax.plot([r.metrics[x] for r in stairs], [r.metrics[y] for r in stairs],
                drawstyle=step_where(x), color="tab:blue", linewidth=1.8, zorder=3)
    if budget:
        limits = budget.to_dict()
        if x in limits:
            ax.axvline(limits[x], color="tab:red", linestyle="--", linewidth=1.2,
                       label=f"budget {x} ≤ {limits[x]:g}", zorder=1)
        if y in limits:
            ax.axhline(limits[y], color="tab:red", linestyle="--", linewidth=1.2,
                       label=f"budget {y} ≤ {limits[y]:g}", zorder=1)
    xs = [r.metrics[x] for r in finished]
    if use_log_scale(x, xs):
        ax.set_xscale("log")
    if y in LOG_METRICS and use_log_scale(y, [r.metrics[y] for r in finished]):
        ax.set_yscale("log")
    if x == "accuracy":
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if y == "accuracy":
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if not finished:
        ax.text(0.5, 0.5, "no finished trials", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(AXIS_LABELS[x])
    ax.set_ylabel(AXIS_LABELS[y])
    ax.set_title(title if title is not None else f"{y} vs {x}: {len(finished)} trials, {len(shown_front)} on the front")
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
