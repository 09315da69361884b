"""spikebits.search: strategies, their registry, the search runner and the CLI.

Imports space, models, evaluators and results (which imports only space).
"""

from spikebits.search import boost as _boost  # noqa: F401  (registers "boost")
from spikebits.search import differentiable as _differentiable  # noqa: F401  (registers "differentiable", "gumbel")
from spikebits.search import ilp as _ilp  # noqa: F401  (registers "ilp")
from spikebits.search import nsga2 as _nsga2  # noqa: F401  (registers "nsga2")
from spikebits.search import random_sampling as _random  # noqa: F401  (registers "random")
from spikebits.search import tpe as _tpe  # noqa: F401  (registers "tpe")
from spikebits.search.base import Proposal, Strategy, available, get_strategy, register_strategy
from spikebits.search.optuna_base import OptunaStrategy
from spikebits.search.runner import SearchResult, check_output_dir, run_search

__all__ = [
    "OptunaStrategy",
    "Proposal",
    "SearchResult",
    "Strategy",
    "available",
    "check_output_dir",
    "get_strategy",
    "register_strategy",
    "run_search",
]
