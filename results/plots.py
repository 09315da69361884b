"""Figures: ``pareto.png`` (every finished trial, the front as a staircase, the budget limit),
the bit widths of differentiable-search runs during training, and per-layer allocations.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global
backend switch), saved into memory and written with :func:`space.atomic_write_bytes`.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from spikebits.space import Budget, BudgetError, ConfigError, direction, is_large, is_percent, metric_label
from spikebits.space.metrics import ACCURACY, TEST_ACCURACY

from spikebits.results.pareto import front_axes, pareto_front
from spikebits.results.records import TrialRecord
from spikebits.space import atomic_write_bytes

#: A metric's axis (declared ``large``, :class:`space.Metric`) turns logarithmic when its
#: values span more than this factor.
LOG_SPAN = 20.0

#: The three per-layer quantities of the bit-allocation figures, in panel order.
BIT_KEYS: tuple[str, ...] = ("w_bits", "s_bits", "timesteps")
#: y labels of :func:`plot_bit_trajectories` (network averages during training).
TRAJECTORY_LABELS: dict[str, str] = {
    "w_bits": "average weight bits W̄",
    "s_bits": "average spike bits S̄",
    "timesteps": "average time steps T̄",
}
#: y labels of :func:`plot_allocation` (one layer's final choice).
ALLOCATION_LABELS: dict[str, str] = {
    "w_bits": "weight bits W",
    "s_bits": "spike bits S",
    "timesteps": "time steps T",
}
#: :func:`plot_allocation` rotates the layer names when there are more layers than this.
ROTATE_TICKS_ABOVE = 8
#: Hatch of the bars of power-of-two (``scheme="pow2"``) weights.
POW2_HATCH = "//"


def use_log_scale(metric: str, values: Iterable[float]) -> bool:
    """Log axis when ``metric`` is declared ``large`` (:func:`space.is_large`) and max/min of
    the positive values exceeds :data:`LOG_SPAN` (a factor 20)."""
    if not is_large(metric):
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
    y: str = ACCURACY.name,
    budget: Budget | None = None,
    title: str | None = None,
) -> None:
    """Plot ``y`` against ``x`` and write a PNG to ``path`` atomically.

    Feasible finished trials are grey dots, infeasible ones red crosses. Every point of
    ``front`` is highlighted; the staircase joins those of them that are non-dominated in the
    (x, y) plane (all of them for a 2-objective front). A dashed line marks a budget limit on
    x (and on y). The x axis is logarithmic for S-ACE, energy and size when the values span
    more than a factor 20. Accuracy is shown in percent. With ``y`` = accuracy (validation),
    the front's points that carry ``test_accuracy`` get it beside, as hollow orange circles.
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
        tested = [r for r in shown_front if r.has(TEST_ACCURACY.name)] if y == ACCURACY.name else []
        if tested:  # the same points' test accuracy, beside the validation accuracy they were chosen on
            ax.scatter([r.metrics[x] for r in tested], [r.metrics[TEST_ACCURACY.name] for r in tested],
                       s=40, facecolors="none", edgecolors="tab:orange", linewidths=1.2,
                       label="front on the test split", zorder=4)
    if budget:
        limits = budget.to_dict()
        if x in limits:
            ax.axvline(limits[x], color="tab:red", linestyle="--", linewidth=1.2,
                       label=f"budget {x} ≤ {limits[x]:g}", zorder=1)
        if y in limits:
            ax.axhline(limits[y], color="tab:red", linestyle="--", linewidth=1.2,
                       label=f"budget {y} ≤ {limits[y]:g}", zorder=1)
    style_metric_axes(
        ax, x, y, [r.metrics[x] for r in finished], [r.metrics[y] for r in finished], empty="no finished trials",
        title=title if title is not None else f"{y} vs {x}: {len(finished)} trials, {len(shown_front)} on the front",
    )
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def style_metric_axes(
    ax: Any, x: str, y: str, xs: Sequence[float], ys: Sequence[float], *, empty: str, title: str, title_size: str | None = None
) -> None:
    """An axes of metric ``y`` against metric ``x`` as the declarations say
    (:class:`space.Metric`): a log scale for a large metric whose ``xs`` / ``ys`` span more than
    :data:`LOG_SPAN`, percent ticks for an accuracy, the labels; ``empty`` written in the middle
    when there are no points; the title, a grid and the legend."""
    if use_log_scale(x, xs):
        ax.set_xscale("log")
    if use_log_scale(y, ys):
        ax.set_yscale("log")
    if is_percent(x):
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if is_percent(y):
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if not xs:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(metric_label(x))
    ax.set_ylabel(metric_label(y))
    ax.set_title(title, fontsize=title_size)
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


def cycle_color(index: int) -> str:
    """The ``index``-th colour of matplotlib's default cycle (``C0`` … ``C9``, then again), so
    that a run or a strategy keeps its colour across panels and figures."""
    return f"C{index % 10}"


def _number(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing (None) or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def finish_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Lay out ``fig`` (``tight_layout``), render it as PNG into memory and write it to
    ``path`` with :func:`space.atomic_write_bytes`: a failed render or write leaves an
    existing file at ``path`` untouched."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


@dataclass(frozen=True)
class Trajectory:
    """One run's line in one panel of :func:`plot_bit_trajectories`."""

    run: int
    label: str
    epochs: tuple[float, ...]
    values: tuple[float, ...]
    target: float | None

    @property
    def color(self) -> str:
        """The run's colour, the same in every panel."""
        return cycle_color(self.run)


def trajectory_series(runs: Sequence[Mapping[str, Any]]) -> dict[str, list[Trajectory]]:
    """What :func:`plot_bit_trajectories` draws: per key of :data:`BIT_KEYS`, one
    :class:`Trajectory` per run that has at least one point for that key.

    A point is a history entry's ``(epoch, value)``; entries whose value is missing, None or
    not finite are left out. The target is ``run["targets"][key]`` (None when ``targets`` or
    the key is missing or None). ``run`` is the run's position in ``runs``; a run without
    ``label`` is called ``run 1``, ``run 2``, ... by it, and it picks the colour (``C0``,
    ``C1``, ...), the same in every panel.
    """
    series: dict[str, list[Trajectory]] = {key: [] for key in BIT_KEYS}
    for index, run in enumerate(runs):
        label = str(run.get("label") or f"run {index + 1}")
        targets = run.get("targets") or {}
        history = run.get("history") or []
        for key in BIT_KEYS:
            points = [(float(entry["epoch"]), _number(entry.get(key))) for entry in history]
            points = [(epoch, value) for epoch, value in points if value is not None]
            if points:
                series[key].append(Trajectory(
                    run=index,
                    label=label,
                    epochs=tuple(epoch for epoch, _ in points),
                    values=tuple(value for _, value in points),
                    target=_number(targets.get(key)),
                ))
    return series


def plot_bit_trajectories(
    path: str | os.PathLike[str],
    runs: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
) -> None:
    """Plot how the bit widths of differentiable-search runs change during training and write
    a PNG to ``path`` atomically.

    Three panels side by side: average weight bits W̄, average spike bits S̄ and average time
    steps T̄ against the training epoch (``history[i]["epoch"]``). Each run is one line
    (markers at the logged points) and its target, where ``run["targets"]`` gives one, a
    dashed horizontal line in the same colour. The legend, in the first panel with data,
    names every drawn run, plus "target" for the dashed style when any target is drawn. A
    panel no run has values for says "no data". The series are those of
    :func:`trajectory_series`.

    Nothing to draw (no runs, or no run with a history point): nothing is written, and an
    existing file at ``path`` is left as it is.
    """
    series = trajectory_series(runs)
    if not any(series.values()):
        return
    drawn = {t.run: t for lines in series.values() for t in lines}
    n_runs = len(drawn)

    fig = Figure(figsize=(12.8, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(BIT_KEYS), sharex=True)
    legend_ax = None
    for ax, key in zip(axes, BIT_KEYS):
        for t in series[key]:
            ax.plot(t.epochs, t.values, color=t.color, linewidth=1.6, marker="o", markersize=2.5,
                    label=t.label, zorder=3)
            if t.target is not None:
                ax.axhline(t.target, color=t.color, linestyle="--", linewidth=1.0, alpha=0.8, zorder=2)
        if not series[key]:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        elif legend_ax is None:
            legend_ax = ax
        ax.set_xlabel("epoch")
        ax.set_ylabel(TRAJECTORY_LABELS[key])
        ax.grid(True, which="major", alpha=0.3)
    if legend_ax is not None:
        handles: list[Any] = [Line2D([], [], color=drawn[r].color, linewidth=1.6) for r in sorted(drawn)]
        labels = [drawn[r].label for r in sorted(drawn)]
        if any(t.target is not None for lines in series.values() for t in lines):
            handles.append(Line2D([], [], color="0.3", linestyle="--", linewidth=1.0))
            labels.append("target")
        legend_ax.legend(handles, labels, loc="best", fontsize="small")
    fig.suptitle(title if title is not None else f"bit widths during training: {n_runs} run{'s' * (n_runs != 1)}")
    finish_figure(fig, path)


@dataclass(frozen=True)
class AllocationBars:
    """One allocation's bars in one panel of :func:`plot_allocation`, one per layer."""

    label: str
    color: str
    values: tuple[float, ...]
    pow2: tuple[bool, ...]


def _bar_height(value: Any) -> float:
    number = _number(value)
    return math.nan if number is None else number


def _layer_dict(layer: Any) -> Mapping[str, Any]:
    return layer.to_dict() if hasattr(layer, "to_dict") and callable(layer.to_dict) else layer


def allocation_series(
    allocations: Sequence[Mapping[str, Any]],
) -> tuple[tuple[str, ...], dict[str, list[AllocationBars]]]:
    """What :func:`plot_allocation` draws: the layer names (in the dict order of the first
    allocation) and, per key of :data:`BIT_KEYS`, one :class:`AllocationBars` per allocation.

    A layer is a mapping with ``w_bits``, ``s_bits``, ``timesteps`` and optionally ``scheme``
    (or a :class:`space.LayerChoice`); a missing or None value is NaN (no bar). ``pow2``
    marks the layers whose ``scheme`` is ``"pow2"``, in the ``w_bits`` panel only (the scheme
    is a property of the weights). Allocations without layers are left out; the others must
    name the same layers, else :class:`space.ConfigError`. A missing ``label`` is
    ``allocation 1``, ``allocation 2``, ... by position, which also picks the colour.
    """
    kept = [(i, a) for i, a in enumerate(allocations) if a.get("layers")]
    series: dict[str, list[AllocationBars]] = {key: [] for key in BIT_KEYS}
    if not kept:
        return (), series
    layers = tuple(kept[0][1]["layers"])
    for index, allocation in kept:
        label = str(allocation.get("label") or f"allocation {index + 1}")
        names = allocation["layers"]
        if set(names) != set(layers):
            raise ConfigError(
                f"allocation {label!r} has layers {', '.join(names)}, expected {', '.join(layers)}; "
                "plot allocations of one model together"
            )
        choices = [_layer_dict(names[name]) for name in layers]
        pow2 = tuple(choice.get("scheme") == "pow2" for choice in choices)
        for key in BIT_KEYS:
            values = tuple(_bar_height(choice.get(key)) for choice in choices)
            series[key].append(AllocationBars(
                label=label,
                color=cycle_color(index),
                values=values,
                pow2=pow2 if key == "w_bits" else (False,) * len(layers),
            ))
    return layers, series


def plot_allocation(
    path: str | os.PathLike[str],
    allocations: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
) -> None:
    """Plot final per-layer allocations as grouped bars and write a PNG to ``path`` atomically.

    Three panels stacked vertically, sharing the x axis: weight bits W, spike bits S and time
    steps T of every layer, the layer names on the x axis (rotated when there are more than
    :data:`ROTATE_TICKS_ABOVE`). Each layer is a group with one bar per allocation, in the
    allocation's colour; W bars of power-of-two weights (``scheme="pow2"``) are hatched. The
    legend, above the top panel, names the allocations and, when any bar is hatched, the hatch. The bars are those of :func:`allocation_series`
    (which raises :class:`space.ConfigError` when the allocations name different layers).

    Nothing to draw (no allocations, or none with layers): nothing is written, and an
    existing file at ``path`` is left as it is.
    """
    layers, series = allocation_series(allocations)
    if not layers:
        return
    n_alloc = len(series["w_bits"])
    width = 0.8 / n_alloc
    centers = range(len(layers))

    fig = Figure(figsize=(max(6.4, 2.0 + 0.5 * len(layers)), 7.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(BIT_KEYS), 1, sharex=True)
    for ax, key in zip(axes, BIT_KEYS):
        for i, bars in enumerate(series[key]):
            offset = (i - (n_alloc - 1) / 2) * width
            container = ax.bar([c + offset for c in centers], bars.values, width=width, color=bars.color,
                               edgecolor="0.2", linewidth=0.5, label=bars.label, zorder=3)
            for patch, pow2 in zip(container.patches, bars.pow2):
                if pow2:
                    patch.set_hatch(POW2_HATCH)
        ax.set_ylabel(ALLOCATION_LABELS[key])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, axis="y", which="major", alpha=0.3, zorder=0)
    bottom = axes[-1]
    bottom.set_xticks(list(centers))
    if len(layers) > ROTATE_TICKS_ABOVE:
        bottom.set_xticklabels(layers, rotation=60, ha="right", rotation_mode="anchor")
    else:
        bottom.set_xticklabels(layers)
    bottom.set_xlabel("layer")
    handles = [Patch(facecolor=bars.color, edgecolor="0.2", linewidth=0.5) for bars in series["w_bits"]]
    labels = [bars.label for bars in series["w_bits"]]
    if any(any(bars.pow2) for bars in series["w_bits"]):
        handles.append(Patch(facecolor="white", edgecolor="0.2", linewidth=0.5, hatch=POW2_HATCH))
        labels.append("power-of-two weights")
    # Above the top panel, so that it hides no bar.
    axes[0].legend(handles, labels, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=min(len(labels), 4),
                   fontsize="small", frameon=False)
    fig.suptitle(title if title is not None else
                 f"per-layer allocation: {n_alloc} allocation{'s' * (n_alloc != 1)}, {len(layers)} layers")
    finish_figure(fig, path)


#: Panels of the sensitivity chart: (key in each layer's row, axis label).
SENSITIVITY_PANELS: tuple[tuple[str, str], ...] = (
    ("trace", "Hessian trace Tr(H_l) of the weights"),
    ("output_error_2bit", "output error, layer alone at W2/S2/T1"),
    ("kurtosis", "weight kurtosis (Pearson)"),
)


def plot_sensitivity(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> None:
    """Per-layer sensitivity bars, one panel per metric of :data:`SENSITIVITY_PANELS` (log
    axis where the values span more than a factor 20), layers on the shared x axis. ``rows``
    are ``{"layer": name, "trace": ..., "output_error_2bit": ..., "kurtosis": ...}``; a
    missing value draws no bar. Nothing to draw: nothing is written."""
    if not rows:
        return
    layers = [str(r["layer"]) for r in rows]
    fig = Figure(figsize=(max(6.4, 2.0 + 0.45 * len(layers)), 7.2), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(SENSITIVITY_PANELS), 1, sharex=True)
    for i, (ax, (key, label)) in enumerate(zip(axes, SENSITIVITY_PANELS)):
        values = [_number(r.get(key)) for r in rows]
        heights = [v if v is not None else math.nan for v in values]
        ax.bar(range(len(layers)), heights, color=cycle_color(i), edgecolor="0.2", linewidth=0.5, zorder=3)
        positive = [v for v in values if v is not None and v > 0]
        if positive and max(positive) / min(positive) > LOG_SPAN:
            ax.set_yscale("log")
        ax.set_ylabel(label, fontsize="small")
        ax.grid(True, axis="y", alpha=0.3, zorder=0)
    bottom = axes[-1]
    bottom.set_xticks(list(range(len(layers))))
    if len(layers) > ROTATE_TICKS_ABOVE:
        bottom.set_xticklabels(layers, rotation=60, ha="right", rotation_mode="anchor")
    else:
        bottom.set_xticklabels(layers)
    bottom.set_xlabel("layer")
    fig.suptitle(title if title is not None else f"layer sensitivity, {len(layers)} layers")
    finish_figure(fig, path)


def redraw_search(folder: str | os.PathLike[str]) -> tuple[list[TrialRecord], list[TrialRecord], tuple[str, ...]]:
    """Redraw ``pareto.png`` of a finished search in ``folder`` from its ``trials.csv`` and
    ``pareto.json`` (nothing recomputed); returns the records, the stored front and its
    objectives."""
    from pathlib import Path

    from spikebits.results.storage import pareto_records, read_pareto_json, read_trial_records

    folder = Path(folder)
    pareto = read_pareto_json(folder / "pareto.json")
    records = read_trial_records(folder / "trials.csv")
    objectives = tuple(pareto["objectives"])
    front = pareto_records(pareto)
    x, y = front_axes(objectives, list(pareto["budget"]))
    plot_front(folder / "pareto.png", records, front, x=x, y=y, budget=Budget.parse([f"{m}<={v!r}" for m, v in pareto["budget"].items()]))
    return records, front, objectives
