"""spikebits.evaluators: data sets, training, accuracy, cost metrics.

Imports only :mod:`space` and :mod:`models`.
"""

from evaluators import datasets
from evaluators.cost import bit_averages, bit_budget, cost_metrics, effective_resolution, s_ace, size_bits
from evaluators.datasets import DataSplit, DatasetInfo
from evaluators.evaluator import Evaluator, resolve_device
from evaluators.sensitivity import (
    LayerSensitivity,
    SensitivityReport,
    activation_omega,
    hawq_omega,
    hutchinson_traces,
    measure_sensitivity,
    output_error,
    pearson_kurtosis,
)
from evaluators.training import TrainSettings, accuracy, calibrate, default_cache_dir, pretrained_state, train

__all__ = [
    "DataSplit",
    "DatasetInfo",
    "Evaluator",
    "LayerSensitivity",
    "SensitivityReport",
    "TrainSettings",
    "accuracy",
    "activation_omega",
    "bit_averages",
    "bit_budget",
    "calibrate",
    "cost_metrics",
    "datasets",
    "default_cache_dir",
    "effective_resolution",
    "hawq_omega",
    "hutchinson_traces",
    "measure_sensitivity",
    "output_error",
    "pearson_kurtosis",
    "pretrained_state",
    "resolve_device",
    "s_ace",
    "size_bits",
    "train",
]
