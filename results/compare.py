"""Render and check a strategy comparison: ``compare.json`` (written by ``spikebits compare``),
its summary table, the winner and its significance, two figures and ``report.md``.

``compare.json`` holds, for every (strategy, seed) run, its final front (``pareto.json``'s
points), its final hypervolume and a timeline of the hypervolume after each finished
evaluation; its format is ``compare.schema.json`` beside this module (``spikebits.compare/1``)
plus the cross-field checks of :func:`validate_compare`. Everything here is computed from
that file alone, so ``spikebits report DIR`` can render a comparison long after it ran.

Statistics, per strategy over its runs (one per seed):

* final hypervolume: mean and sample standard deviation (ddof = 1; 0 with one run);
* time to 90 %: the first timeline ``time_s`` at which a run's hypervolume reaches
  0.9 · HV*, where HV* is the best final hypervolume of any run of any strategy; averaged
  over the runs that reach it (and how many do);
* the winner: the highest mean final hypervolume; a two-sided Mann-Whitney U test of its
  per-seed final hypervolumes against the runner-up's (:func:`scipy.stats.mannwhitneyu`).

matplotlib (through ``results.plots``) and scipy.stats are imported on first use, so that
validating a file stays cheap (and a process that only writes compare.json never loads them).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
from jsonschema.exceptions import best_match

from spikebits.space import (
    RECORD_METRICS,
    BudgetError,
    ConfigError,
    DataError,
    atomic_write_text,
    direction,
    format_number,
)

from spikebits.results.pareto import hypervolume, pareto_front
from spikebits.results.report import MISSING, format_metric
from spikebits.results.storage import pareto_records

COMPARE_SCHEMA = "spikebits.compare/1"
#: The JSON Schema file, a resource of this package.
SCHEMA_FILE = "compare.schema.json"
#: File names :func:`write_report` writes.
COMPARE_PNG = "compare.png"
ALLOCATION_PNG = "allocation_compare.png"
REPORT_MD = "report.md"
#: A run "reaches" the best hypervolume when it gets to this fraction of it.
REACH_FRACTION = 0.9
#: Significance level of the Mann-Whitney test.
ALPHA = 0.05
#: Significant digits of the numbers in the report.
DIGITS = 4
#: Longest jsonschema message kept in a one-line error.
MAX_MESSAGE = 200
#: Figure titles / alt texts of the known plot files.
PLOT_TITLES: dict[str, str] = {
    COMPARE_PNG: "hypervolume against wall time, and the final fronts",
    ALLOCATION_PNG: "per-layer allocation of each strategy's best point",
}
FIX_HINT = "write it again with spikebits compare"


# --------------------------------------------------------------------- schema and reading
def load_compare_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``compare.json``, read from the package resource
    ``spikebits.results/compare.schema.json`` (a fresh dict on every call)."""
    text = importlib.resources.files("spikebits.results").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_compare_schema())


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _invalid(source: str, where: str, message: str) -> DataError:
    return DataError(f"{source} is invalid at {where}: {_one_line(message)}; {FIX_HINT}")


def _check(data: Any, source: str) -> None:
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        raise _invalid(source, error.json_path, error.message)
    for name, stated in data["objectives"].items():
        try:
            expected = direction(name)
        except BudgetError as err:
            raise _invalid(source, f"$.objectives.{name}", str(err)) from None
        if stated != expected:
            raise _invalid(source, f"$.objectives.{name}", f"{name} is to {expected}, not {stated}")
    if set(data["reference_point"]) != set(data["objectives"]):
        raise _invalid(source, "$.reference_point",
                       f"names {', '.join(data['reference_point'])}, not the objectives {', '.join(data['objectives'])}")
    seen: set[tuple[str, int]] = set()
    for i, run in enumerate(data["runs"]):
        where = f"$.runs[{i}]"
        if run["strategy"] not in data["strategies"]:
            raise _invalid(source, f"{where}.strategy", f"{run['strategy']!r} is not one of the strategies")
        if run["seed"] not in data["seeds"]:
            raise _invalid(source, f"{where}.seed", f"{run['seed']} is not one of the seeds")
        key = (run["strategy"], run["seed"])
        if key in seen:
            raise _invalid(source, where, f"a second run of {key[0]} with seed {key[1]}")
        seen.add(key)
        timeline = run["timeline"]
        for j in range(1, len(timeline)):
            before, entry = timeline[j - 1], timeline[j]
            if entry["time_s"] < before["time_s"]:
                raise _invalid(source, f"{where}.timeline[{j}].time_s", "time goes backwards")
            if entry["evaluations"] <= before["evaluations"]:
                raise _invalid(source, f"{where}.timeline[{j}].evaluations", "evaluations do not increase")
            if entry["hypervolume"] < before["hypervolume"]:
                raise _invalid(source, f"{where}.timeline[{j}].hypervolume", "hypervolume decreases")
        for j, point in enumerate(run["front"]):
            unknown = [m for m in point["metrics"] if m not in RECORD_METRICS]
            if unknown:
                raise _invalid(source, f"{where}.front[{j}].metrics", f"unknown metric {unknown[0]!r}")


def validate_compare(data: Mapping[str, Any]) -> None:
    """Check ``data`` against ``compare.schema.json`` and the checks a schema cannot state.

    Those are: every objective is a known metric with its own direction; the reference point
    names exactly the objectives; each run names a listed strategy and seed, and no
    (strategy, seed) pair twice; along a timeline ``time_s`` never decreases, ``evaluations``
    increases and ``hypervolume`` never decreases; front points carry only known metrics.

    Raises :class:`space.DataError` with one line naming the place (a JSON path such as
    ``$.runs[0].seed``) and the first (jsonschema's most relevant) problem.
    """
    _check(data, "compare data")


def read_compare_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read, parse and :func:`validate_compare` ``compare.json``; a missing or unreadable
    file, malformed JSON or an invalid document is a one-line :class:`space.DataError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"comparison file {path} does not exist; run spikebits compare first") from None
    except OSError as err:
        raise DataError(f"cannot read comparison file {path} ({err.strerror}); check the path and its permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); {FIX_HINT}") from None
    _check(data, str(path))
    return data


# --------------------------------------------------------------------- numbers
def runs_of(data: Mapping[str, Any], strategy: str) -> list[Mapping[str, Any]]:
    """The runs of ``strategy``, in file order."""
    return [run for run in data["runs"] if run["strategy"] == strategy]


def recompute_hypervolume(run: Mapping[str, Any], data: Mapping[str, Any]) -> float:
    """The hypervolume of ``run["front"]`` for ``data``'s objectives and reference point,
    computed again with :func:`results.pareto.hypervolume` (moocore); it should equal
    ``run["hypervolume"]``. Infeasible points and points lacking an objective add nothing."""
    try:
        records = pareto_records({"points": run["front"]})
    except (ConfigError, ValueError) as err:
        raise DataError(f"a front point of {run['strategy']} seed {run['seed']} is malformed ({err}); {FIX_HINT}") from None
    return hypervolume(records, list(data["objectives"]), data["reference_point"])


def best_final_hypervolume(data: Mapping[str, Any]) -> float:
    """HV*: the highest final hypervolume of any run of any strategy."""
    return max(float(run["hypervolume"]) for run in data["runs"])


def time_to_reach(run: Mapping[str, Any], target: float) -> float | None:
    """The first timeline ``time_s`` at which the run's hypervolume is ≥ ``target``; None when
    it never is, or when ``target`` ≤ 0 (nothing to reach)."""
    if target <= 0:
        return None
    for entry in run["timeline"]:
        if entry["hypervolume"] >= target:
            return float(entry["time_s"])
    return None


def hypervolume_at(run: Mapping[str, Any], times: Sequence[float] | np.ndarray) -> np.ndarray:
    """The run's hypervolume as a step function of wall time, at each of ``times``:
    HV(t) = hypervolume of the last timeline entry with ``time_s`` ≤ t, and 0 before the first."""
    t = np.asarray(times, dtype=float)
    stamps = np.array([e["time_s"] for e in run["timeline"]], dtype=float)
    values = np.array([e["hypervolume"] for e in run["timeline"]], dtype=float)
    if not len(stamps):
        return np.zeros_like(t)
    index = np.searchsorted(stamps, t, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], 0.0)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _sd(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof = 1); 0.0 for one value, None for none."""
    if not values:
        return None
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarize(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per strategy, in the order of ``data["strategies"]``::

        {"strategy": str, "seeds": int (runs),
         "hypervolume_mean": float, "hypervolume_sd": float (ddof=1; 0.0 with one run),
         "time_to_90_s": float | None (mean over the runs that reach 0.9·HV*),
         "reached_90": int (how many runs reach it),
         "evaluations_mean": float, "feasible_fraction_mean": float | None (over runs with one),
         "wall_time_s_mean": float}

    Every run listed counts, whatever its ``state``. A strategy without runs has
    ``seeds`` 0, ``reached_90`` 0 and None for every number.
    """
    target = REACH_FRACTION * best_final_hypervolume(data)
    rows = []
    for strategy in data["strategies"]:
        runs = runs_of(data, strategy)
        hvs = [float(r["hypervolume"]) for r in runs]
        times = [t for t in (time_to_reach(r, target) for r in runs) if t is not None]
        feasible = [float(r["feasible_fraction"]) for r in runs if r["feasible_fraction"] is not None]
        rows.append({
            "strategy": strategy,
            "seeds": len(runs),
            "hypervolume_mean": _mean(hvs),
            "hypervolume_sd": _sd(hvs),
            "time_to_90_s": _mean(times),
            "reached_90": len(times),
            "evaluations_mean": _mean([float(r["evaluations"]) for r in runs]),
            "feasible_fraction_mean": _mean(feasible),
            "wall_time_s_mean": _mean([float(r["wall_time_s"]) for r in runs]),
        })
    return rows


def winner(data: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy with the highest mean final hypervolume, tested against the runner-up::

        {"strategy": str, "runner_up": str | None, "mean": float, "runner_up_mean": float | None,
         "u": float | None, "p_value": float | None, "significant": bool, "note": str | None,
         "difference": float | None, "spread": float | None, "exceeds_spread": bool | None}

    ``u`` and ``p_value`` are those of ``scipy.stats.mannwhitneyu(winner's final
    hypervolumes, runner-up's, alternative="two-sided")`` (U of the winner's sample);
    ``significant`` is ``p_value < 0.05``. ``difference`` is the difference of the two means,
    ``spread`` the larger of their two sample standard deviations, and ``exceeds_spread``
    whether the difference is larger than the spread. Equal means rank in the order of
    ``data["strategies"]``; strategies without runs are not ranked.

    With one ranked strategy, or fewer than 2 runs on either side, there is no test:
    ``u``, ``p_value`` (and ``spread``/``exceeds_spread`` when a side has one run) are None,
    ``significant`` is False and ``note`` says why.
    """
    rows = [row for row in summarize(data) if row["seeds"] > 0]
    ranked = sorted(rows, key=lambda row: -row["hypervolume_mean"])  # stable: ties keep strategy order
    best = ranked[0]
    result: dict[str, Any] = {
        "strategy": best["strategy"], "runner_up": None, "mean": best["hypervolume_mean"],
        "runner_up_mean": None, "u": None, "p_value": None, "significant": False, "note": None,
        "difference": None, "spread": None, "exceeds_spread": None,
    }
    if len(ranked) < 2:
        result["note"] = "only one strategy has runs, so there is nothing to compare it with"
        return result
    second = ranked[1]
    result["runner_up"] = second["strategy"]
    result["runner_up_mean"] = second["hypervolume_mean"]
    result["difference"] = best["hypervolume_mean"] - second["hypervolume_mean"]
    if min(best["seeds"], second["seeds"]) < 2:
        result["note"] = "a significance test needs at least 2 seeds per strategy"
        return result
    result["spread"] = max(best["hypervolume_sd"], second["hypervolume_sd"])
    result["exceeds_spread"] = result["difference"] > result["spread"]
    from scipy.stats import mannwhitneyu  # ~1 s to import: only where a winner is tested

    x = [float(r["hypervolume"]) for r in runs_of(data, best["strategy"])]
    y = [float(r["hypervolume"]) for r in runs_of(data, second["strategy"])]
    test = mannwhitneyu(x, y, alternative="two-sided")
    result["u"] = float(test.statistic)
    result["p_value"] = float(test.pvalue)
    result["significant"] = bool(result["p_value"] < ALPHA)
    return result


def against_primary(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The primary strategy (the first of ``data["strategies"]``) against each other one::

        {"strategy": str, "primary_mean": float | None, "mean": float | None,
         "difference": float | None, "u": float | None, "p_value": float | None,
         "significant": bool, "note": str | None}

    ``u`` and ``p_value`` are those of ``scipy.stats.mannwhitneyu(primary's final
    hypervolumes, the other's, alternative="two-sided")``; ``significant`` is ``p_value <
    0.05``; ``difference`` is the primary's mean less the other's. Fewer than 2 runs on either
    side: no test, ``note`` says why."""
    rows = {row["strategy"]: row for row in summarize(data)}
    primary = data["strategies"][0]
    x = [float(r["hypervolume"]) for r in runs_of(data, primary)]
    out = []
    for strategy in data["strategies"][1:]:
        y = [float(r["hypervolume"]) for r in runs_of(data, strategy)]
        entry: dict[str, Any] = {
            "strategy": strategy, "primary_mean": rows[primary]["hypervolume_mean"], "mean": rows[strategy]["hypervolume_mean"],
            "difference": None, "u": None, "p_value": None, "significant": False, "note": None,
        }
        if x and y:
            entry["difference"] = entry["primary_mean"] - entry["mean"]
        if min(len(x), len(y)) < 2:
            entry["note"] = "a significance test needs at least 2 seeds per strategy"
        else:
            from scipy.stats import mannwhitneyu  # ~1 s to import: only where a test is made

            test = mannwhitneyu(x, y, alternative="two-sided")
            entry["u"], entry["p_value"] = float(test.statistic), float(test.pvalue)
            entry["significant"] = bool(entry["p_value"] < ALPHA)
        out.append(entry)
    return out


def best_points(
    data: Mapping[str, Any],
    budget_metric: str | None = None,
    limit: float | None = None,
) -> dict[str, dict[str, Any] | None]:
    """Each strategy's best front point over all its seeds: ``{"seed": int, "point": dict}``
    (the point as stored), or None when it has none.

    Best is the highest ``accuracy`` among the feasible points that carry a config and a
    finite accuracy and, when ``budget_metric`` and ``limit`` are given, a finite
    ``budget_metric`` ≤ ``limit``. Ties go to the lower value of the first non-accuracy
    objective, then to the earlier seed (in ``data["seeds"]`` order), then the lower number.
    """
    if (budget_metric is None) != (limit is None):
        raise BudgetError("give both budget_metric and limit, or neither")
    if budget_metric is not None:
        direction(budget_metric)
    objectives = list(data["objectives"])
    cost = next((m for m in objectives if m != "accuracy"), objectives[0])
    seed_order = {seed: i for i, seed in enumerate(data["seeds"])}

    def finite(point: Mapping[str, Any], metric: str) -> float | None:
        value = point["metrics"].get(metric)
        return float(value) if value is not None and math.isfinite(value) else None

    best: dict[str, dict[str, Any] | None] = {}
    for strategy in data["strategies"]:
        candidates = []
        for run in runs_of(data, strategy):
            for point in run["front"]:
                accuracy = finite(point, "accuracy")
                if not point["feasible"] or point["config"] is None or accuracy is None:
                    continue
                if budget_metric is not None:
                    value = finite(point, budget_metric)
                    if value is None or value > limit:
                        continue
                tie = finite(point, cost)
                key = (-accuracy, math.inf if tie is None else tie, seed_order[run["seed"]], point["number"])
                candidates.append((key, {"seed": run["seed"], "point": point}))
        best[strategy] = min(candidates, key=lambda c: c[0])[1] if candidates else None
    return best


# --------------------------------------------------------------------- figures
def _front_axes(objectives: Sequence[str]) -> tuple[str, str]:
    """(x, y) of the front panel: y = accuracy (else the first objective), x = the first
    other objective."""
    y = "accuracy" if "accuracy" in objectives else objectives[0]
    x = next(m for m in objectives if m != y)
    return x, y


def _end_time(data: Mapping[str, Any]) -> float:
    ends = [float(run["wall_time_s"]) for run in data["runs"]]
    ends += [float(e["time_s"]) for run in data["runs"] for e in run["timeline"]]
    return max(ends)


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
    from matplotlib.ticker import PercentFormatter

    from spikebits.results.plots import AXIS_LABELS, cycle_color, finish_figure, step_where, use_log_scale

    objectives = list(data["objectives"])
    strategies = list(data["strategies"])
    fig = Figure(figsize=(12.8, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax_hv, ax_front = fig.subplots(1, 2)

    end = _end_time(data)
    for index, strategy in enumerate(strategies):
        runs = runs_of(data, strategy)
        if not runs:
            continue
        stamps = [float(e["time_s"]) for run in runs for e in run["timeline"]]
        grid = np.unique(np.array([0.0, *stamps, end]))
        values = np.array([hypervolume_at(run, grid) for run in runs])
        color = cycle_color(index)
        ax_hv.plot(grid, np.median(values, axis=0), drawstyle="steps-post", color=color, linewidth=1.8,
                   label=f"{strategy} (median of {len(runs)})", zorder=3)
        ax_hv.fill_between(grid, values.min(axis=0), values.max(axis=0), step="post", color=color,
                           alpha=0.2, linewidth=0, zorder=2)
    best = best_final_hypervolume(data)
    if best > 0:
        ax_hv.axhline(REACH_FRACTION * best, color="0.4", linestyle="--", linewidth=1.0,
                      label=f"{REACH_FRACTION:.0%} of best final", zorder=1)
    ax_hv.set_xlabel("wall time (s)")
    ax_hv.set_ylabel("hypervolume")
    ax_hv.set_title("hypervolume during the search (band: min–max over seeds)", fontsize="medium")
    ax_hv.grid(True, alpha=0.3)
    if ax_hv.get_legend_handles_labels()[0]:
        ax_hv.legend(loc="lower right", fontsize="small")

    x, y = _front_axes(objectives)
    xs_all: list[float] = []
    for index, strategy in enumerate(strategies):
        color = cycle_color(index)
        n_points = 0
        for run in runs_of(data, strategy):
            records = [r for r in pareto_records({"points": run["front"]}) if r.has(x) and r.has(y)]
            if not records:
                continue
            xs = [r.metrics[x] for r in records]
            xs_all += xs
            n_points += len(records)
            ax_front.scatter(xs, [r.metrics[y] for r in records], s=22, color=color, edgecolors="k",
                             linewidths=0.4, alpha=0.85, zorder=4)
            stairs = sorted(pareto_front(records, (x, y)), key=lambda r: (r.metrics[x], r.metrics[y]))
            ax_front.plot([r.metrics[x] for r in stairs], [r.metrics[y] for r in stairs],
                          drawstyle=step_where(x), color=color, linewidth=1.0, alpha=0.5, zorder=3)
        if n_points:
            ax_front.scatter([], [], s=22, color=color, edgecolors="k", linewidths=0.4,
                             label=f"{strategy} ({n_points} points)")
    limit = data["budget"].get(x)
    if limit is not None:
        ax_front.axvline(limit, color="tab:red", linestyle="--", linewidth=1.2, label=f"budget {x} ≤ {limit:g}", zorder=1)
    if use_log_scale(x, xs_all):
        ax_front.set_xscale("log")
    if y == "accuracy":
        ax_front.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    if not xs_all:
        ax_front.text(0.5, 0.5, "no front points", ha="center", va="center", transform=ax_front.transAxes)
    ax_front.set_xlabel(AXIS_LABELS.get(x, x))
    ax_front.set_ylabel(AXIS_LABELS.get(y, y))
    ax_front.set_title("final fronts, all seeds", fontsize="medium")
    ax_front.grid(True, alpha=0.3)
    if ax_front.get_legend_handles_labels()[0]:
        ax_front.legend(loc="best", fontsize="small")
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
        accuracy = format_metric("accuracy", chosen["point"]["metrics"]["accuracy"])
        allocations.append({"label": f"{strategy} (seed {chosen['seed']}, {accuracy})",
                            "layers": chosen["point"]["config"]["layers"]})
    if not any(a["layers"] for a in allocations):
        return False
    where = f" with {budget_metric} ≤ {limit:g}" if budget_metric is not None else ""
    plot_allocation(path, allocations, title=f"best point of each strategy{where}: {data['model']} on {data['dataset']}")
    return True


# --------------------------------------------------------------------- report
def _num(value: float | None) -> str:
    return MISSING if value is None else format_number(value, DIGITS)


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{100.0 * value:.1f}%"


def _evaluation_budget(budget: Mapping[str, Any]) -> str:
    if "evaluations" in budget:
        n = budget["evaluations"]
        return f"{n} evaluation{'s' * (n != 1)} per run"
    return f"{_num(budget['seconds'])} s per run"


def _winner_paragraph(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    text = f"**{result['strategy']}** has the highest mean final hypervolume ({_num(result['mean'])})"
    if result["runner_up"] is None:
        return text + f". No significance test: {result['note']}."
    text += f", ahead of **{result['runner_up']}** ({_num(result['runner_up_mean'])})."
    if result["p_value"] is None:
        return text + f" No significance test: {result['note']}."
    n_best = len(runs_of(data, result["strategy"]))
    n_second = len(runs_of(data, result["runner_up"]))
    verdict = "significant" if result["significant"] else "not significant"
    relation = "larger" if result["exceeds_spread"] else "not larger"
    return (text + f" Mann-Whitney U = {_num(result['u'])}, two-sided p = {format_number(result['p_value'], 3)} "
            f"({n_best} and {n_second} seeds): {verdict} at the {ALPHA:g} level. "
            f"The difference of the means ({_num(result['difference'])}) is {relation} than the seed spread "
            f"(the larger standard deviation, {_num(result['spread'])}).")


def format_report_md(data: Mapping[str, Any], *, plots: Sequence[str] = ()) -> str:
    """The comparison as Markdown: title (model, data set), settings (objectives, budget,
    evaluation budget, seeds, reference point, command, versions), the table

        strategy | final hypervolume (mean ± sd) | time to 90% of best (s) | evaluations |
        feasible | wall time (s)

    (means over seeds; the time column also says how many runs reached 90 % of HV*), the
    winner paragraph (:func:`winner`), the primary strategy (the first listed) against each
    other one (:func:`against_primary`) and an image link to each file name in ``plots``.
    Numbers have 4 significant digits (fractions: percent with one decimal); the same data
    gives the same text byte for byte.
    """
    objectives = data["objectives"]
    budget = data["budget"]
    seeds = data["seeds"]
    lines = [
        f"# Strategy comparison: {data['model']} on {data['dataset']}",
        "",
        "## Settings",
        "",
        "- objectives: " + ", ".join(f"{m} ({d})" for m, d in objectives.items()),
        "- budget: " + (", ".join(f"{m} ≤ {_num(v)}" for m, v in budget.items()) if budget else "none"),
        f"- evaluation budget: {_evaluation_budget(data['evaluation_budget'])}",
        f"- seeds ({len(seeds)}): " + ", ".join(str(s) for s in seeds),
        "- reference point: " + ", ".join(f"{m} = {_num(v)}" for m, v in data["reference_point"].items()),
        f"- command: `{' '.join(data['command'])}`",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in data["versions"].items()),
        f"- created: {data['created']}",
        "",
        "## Results",
        "",
        f"Means over seeds. Time to 90% of best: the first time a run's hypervolume reaches "
        f"{REACH_FRACTION:g} × the best final hypervolume of any run ({_num(best_final_hypervolume(data))}), "
        "averaged over the runs that reach it (reached/runs).",
        "",
        "| strategy | final hypervolume (mean ± sd) | time to 90% of best (s) | evaluations | feasible | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summarize(data):
        hv = MISSING if row["seeds"] == 0 else f"{_num(row['hypervolume_mean'])} ± {_num(row['hypervolume_sd'])}"
        reach = f"{_num(row['time_to_90_s'])} ({row['reached_90']}/{row['seeds']})"
        lines.append(f"| {row['strategy']} | {hv} | {reach} | {_num(row['evaluations_mean'])} | "
                     f"{_percent(row['feasible_fraction_mean'])} | {_num(row['wall_time_s_mean'])} |")
    lines += ["", "## Winner", "", _winner_paragraph(data, winner(data))]
    tests = against_primary(data)
    if tests:
        primary = data["strategies"][0]
        lines += [
            "", f"## {primary} against each other strategy", "",
            f"The first strategy listed is the primary one. Difference: its mean final hypervolume less the other's; "
            f"Mann-Whitney U of its per-seed final hypervolumes against the other's, two-sided, significant below {ALPHA:g}.",
            "", "| strategy | its mean | difference | U | p | |", "|---|---:|---:|---:|---:|---|",
        ]
        for t in tests:
            if t["p_value"] is None:
                verdict = t["note"] or ""
            elif t["significant"]:
                verdict = f"{primary} {'higher' if t['difference'] > 0 else 'lower'}, significant"
            else:
                verdict = "not significant"
            lines.append(f"| {t['strategy']} | {_num(t['mean'])} | {_num(t['difference'])} | {_num(t['u'])} | "
                         f"{MISSING if t['p_value'] is None else format_number(t['p_value'], 3)} | {verdict} |")
    if plots:
        lines += ["", "## Figures", ""]
        for name in plots:
            lines += [f"![{PLOT_TITLES.get(name, Path(name).stem)}]({name})", ""]
        lines.pop()
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | os.PathLike[str], data: Mapping[str, Any]) -> list[Path]:
    """Write ``compare.png`` (:func:`plot_compare`), ``allocation_compare.png``
    (:func:`plot_allocation_compare`, each strategy's most accurate point; left out when no
    front point has a config) and ``report.md`` (:func:`format_report_md`, linking the
    figures written) into ``out_dir``, each atomically; return their paths in that order."""
    out = Path(out_dir)
    written = [out / COMPARE_PNG]
    plot_compare(written[0], data)
    if plot_allocation_compare(out / ALLOCATION_PNG, data):
        written.append(out / ALLOCATION_PNG)
    report = out / REPORT_MD
    atomic_write_text(report, format_report_md(data, plots=[p.name for p in written]))
    return [*written, report]
