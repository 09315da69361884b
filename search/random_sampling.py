"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaOptions, OptunaStrategy


@dataclass(frozen=True)
class RandomOptions(OptunaOptions):
    """The Optuna options; random sampling adds none."""


@register_strategy
class RandomStrategy(OptunaStrategy):
    """Uniform random sampling (Optuna's RandomSampler): the baseline every strategy must beat."""

    name = "random"
    Options = RandomOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)
