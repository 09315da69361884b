"""A data-free metric is one declaration (:class:`space.Metric`): registered, it is computed
by the evaluator, budgeted by every strategy, rowed by the integer program, labelled in the
figures and tables, and bounded in the reference point, with no other edit."""

from __future__ import annotations

import itertools
import json

import pytest

from spikebits.evaluators import Evaluator
from spikebits.evaluators.cost import smallest_reachable
from spikebits.results import format_metric, read_pareto_json, read_trials_csv
from spikebits.search._ilp import solve_allocation
from spikebits.search.base import available
from spikebits.search.checks import default_reference
from spikebits.space import (
    COST_METRICS,
    RECORD_METRICS,
    BudgetError,
    Metric,
    direction,
    metric_label,
    register_metric,
    unregister_metric,
)

from cli_run import run_main


def spike_bits_term(spec, choice, context) -> int:
    """Spike bits a layer reads per inference: N_a,l · S_l · T_l."""
    return spec.n_inputs * choice.s_bits * choice.timesteps


#: The one declaration the test adds.
SPIKE_BITS = Metric(
    "spike_bits", "minimize", "spike bits read per inference, Σ_l N_a,l·S_l·T_l", "spike bits read", large=True,
    layer_term=spike_bits_term, integral=True,
)


@pytest.fixture
def declared():
    register_metric(SPIKE_BITS)
    yield SPIKE_BITS
    unregister_metric(SPIKE_BITS.name)


def test_the_declaration_reaches_the_evaluator_the_tables_and_the_reference(declared):
    evaluator = Evaluator(epochs=0)
    config = evaluator.space.smallest_config()
    specs = evaluator.specs
    hand = sum(s.n_inputs * config[s.name].s_bits * config[s.name].timesteps for s in specs)
    assert "spike_bits" in COST_METRICS and "spike_bits" in RECORD_METRICS and "spike_bits" in evaluator.metric_names
    assert evaluator.cost(config)["spike_bits"] == hand
    assert metric_label("spike_bits") == "spike bits read" and format_metric("spike_bits", 123456.0) == "1.23e+05"
    largest = evaluator.space.largest_config()
    dearest = sum(s.n_inputs * largest[s.name].s_bits * largest[s.name].timesteps for s in specs)
    assert default_reference(evaluator, ("accuracy", "spike_bits")) == {"accuracy": 0.0, "spike_bits": dearest}
    assert smallest_reachable(evaluator.space, specs, "spike_bits") == hand
    # Unregistered, the name is unknown again.
    unregister_metric("spike_bits")
    assert "spike_bits" not in COST_METRICS
    with pytest.raises(BudgetError, match="unknown metric 'spike_bits'"):
        direction("spike_bits")
    register_metric(SPIKE_BITS)


def test_the_integer_program_rows_a_declared_metric_exactly(declared):
    # The digits model's free layers, every choice: the program's optimum under a spike_bits
    # limit equals the brute-force optimum, and the limit holds.
    evaluator = Evaluator(epochs=0)
    specs, space = evaluator.specs, evaluator.space
    cost_of = lambda layer, choice: 1.0 / (choice.w_bits * choice.s_bits * choice.timesteps) + len(layer) * 1e-3  # noqa: E731
    low = smallest_reachable(space, specs, "spike_bits")
    limit = 3 * low
    config = solve_allocation(space, specs, cost_of, {"spike_bits": limit})
    value = SPIKE_BITS.value(specs, space.complete(config, strict=False))
    assert value <= limit
    best = min(
        sum(cost_of(d, c) for d, c in zip(space.decisions, combo))
        for combo in itertools.product(*(list(space.layers[d].choices()) for d in space.decisions))
        if SPIKE_BITS.value(specs, space.expand(dict(zip(space.decisions, combo)))) <= limit
    )
    assert sum(cost_of(d, config[d]) for d in space.decisions) == pytest.approx(best)


def test_an_unreachable_limit_on_a_declared_metric_is_one_line(capsys, tmp_path, declared):
    evaluator = Evaluator(epochs=0)
    low = smallest_reachable(evaluator.space, evaluator.specs, "spike_bits")
    code, out, err = run_main(capsys, "search", "--budget", f"spike_bits<={low / 2:g}", "--out", str(tmp_path / "x"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"the smallest config of the space has spike_bits {low:.4g}; loosen the budget" in err
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("strategy", available())
def test_every_strategy_budgets_a_declared_metric(capsys, tmp_path, cache_dir, declared, strategy):
    evaluator = Evaluator(epochs=0)
    low = smallest_reachable(evaluator.space, evaluator.specs, "spike_bits")
    limit = 2 * low  # between the cheapest and the dearest config
    out = tmp_path / strategy
    shrink = {
        "differentiable": ["--supernet-epochs", "1", "--targets", "1/1/1,2/2/1"],
        "gumbel": ["--supernet-epochs", "1", "--targets", "1/1/1,2/2/1"],
        "ilp": ["--probes", "10"],
        "boost": ["--probes", "10"],
    }
    argv = [
        "search", "--strategy", strategy, "--objectives", "accuracy,spike_bits", "--budget", f"spike_bits<={limit:g}",
        "--trials", "3", "--epochs", "0", *shrink.get(strategy, []), "--cache-dir", str(cache_dir), "--quiet", "--out", str(out),
    ]
    code, _, err = run_main(capsys, *argv)
    assert code == 0, err
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["objectives"] == {"accuracy": "maximize", "spike_bits": "minimize"}
    assert pareto["points"] and all(p["metrics"]["spike_bits"] <= limit for p in pareto["points"])
    rows = read_trials_csv(out / "trials.csv")
    assert any(r["feasible"] for r in rows)
    run = json.loads((out / "run.json").read_text())
    assert run["reference_point"]["spike_bits"] > limit
