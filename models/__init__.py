"""spikebits.models: quantizers, spiking neurons and layers, architectures (a registry).

Imports only :mod:`space`.
"""

from models import digits_cnn as _digits_cnn  # noqa: F401  (registers "digits_cnn")
from models import resnet as _resnet  # noqa: F401  (registers "resnet20")
from models.layers import Activity, SpikingLayer
from models.network import (
    LayerSpec,
    SpikingNetwork,
    apply_config,
    current_config,
    default_space,
    layer_specs,
    record_activity,
    set_full_precision,
)
from models.neurons import LIFNeuron, RefinedNeuron
from models.quantizers import (
    WeightQuantizer,
    grid_search_step,
    init_spike_step,
    init_weight_step,
    quantize_pow2,
    quantize_signed,
    quantize_unsigned,
    quantize_weight,
)
from models.registry import available, build, register

__all__ = [
    "Activity",
    "LIFNeuron",
    "LayerSpec",
    "RefinedNeuron",
    "SpikingLayer",
    "SpikingNetwork",
    "WeightQuantizer",
    "apply_config",
    "available",
    "build",
    "current_config",
    "default_space",
    "grid_search_step",
    "init_spike_step",
    "init_weight_step",
    "layer_specs",
    "quantize_pow2",
    "quantize_signed",
    "quantize_unsigned",
    "quantize_weight",
    "record_activity",
    "register",
    "set_full_precision",
]
