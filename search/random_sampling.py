"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaStrategy


@register_strategy
class RandomStrategy(OptunaStrategy):
    """Optuna's RandomSampler: every option of every layer equally likely."""

    name = "random"

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)
