"""``tpe``: Optuna's multi-objective TPE sampler (constraint-aware through ``trial.constraints``)."""

from __future__ import annotations

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import OptunaStrategy


@register_strategy
class TPEStrategy(OptunaStrategy):
    """Tree-structured Parzen estimator; the first ``n_startup_trials`` (default 6) are random."""

    name = "tpe"

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        startup = int(self.options.get("n_startup_trials") or 6)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=False)
