"""spikebits.models: quantizers, spiking neurons and layers, architectures (a registry).

Imports only :mod:`space`.
"""

from spikebits.models import digits_cnn as _digits_cnn  # noqa: F401  (registers "digits_cnn")
from spikebits.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from spikebits.models import resnet as _resnet  # noqa: F401  (registers "resnet20")
from spikebits.models import resnet19 as _resnet19  # noqa: F401  (registers "resnet19")
from spikebits.models import sew_resnet as _sew_resnet  # noqa: F401  (registers "sew_resnet18", "sew_resnet34")
from spikebits.models import spikformer as _spikformer  # noqa: F401  (registers "spikformer")
from spikebits.models import vgg as _vgg  # noqa: F401  (registers "vgg_dvs")
from spikebits.models.export import CHECKPOINT_SCHEMA, checkpoint_bytes, load_sbq, pack_bits, save_sbq, unpack_bits, weight_codes
from spikebits.models.hooked import DeployedConv2d, DeployedLinear, Firing, LIFFiring, RefinedFiring, spike_levels
from spikebits.models.layers import Activity, SpikingLayer
from spikebits.models.network import (
    LayerSpec,
    SpikingNetwork,
    apply_config,
    current_config,
    default_space,
    layer_specs,
    record_activity,
    set_full_precision,
)
from spikebits.models.neurons import LIFNeuron, Neuron, RefinedNeuron
from spikebits.models.quantizers import (
    WeightQuantizer,
    grid_search_step,
    init_spike_step,
    init_weight_step,
    quantize_pow2,
    quantize_signed,
    quantize_unsigned,
    quantize_weight,
    renewal_step,
    round_bits,
)
from spikebits.models.registry import available, build, register
from spikebits.models.supernet import DEFAULT_LAMBDAS, MixedWeightQuantizer, Supernet, ste_round

__all__ = [
    "CHECKPOINT_SCHEMA",
    "DEFAULT_LAMBDAS",
    "Activity",
    "DeployedConv2d",
    "DeployedLinear",
    "Firing",
    "LIFFiring",
    "LIFNeuron",
    "LayerSpec",
    "MixedWeightQuantizer",
    "Neuron",
    "RefinedFiring",
    "RefinedNeuron",
    "SpikingLayer",
    "SpikingNetwork",
    "Supernet",
    "WeightQuantizer",
    "apply_config",
    "available",
    "build",
    "checkpoint_bytes",
    "current_config",
    "default_space",
    "grid_search_step",
    "init_spike_step",
    "init_weight_step",
    "layer_specs",
    "load_sbq",
    "pack_bits",
    "quantize_pow2",
    "quantize_signed",
    "quantize_unsigned",
    "quantize_weight",
    "record_activity",
    "register",
    "renewal_step",
    "round_bits",
    "save_sbq",
    "set_full_precision",
    "spike_levels",
    "ste_round",
    "unpack_bits",
    "weight_codes",
]
