"""The integer program budgets ``state_bits`` (neurons × U, issue 30) like any other sum metric:
against brute force over a tiny space that searches the membrane bits U."""

from __future__ import annotations

import pytest

from spikebits.evaluators.cost import cost_metrics, smallest_reachable
from spikebits.models import LayerSpec
from spikebits.search._ilp import AllocationProblem
from spikebits.space import LayerChoice, LayerOptions, SearchSpace

OPTIONS = LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform",), u_bits=(4, 8, 12))
SPECS = [
    LayerSpec("a", "linear", 600, 300, 50, 15000, (300,), (50,)),
    LayerSpec("b", "linear", 400, 50, 8, 400, (50,), (8,)),
    LayerSpec("c", "linear", 200, 8, 25, 200, (8,), (25,)),
]


def cost_of(layer: str, choice: LayerChoice) -> float:
    """A sensitivity that falls with W, S and U (a narrow membrane loses accuracy)."""
    weight = {"a": 3.0, "b": 1.0, "c": 0.5}[layer]
    return weight * (2.0**-choice.w_bits + 0.5 * 2.0**-choice.s_bits + 2.0 ** -(choice.u_bits / 2))


def test_the_ilp_meets_a_state_bits_budget_at_the_brute_force_optimum():
    space = SearchSpace.default(["a", "b", "c"], options=OPTIONS, pin_first=False)
    brute = [(sum(cost_of(n, c[n]) for n in space.free_layers), cost_metrics(SPECS, c, space), c) for c in space.configs()]
    problem = AllocationProblem(space, SPECS, cost_of)
    low = smallest_reachable(space, SPECS, "state_bits")
    assert low == (300 + 50 + 8) * 4
    for limits in ({"state_bits": low}, {"state_bits": 358 * 8}, {"state_bits": 300 * 8 + 58 * 12, "size_bits": 3000}):
        best = min(obj for obj, metrics, _ in brute if all(metrics[k] <= v for k, v in limits.items()))
        found = problem.solve(limits)
        metrics = cost_metrics(SPECS, found.config, space)
        assert all(metrics[k] <= v for k, v in limits.items()), (limits, metrics)
        assert found.objective == pytest.approx(best, rel=1e-12), limits
