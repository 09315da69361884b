"""Sensitivity-guided starting points (``--init-sensitivity hessian|output|kurtosis``).

* For the samplers (``nsga2``, ``tpe``, ``random``): configs enqueued as the first trials —
  the integer program's optima (:func:`search.ilp.solve_ladder`) at ``count`` bit-budget
  levels for ``hessian`` and ``output``; KurtBoost configs (:mod:`search.boost`) of uniform
  bases spread over the bit budget for ``kurtosis``.
* For ``differentiable`` / ``gumbel``: one starting config per target — the integer
  program's optimum under bit_budget ≤ W_t·S_t·T_t (and the user's budgets), or the KurtBoost
  config of the uniform base nearest the target (its U nearest the target's Ū where the space
  searches U; the largest U without one) — from which the supernet's B̂, T̂ (and Û) start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spikebits.search._ilp import solve_allocation
from spikebits.search.boost import boosted, uniform_bases
from spikebits.search.ilp import solve_ladder
from spikebits.space import COST_METRICS, SENSITIVITY_METRICS, BitTargets, Budget, Config, SearchSpace, check_sensitivity_metric
from spikebits.space.metrics import BIT_BUDGET

def _limits(budget: Budget) -> dict[str, float]:
    """The user's budgets the integer program can hold (others are left to the search)."""
    return {m: lim for m, lim in budget.to_dict().items() if m in COST_METRICS}


def _report(evaluator: Any, report: Any, progress: Any) -> Any:
    """``report``, else the evaluator's (measured once, cached by the evaluator)."""
    return report if report is not None else evaluator.sensitivity(progress=progress)


def _spread(items: Sequence[Config], count: int) -> list[Config]:
    """``count`` items evenly spread over ``items`` (all of them if there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(k * (len(items) - 1) / (count - 1))] for k in range(count)] if count > 1 else [items[-1]]


def warm_start_configs(
    evaluator: Any, metric: str, budget: Budget, *, count: int = 4, report: Any = None, progress: Any = None
) -> list[Config]:
    """Starting configs for a sampler (see the module docstring), feasible under ``budget``."""
    check_sensitivity_metric(metric, SENSITIVITY_METRICS, what="init_sensitivity")
    report = _report(evaluator, report, progress)
    space: SearchSpace = evaluator.space
    if metric == "kurtosis":
        found: list[Config] = []
        for base in uniform_bases(space, evaluator.cost):
            config, _ = boosted(space, base, report, "kurtosis")
            if config not in found and budget.feasible({**evaluator.cost(config), **_unknown(budget)}):
                found.append(config)
        return _spread(found, count)
    ladder = solve_ladder(
        space, evaluator.specs, report, metric, _limits(budget), BIT_BUDGET.name, count, energy_model=evaluator.energy_model
    )
    return [step.config for step in ladder if not step.duplicate]


def _unknown(budget: Budget) -> dict[str, float]:
    """Budgeted metrics that need training (accuracy, firing rate) count as met here."""
    return {m: -float("inf") for m in budget.metrics if m not in COST_METRICS}


def initial_configs(
    evaluator: Any, metric: str, targets: Sequence[BitTargets], budget: Budget, *, report: Any = None, progress: Any = None
) -> list[Config]:
    """One starting config per target for the supernet (see the module docstring)."""
    check_sensitivity_metric(metric, SENSITIVITY_METRICS, what="init_sensitivity")
    report = _report(evaluator, report, progress)
    space: SearchSpace = evaluator.space
    out = []
    for target in targets:
        if metric == "kurtosis":
            base = space.nearest_config(target.w_bits, target.s_bits, target.timesteps, target.u_bits)
            config, _ = boosted(space, base, report, "kurtosis")
        else:
            limits = _limits(budget)
            limits[BIT_BUDGET.name] = min(limits.get(BIT_BUDGET.name, float("inf")), target.bit_budget)
            config = solve_allocation(
                space,
                evaluator.specs,
                lambda layer, choice: float(report.cost(metric, layer, choice)),
                limits,
                energy_model=evaluator.energy_model,
            )
        out.append(config)
    return out
