"""spikebits.evaluators: data sets, training, accuracy, cost metrics, energy, activity,
hardware simulation, layer sensitivity.

Imports only :mod:`space` and :mod:`models`.
"""

from spikebits.evaluators import datasets
from spikebits.evaluators.activity import (
    LayerActivity,
    activity_rates,
    integer_levels,
    measure_activity,
    neurobench_counts,
    record_layer_activity,
    s_ace_active,
)
from spikebits.evaluators.cost import (
    bit_averages,
    bit_budget,
    bit_sums,
    check_limits,
    check_specs,
    cost_metrics,
    effective_resolution,
    energy_minimal_config,
    layer_cost,
    metric_value,
    s_ace,
    size_bits,
    smallest_reachable,
)
from spikebits.evaluators.datasets import DataSplit, DatasetInfo
from spikebits.evaluators.energy import (
    DEFAULT_ENERGY_MODEL,
    PRESETS,
    EnergyModel,
    EnergyReport,
    LayerEnergy,
    energy_pj,
    energy_report,
    layer_energy,
    load_energy_model,
)
from spikebits.evaluators.evaluator import Evaluator, resolve_device
from spikebits.evaluators.oneshot import SCORINGS, OneShotEvaluator, draw_config, one_shot_epochs
from spikebits.evaluators.hardware import HardwareReport, simulate
from spikebits.evaluators.sensitivity import activation_omega, hawq_omega, hutchinson_traces, output_error, pearson_kurtosis
from spikebits.evaluators.sensitivity_measure import measure_sensitivity
from spikebits.evaluators.sensitivity_report import LayerSensitivity, SensitivityReport
from spikebits.evaluators.training import StopRequest, TrainSettings, accuracy, calibrate, default_cache_dir, pretrained_state, train

__all__ = [
    "SCORINGS",
    "OneShotEvaluator",
    "draw_config",
    "one_shot_epochs",
    "DEFAULT_ENERGY_MODEL",
    "PRESETS",
    "EnergyModel",
    "EnergyReport",
    "LayerEnergy",
    "energy_pj",
    "energy_report",
    "layer_energy",
    "load_energy_model",
    "HardwareReport",
    "LayerActivity",
    "activity_rates",
    "integer_levels",
    "measure_activity",
    "neurobench_counts",
    "record_layer_activity",
    "s_ace_active",
    "simulate",
    "DataSplit",
    "DatasetInfo",
    "Evaluator",
    "LayerSensitivity",
    "SensitivityReport",
    "StopRequest",
    "TrainSettings",
    "accuracy",
    "activation_omega",
    "bit_averages",
    "bit_budget",
    "bit_sums",
    "calibrate",
    "check_limits",
    "check_specs",
    "cost_metrics",
    "datasets",
    "default_cache_dir",
    "effective_resolution",
    "energy_minimal_config",
    "hawq_omega",
    "hutchinson_traces",
    "layer_cost",
    "measure_sensitivity",
    "metric_value",
    "output_error",
    "pearson_kurtosis",
    "pretrained_state",
    "resolve_device",
    "s_ace",
    "size_bits",
    "smallest_reachable",
    "train",
]
