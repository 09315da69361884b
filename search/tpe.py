"""``tpe``: Optuna's multi-objective TPE sampler (constraint-aware through ``trial.constraints``)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaOptions, OptunaStrategy
from spikebits.search.options import option


@dataclass(frozen=True)
class TPEOptions(OptunaOptions):
    n_startup_trials: int = option(6, "random trials before the Parzen estimators take over")

    def validate(self) -> None:
        super().validate()
        self.require(self.n_startup_trials >= 0, "n_startup_trials", "0 or more")


@register_strategy
class TPEStrategy(OptunaStrategy):
    """Tree-structured Parzen estimator (Optuna, multivariate, constraint-aware)."""

    name = "tpe"
    Options = TPEOptions
    options: TPEOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.options.n_startup_trials, multivariate=True, group=False)
