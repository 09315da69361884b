"""spikebits.space: what a search can choose.

The leftmost package: it imports no other spikebits package.
"""

from spikebits.space.budget import DEFAULT_OBJECTIVES, METRICS, BitTargets, Budget, Constraint, direction, parse_objectives
from spikebits.space.config import MAX_BITS, SCHEMES, Config, LayerChoice, LayerOptions
from spikebits.space.errors import (
    BudgetError,
    ConfigError,
    DataError,
    OutputError,
    SpikebitsError,
    UnknownNameError,
    unknown_name_error,
)
from spikebits.space.search_space import FIRST_LAYER_PIN, SearchSpace

__all__ = [
    "DEFAULT_OBJECTIVES",
    "FIRST_LAYER_PIN",
    "MAX_BITS",
    "METRICS",
    "SCHEMES",
    "BitTargets",
    "Budget",
    "BudgetError",
    "Config",
    "ConfigError",
    "Constraint",
    "DataError",
    "LayerChoice",
    "LayerOptions",
    "OutputError",
    "SearchSpace",
    "SpikebitsError",
    "UnknownNameError",
    "direction",
    "parse_objectives",
    "unknown_name_error",
]
