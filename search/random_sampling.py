"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import INFEASIBLE_MODES, OptunaOptions, OptunaStrategy
from spikebits.search.options import option


@dataclass(frozen=True)
class RandomOptions(OptunaOptions):
    """The Optuna options; random sampling skips (draws again past) configs that break a
    data-free budget instead of repairing them, so its feasible draws stay uniform over the
    feasible part of the space."""

    infeasible: str = option(
        "skip", "a sampled config that breaks a data-free budget: repair (record it untrained, evaluate its repair by the fit "
        "rule), skip (record it untrained, draw again) or train (fine-tune it anyway)", choices=INFEASIBLE_MODES,
    )


@register_strategy
class RandomStrategy(OptunaStrategy):
    """Uniform random sampling (Optuna's RandomSampler): the baseline every strategy must beat."""

    name = "random"
    Options = RandomOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)
