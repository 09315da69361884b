"""The figures of a strategy comparison, drawn from ``compare.json``'s data alone:
``compare.png`` (:func:`plot_compare`: hypervolume against wall time, and the final fronts)
and ``allocation_compare.png`` (:func:`plot_allocation_compare`: each strategy's best
point, layer by layer).

Each strategy keeps one colour in every figure: the colour of its position in
``data["strategies"]``. matplotlib (through ``results.plots``) is imported on first use, so
that importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from spikebits.space.metrics import ACCURACY
from spikebits.results.compare_stats import (
    REACH_FRACTION,
    best_final_hypervolume,
    best_points,
    hypervolume_at,
    runs_of,
)
from spikebits.results.pareto import front_axes, pareto_front
from spikebits.results.report import format_metric
from spikebits.results.storage import pareto_records

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: File names of the figures (:func:`results.compare_report.write_report` writes them).
COMPARE_PNG = "compare.png"
ALLOCATION_PNG = "allocation_compare.png"
#: Figure titles / alt texts of the known plot files.
PLOT_TITLES: dict[str, str] = {
    COMPARE_PNG: "hypervolume against wall time, and the final fronts",
    ALLOCATION_PNG: "per-layer allocation of each strategy's best point",
}



def _end_time(data: Mapping[str, Any]) -> float:
    ends = [float(run["wall_time_s"]) for run in data["runs"]]
    ends += [float(e["time_s"]) for run in data["runs"] for e in run["timeline"]]
    return max(ends)


def _draw_hypervolume_panel(ax: Axes, data: Mapping[str, Any]) -> None:
    """The left panel of :func:`plot_compare`: per strategy, the median over its seeds of
    the hypervolume against wall time, a min–max band, and a dashed line at 0.9·HV*."""
    from spikebits.results.plots import cycle_color

    end = _end_time(data)
    for index, strategy in enumerate(data["strategies"]):
        runs = runs_of(data, strategy)
        if not runs:
            continue
        stamps = [float(e["time_s"]) for run in runs for e in run["timeline"]]
        grid = np.unique(np.array([0.0, *stamps, end]))
        values = np.array([hypervolume_at(run, grid) for run in runs])
        color = cycle_color(index)
        ax.plot(grid, np.median(values, axis=0), drawstyle="steps-post", color=color, linewidth=1.8,
                label=f"{strategy} (median of {len(runs)})", zorder=3)
        ax.fill_between(grid, values.min(axis=0), values.max(axis=0), step="post", color=color,
                        alpha=0.2, linewidth=0, zorder=2)
    best = best_final_hypervolume(data)
    if best > 0:
        ax.axhline(REACH_FRACTION * best, color="0.4", linestyle="--", linewidth=1.0,
                   label=f"{REACH_FRACTION:.0%} of best final", zorder=1)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("hypervolume")
    ax.set_title("hypervolume during the search (band: min–max over seeds)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize="small")


def _draw_fronts(ax: Axes, data: Mapping[str, Any], x: str, y: str) -> list[float]:
    """Every run's final front on ``ax``, one colour per strategy: its points (y against x)
    and, thin, its staircase; one legend entry per strategy with points. Returns the x values
    drawn."""
    from spikebits.results.plots import cycle_color, step_where

    xs_all: list[float] = []
    for index, strategy in enumerate(data["strategies"]):
        color = cycle_color(index)
        n_points = 0
        for run in runs_of(data, strategy):
            records = [r for r in pareto_records({"points": run["front"]}) if r.has(x) and r.has(y)]
            if not records:
                continue
            xs = [r.metrics[x] for r in records]
            xs_all += xs
            n_points += len(records)
            ax.scatter(xs, [r.metrics[y] for r in records], s=22, color=color, edgecolors="k",
                       linewidths=0.4, alpha=0.85, zorder=4)
            stairs = sorted(pareto_front(records, (x, y)), key=lambda r: (r.metrics[x], r.metrics[y]))
            ax.plot([r.metrics[x] for r in stairs], [r.metrics[y] for r in stairs],
                    drawstyle=step_where(x), color=color, linewidth=1.0, alpha=0.5, zorder=3)
        if n_points:
            ax.scatter([], [], s=22, color=color, edgecolors="k", linewidths=0.4,
                       label=f"{strategy} ({n_points} points)")
    return xs_all


def _draw_front_panel(ax: Axes, data: Mapping[str, Any]) -> None:
    """The right panel of :func:`plot_compare`: the final fronts of every strategy and seed
    (:func:`_draw_fronts`), the budget limit on x, and the axes' scales and labels."""
    from spikebits.results.plots import style_metric_axes

    x, y = front_axes(list(data["objectives"]))
    xs_all = _draw_fronts(ax, data, x, y)
    limit = data["budget"].get(x)
    if limit is not None:
        ax.axvline(limit, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {x} ≤ {limit:g}", zorder=1)
    style_metric_axes(ax, x, y, xs_all, (), empty="no front points", title="final fronts, all seeds", title_size="medium")


def plot_compare(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Two panels side by side, written as a PNG to ``path`` atomically.

    Left: hypervolume against wall time. Per strategy, each run's hypervolume is a step
    function of time (:func:`hypervolume_at`) on a common grid (0, every timeline time of
    the strategy, and the latest time of any run); the line is the median over its seeds
    and the shaded band spans their minimum to maximum. A dashed grey line marks 0.9·HV*.

    Right: the final fronts of every strategy overlaid, all seeds, one colour per strategy
    (the colour of ``data["strategies"]`` position, as in :func:`plot_allocation_compare`):
    each run's points and, thin, its staircase. y is accuracy (in percent), x the first
    other objective, logarithmic for S-ACE, energy and size when its values span more than a
    factor 20. A budget limit on x is a dashed red line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from spikebits.results.plots import finish_figure

    strategies = list(data["strategies"])
    fig = Figure(figsize=(12.8, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax_hv, ax_front = fig.subplots(1, 2)
    _draw_hypervolume_panel(ax_hv, data)
    _draw_front_panel(ax_front, data)
    n_seeds = len(data["seeds"])
    fig.suptitle(f"{data['model']} on {data['dataset']}: {len(strategies)} strateg{'ies' if len(strategies) != 1 else 'y'}, "
                 f"{n_seeds} seed{'s' * (n_seeds != 1)}")
    finish_figure(fig, path)


def plot_allocation_compare(
    path: str | os.PathLike[str],
    data: Mapping[str, Any],
    budget_metric: str | None = None,
    limit: float | None = None,
) -> bool:
    """Per-layer W, S and T of each strategy's best point (:func:`best_points`) as grouped
    bars, one group per layer and one colour per strategy (its position in
    ``data["strategies"]``, as in :func:`plot_compare`), three panels; drawn by
    :func:`results.plots.plot_allocation` and written to ``path`` atomically.

    Returns whether a file was written: when no strategy has a point to show, nothing is
    written and an existing file at ``path`` is left as it is.
    """
    from spikebits.results.plots import plot_allocation

    best = best_points(data, budget_metric, limit)
    allocations = []
    for strategy in data["strategies"]:  # a strategy without a point keeps its place, so its colour
        chosen = best[strategy]
        if chosen is None:
            allocations.append({"label": strategy, "layers": {}})
            continue
        accuracy = format_metric(ACCURACY.name, chosen["point"]["metrics"][ACCURACY.name])
        allocations.append({"label": f"{strategy} (seed {chosen['seed']}, {accuracy})",
                            "layers": chosen["point"]["config"]["layers"]})
    if not any(a["layers"] for a in allocations):
        return False
    where = f" with {budget_metric} ≤ {limit:g}" if budget_metric is not None else ""
    plot_allocation(path, allocations, title=f"best point of each strategy{where}: {data['model']} on {data['dataset']}")
    return True
