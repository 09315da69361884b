"""``boost``: SensiBoost / KurtBoost — extra bits for the layers after outlier jumps in a
per-layer sensitivity metric.

Per learnable layer l (network order) a metric m_l: the output error when the layer alone is
quantized to the base choice (``output``, SensiBoost), the Pearson kurtosis of its weights
(``kurtosis``, KurtBoost) or its Hessian trace (``hessian``). Jumps between consecutive
layers are ratios m_l/m_{l−1} for output error and trace and differences m_l − m_{l−1} for
kurtosis. Each jump gets a 5%-trimmed z-score; a jump with z > 3 is an outlier and the layer
*after* it (layer l) gets extra bits: its W and S move up by ``boost_steps`` options. At most
``top`` outliers (largest z first) are boosted.

The strategy proposes, for a ladder of uniform base configs (every unpinned layer at W, S,
the smallest T, uniform scheme; cheapest first), the boosted config; configs that break the
budget or repeat are skipped. A network with few layers has few jumps, whose trimmed z-scores
rarely exceed 3: then the proposals are the base configs themselves (``describe`` says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import math

import numpy as np

from spikebits.results import TrialRecord
from spikebits.search.base import Proposal, Strategy, register_strategy
from spikebits.space import Config, ConfigError, LayerChoice, SearchSpace

BOOST_METRICS = ("output", "kurtosis", "hessian")
#: Jump kind per metric: ratio of consecutive layers or difference.
JUMP_KIND = {"output": "ratio", "hessian": "ratio", "kurtosis": "difference"}


def layer_jumps(values: Sequence[float], kind: str) -> np.ndarray:
    """j_l = m_l/m_{l−1} (``ratio``) or m_l − m_{l−1} (``difference``), l = 1 … L−1."""
    m = np.asarray(values, dtype=float)
    if kind == "ratio":
        return m[1:] / np.maximum(m[:-1], np.finfo(float).tiny)
    if kind == "difference":
        return m[1:] - m[:-1]
    raise ValueError(f"unknown jump kind {kind!r}")


def trimmed_zscores(values: Sequence[float], proportion: float = 0.05) -> np.ndarray:
    """z_i = (v_i − μ_trim)/σ_trim, with the mean and (population) standard deviation of the
    values left after cutting k = ⌈proportion·n⌉ of them from each end (rounded up, so that a
    network of 11–20 layers still trims its single largest and smallest jump, which are the
    outliers being looked for; k shrinks when fewer than two values would be left).
    If the kept values are all equal, z is 0 for values equal to them and ±∞ for the others."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return v
    k = math.ceil(proportion * v.size)
    while k > 0 and v.size - 2 * k < 2:
        k -= 1
    kept = np.sort(v)[k : v.size - k]
    mean, sigma = float(np.mean(kept)), float(np.std(kept))
    if sigma == 0.0:  # the trimmed values are all equal: any other value is an infinite outlier
        return np.where(v > mean, np.inf, np.where(v < mean, -np.inf, 0.0))
    return (v - mean) / sigma


def outlier_layers(
    names: Sequence[str], values: Sequence[float], kind: str, *, threshold: float = 3.0, top: int | None = None
) -> list[tuple[str, float]]:
    """Layers after a jump whose trimmed z-score exceeds ``threshold``, largest z first, at
    most ``top``: [(layer, z), ...]."""
    if len(names) != len(values):
        raise ValueError("one value per layer")
    if len(names) < 2:
        return []
    z = trimmed_zscores(layer_jumps(values, kind))
    found = sorted(((names[i + 1], float(z[i])) for i in range(len(z)) if z[i] > threshold), key=lambda p: -p[1])
    return found[:top] if top is not None else found


def boost_config(space: SearchSpace, base: Config, layers: Sequence[str], steps: int = 1) -> Config:
    """``base`` with W and S of ``layers`` (and their tie partners) moved up ``steps`` options."""

    def up(options: Sequence[int], value: int) -> int:
        larger = [o for o in options if o > value]
        return larger[min(steps, len(larger)) - 1] if larger else value

    decisions = {rep: base[rep] for rep in space.decisions}
    for name in layers:
        rep = space.group_of(name)[0]
        if rep not in decisions:
            continue  # pinned
        options, c = space.layers[rep], decisions[rep]
        decisions[rep] = LayerChoice(up(options.w_bits, c.w_bits), up(options.s_bits, c.s_bits), c.timesteps, c.scheme)
    return space.expand(decisions)


def layer_metric(report: Any, metric: str, name: str, choice: LayerChoice) -> float:
    """The per-layer value a boost metric compares (see the module docstring)."""
    layer = report.layers[name]
    if metric == "kurtosis":
        return float(layer.kurtosis)
    if metric == "hessian":
        return float(layer.trace)
    if metric == "output":
        key = choice.short()
        if key not in layer.output_error:
            raise ConfigError(f"layer {name!r} has no output error for {key}; the base choice must be among the layer's options")
        return float(layer.output_error[key])
    raise ConfigError(f"unknown boost metric {metric!r}; use one of {', '.join(BOOST_METRICS)}")


def uniform_bases(space: SearchSpace, cost: Any) -> list[Config]:
    """Uniform base configs: every unpinned layer at (W, S, smallest T, uniform), for every W
    and S allowed by all unpinned layers, cheapest bit budget first."""
    reps = space.decisions
    common_w = sorted(set.intersection(*(set(space.layers[r].w_bits) for r in reps)))
    common_s = sorted(set.intersection(*(set(space.layers[r].s_bits) for r in reps)))
    t = max(min(space.layers[r].timesteps) for r in reps)
    schemes = set.intersection(*(set(space.layers[r].schemes) for r in reps))
    scheme = "uniform" if "uniform" in schemes else sorted(schemes)[0]
    bases = [space.expand({r: LayerChoice(w, s, t, scheme) for r in reps}) for w in common_w for s in common_s]
    return sorted(bases, key=lambda c: (cost(c).get("bit_budget", 0.0), c.short()))


def boosted(space: SearchSpace, base: Config, report: Any, metric: str, *, threshold: float = 3.0, top: int | None = None, steps: int = 1) -> tuple[Config, list[tuple[str, float]]]:
    """The boosted config of ``base`` and the outliers that caused it."""
    names = space.free_layers
    values = [layer_metric(report, metric, n, base[n]) for n in names]
    outliers = outlier_layers(names, values, JUMP_KIND[metric], threshold=threshold, top=top)
    return boost_config(space, base, [n for n, _ in outliers], steps), outliers


@register_strategy
class BoostStrategy(Strategy):
    """SensiBoost / KurtBoost over a ladder of uniform bases (see the module docstring).

    Options: ``metric`` (``output`` default, ``kurtosis``, ``hessian``), ``threshold`` (3),
    ``top`` (at most this many boosted layers, default 3), ``boost_steps`` (1), ``sensitivity``
    (a precomputed :class:`evaluators.sensitivity.SensitivityReport`), ``progress``.
    """

    name = "boost"

    def __init__(self, space, evaluator, budget, objectives, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, evaluator, budget, objectives, seed=seed, **options)
        self.metric = options.get("metric") or "output"
        if self.metric not in BOOST_METRICS:
            raise ConfigError(f"unknown boost metric {self.metric!r}; use one of {', '.join(BOOST_METRICS)}")
        self.threshold = float(options.get("threshold") or 3.0)
        self.top = int(options.get("top") or 3)
        self.steps = int(options.get("boost_steps") or 1)
        self.report = options.get("sensitivity")
        self.plan: list[tuple[Config, Config, list[tuple[str, float]]]] = []
        self._records: list[TrialRecord] = []

    def start(self) -> None:
        if self.report is None:
            from spikebits.evaluators.sensitivity import measure_sensitivity

            self.report = measure_sensitivity(self.evaluator, progress=self.options.get("progress"))
        seen: set[Config] = set()
        for base in uniform_bases(self.space, self.evaluator.cost):
            config, outliers = boosted(self.space, base, self.report, self.metric, threshold=self.threshold, top=self.top, steps=self.steps)
            if config in seen or not self.budget.feasible(self.evaluator.cost(config)):
                continue
            seen.add(config)
            self.plan.append((base, config, outliers))

    def remaining(self, n_trials: int) -> int:
        return min(n_trials, len(self.plan)) - self._told

    def ask(self) -> Proposal | None:
        i = len(self._records)
        if i >= len(self.plan):
            return None
        base, config, outliers = self.plan[i]
        return Proposal(config, info={"base": base.short(), "boosted": ";".join(f"{n}(z={z:.2f})" for n, z in outliers)})

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        self._records.append(record)

    def records(self) -> list[TrialRecord]:
        return list(self._records)

    def describe(self) -> dict[str, Any]:
        info = super().describe()  # the report and progress wrapper are not JSON: left out by the base
        info.update(metric=self.metric, threshold=self.threshold, top=self.top, boost_steps=self.steps)
        info["plan"] = [{"base": b.short(), "config": c.short(), "outliers": dict(o)} for b, c, o in self.plan]
        if self.plan and not any(o for _, _, o in self.plan):
            info["note"] = "no jump had a trimmed z-score above the threshold: every proposal is its uniform base"
        return info

