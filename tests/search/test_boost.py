"""SensiBoost / KurtBoost: jumps, trimmed z-scores and the boosted config, by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from spikebits.search import EvaluatorBase, get_strategy
from spikebits.search.boost import boost_config, boosted, layer_jumps, outlier_layers, trimmed_zscores, uniform_bases
from spikebits.search.driver import Driver
from spikebits.space import Budget, LayerChoice, LayerOptions, SearchSpace


def test_jumps_are_ratios_or_differences():
    assert layer_jumps([1.0, 2.0, 8.0], "ratio").tolist() == [2.0, 4.0]
    assert layer_jumps([3.0, 3.5, 10.0], "difference").tolist() == [0.5, 6.5]


def test_reference_trimmed_zscore_by_hand():
    # The reference rule: int(0.05·n) cut from each end, sample standard deviation.
    # Ten values, nothing cut: nine 1s and a 100. Mean 10.9; Σ(v − mean)² = 9·9.9² + 89.1² = 8820.9,
    # sample σ = √(8820.9/9) = 31.306…; z(100) = 89.1/31.306… = 9/√10, the most one outlier can get.
    z = trimmed_zscores([1.0] * 9 + [100.0])
    assert z[-1] == pytest.approx(9 / math.sqrt(10)) and z[-1] == pytest.approx(2.846, abs=1e-3)
    assert z[0] == pytest.approx(-9.9 / math.sqrt(980.1))
    # Twenty values: int(1.0) = 1 cut from each end, then the sample σ of the 18 kept.
    values = np.arange(20.0)
    kept = values[1:19]
    assert trimmed_zscores(values)[0] == pytest.approx((0 - kept.mean()) / kept.std(ddof=1))
    assert trimmed_zscores([2.0, 2.0, 2.0]).tolist() == [0.0, 0.0, 0.0]


def test_reference_rule_is_two_sided():
    # 31 layers, 30 difference jumps; l20 drops by 45 and l21 climbs back: int(1.5) = 1 cut
    # from each end removes both, the kept jumps are all 0, so both are infinite outliers.
    names = [f"l{i}" for i in range(31)]
    kurtosis = [50.0] * 31
    kurtosis[20] = 5.0
    found = outlier_layers(names, kurtosis, "difference")
    assert sorted(found) == [("l20", -math.inf), ("l21", math.inf)]
    assert outlier_layers(names, kurtosis, "difference", rule="ceil") == [("l21", math.inf)]  # one-sided


def test_ceil_trimmed_zscore_by_hand():
    # proportion 0.2 of 5 values cuts one from each end: kept [2, 3, 4], mean 3,
    # population σ = √(2/3). z(100) = 97/√(2/3), z(1) = −2/√(2/3).
    z = trimmed_zscores([1.0, 2.0, 3.0, 4.0, 100.0], proportion=0.2, rule="ceil")
    sigma = math.sqrt(2 / 3)
    assert z.tolist() == pytest.approx([-2 / sigma, -1 / sigma, 0.0, 1 / sigma, 97 / sigma])
    # 5% of 20 values cuts one from each end.
    values = np.arange(20.0)
    kept = values[1:19]
    assert trimmed_zscores(values, rule="ceil")[0] == pytest.approx((0 - kept.mean()) / kept.std())
    assert trimmed_zscores([2.0, 2.0, 2.0], rule="ceil").tolist() == [0.0, 0.0, 0.0]


def test_outlier_is_the_layer_after_the_jump():
    # The ceil variant (hand numbers below); the reference rule finds nothing here: 11 jumps
    # with two outliers of ±22 give |z| ≈ 2.2.
    names = [f"l{i}" for i in range(12)]
    kurtosis = [3.0 + 0.1 * (i % 3) for i in range(12)]
    kurtosis[7] = 25.0  # jump into l7 (difference ≈ +22), and out of it (≈ −22)
    assert outlier_layers(names, kurtosis, "difference") == []
    found = outlier_layers(names, kurtosis, "difference", rule="ceil")
    assert [n for n, _ in found] == ["l7"]
    assert found[0][1] > 3
    # Output errors of 30 layers: ratio jumps (29 of them, k = ⌈1.45⌉ = 2 trimmed per end);
    # l4's error is 50× its predecessor's and l19's 20×.
    names = [f"l{i}" for i in range(30)]
    errors = [1.0 + 0.05 * (i % 4) for i in range(30)]
    errors[4] = 50.0
    errors[19] = 20.0
    found = outlier_layers(names, errors, "ratio", rule="ceil")
    assert [n for n, _ in found] == ["l4", "l19"]
    assert [n for n, _ in outlier_layers(names, errors, "ratio", top=1, rule="ceil")] == ["l4"]
    # Two layers, one jump: its z-score is 0, nothing is boosted.
    assert outlier_layers(["a", "b"], [1.0, 100.0], "ratio", rule="ceil") == []
    assert outlier_layers(["a", "b"], [1.0, 100.0], "ratio") == []


SPACE = SearchSpace.default(
    ["first", "a", "b", "c", "d"],
    ties=[("b", "c")],
    options=LayerOptions(w_bits=(1, 2, 4, 8), s_bits=(1, 2, 4), timesteps=(1, 2), schemes=("uniform", "pow2")),
)


def test_boost_moves_w_and_s_up_by_options_and_respects_ties():
    base = SPACE.uniform(LayerChoice(2, 1, 1, "uniform"))
    config = boost_config(SPACE, base, ["c"], steps=1)
    assert config["b"] == config["c"] == LayerChoice(4, 2, 1, "uniform")
    assert config["a"] == base["a"] and config["first"] == base["first"]
    config = boost_config(SPACE, base, ["d"], steps=2)
    assert config["d"] == LayerChoice(8, 4, 1, "uniform")
    config = boost_config(SPACE, SPACE.uniform(LayerChoice(8, 4, 1, "uniform")), ["d"], steps=1)
    assert config["d"] == LayerChoice(8, 4, 1, "uniform")  # already at the top


@dataclass
class _Layer:
    kurtosis: float
    trace: float = 1.0
    output_error: dict = field(default_factory=dict)


@dataclass
class _Report:
    layers: dict


def test_boosted_uses_the_report_and_the_bases_ladder():
    names = [f"l{i}" for i in range(10)]
    space = SearchSpace.default(["first", *names], options=LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",)))
    kurt = {n: 3.0 for n in names}
    kurt["l6"] = 40.0
    report = _Report({n: _Layer(kurt.get(n, 3.0), output_error={"W2S1T1": 1.0}) for n in ["first", *names]})
    base = space.uniform(LayerChoice(2, 1, 1, "uniform"))
    # Jumps 0, …, +37, −37, …, 0 over nine: nothing is cut, sample σ = 18.5, |z| = 2 < 3.
    assert boosted(space, base, report, "kurtosis")[1] == []
    config, outliers = boosted(space, base, report, "kurtosis", rule="ceil")
    assert [n for n, _ in outliers] == ["l6"]
    assert config["l6"] == LayerChoice(4, 2, 1, "uniform") and config["l5"] == base["l5"]

    def cost(c):
        return {"bit_budget": sum(c[n].w_bits * c[n].s_bits for n in names) / len(names)}

    ladder = uniform_bases(space, cost)
    assert [cost(c)["bit_budget"] for c in ladder] == [2.0, 4.0, 4.0, 8.0]


class _CostOnly(EvaluatorBase):
    """Enough of an evaluator for planning: the bit budget of a config."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def cost(self, config):
        names = self.space.free_layers
        return {"bit_budget": sum(config[n].w_bits * config[n].s_bits for n in names) / len(names)}


def test_boost_threshold_zero_boosts_every_jump_above_the_trimmed_mean():
    names = [f"l{i}" for i in range(10)]
    space = SearchSpace.default(["first", *names], options=LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",)))
    # Kurtosis jumps 1, 2, ..., 9: trimmed (one cut from each end) mean 5, population σ 2, so
    # z = (j − 5)/2 — the largest is 2, under the default threshold 3, and above 0 for j = 6..9.
    kurtosis = [1, 2, 4, 7, 11, 16, 22, 29, 37, 46]
    report = _Report({"first": _Layer(0.0), **{n: _Layer(float(k)) for n, k in zip(names, kurtosis)}})
    plans = {}
    for threshold in (3.0, 0.0):
        strategy = get_strategy("boost")(space, _CostOnly(space), Budget(), ("accuracy", "bit_budget"),
                                         sensitivity=report, metric="kurtosis", threshold=threshold, top=9,
                                         zscore="ceil")
        strategy.start()
        base, config, outliers = strategy.plan[0]
        plans[threshold] = outliers
        assert base == space.uniform(LayerChoice(2, 1, 1, "uniform"))
    assert plans[3.0] == []
    assert plans[0.0] == [("l9", 2.0), ("l8", 1.5), ("l7", 1.0), ("l6", 0.5)]


def test_proposals_out_at_once_get_their_own_configs_and_numbers():
    # An executor may ask again before the first trial is told (Ray keeps several in flight).
    names = ["a", "b"]
    space = SearchSpace.default(["first", *names], options=LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",)))
    report = _Report({n: _Layer(3.0) for n in ["first", *names]})
    strategy = get_strategy("boost")(space, _CostOnly(space), Budget(), ("accuracy", "bit_budget"), sensitivity=report, metric="kurtosis")
    driver = Driver(strategy, 10)
    strategy.start()
    first, second = driver.propose(), driver.propose()
    assert (first[1], second[1]) == (0, 1)
    assert first[0].config == strategy.plan[0][1] and second[0].config == strategy.plan[1][1] != strategy.plan[0][1]
