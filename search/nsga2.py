"""``nsga2``: Optuna's NSGA-II sampler (constrained domination from the budget)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaOptions, OptunaStrategy
from spikebits.search.options import option


@dataclass(frozen=True)
class NSGA2Options(OptunaOptions):
    population_size: int | None = option(None, "NSGA-II population (default: a third of the trials, between 4 and 50)")

    def validate(self) -> None:
        super().validate()
        self.require(self.population_size is None or self.population_size >= 2, "population_size", "at least 2")


@register_strategy
class NSGA2Strategy(OptunaStrategy):
    """NSGA-II (Optuna): a genetic algorithm with constrained domination from the budget.

    The population is ``population_size`` (default: a third of ``n_trials``, between 4 and
    50), so a short search still runs several generations."""

    name = "nsga2"
    Options = NSGA2Options
    options: NSGA2Options

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        size = self.options.population_size
        if size is None:
            size = max(4, min(50, self.n_trials // 3))
        return optuna.samplers.NSGAIISampler(population_size=size, seed=seed)
