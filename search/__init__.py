"""spikebits.search: strategies, their options and registry, executors, the runner and the CLI.

Imports space, models, evaluators and results (which imports only space). Each strategy is
one module that registers itself; ``spikebits strategies`` lists them with their options.
"""

from spikebits.search import boost as boost  # noqa: F401  (registers "boost")
from spikebits.search import differentiable as differentiable  # noqa: F401  (registers "differentiable", "gumbel")
from spikebits.search import gp as gp  # noqa: F401  (registers "gp")
from spikebits.search import ilp as ilp  # noqa: F401  (registers "ilp")
from spikebits.search import nsga2 as nsga2  # noqa: F401  (registers "nsga2")
from spikebits.search import qmc as qmc  # noqa: F401  (registers "qmc")
from spikebits.search import random_sampling as random_sampling  # noqa: F401  (registers "random")
from spikebits.search import tpe as tpe  # noqa: F401  (registers "tpe")
from spikebits.search.base import (
    DEFAULT_STRATEGY,
    DEFAULT_TRIALS,
    ConfigEvaluator,
    EvaluatorBase,
    Failed,
    Proposal,
    SplitStrategy,
    Strategy,
    available,
    evaluate_trial,
    failure_reason,
    get_strategy,
    options_by_strategy,
    register_strategy,
    strategy_summary,
)
from spikebits.search.driver import Driver, RunControl
from spikebits.search.executors import Executor, LocalExecutor
from spikebits.search.optuna_base import OptunaOptions, OptunaStrategy
from spikebits.search.options import OptionInfo, StrategyOptions, option
from spikebits.search.ray_search import RayExecutor
from spikebits.search.checks import check_output_dir
from spikebits.search.runner import SearchResult, run_search

__all__ = [
    "DEFAULT_STRATEGY",
    "DEFAULT_TRIALS",
    "ConfigEvaluator",
    "Driver",
    "EvaluatorBase",
    "Executor",
    "Failed",
    "LocalExecutor",
    "OptionInfo",
    "OptunaOptions",
    "OptunaStrategy",
    "Proposal",
    "RayExecutor",
    "RunControl",
    "SearchResult",
    "SplitStrategy",
    "Strategy",
    "StrategyOptions",
    "available",
    "check_output_dir",
    "evaluate_trial",
    "failure_reason",
    "get_strategy",
    "option",
    "options_by_strategy",
    "register_strategy",
    "run_search",
    "strategy_summary",
]
