"""The numbers of a strategy comparison, computed from ``compare.json``'s data alone.

Per strategy over its runs (one per seed):

* final hypervolume: mean and sample standard deviation (ddof = 1; 0 with one run);
* time to 90 %: the first timeline ``time_s`` at which a run's hypervolume reaches
  0.9 · HV*, where HV* is the best final hypervolume of any run of any strategy; averaged
  over the runs that reach it (and how many do);
* the winner: the highest mean final hypervolume; a two-sided Mann-Whitney U test of its
  per-seed final hypervolumes against the runner-up's (:func:`scipy.stats.mannwhitneyu`),
  and the same test of the primary strategy (the first listed) against each other one;
* each strategy's best front point, the one whose allocation the figures show.

scipy.stats is imported on first use (about a second), only where a test is made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spikebits.space import BudgetError, ConfigError, DataError, direction
from spikebits.space.metrics import ACCURACY

from spikebits.results.compare_schema import FIX_HINT
from spikebits.results.pareto import front_axes, hypervolume
from spikebits.results.storage import pareto_records

#: A run "reaches" the best hypervolume when it gets to this fraction of it.
REACH_FRACTION = 0.9
#: Significance level of the Mann-Whitney test.
ALPHA = 0.05
#: Why a pair of strategies is not tested.
TOO_FEW_SEEDS = "a significance test needs at least 2 seeds per strategy"


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


def _finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (a damaged file's NaN, a
    null): such a value never ranks."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def best_final_hypervolume(data: Mapping[str, Any]) -> float:
    """HV*: the highest finite final hypervolume of any run of any strategy (0.0 when none is
    finite)."""
    return max((hv for hv in (_finite_or_none(run["hypervolume"]) for run in data["runs"]) if hv is not None), default=0.0)


def time_to_reach(run: Mapping[str, Any], target: float) -> float | None:
    """The first timeline ``time_s`` at which the run's hypervolume is ≥ ``target``; None when
    it never is, or when ``target`` ≤ 0 (nothing to reach)."""
    if target <= 0:
        return None
    for entry in run["timeline"]:
        hv = _finite_or_none(entry["hypervolume"])
        if hv is not None and hv >= target:
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


def _final_hypervolumes(data: Mapping[str, Any], strategy: str) -> list[float]:
    """The finite final hypervolume of each run of ``strategy``, in file order (a run whose
    hypervolume is not a finite number is left out: it never ranks)."""
    return [hv for hv in (_finite_or_none(r["hypervolume"]) for r in runs_of(data, strategy)) if hv is not None]


def _mann_whitney(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, bool]:
    """(U of ``x``'s sample, two-sided p, p < :data:`ALPHA`) of
    ``scipy.stats.mannwhitneyu(x, y, alternative="two-sided")``."""
    from scipy.stats import mannwhitneyu  # ~1 s to import: only where a test is made

    test = mannwhitneyu(x, y, alternative="two-sided")
    p_value = float(test.pvalue)
    return float(test.statistic), p_value, bool(p_value < ALPHA)


def summarize(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per strategy, in the order of ``data["strategies"]``::

        {"strategy": str, "seeds": int (runs),
         "hypervolume_mean": float, "hypervolume_sd": float (ddof=1; 0.0 with one run),
         "time_to_90_s": float | None (mean over the runs that reach 0.9·HV*),
         "reached_90": int (how many runs reach it),
         "evaluations_mean": float, "feasible_fraction_mean": float | None (over runs with one),
         "wall_time_s_mean": float}

    Every run listed counts, whatever its ``state``; the hypervolume's mean and sd are over the
    runs whose final hypervolume is a finite number (a NaN never counts). A strategy without runs has
    ``seeds`` 0, ``reached_90`` 0 and None for every number.
    """
    target = REACH_FRACTION * best_final_hypervolume(data)
    rows = []
    for strategy in data["strategies"]:
        runs = runs_of(data, strategy)
        hvs = _final_hypervolumes(data, strategy)
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
    ``data["strategies"]``; strategies without a run whose final hypervolume is a finite
    number are not ranked (so a NaN run never wins), and when no strategy is ranked the file
    is a one-line :class:`space.DataError`.

    With one ranked strategy, or fewer than 2 runs on either side, there is no test:
    ``u``, ``p_value`` (and ``spread``/``exceeds_spread`` when a side has one run) are None,
    ``significant`` is False and ``note`` says why.
    """
    rows = [row for row in summarize(data) if row["hypervolume_mean"] is not None and math.isfinite(row["hypervolume_mean"])]
    if not rows:
        raise DataError(f"no run has a finite final hypervolume, so no strategy can win; {FIX_HINT}")
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
    x, y = _final_hypervolumes(data, best["strategy"]), _final_hypervolumes(data, second["strategy"])
    if min(len(x), len(y)) < 2:
        result["note"] = TOO_FEW_SEEDS
        return result
    result["spread"] = max(best["hypervolume_sd"], second["hypervolume_sd"])
    result["exceeds_spread"] = result["difference"] > result["spread"]
    result["u"], result["p_value"], result["significant"] = _mann_whitney(x, y)
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
    x = _final_hypervolumes(data, primary)
    out = []
    for strategy in data["strategies"][1:]:
        y = _final_hypervolumes(data, strategy)
        entry: dict[str, Any] = {
            "strategy": strategy, "primary_mean": rows[primary]["hypervolume_mean"], "mean": rows[strategy]["hypervolume_mean"],
            "difference": None, "u": None, "p_value": None, "significant": False, "note": None,
        }
        if x and y:
            entry["difference"] = entry["primary_mean"] - entry["mean"]
        if min(len(x), len(y)) < 2:
            entry["note"] = TOO_FEW_SEEDS
        else:
            entry["u"], entry["p_value"], entry["significant"] = _mann_whitney(x, y)
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
    cost, _ = front_axes(objectives)
    seed_order = {seed: i for i, seed in enumerate(data["seeds"])}

    def finite(point: Mapping[str, Any], metric: str) -> float | None:
        value = point["metrics"].get(metric)
        return float(value) if value is not None and math.isfinite(value) else None

    best: dict[str, dict[str, Any] | None] = {}
    for strategy in data["strategies"]:
        candidates = []
        for run in runs_of(data, strategy):
            for point in run["front"]:
                accuracy = finite(point, ACCURACY.name)
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
