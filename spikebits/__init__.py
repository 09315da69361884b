"""spikebits: search per-layer weight bits, spike bits, time steps and quantization scheme of
spiking neural networks, and report Pareto fronts of accuracy against cost.

The code is one import namespace; its subpackages follow the data flow

    spikebits.space → spikebits.models → spikebits.evaluators → spikebits.search → spikebits.results

(``results`` imports only ``space``). ``import spikebits`` offers the public API below; each
name is imported from its subpackage on first use, so ``import spikebits.space`` stays light.

Example::

    import spikebits

    evaluator = spikebits.Evaluator("digits_cnn", "digits", epochs=1)
    result = spikebits.run_search("nsga2", evaluator, budget=spikebits.Budget.parse("bit_budget<=2"), n_trials=8)
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("spikebits")
except PackageNotFoundError:  # pragma: no cover  (running from a source tree that is not installed)
    __version__ = "0+unknown"

#: Public name → the subpackage that defines it.
_PUBLIC = {
    "Budget": "space",
    "BitTargets": "space",
    "Config": "space",
    "LayerChoice": "space",
    "LayerOptions": "space",
    "SearchSpace": "space",
    "SpikebitsError": "space",
    "ConfigError": "space",
    "BudgetError": "space",
    "METRICS": "space",
    "build": "models",
    "available_models": "models",
    "Evaluator": "evaluators",
    "run_search": "search",
    "Strategy": "search",
    "StrategyOptions": "search",
    "get_strategy": "search",
    "available_strategies": "search",
    "LocalExecutor": "search",
    "RayExecutor": "search",
    "SearchResult": "search",
    "TrialRecord": "results",
    "pareto_front": "results",
    "hypervolume": "results",
}
#: Public names whose subpackage calls them differently.
_ALIASES = {"available_models": "available", "available_strategies": "available"}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    package = _PUBLIC.get(name)
    if package is None:
        raise AttributeError(f"module 'spikebits' has no attribute {name!r}")
    value = getattr(import_module(f"spikebits.{package}"), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})

