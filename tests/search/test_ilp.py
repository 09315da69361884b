"""The ilp allocation against brute force over every config of tiny spaces, and the ``ilp``
strategy with a fake evaluator and a fake sensitivity report (no training)."""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache

import pytest

from spikebits.evaluators.cost import bit_budget, cost_metrics, smallest_reachable
from spikebits.models import LayerSpec
from spikebits.search import EvaluatorBase, get_strategy
from spikebits.search._ilp import AllocationProblem, solve_allocation
from spikebits.search.ilp import IlpStrategy, budget_ladder
from spikebits.search.base import prepare_sensitivity
from spikebits.search.driver import Driver
from spikebits.search.runner import run_search
from spikebits.space import Budget, BudgetError, Config, ConfigError, LayerChoice, LayerOptions, SearchSpace

OPTIONS = LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform", "pow2"))
NAMES = ("first", "a", "b", "c")
# Hand-made layers of different sizes: (N_w, N_a, N_out, MACs).
SIZES = {"first": (1280, 64, 20, 3840), "a": (1000, 300, 50, 7000), "b": (400, 700, 8, 2500), "c": (2500, 120, 30, 9100)}
SPECS = [LayerSpec(n, "linear", nw, na, no, macs, (na,), (no,)) for n, (nw, na, no, macs) in SIZES.items()]
PIN_A = LayerChoice(4, 2, 2, "pow2")


def make_space(variant: str) -> SearchSpace:
    if variant == "plain":
        return SearchSpace.default(list(NAMES), options=OPTIONS)
    if variant == "tied":
        return SearchSpace.default(list(NAMES), [("b", "c")], options=OPTIONS)
    if variant == "pinned":  # first layer searched, a pinned somewhere in the middle
        return SearchSpace({n: OPTIONS for n in NAMES}, pinned={"a": PIN_A})
    raise ValueError(variant)


def _table(seed: int) -> dict[tuple[str, LayerChoice], float]:
    """A deterministic but irregular sensitivity per (layer, choice): it falls with W, S and
    T, by a random factor per layer and a random factor and offset per choice."""
    rng = random.Random(seed)
    table = {}
    for n in NAMES:
        scale = 0.2 + rng.random()
        for c in OPTIONS.choices():
            trend = 2.0**-c.w_bits + 0.5 * 2.0**-c.s_bits + 0.3 / c.timesteps
            table[(n, c)] = scale * trend * (1.0 + 0.3 * rng.random()) + 0.05 * rng.random()
    return table


TABLE = _table(11)


def cost_of(layer: str, choice: LayerChoice) -> float:
    return TABLE[(layer, choice)]


@lru_cache(maxsize=None)
def brute(variant: str, energy_model: str = "horowitz45nm") -> list[tuple[float, dict[str, float], Config]]:
    """(objective, exact metrics, config) of every config of the space."""
    space = make_space(variant)
    return [
        (sum(cost_of(n, c[n]) for n in space.free_layers), cost_metrics(SPECS, c, space, energy_model), c) for c in space.configs()
    ]


def brute_best(variant: str, limits: dict[str, float], energy_model: str = "horowitz45nm") -> float:
    return min(o for o, m, _ in brute(variant, energy_model) if all(m[k] <= v for k, v in limits.items()))


def quantile(variant: str, metric: str, q: float, energy_model: str = "horowitz45nm") -> float:
    values = sorted({m[metric] for _, m, _ in brute(variant, energy_model)})
    return values[int(q * (len(values) - 1))]


def optimum(variant: str, limits: dict[str, float]) -> tuple[float, dict[str, float], Config]:
    return min((r for r in brute(variant) if all(r[1][k] <= v for k, v in limits.items())), key=lambda r: r[0])


def budget_cases(variant: str) -> list[dict[str, float]]:
    # The optimum under bit_budget<=3 has some W̄·S̄·T̄ = v <= 3: at the limit v it is still
    # the answer, exactly on the limit; a hair below v it is out.
    on_optimum = optimum(variant, {"bit_budget": 3.0})[1]["bit_budget"]
    return [
        {"bit_budget": 1.7},
        {"bit_budget": 3.0},
        {"bit_budget": on_optimum},  # exactly on an achievable value: the unconstrained optimum's own
        {"bit_budget": on_optimum * (1 - 1e-12)},  # just below it: that optimum is out
        {"bit_budget": quantile(variant, "bit_budget", 0.4)},  # exactly achievable too
        {"bit_budget": smallest_reachable(make_space(variant), SPECS, "bit_budget")},
        {"s_ace": quantile(variant, "s_ace", 0.3)},
        {"size_bits": quantile(variant, "size_bits", 0.25)},
        {"effective_resolution": quantile(variant, "effective_resolution", 0.35)},
        {"bit_budget": 2.5, "s_ace": quantile(variant, "s_ace", 0.5)},
        {"bit_budget": 4.0, "size_bits": quantile(variant, "size_bits", 0.4)},
        {
            "bit_budget": 3.5,
            "s_ace": quantile(variant, "s_ace", 0.6),
            "size_bits": quantile(variant, "size_bits", 0.7),
            "effective_resolution": quantile(variant, "effective_resolution", 0.8),
        },
        {"energy_pj": quantile(variant, "energy_pj", 0.3)},
        {"energy_pj": quantile(variant, "energy_pj", 0.05)},
        {"energy_pj": smallest_reachable(make_space(variant), SPECS, "energy_pj")},
        {"bit_budget": 3.0, "energy_pj": quantile(variant, "energy_pj", 0.5)},
        {"s_ace": quantile(variant, "s_ace", 0.6), "energy_pj": quantile(variant, "energy_pj", 0.2)},
    ]


def check_in_space(space: SearchSpace, config: Config) -> None:
    assert space.complete(config) == config  # every choice within its options, ties equal, pins kept
    for group in space.ties:
        assert len({config[n] for n in group}) == 1
    for name, pin in space.pinned.items():
        assert config[name] == pin


# ---------------------------------------------------------------------------- solver
@pytest.mark.parametrize("variant", ["plain", "tied", "pinned"])
def test_solver_matches_brute_force_for_every_budget(variant):
    space = make_space(variant)
    problem = AllocationProblem(space, SPECS, cost_of)
    assert problem.levels_exact
    for limits in budget_cases(variant):
        best = brute_best(variant, limits)
        found = problem.solve(limits)
        metrics = cost_metrics(SPECS, found.config, space)
        assert all(metrics[k] <= v for k, v in limits.items()), (limits, metrics)
        assert found.objective == pytest.approx(best, rel=1e-12), limits
        assert problem.objective(found.config) == pytest.approx(best, rel=1e-12)
        check_in_space(space, found.config)
    # The function form gives the same answer.
    limits = {"bit_budget": 2.5, "s_ace": quantile(variant, "s_ace", 0.5)}
    config = solve_allocation(space, SPECS, cost_of, limits)
    assert config == problem.solve(limits).config


def test_budget_met_with_equality_is_feasible_and_a_hair_below_is_not():
    # The optimum under bit_budget<=3 has W̄·S̄·T̄ = v exactly (an achievable value below 3);
    # at the limit v it is the answer, at v·(1 − 1e-12) it is not (the brute force agrees).
    space = make_space("plain")
    best = optimum("plain", {"bit_budget": 3.0})
    v = best[1]["bit_budget"]
    assert smallest_reachable(space, SPECS, "bit_budget") < v < 3.0
    assert solve_allocation(space, SPECS, cost_of, {"bit_budget": v}) == best[2]
    below = solve_allocation(space, SPECS, cost_of, {"bit_budget": v * (1 - 1e-12)})
    assert bit_budget(SPECS, below, space.free_layers) < v
    assert below != best[2]
    assert sum(cost_of(n, below[n]) for n in space.free_layers) == pytest.approx(brute_best("plain", {"bit_budget": v * (1 - 1e-12)}))


def test_tied_layers_share_a_choice_and_pins_stay():
    space = make_space("tied")
    for limits in ({}, {"bit_budget": 2.0}, {"s_ace": quantile("tied", "s_ace", 0.2)}):
        config = solve_allocation(space, SPECS, cost_of, limits)
        assert config["b"] == config["c"]
        assert config["first"] == LayerChoice(8, 8, 1, "uniform")
    pinned = make_space("pinned")
    config = solve_allocation(pinned, SPECS, cost_of, {"bit_budget": 2.0, "s_ace": quantile("pinned", "s_ace", 0.3)})
    assert config["a"] == PIN_A


def test_unconstrained_optimum_is_the_per_layer_minimum():
    space = make_space("plain")
    config = solve_allocation(space, SPECS, cost_of, {})
    for n in ("a", "b", "c"):
        assert cost_of(n, config[n]) == min(cost_of(n, c) for c in OPTIONS.choices())


@pytest.mark.parametrize("variant", ["plain", "tied", "pinned"])
def test_smallest_reachable_matches_brute_force(variant):
    space = make_space(variant)
    for metric in ("bit_budget", "s_ace", "size_bits", "effective_resolution", "energy_pj"):
        assert smallest_reachable(space, SPECS, metric) == pytest.approx(min(m[metric] for _, m, _ in brute(variant)), rel=1e-12)


@pytest.mark.parametrize("energy_model", ["bitserial45nm", "loihi"])
def test_energy_budget_matches_brute_force_under_other_presets(energy_model):
    # The energy row follows the preset: the brute force prices every config with the same one.
    space = make_space("tied")
    problem = AllocationProblem(space, SPECS, cost_of, energy_model=energy_model)
    for q in (0.02, 0.2, 0.6):
        limits = {"energy_pj": quantile("tied", "energy_pj", q, energy_model)}
        found = problem.solve(limits)
        assert cost_metrics(SPECS, found.config, space, energy_model)["energy_pj"] <= limits["energy_pj"]
        assert found.objective == pytest.approx(brute_best("tied", limits, energy_model), rel=1e-12)


def test_energy_budget_can_prefer_pow2_weights():
    # At equal bits a power-of-two layer needs no multiplier (horowitz45nm), so under a tight
    # energy limit the program takes pow2 even where uniform has the lower sensitivity.
    space = SearchSpace.default(list(NAMES), options=LayerOptions(w_bits=(4,), s_bits=(2,), timesteps=(1,), schemes=("uniform", "pow2")))

    def prefer_uniform(layer, choice):
        return 0.0 if choice.scheme == "uniform" else 1.0

    free = solve_allocation(space, SPECS, prefer_uniform, {})
    assert all(free[n].scheme == "uniform" for n in space.free_layers)
    low = smallest_reachable(space, SPECS, "energy_pj")
    config = solve_allocation(space, SPECS, prefer_uniform, {"energy_pj": low})
    assert all(config[n].scheme == "pow2" for n in space.free_layers)
    assert cost_metrics(SPECS, config, space)["energy_pj"] == pytest.approx(low)


def test_infeasible_budget_names_the_smallest_reachable_value():
    space = make_space("plain")
    # Smallest bit budget: every layer at W1 S1 T1 -> 1·1·1 = 1.
    with pytest.raises(BudgetError) as err:
        solve_allocation(space, SPECS, cost_of, {"bit_budget": 0.5})
    message = str(err.value)
    assert "\n" not in message
    assert message == "budget bit_budget<=0.5 cannot be met: the smallest reachable bit_budget in this space is 1; loosen the budget"
    # Smallest S-ACE: the pinned first layer 3840·8·8·1 = 245760 plus MACs·1·1·1 of the others
    # 7000 + 2500 + 9100 = 18600 -> 264360.
    with pytest.raises(BudgetError) as err:
        solve_allocation(space, SPECS, cost_of, {"bit_budget": 8.0, "s_ace": 2e5})
    message = str(err.value)
    assert "\n" not in message and "bit_budget" not in message
    number = float(re.search(r"smallest reachable s_ace in this space is ([0-9.e+]+)", message).group(1))
    assert number == 264360 == min(m["s_ace"] for _, m, _ in brute("plain"))
    # Two metrics out of reach at once: both named.
    with pytest.raises(BudgetError, match=r"bit_budget in this space is 1 and the smallest reachable size_bits is 14140;"):
        solve_allocation(space, SPECS, cost_of, {"bit_budget": 0.9, "size_bits": 1000})


def test_unbudgetable_metric_is_a_one_line_error():
    with pytest.raises(BudgetError, match=r"^the ilp strategy cannot budget 'firing_rate'; budget bit_budget, s_ace"):
        solve_allocation(make_space("plain"), SPECS, cost_of, {"firing_rate": 0.1})


def test_level_grid_fallback_stays_feasible():
    # Two levels of S̄ and T̄ only: the answer is feasible, optimal only up to the grid.
    space = make_space("plain")
    problem = AllocationProblem(space, SPECS, cost_of, max_levels=2)
    assert not problem.levels_exact
    for limit in (1.7, 3.0, 5.0):
        found = problem.solve({"bit_budget": limit})
        assert bit_budget(SPECS, found.config, space.free_layers) <= limit
        assert found.objective >= brute_best("plain", {"bit_budget": limit}) - 1e-12


def test_budget_ladder_is_geometric_and_hits_both_ends():
    levels = budget_ladder(1.0, 16.0, 5)
    assert levels == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0])
    assert levels[0] == 1.0 and levels[-1] == 16.0
    assert budget_ladder(1.0, 16.0, 1) == [16.0]


# ---------------------------------------------------------------------------- strategy
class FakeEvaluator(EvaluatorBase):
    """Cost metrics from the real cost functions; accuracy falls with the sensitivity."""

    metric_names = ("accuracy", "bit_budget", "s_ace", "size_bits", "effective_resolution")

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.specs = SPECS
        self.calls: list[Config] = []

    def cost(self, config: Config) -> dict[str, float]:
        return cost_metrics(self.specs, self.space.complete(config, strict=False), self.space)

    def __call__(self, config: Config) -> dict[str, float]:
        self.calls.append(config)
        objective = sum(cost_of(n, config[n]) for n in self.space.free_layers)
        return {"accuracy": 0.99 - 0.05 * objective, **self.cost(config)}


class FakeSensitivity:
    """What ``evaluators.sensitivity`` reports: ``cost(metric, layer, choice)``."""

    def __init__(self) -> None:
        self.metrics: set[str] = set()

    def cost(self, metric: str, layer: str, choice: LayerChoice) -> float:
        self.metrics.add(metric)
        return cost_of(layer, choice)


def test_strategy_ladder_without_budget_ends_at_the_unconstrained_optimum():
    space = make_space("plain")
    ev = FakeEvaluator(space)
    report = FakeSensitivity()
    strategy = IlpStrategy(space, ev, Budget(), ("accuracy", "bit_budget"), levels=6, sensitivity=report)
    records = run_search(strategy, ev, objectives=("accuracy", "bit_budget"), n_trials=6).records
    assert report.metrics == {"hessian"}
    assert 1 <= len(records) <= 6
    assert len({r.config for r in records}) == len(records)  # each distinct optimum once
    assert all(r.feasible and r.state == "COMPLETE" for r in records)
    for r in records:  # each is the brute-force optimum at its own level
        assert r.metrics["bit_budget"] <= r.info["level"]
        assert r.info["objective"] == pytest.approx(brute_best("plain", {"bit_budget": r.info["level"]}), rel=1e-12)
    # The ladder runs from the smallest reachable bit budget (1: all W1 S1 T1) to that of the
    # largest config (all W4 S2 T2: 4·2·2 = 16); the loosest level's answer is the
    # unconstrained optimum, whether it was first found there or at a tighter level.
    ladder = strategy.ladder
    assert [step.level for step in ladder] == pytest.approx([1.0, 16 ** 0.2, 16 ** 0.4, 16 ** 0.6, 16 ** 0.8, 16.0])
    unconstrained = optimum("plain", {})
    assert ladder[-1].config == unconstrained[2]
    assert ladder[-1].objective == pytest.approx(unconstrained[0], rel=1e-12)
    assert unconstrained[2] in {r.config for r in records}
    assert [r.config for r in records] == [s.config for s in ladder if not s.duplicate]


def test_strategy_respects_user_budget_and_primary_metric():
    space = make_space("tied")
    ev = FakeEvaluator(space)
    ace_limit = quantile("tied", "s_ace", 0.6)
    budget = Budget.parse(["bit_budget<=3", f"s_ace<={ace_limit!r}"])
    strategy = IlpStrategy(space, ev, budget, ("accuracy", "s_ace", "bit_budget"), n_trials=5, sensitivity=FakeSensitivity(), metric="output")
    assert strategy.remaining(5, 0) == 5  # before start(): one per level at most
    driver = Driver(strategy, 5)
    records = driver.run()
    assert strategy.primary == "s_ace"
    assert driver.remaining() == 0 and strategy.ask() is None
    assert all(r.feasible for r in records) and len({r.config for r in records}) == len(records)
    levels = [step.level for step in strategy.ladder]
    assert len(levels) == 5 and levels[0] == smallest_reachable(space, SPECS, "s_ace") and levels[-1] == ace_limit
    loosest = max(records, key=lambda r: r.info["level"])
    assert loosest.info["objective"] == pytest.approx(brute_best("tied", {"bit_budget": 3.0, "s_ace": ace_limit}), rel=1e-12)
    for r in records:
        assert r.config["b"] == r.config["c"]
    info = strategy.describe()
    json.dumps(info)  # JSON-able for run.json
    assert info["metric"] == "output" and info["levels"] == 5 and info["primary"] == "s_ace"
    assert len(info["ladder"]) == 5 and {"level", "objective", "config", "duplicate"} <= set(info["ladder"][0])
    assert sum(not step["duplicate"] for step in info["ladder"]) == len(records)


def test_strategy_unreachable_budget_raises_from_start():
    ev = FakeEvaluator(make_space("plain"))
    # run_search refuses it before the strategy starts (search.runner.check_budget_reachable).
    with pytest.raises(BudgetError, match=r"the smallest config of the space has bit_budget 1;"):
        run_search("ilp", ev, budget=Budget.parse(["bit_budget<=0.5"]), objectives=("accuracy", "bit_budget"), n_trials=3, sensitivity=FakeSensitivity())
    assert ev.calls == []
    with pytest.raises(BudgetError, match="cannot budget 'firing_rate'"):
        IlpStrategy(ev.space, ev, Budget.parse(["firing_rate<=0.2"]), ("accuracy",), sensitivity=FakeSensitivity()).start()


def test_strategy_rejects_unknown_sensitivity_metric():
    ev = FakeEvaluator(make_space("plain"))
    with pytest.raises(ConfigError, match="metric 'kurtosis' is unknown; use one of hessian, output"):
        IlpStrategy(ev.space, ev, Budget(), ("accuracy",), metric="kurtosis")


class MeasuringEvaluator(FakeEvaluator):
    """A fake evaluator that notes each sensitivity measurement asked of it in ``seen``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def sensitivity(self, *, probes=200, batches=4, progress=None, network="full"):
        self.seen.append((probes, network))
        return FakeSensitivity()


def test_strategy_measures_sensitivity_when_none_is_given():
    # Without a report the strategy asks the evaluator's one cached entry point, with its
    # probes and the network its Hessian is taken on.
    ev = MeasuringEvaluator(make_space("plain"))
    seen = ev.seen
    records = run_search("ilp", ev, objectives=("accuracy", "bit_budget"), n_trials=2, probes=7).records
    assert seen == [(7, "full")] and 1 <= len(records) <= 2
    run_search("ilp", ev, objectives=("accuracy", "bit_budget"), n_trials=2, probes=7, hessian_network="quantized")
    assert seen[-1] == (7, "quantized")
    # The Optuna samplers pass it on when --init-sensitivity measures a report.
    nsga2 = get_strategy("nsga2")(
        ev.space, ev, Budget(), ("accuracy", "bit_budget"), init_sensitivity="hessian", hessian_network="quantized", probes=5
    )
    nsga2.start()
    assert seen[-1] == (5, "quantized") and len(seen) == 3


@pytest.mark.parametrize("variant", ["plain", "tied", "pinned"])
def test_energy_extreme_configs_match_brute_force(variant):
    # The cheapest and the dearest config by energy (the latter is the hypervolume reference).
    from spikebits.evaluators.cost import energy_minimal_config

    space = make_space(variant)
    energies = [m["energy_pj"] for _, m, _ in brute(variant)]
    low = cost_metrics(SPECS, energy_minimal_config(space, SPECS), space)["energy_pj"]
    high = cost_metrics(SPECS, energy_minimal_config(space, SPECS, largest=True), space)["energy_pj"]
    assert low == pytest.approx(min(energies), rel=1e-12)
    assert high == pytest.approx(max(energies), rel=1e-12)


def test_prepare_measures_the_report_once_before_start():
    # `spikebits compare` prepares the report before a run's clock starts: it is measured
    # there, with the strategy's settings, and start() reads it without measuring again.
    ev = MeasuringEvaluator(make_space("plain"))
    seen = ev.seen
    strategy = get_strategy("ilp")(ev.space, ev, Budget(), ("accuracy", "bit_budget"), n_trials=2, probes=9, hessian_network="quantized")
    prepare_sensitivity(strategy)
    assert seen == [(9, "quantized")]
    strategy.start()
    assert seen == [(9, "quantized")] and strategy.remaining(2, 0) >= 1


# ---------------------------------------------------------------------------- membrane bits U
#: Two free layers (a; b tied to c) that also search U: 48 choices each, 2,304 configs.
OPTIONS_U = LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform", "pow2"), u_bits=(4, 8))


def _membrane_table(seed: int) -> dict[tuple[str, LayerChoice], float]:
    """An irregular sensitivity of the U choices (keys distinct from TABLE's, whose U is
    None): the trend of :func:`_table` plus a membrane term that falls with U, by a random
    factor per layer."""
    rng = random.Random(seed)
    table = {}
    for n in NAMES:
        scale, membrane = 0.2 + rng.random(), 0.5 * rng.random()
        for c in OPTIONS_U.choices():
            trend = 2.0**-c.w_bits + 0.5 * 2.0**-c.s_bits + 0.3 / c.timesteps + membrane * 2.0 ** -(c.u_bits / 2)
            table[(n, c)] = scale * trend * (1.0 + 0.3 * rng.random()) + 0.05 * rng.random()
    return table


TABLE.update(_membrane_table(17))
_SPACES = {"membrane": lambda: SearchSpace.default(list(NAMES), [("b", "c")], options=OPTIONS_U)}


def make_space_u(variant: str) -> SearchSpace:
    return _SPACES[variant]() if variant in _SPACES else make_space(variant)


@lru_cache(maxsize=None)
def brute_u() -> list[tuple[float, dict[str, float], Config]]:
    space = make_space_u("membrane")
    return [(sum(cost_of(n, c[n]) for n in space.free_layers), cost_metrics(SPECS, c, space), c) for c in space.configs()]


def test_membrane_space_matches_brute_force_for_every_budget():
    # Every sum metric's row is built from the U choices; state_bits (Σ N_a·U, the pinned
    # first layer's unquantized membrane at 16) is held exactly, alone and beside the others.
    space = make_space_u("membrane")
    assert space.size() == 48 * 48 == len(brute_u())
    problem = AllocationProblem(space, SPECS, cost_of)
    assert problem.levels_exact
    assert {c.u_bits for cs in problem.choices for c in cs} == {4, 8}
    # The bit budget's levels do not read U: those of the same space without U.
    at_u4 = lambda n, c: cost_of(n, LayerChoice(c.w_bits, c.s_bits, c.timesteps, c.scheme, 4))  # noqa: E731
    plain = AllocationProblem(space.searching_membrane(()), SPECS, at_u4)
    assert (plain.s_sums, plain.t_sums, plain.w_min_sum) == (problem.s_sums, problem.t_sums, problem.w_min_sum)

    def q(metric: str, fraction: float) -> float:
        values = sorted({m[metric] for _, m, _ in brute_u()})
        return values[int(fraction * (len(values) - 1))]

    cases = [
        {},
        {"state_bits": q("state_bits", 0.0)},
        {"state_bits": q("state_bits", 0.4)},
        {"state_bits": q("state_bits", 0.4) - 1},  # one bit below an achievable value
        {"bit_budget": 2.0, "state_bits": q("state_bits", 0.5)},
        {"bit_budget": 3.0, "s_ace": q("s_ace", 0.5), "state_bits": q("state_bits", 0.3)},
        {"energy_pj": q("energy_pj", 0.3), "state_bits": q("state_bits", 0.6)},
        {"bit_budget": 1.5},
        {"size_bits": q("size_bits", 0.3)},
    ]
    for limits in cases:
        feasible = [r for r in brute_u() if all(r[1][k] <= v for k, v in limits.items())]
        best = min(o for o, _, _ in feasible)
        found = problem.solve(limits)
        metrics = cost_metrics(SPECS, found.config, space)
        assert all(metrics[k] <= v for k, v in limits.items()), (limits, metrics)
        assert found.objective == pytest.approx(best, rel=1e-12), limits
        check_in_space(space, found.config)
        assert all(found.config[n].u_bits in (4, 8) for n in space.free_layers) and found.config["first"].u_bits is None


# Hand-made: a pinned first layer and two free layers that choose W in {2, 4} and U in {4, 8}.
HAND_SPECS = [
    LayerSpec("first", "linear", 100, 10, 10, 1000, (10,), (10,)),
    LayerSpec("a", "linear", 1000, 100, 10, 10_000, (100,), (10,)),
    LayerSpec("b", "linear", 1000, 300, 10, 30_000, (300,), (10,)),
]
HAND_OPTIONS = LayerOptions(w_bits=(2, 4), s_bits=(1,), timesteps=(1,), schemes=("uniform",), u_bits=(4, 8))
HAND_W = {"a": {2: 0.5, 4: 0.0}, "b": {2: 2.0, 4: 0.0}}
HAND_U = {"a": {4: 5.0, 8: 1.0}, "b": {4: 3.0, 8: 2.0}}


def hand_cost(layer: str, choice: LayerChoice) -> float:
    return HAND_W[layer][choice.w_bits] + HAND_U[layer][choice.u_bits]


@pytest.mark.parametrize(
    "limits, a, b, objective",
    [
        # state_bits = 16·10 (first: unquantized, the energy model's 16 bits) + 100·U_a + 300·U_b:
        # U (4, 4) 1760, (8, 4) 2160, (4, 8) 2960, (8, 8) 3360.
        ({}, (4, 8), (4, 8), 1.0 + 2.0),
        ({"state_bits": 3360}, (4, 8), (4, 8), 3.0),
        ({"state_bits": 3359}, (4, 8), (4, 4), 1.0 + 3.0),  # (4, 8) at 2960 costs 5 + 2 = 7 > 4
        ({"state_bits": 2160}, (4, 8), (4, 4), 4.0),  # met with equality
        ({"state_bits": 2159}, (4, 4), (4, 4), 5.0 + 3.0),
        # W̄ = (1000·W_a + 1000·W_b)/2000 ≤ 3 (S = T = 1): one layer at W2, a's is cheaper (0.5 < 2).
        ({"bit_budget": 3, "state_bits": 2160}, (2, 8), (4, 4), 0.5 + 1.0 + 3.0),
        ({"bit_budget": 2, "state_bits": 1760}, (2, 4), (2, 4), 0.5 + 5.0 + 2.0 + 3.0),
    ],
)
def test_state_bits_budget_hand_computed_optimum(limits, a, b, objective):
    space = SearchSpace.default(["first", "a", "b"], options=HAND_OPTIONS)
    config = solve_allocation(space, HAND_SPECS, hand_cost, limits)
    assert (config["a"].w_bits, config["a"].u_bits) == a and (config["b"].w_bits, config["b"].u_bits) == b
    assert config["first"] == LayerChoice(8, 8, 1, "uniform")  # the pin keeps its unquantized membrane
    assert sum(hand_cost(n, config[n]) for n in ("a", "b")) == objective
    metrics = cost_metrics(HAND_SPECS, config, space)
    assert metrics["state_bits"] == 160 + 100 * a[1] + 300 * b[1]
    assert all(metrics[k] <= v for k, v in limits.items())


def test_state_bits_budget_below_the_smallest_is_a_one_line_error():
    space = SearchSpace.default(["first", "a", "b"], options=HAND_OPTIONS)
    with pytest.raises(BudgetError, match=r"smallest reachable state_bits in this space is 1760; loosen the budget$"):
        solve_allocation(space, HAND_SPECS, hand_cost, {"state_bits": 1759})


@pytest.mark.parametrize(
    "membrane, kept_u",
    [
        ({4: 1.0, 8: 0.0}, {4, 8}),  # a larger U worth more: both kept (the program weighs it against state_bits)
        ({4: 0.0, 8: 0.0}, {4}),  # worth no more and costs more state: U8 is dominated
        ({4: 0.0, 8: 1.0}, {4}),
    ],
)
def test_undominated_choices_treat_u_as_a_width(membrane, kept_u):
    space = SearchSpace.default(["first", "a", "b"], options=HAND_OPTIONS)

    def cost(layer: str, choice: LayerChoice) -> float:
        return HAND_W[layer][choice.w_bits] + membrane[choice.u_bits]

    problem = AllocationProblem(space, HAND_SPECS, cost)
    for choices in problem.choices:
        assert {c.u_bits for c in choices} == kept_u
        assert {c.w_bits for c in choices} == {2, 4}  # W2: more Ω but a smaller size and bit budget, so kept
    # Without budgets the answer is the per-layer minimum of Ω: the smaller U on a tie.
    config = problem.solve({}).config
    assert config["a"].u_bits == (8 if membrane[8] < membrane[4] else 4)

