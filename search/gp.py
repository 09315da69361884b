"""``gp``: Optuna's Gaussian-process sampler (Bayesian optimisation; constrained and
multi-objective, with the budget's constraints as each trial's constraint values)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaOptions, OptunaStrategy
from spikebits.search.options import option


@dataclass(frozen=True)
class GPOptions(OptunaOptions):
    n_startup_trials: int = option(6, "random trials before the Gaussian processes take over")

    def validate(self) -> None:
        super().validate()
        self.require(self.n_startup_trials >= 0, "n_startup_trials", "0 or more")


@register_strategy
class GPStrategy(OptunaStrategy):
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler): one GP per objective and
    per budget constraint over the categorical choices, log expected hypervolume improvement
    (constrained) for several objectives. Each proposal fits the GPs, so it suits expensive
    trials and searches of up to a few hundred trials."""

    name = "gp"
    Options = GPOptions
    options: GPOptions
    #: A skipped config's accuracy is told as −inf (never measured); the GP clips it to the
    #: worst measured one, as it should, and says so at every fit.
    quiet_warnings = ("Clip non-finite values",)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=self.options.n_startup_trials, independent_sampler=optuna.samplers.RandomSampler(seed=seed)
        )
