"""spikebits.space: what a search can choose.

The leftmost package: it imports no other spikebits package. It also holds the helpers every
other package shares (the metric vocabulary, atomic file writes).
"""

from spikebits.space.budget import BitTargets, Budget, Constraint, parse_objectives
from spikebits.space.config import MAX_BITS, SCHEMES, Config, LayerChoice, LayerOptions, nearest_option
from spikebits.space.errors import (
    BudgetError,
    ConfigError,
    DataError,
    OutputError,
    SpikebitsError,
    UnknownNameError,
    unknown_name_error,
)
from spikebits.space.files import atomic_write_bytes, atomic_write_text
from spikebits.space.metrics import (
    ALLOCATION_METRICS,
    COST_METRICS,
    DATA_METRICS,
    DEFAULT_OBJECTIVES,
    HESSIAN_NETWORKS,
    JUMP_KIND,
    METRIC_TABLE,
    METRICS,
    RECORD_METRICS,
    REPORTED_METRICS,
    SENSITIVITY_METRICS,
    SENSITIVITY_TABLE,
    Metric,
    SensitivityMetric,
    check_sensitivity_metric,
    direction,
)
from spikebits.space.search_space import FIRST_LAYER_PIN, SearchSpace
from spikebits.space.tables import format_number, format_table

__all__ = [
    "ALLOCATION_METRICS",
    "COST_METRICS",
    "DATA_METRICS",
    "HESSIAN_NETWORKS",
    "JUMP_KIND",
    "METRIC_TABLE",
    "SENSITIVITY_METRICS",
    "SENSITIVITY_TABLE",
    "Metric",
    "SensitivityMetric",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_sensitivity_metric",
    "nearest_option",
    "DEFAULT_OBJECTIVES",
    "FIRST_LAYER_PIN",
    "MAX_BITS",
    "METRICS",
    "RECORD_METRICS",
    "REPORTED_METRICS",
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
    "format_number",
    "format_table",
    "parse_objectives",
    "unknown_name_error",
]
