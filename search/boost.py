"""``boost``: SensiBoost / KurtBoost — extra bits for the layers after outlier jumps in a
per-layer sensitivity metric.

Per learnable layer l (network order) a metric m_l: the output error when the layer alone is
quantized to the base choice (``output``, SensiBoost), the Pearson kurtosis of its weights
(``kurtosis``, KurtBoost) or its Hessian trace (``hessian``). Jumps between consecutive
layers are ratios m_l/m_{l−1} for output error and trace and differences m_l − m_{l−1} for
kurtosis. Each jump gets a 5%-trimmed z-score, by default as the reference code takes it
(int(0.05·n) values cut from each end, sample standard deviation); a jump with |z| > 3 is an
outlier and the layer *after* it (layer l) gets extra bits: its W and S move up by
``boost_steps`` options (a searched membrane width U rises with S, keeping U − S). At most ``top`` outliers (largest |z| first, default 1) are boosted.
``zscore="ceil"`` keeps an earlier variant (⌈0.05·n⌉ cut, population sd, one-sided z): with
20 or fewer jumps the reference trims nothing, so one outlier among n jumps reaches at most
|z| = (n − 1)/√n — under 3 for n ≤ 10 —, while the variant trims the outlier itself and
scores it far higher.

The strategy proposes, for a ladder of uniform base configs (every unpinned layer at W, S,
the smallest T, uniform scheme; cheapest first), the boosted config; configs that break the
budget or repeat are skipped. A network with few layers has few jumps, whose trimmed z-scores
rarely exceed 3: then the proposals are the base configs themselves (``describe`` says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikebits.search.base import Proposal, Strategy, register_strategy, sensitivity_of
from spikebits.search.options import StrategyOptions, option
from spikebits.space import JUMP_KIND, SENSITIVITY_METRICS, Config, ConfigError, LayerChoice, SearchSpace, check_sensitivity_metric
from spikebits.space.metrics import BIT_BUDGET


def layer_jumps(values: Sequence[float], kind: str) -> np.ndarray:
    """j_l = m_l/m_{l−1} (``ratio``) or m_l − m_{l−1} (``difference``), l = 1 … L−1."""
    m = np.asarray(values, dtype=float)
    if kind == "ratio":
        return m[1:] / np.maximum(m[:-1], np.finfo(float).tiny)
    if kind == "difference":
        return m[1:] - m[:-1]
    raise ValueError(f"unknown jump kind {kind!r}")


#: How the trimmed z-score is taken (see :func:`trimmed_zscores`).
ZSCORE_RULES = ("reference", "ceil")


def trimmed_zscores(values: Sequence[float], proportion: float = 0.05, rule: str = "reference") -> np.ndarray:
    """z_i = (v_i − μ_trim)/σ_trim over the values left after cutting k of them from each end.

    * ``"reference"`` (the SensiBoost/KurtBoost code; DESIGN.md): k = int(proportion·n) and
      the *sample* standard deviation (ddof 1). With 20 or fewer values nothing is trimmed,
      so one outlier among n values has z at most (n − 1)/√n (2.85 for n = 10).
    * ``"ceil"`` (an earlier spikebits variant): k = ⌈proportion·n⌉, so that 11–20 values
      still lose their largest and smallest, and the *population* standard deviation.

    k shrinks when fewer than two values would be left. If the kept values are all equal, z
    is 0 for values equal to them and ±∞ for the others."""
    if rule not in ZSCORE_RULES:
        raise ValueError(f"unknown z-score rule {rule!r}; use one of {', '.join(ZSCORE_RULES)}")
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return v
    k = math.ceil(proportion * v.size) if rule == "ceil" else int(proportion * v.size)
    while k > 0 and v.size - 2 * k < 2:
        k -= 1
    kept = np.sort(v)[k : v.size - k]
    ddof = 1 if rule == "reference" and kept.size > 1 else 0
    mean, sigma = float(np.mean(kept)), float(np.std(kept, ddof=ddof))
    if sigma == 0.0:  # the trimmed values are all equal: any other value is an infinite outlier
        return np.where(v > mean, np.inf, np.where(v < mean, -np.inf, 0.0))
    return (v - mean) / sigma


def outlier_layers(
    names: Sequence[str],
    values: Sequence[float],
    kind: str,
    *,
    threshold: float = 3.0,
    top: int | None = None,
    rule: str = "reference",
) -> list[tuple[str, float]]:
    """Layers after a jump whose trimmed z-score exceeds ``threshold`` — two-sided, |z|, for
    the ``"reference"`` rule; z itself for ``"ceil"`` — largest first, at most ``top``:
    [(layer, z), ...]."""
    if len(names) != len(values):
        raise ValueError("one value per layer")
    if len(names) < 2:
        return []
    z = trimmed_zscores(layer_jumps(values, kind), rule=rule)
    size = np.abs(z) if rule == "reference" else z
    found = sorted(((names[i + 1], float(z[i]), float(size[i])) for i in range(len(z)) if size[i] > threshold), key=lambda p: -p[2])
    found = [(name, score) for name, score, _ in found]
    return found[:top] if top is not None else found


def boost_config(space: SearchSpace, base: Config, layers: Sequence[str], steps: int = 1) -> Config:
    """``base`` with W and S of ``layers`` (and their tie partners) moved up ``steps`` options;
    a membrane width U moves up with S (:func:`membrane_with_spikes`)."""

    def up(options: Sequence[int], value: int) -> int:
        larger = [o for o in options if o > value]
        return larger[min(steps, len(larger)) - 1] if larger else value

    decisions = {rep: base[rep] for rep in space.decisions}
    for name in layers:
        rep = space.group_of(name)[0]
        if rep not in decisions:
            continue  # pinned
        options, c = space.layers[rep], decisions[rep]
        s = up(options.s_bits, c.s_bits)
        u = membrane_with_spikes(options.u_bits, c.u_bits, s - c.s_bits)
        decisions[rep] = LayerChoice(up(options.w_bits, c.w_bits), s, c.timesteps, c.scheme, u)
    return space.expand(decisions)


def membrane_with_spikes(options: Sequence[int], u_bits: int | None, added: int) -> int | None:
    """U after S rose by ``added`` bits: the smallest of ``options`` at or above U + ``added``
    (the largest if none is), so U − S and with it the membrane's fraction and headroom bits
    (docs/membrane_bits.md) stay as they were; U None (not searched) stays None."""
    if u_bits is None or added <= 0 or not options:
        return u_bits
    return min((o for o in options if o >= u_bits + added), default=max(max(options), u_bits))


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
    check_sensitivity_metric(metric, what="boost metric")
    raise AssertionError(metric)  # pragma: no cover  (every sensitivity metric is handled above)


def uniform_bases(space: SearchSpace, cost: Any) -> list[Config]:
    """Uniform base configs: every unpinned layer at (W, S, smallest T, uniform), for every W
    and S allowed by all unpinned layers, cheapest bit budget first. A layer that searches the
    membrane width takes its largest U (the unquantized membrane's nearest; boosting moves it
    with S); the others keep U None."""
    reps = space.decisions
    common_w = sorted(set.intersection(*(set(space.layers[r].w_bits) for r in reps)))
    common_s = sorted(set.intersection(*(set(space.layers[r].s_bits) for r in reps)))
    t = max(min(space.layers[r].timesteps) for r in reps)
    schemes = set.intersection(*(set(space.layers[r].schemes) for r in reps))
    scheme = "uniform" if "uniform" in schemes else sorted(schemes)[0]
    u = {r: max(space.layers[r].u_bits, default=None) for r in reps}
    bases = [space.expand({r: LayerChoice(w, s, t, scheme, u[r]) for r in reps}) for w in common_w for s in common_s]
    return sorted(bases, key=lambda c: (cost(c).get(BIT_BUDGET.name, 0.0), c.short()))


def boosted(
    space: SearchSpace,
    base: Config,
    report: Any,
    metric: str,
    *,
    threshold: float = 3.0,
    top: int | None = None,
    steps: int = 1,
    rule: str = "reference",
) -> tuple[Config, list[tuple[str, float]]]:
    """The boosted config of ``base`` and the outliers that caused it."""
    names = space.free_layers
    values = [layer_metric(report, metric, n, base[n]) for n in names]
    outliers = outlier_layers(names, values, JUMP_KIND[metric], threshold=threshold, top=top, rule=rule)
    return boost_config(space, base, [n for n, _ in outliers], steps), outliers


@dataclass(frozen=True)
class BoostOptions(StrategyOptions):
    metric: str = option("output", "per-layer metric whose jumps are looked at", choices=SENSITIVITY_METRICS)
    threshold: float = option(3.0, "trimmed z-score above which a jump is an outlier")
    top: int = option(1, "most layers boosted per config (largest z first)")
    zscore: str = option(
        "reference", "reference: int(5%·n) trimmed, sample sd, two-sided |z| (the SensiBoost code); ceil: ⌈5%·n⌉ trimmed, "
        "population sd, one-sided", choices=ZSCORE_RULES,
    )
    boost_steps: int = option(1, "options by which a boosted layer's W and S move up")
    probes: int = option(200, "most Hutchinson probes when the sensitivity is measured")

    def sensitivity_request(self) -> tuple[int, str]:
        return self.probes, "full"

    def validate(self) -> None:
        self.require(self.top >= 1, "top", "at least 1")
        self.require(self.boost_steps >= 1, "boost_steps", "at least 1")
        self.require(self.probes >= 1, "probes", "at least 1")


@register_strategy
class BoostStrategy(Strategy):
    """SensiBoost / KurtBoost: extra bits after outlier jumps of a layer metric, over uniform bases.

    See the module docstring; the sensitivity report is the evaluator's (or the one given as
    ``sensitivity``).
    """

    name = "boost"
    Options = BoostOptions
    options: BoostOptions
    trials_note = "at most one per uniform base config that keeps the budget"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: list[tuple[Config, Config, list[tuple[str, float]]]] = []
        #: How many of the plan's configs were asked.
        self.asked = 0

    def start(self) -> None:
        report = sensitivity_of(self, *self.options.sensitivity_request())
        o = self.options
        seen: set[Config] = set()
        for base in uniform_bases(self.space, self.evaluator.cost):
            config, outliers = boosted(
                self.space, base, report, o.metric, threshold=o.threshold, top=o.top, steps=o.boost_steps, rule=o.zscore
            )
            if config in seen or not self.budget.feasible(self.evaluator.cost(config)):
                continue
            seen.add(config)
            self.plan.append((base, config, outliers))

    def remaining(self, n_trials: int, told: int) -> int:
        return min(n_trials, len(self.plan)) - told

    def ask(self) -> Proposal | None:
        if self.asked >= len(self.plan):  # several proposals may be out at once (on Ray)
            return None
        base, config, outliers = self.plan[self.asked]
        self.asked += 1
        return Proposal(config, info={"base": base.short(), "boosted": ";".join(f"{n}(z={z:.2f})" for n, z in outliers)})

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["plan"] = [{"base": b.short(), "config": c.short(), "outliers": dict(o)} for b, c, o in self.plan]
        if self.plan and not any(o for _, _, o in self.plan):
            info["note"] = "no jump had a trimmed z-score above the threshold: every proposal is its uniform base"
        return info
