"""The checks a run makes before any work (objectives, metrics, budgets, the output folder)
and the default hypervolume reference point, all derived from the metric declarations
(:class:`space.Metric`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from spikebits.results import reference_point
from spikebits.search.base import ConfigEvaluator, Strategy
from spikebits.space import (
    COST_METRICS,
    DEFAULT_OBJECTIVES,
    Budget,
    BudgetError,
    check_output_folder,
    direction,
    get_metric,
    worst_values,
)
from spikebits.space.metrics import ACCURACY


def check_output_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` if needed and prove it writable now, before any work is done."""
    return check_output_folder(out, "--out")


def extreme_costs(evaluator: ConfigEvaluator, metrics: Sequence[str], *, largest: bool = False) -> dict[str, float]:
    """The least (``largest``: most) value of each data-free metric in ``metrics`` over the
    space, as the evaluator computes it: at the config :func:`evaluators.cost.extreme_config`
    names when the evaluator has its layer specs (exact, every declared cost metric), else at
    the space's smallest (largest) config (exact for every metric non-decreasing in W, S, T)."""
    from spikebits.evaluators.cost import extreme_config

    space, specs = evaluator.space, evaluator.specs
    plain = space.largest_config() if largest else space.smallest_config()
    values = {}
    for m in metrics:
        config = plain if specs is None else extreme_config(space, specs, m, evaluator.energy_model, largest=largest)
        values[m] = evaluator.cost(config)[m]
    return values


def default_reference(evaluator: ConfigEvaluator, objectives: Sequence[str]) -> dict[str, float]:
    """Hypervolume reference point: every cost objective at its largest value over the space,
    every data objective at its declared worst (:func:`space.worst_values`: accuracy 0, an
    event-driven cost at its dense bound). Only the cost metrics the objectives need (their
    own, and the bounds of data objectives) get their dearest config searched."""
    needed = {m for m in objectives if m in COST_METRICS}
    needed |= {get_metric(m).bounded_by for m in objectives if m not in COST_METRICS and get_metric(m).bounded_by}
    produced = evaluator.cost(evaluator.space.largest_config())
    worst = extreme_costs(evaluator, [m for m in produced if m in needed], largest=True)
    return reference_point(objectives, {**worst, **worst_values(worst)})


def check_run(evaluator: ConfigEvaluator, objectives: Sequence[str], budget: Budget, strategy: Strategy) -> None:
    """The one check of a run's metrics and budget, before any work: every objective and
    budgeted metric is one the evaluator produces; ``strategy`` can hold a budget on each
    data metric named (:attr:`search.Strategy.data_budgets`); no data-free limit is below the
    least value of its metric over the space (a one-line :class:`space.BudgetError`); and a
    strategy training at its own batch size fits in memory (the evaluator's ``check_memory``)."""
    check_metrics(evaluator, objectives, budget)
    batch = getattr(strategy.options, "batch_size", None)  # a strategy that trains at its own batch (a supernet)
    check_memory = getattr(evaluator, "check_memory", None)
    if batch is not None and check_memory is not None:
        check_memory(batch_size=batch)
    for m in budget.metrics:
        if m not in COST_METRICS and direction(m) not in strategy.data_budgets:
            raise BudgetError(f"the {strategy.name} strategy cannot budget {m!r}; budget one of {', '.join(COST_METRICS)}")
    limits = {m: lim for m, lim in budget.to_dict().items() if m in COST_METRICS}
    least = extreme_costs(evaluator, list(limits))
    over = [m for m, lim in limits.items() if least[m] > lim]
    if over:
        smallest = evaluator.cost(evaluator.space.smallest_config())
        what = ", ".join(f"{m} {least[m]:.4g}" for m in over)
        where = "the smallest config of the space has" if all(smallest[m] == least[m] for m in over) else "the least reachable values are"
        raise BudgetError(f"budget {budget} cannot be met: {where} {what}; loosen the budget")


def check_metrics(evaluator: ConfigEvaluator, objectives: Sequence[str], budget: Budget) -> None:
    """Every objective and budgeted metric must be one the evaluator produces."""
    produced = set(evaluator.metric_names)
    if not produced:
        return
    for m in (*objectives, *budget.metrics):
        if m not in produced:
            raise BudgetError(f"metric {m!r} is not computed by this evaluator; use one of {', '.join(sorted(produced))}")


def check_objectives(objectives: Sequence[str]) -> None:
    """A search trades accuracy against cost: ``accuracy`` must be among the objectives."""
    if ACCURACY.name not in objectives:
        raise BudgetError(
            f"--objectives {','.join(objectives)} leaves out accuracy; a front is accuracy against cost, "
            f"for example accuracy,{objectives[0] if objectives else DEFAULT_OBJECTIVES[1]}"
        )
