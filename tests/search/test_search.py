"""Strategies against a known optimum on a tiny space, with a fake evaluator (no training)."""

from __future__ import annotations

import math

import pytest

from spikebits.results import pareto_front
from spikebits.search import EvaluatorBase, get_strategy, run_search
from spikebits.search.base import Proposal, Strategy
from spikebits.search.driver import Driver
from spikebits.space import Budget, BudgetError, Config, LayerChoice, LayerOptions, SearchSpace

OPTIONS = LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",))


class FakeEvaluator(EvaluatorBase):
    """accuracy rises with bits, with diminishing returns; bit_budget is the mean bits (both
    layers have equal size), s_ace the sum of W·S."""

    metric_names = ("accuracy", "bit_budget", "s_ace")

    def __init__(self, fail_on: LayerChoice | None = None) -> None:
        self.space = SearchSpace.default(["first", "a", "b"], options=OPTIONS)
        self.fail_on = fail_on
        self.calls: list[Config] = []

    def cost(self, config: Config) -> dict[str, float]:
        config = self.space.complete(config, strict=False)
        a, b = config["a"], config["b"]
        w_bar, s_bar = (a.w_bits + b.w_bits) / 2, (a.s_bits + b.s_bits) / 2
        return {"bit_budget": w_bar * s_bar, "s_ace": float(a.w_bits * a.s_bits + b.w_bits * b.s_bits)}

    def __call__(self, config: Config) -> dict[str, float]:
        self.calls.append(config)
        if self.fail_on is not None and config["a"] == self.fail_on:
            raise RuntimeError("simulated crash")
        a, b = config["a"], config["b"]
        # layer a matters twice as much as layer b
        acc = 0.5 + 0.2 * (1 - 0.5 ** a.w_bits) + 0.1 * (1 - 0.5 ** b.w_bits) + 0.05 * a.s_bits + 0.02 * b.s_bits
        return {"accuracy": acc, **self.cost(config)}


def brute_force_best(ev: FakeEvaluator, budget: Budget) -> float:
    return max(ev(c)["accuracy"] for c in ev.space.configs() if budget.feasible(ev.cost(c)))


@pytest.mark.parametrize("name", ["random", "tpe", "nsga2", "gp", "qmc"])
def test_strategies_find_the_known_constrained_optimum(name):
    # 36 configs. Under bit_budget<=3 the best is a=W2S2, b=W2S1: W̄·S̄ = 2·1.5 = 3 and
    # accuracy 0.5 + 0.2·0.75 + 0.1·0.75 + 0.05·2 + 0.02·1 = 0.845; the runner-up
    # (b=W1S2) has 0.840. Unconstrained, a=W4S2, b=W4S2 would win with 0.9025.
    ev = FakeEvaluator()
    budget = Budget.parse(["bit_budget<=3"])
    best = brute_force_best(ev, budget)
    assert best == pytest.approx(0.845)
    ev.calls.clear()
    # GP fits its Gaussian processes at every proposal (seconds each at 60 trials); it is
    # the sample-efficient one, and 25 trials are its budget here.
    trials = 25 if name == "gp" else 60
    result = run_search(name, ev, budget=budget, objectives=("accuracy",), n_trials=trials, seed=1)
    found = max(r.metrics["accuracy"] for r in result.records if r.feasible)
    assert found == pytest.approx(best)
    # Every infeasible record really breaks the budget, every feasible one keeps it.
    for r in result.records:
        assert r.feasible == (r.metrics["bit_budget"] <= 3)


def test_constraints_reach_the_optuna_study_and_front_matches_brute_force():
    ev = FakeEvaluator()
    budget = Budget.parse(["bit_budget<=2"])
    strategy = get_strategy("random")(ev.space, ev, budget, ("accuracy", "bit_budget"), seed=0)
    records = Driver(strategy, 150).run()
    for trial in strategy.study.trials:
        # Optuna reads the budget's constraints as one list, in the budget's order (what
        # optuna-dashboard reads too); the names are in the user attribute "violations".
        assert trial.constraints == {"0": pytest.approx(trial.user_attrs["metrics"]["bit_budget"] - 2)}
        assert trial.user_attrs["violations"] == {"bit_budget": trial.constraints["0"]}
    assert len({r.config for r in records}) == 36  # this seed's 150 draws cover the space
    # Brute force over all 36 configs: the feasible front is (accuracy, W̄·S̄) =
    # (0.72, 1.0) all W1S1; (0.77, 1.5) a=W2S1, b=W1S1 -> 0.5+.15+.05+.05+.02 = 0.77;
    # (0.795, 2.0) a=W2S1, b=W2S1 -> 0.5+.15+.075+.05+.02 = 0.795.
    brute = [(ev(c)["accuracy"], ev.cost(c)["bit_budget"]) for c in ev.space.configs() if ev.cost(c)["bit_budget"] <= 2]
    nondominated = {p for p in brute if not any(q != p and q[0] >= p[0] and q[1] <= p[1] for q in brute)}
    assert {(round(a, 6), b) for a, b in nondominated} == {(0.72, 1.0), (0.77, 1.5), (0.795, 2.0)}
    front = {(r.metrics["accuracy"], r.metrics["bit_budget"]) for r in pareto_front(records, ("accuracy", "bit_budget"))}
    assert front == nondominated


@pytest.mark.parametrize(
    "name, mode", [("random", "skip"), ("nsga2", "repair"), ("tpe", "repair"), ("nsga2", "skip"), ("qmc", "skip"), ("qmc", "repair")]
)
def test_no_config_that_breaks_a_data_free_budget_is_trained(name, mode):
    # 36 configs, 5 keep bit_budget<=1.5 (W̄·S̄ = (W_a + W_b)/2 · (S_a + S_b)/2): S̄ = 1 with
    # W_a/W_b 1/1, 1/2, 2/1, and S̄ = 1.5 with W 1/1 (S 1/2 or 2/1).
    ev = FakeEvaluator()
    budget = Budget.parse(["bit_budget<=1.5"])
    assert sum(budget.feasible(ev.cost(c)) for c in ev.space.configs()) == 5
    result = run_search(name, ev, budget=budget, objectives=("accuracy", "bit_budget"), n_trials=10, seed=0, infeasible=mode)
    # The evaluator's training calls: exactly the 10 trials asked for, every one within the budget.
    assert len(ev.calls) == 10 and all(budget.feasible(ev.cost(c)) for c in ev.calls)
    trained = [r for r in result.records if r.state == "COMPLETE"]
    skipped = [r for r in result.records if r.state == "SKIPPED"]
    assert len(trained) == 10 and all(r.feasible for r in trained)
    assert skipped and all(not budget.feasible(ev.cost(r.config)) and r.error.startswith("not trained: bit_budget") for r in skipped)
    assert all(r.violations["bit_budget"] == r.metrics["bit_budget"] - 1.5 and r.violations["bit_budget"] > 0 for r in skipped)
    repaired = [r for r in trained if "repaired_from" in r.info]
    if mode == "repair":
        # Each repair follows the sampled config it came from, which was skipped.
        by_number = {r.number: r for r in result.records}
        assert repaired and all(by_number[r.info["repaired_from"]].state == "SKIPPED" for r in repaired)
    else:
        assert not repaired


def test_a_skipped_trial_carries_every_budget_constraint_to_optuna():
    # A budget on a data metric too (firing_rate, unknown before training): the skipped
    # trial's constraint on it is its worst value, 1, minus the limit.
    class WithRate(FakeEvaluator):
        metric_names = ("accuracy", "bit_budget", "s_ace", "firing_rate")

        def __call__(self, config):
            return {**super().__call__(config), "firing_rate": 0.1}

    ev = WithRate()
    budget = Budget.parse(["bit_budget<=1.5", "firing_rate<=0.25"])
    strategy = get_strategy("nsga2")(ev.space, ev, budget, ("accuracy", "bit_budget"), seed=0, n_trials=6)
    Driver(strategy, 6).run()
    skipped = [t for t in strategy.study.trials if "skipped" in t.user_attrs]
    assert skipped and len(ev.calls) == 6
    for trial in skipped:
        assert trial.constraints == {"0": trial.user_attrs["metrics"]["bit_budget"] - 1.5, "1": 0.75}
        assert trial.user_attrs["violations"] == {"bit_budget": trial.constraints["0"], "firing_rate": 0.75}
        # The accuracy it never had is the worst infinity, not a measured 0.
        assert trial.values[0] == -math.inf and trial.values[1] == trial.user_attrs["metrics"]["bit_budget"]


def test_skipped_configs_stay_out_of_optunas_importance_and_history():
    """A config skipped for its budget was never trained: Optuna's importance evaluators
    (finite targets only) and the history plot (which draws finite values only) leave it out,
    so its never-measured accuracy cannot make a parameter look important."""
    pytest.importorskip("plotly")
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    ev = FakeEvaluator()
    strategy = get_strategy("tpe")(ev.space, ev, Budget.parse(["bit_budget<=1.5"]), ("accuracy", "bit_budget"), seed=0,
                                   n_trials=12, infeasible="skip")
    Driver(strategy, 12).run()
    study = strategy.study
    trained = [t for t in study.trials if "skipped" not in t.user_attrs]
    assert len(trained) == 12 and len(study.trials) > 20
    only_trained = optuna.create_study(directions=study.directions)
    only_trained.add_trials(trained)

    def accuracy(trial):  # noqa: ANN001, ANN202
        return trial.values[0]

    importances = get_param_importances(study, target=accuracy, evaluator=FanovaImportanceEvaluator(seed=0))
    assert importances == get_param_importances(only_trained, target=accuracy, evaluator=FanovaImportanceEvaluator(seed=0))
    figure = optuna.visualization.plot_optimization_history(study, target=accuracy, target_name="accuracy")
    drawn = sorted(y for trace in figure.data if trace.mode == "markers" for y in trace.y if math.isfinite(y))
    assert drawn == sorted(t.values[0] for t in trained)


@pytest.mark.parametrize("name", ["tpe", "nsga2", "gp"])
def test_constrained_samplers_learn_the_budget_from_skipped_configs(name):
    # 5 of the 36 configs keep bit_budget<=1.5, and every trained trial keeps it: what a
    # sampler knows of the region that breaks it comes from the skipped configs alone. Random
    # sampling draws about 7 configs per feasible one; the constrained samplers far fewer.
    def skipped(strategy: str) -> int:
        result = run_search(strategy, FakeEvaluator(), budget=Budget.parse(["bit_budget<=1.5"]), objectives=("accuracy", "bit_budget"),
                            n_trials=12, seed=0, infeasible="skip")
        return sum(r.state == "SKIPPED" for r in result.records)

    assert skipped(name) < 0.5 * skipped("random")


def test_train_mode_fine_tunes_infeasible_configs_and_an_unmeetable_budget_is_one_line():
    ev = FakeEvaluator()
    budget = Budget.parse(["bit_budget<=1.5"])
    result = run_search("random", ev, budget=budget, objectives=("accuracy",), n_trials=12, seed=0, infeasible="train")
    assert len(ev.calls) == 12 and not any(r.state == "SKIPPED" for r in result.records)
    assert any(not budget.feasible(ev.cost(c)) for c in ev.calls)
    with pytest.raises(BudgetError, match="the smallest config of the space has bit_budget 1; loosen the budget"):
        run_search("nsga2", FakeEvaluator(), budget=Budget.parse(["bit_budget<=0.5"]), objectives=("accuracy",), n_trials=3)


def test_warm_starts_run_first_and_failures_are_recorded():
    crash = LayerChoice(4, 2, 1)
    ev = FakeEvaluator(fail_on=crash)
    warm = [ev.space.uniform(LayerChoice(1, 1, 1)), ev.space.uniform(crash)]
    result = run_search("tpe", ev, objectives=("accuracy", "bit_budget"), n_trials=6, warm_starts=warm)
    assert ev.calls[0] == warm[0] and ev.calls[1] == warm[1]
    failed = [r for r in result.records if r.state == "FAIL"]
    assert len(failed) >= 1 and failed[0].error == "RuntimeError: simulated crash"
    # Failed trials count towards n_trials (a search whose every trial fails must end).
    assert len(failed) == sum(c["a"] == crash for c in ev.calls)
    assert sum(r.state == "COMPLETE" for r in result.records) == 6 - len(failed)


def test_strategy_base_drives_ask_evaluate_tell():
    class Fixed(Strategy):
        name = "fixed"

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.queue = [self.space.uniform(LayerChoice(w, 1, 1)) for w in (1, 2, 4)]
            self.told = []

        def ask(self):
            return Proposal(self.queue.pop(0)) if self.queue else None

        def tell(self, proposal, record):
            self.told.append(record)

        def records(self):
            return self.told

    ev = FakeEvaluator()
    records = Driver(Fixed(ev.space, ev, Budget.parse(["bit_budget<=1.5"]), ("accuracy",)), 10).run()
    assert [r.number for r in records] == [0, 1, 2]  # stops when ask returns None
    assert [r.feasible for r in records] == [True, False, False]  # W̄·S̄ = 1, 2, 4
    assert records[1].violations == {"bit_budget": pytest.approx(0.5)}


def test_unknown_strategy_is_a_one_line_error():
    from spikebits.space import UnknownNameError

    from spikebits.search.base import available

    with pytest.raises(UnknownNameError) as err:
        get_strategy("annealing")
    assert str(err.value) == f"unknown strategy 'annealing'; choose one of: {', '.join(available())}"
    assert {"differentiable", "nsga2", "ilp"} <= set(available())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qmc_points_are_balanced_where_random_draws_are_not(seed):
    """Sobol: after the first trial (Optuna samples it independently to learn the space), 16
    points put each option of a two-option choice exactly 8 times, and each of the four
    (a.S, b.S) pairs exactly 4 times."""
    from collections import Counter

    ev = FakeEvaluator()
    result = run_search("qmc", ev, objectives=("accuracy",), n_trials=17, seed=seed)
    configs = [r.config for r in sorted(result.records, key=lambda r: r.number)][1:]
    assert Counter(c["a"].s_bits for c in configs) == Counter({1: 8, 2: 8})
    assert Counter(c["b"].s_bits for c in configs) == Counter({1: 8, 2: 8})
    assert Counter((c["a"].s_bits, c["b"].s_bits) for c in configs) == Counter({(1, 1): 4, (1, 2): 4, (2, 1): 4, (2, 2): 4})
    # the trial parameters are option indices; the records decode them to the options
    strategy = get_strategy("qmc")(ev.space, ev, Budget(), ("accuracy",), seed=seed)
    Driver(strategy, 2).run()
    params = strategy.study.trials[1].params
    assert set(params) == {f"{layer}.{key}.index" for layer in ("a", "b") for key in ("w_bits", "s_bits", "timesteps", "scheme")}
    assert strategy.decode(params) == ev.space.flat_params(ev.space.complete(strategy.records()[1].config))  # type: ignore[attr-defined]
