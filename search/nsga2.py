"""``nsga2``: Optuna's NSGA-II sampler (constrained domination from the budget)."""

from __future__ import annotations

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaStrategy


@register_strategy
class NSGA2Strategy(OptunaStrategy):
    """NSGA-II. The population is ``population_size`` (default: a third of ``n_trials``,
    between 4 and 50), so a short search still runs several generations."""

    name = "nsga2"

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        size = self.options.get("population_size")
        if size is None:
            size = max(4, min(50, int(self.options.get("n_trials") or 12) // 3))
        return optuna.samplers.NSGAIISampler(population_size=int(size), seed=seed)
