"""``qmc``: quasi-Monte Carlo sampling (Optuna's QMCSampler, scrambled Sobol or Halton): a
low-discrepancy design that covers the space more evenly than independent random draws."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna

from spikebits.search.base import register_strategy
from spikebits.search.optuna_base import INFEASIBLE_MODES, OptunaOptions, OptunaStrategy
from spikebits.search.options import option

QMC_TYPES = ("sobol", "halton")


@dataclass(frozen=True)
class QMCOptions(OptunaOptions):
    qmc_type: str = option("sobol", "low-discrepancy sequence", choices=QMC_TYPES)
    infeasible: str = option(
        "skip", "a sampled config that breaks a data-free budget: repair (record it untrained, evaluate its repair by the fit "
        "rule), skip (record it untrained, draw the next point) or train (fine-tune it anyway)", choices=INFEASIBLE_MODES,
    )


@register_strategy
class QMCStrategy(OptunaStrategy):
    """Quasi-Monte Carlo design over the option indices.

    QMC points live in the unit cube, and Optuna's QMCSampler leaves categorical parameters
    to an independent (random) sampler; so each choice of a decision is an integer
    parameter ``{layer}.{key}.index`` in 0 … n−1 over its n options, and the sequence covers
    every dimension evenly (Sobol: n_trials a power of two balances it best). The sequence is
    scrambled with the seed. Data-free budgets skip infeasible points by default (the
    design of the feasible part stays as even as the sequence)."""

    name = "qmc"
    Options = QMCOptions
    options: QMCOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():  # "experimental" since Optuna 3.0; its interface is the one used here
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(
                qmc_type=self.options.qmc_type, scramble=True, seed=seed, warn_asynchronous_seeding=False, warn_independent_sampling=False
            )

    def _options(self, layer: str, field: str) -> list[Any]:
        return list(getattr(self.space.layers[layer], field))

    def suggest(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for layer in self.space.decisions:
            for key, field in self.keys(layer):
                options = self._options(layer, field)
                params[f"{layer}.{key}"] = options[trial.suggest_int(f"{layer}.{key}.index", 0, len(options) - 1)]
        return params

    def encode(self, flat: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for layer in self.space.decisions:
            for key, field in self.keys(layer):
                out[f"{layer}.{key}.index"] = self._options(layer, field).index(flat[f"{layer}.{key}"])
        return out

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        flat = {}
        for layer in self.space.decisions:
            for key, field in self.keys(layer):
                flat[f"{layer}.{key}"] = self._options(layer, field)[int(params[f"{layer}.{key}.index"])]
        return flat
