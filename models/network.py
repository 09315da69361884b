"""The base class of every architecture, layer introspection and ``apply_config``."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from spikebits.models.layers import Activity, SpikingLayer
from spikebits.models.registry import build
from spikebits.space import Config, LayerOptions, SearchSpace


class SpikingNetwork(nn.Module):
    """A network whose synaptic layers are :class:`SpikingLayer` s.

    Subclasses set ``ties`` (groups of layers that must share a choice, with the reason in
    the class docstring) and ``input_shape`` (C, H, W of one sample). ``arch`` holds the
    registry name and keyword arguments the model was built with, so a structural copy can
    be rebuilt (for example on the meta device to count MACs without data).
    """

    ties: tuple[tuple[str, ...], ...] = ()
    input_shape: tuple[int, ...] = ()
    arch: tuple[str, dict] = ("", {})
    #: Why the bit-serial simulator (:func:`evaluators.hardware.simulate`) cannot run this
    #: architecture exactly, or None when it can.
    bit_serial_unsupported: str | None = None

    def spiking_layers(self) -> dict[str, SpikingLayer]:
        """Synaptic layers in network order, by module path (``"conv1"``, ``"layer2.0.shortcut"``)."""
        return {name: m for name, m in self.named_modules() if isinstance(m, SpikingLayer)}

    @property
    def layer_names(self) -> list[str]:
        return list(self.spiking_layers())


def default_space(model: SpikingNetwork, options: LayerOptions | None = None, *, pin_first: bool = True) -> SearchSpace:
    """The DESIGN default space of ``model``: every layer gets ``options``, ties declared by the
    architecture, first layer pinned at W8/S8/T1. A binary-spike (LIF) network allows S = 1 only."""
    if options is None:
        options = LayerOptions()
        if model.arch[1].get("neuron") == "lif":
            options = LayerOptions(s_bits=(1,))
    return SearchSpace.default(model.layer_names, model.ties, options=options, pin_first=pin_first, model=model.arch[0])


def apply_config(model: SpikingNetwork, config: Config) -> SpikingNetwork:
    """Configure every synaptic layer of ``model`` from ``config`` (in place; returns the model).

    ``config`` must name every layer of the model and no other."""
    layers = model.spiking_layers()
    config.check_layers(layers)
    for name, layer in layers.items():
        layer.configure(config[name])
    return model


def set_full_precision(model: SpikingNetwork, timesteps: int = 1) -> SpikingNetwork:
    """Full-precision weights and unquantized (ReLU-limit) neurons in every layer, at
    ``timesteps`` steps (the first, image-reading layer stays at T = 1)."""
    for i, layer in enumerate(model.spiking_layers().values()):
        layer.configure(None, timesteps=1 if i == 0 else timesteps)
    return model


def current_config(model: SpikingNetwork) -> Config | None:
    """The config the model is set to, or None if any layer is full precision."""
    choices = {n: layer.choice for n, layer in model.spiking_layers().items()}
    if any(c is None for c in choices.values()):
        return None
    return Config(choices)  # type: ignore[arg-type]


@contextmanager
def record_activity(model: SpikingNetwork) -> Iterator[dict[str, Activity]]:
    """Count the non-zero spikes each layer's input neuron emits while the block runs."""
    layers = model.spiking_layers()
    stats = {name: Activity() for name in layers}
    for name, layer in layers.items():
        layer.activity = stats[name]
    try:
        yield stats
    finally:
        for layer in layers.values():
            layer.activity = None


@dataclass(frozen=True)
class LayerSpec:
    """Structure of one synaptic layer for one sample and one time step.

    ``macs`` = H_out·W_out·k²·C_in/groups·C_out (conv) or in·out (linear);
    ``n_weights`` = N_w; ``n_inputs`` = N_a (input activations); ``n_outputs`` = neurons the
    synapse drives. ``synapses`` = the (input, output) connections that exist: ``macs`` less
    the kernel taps that fall on zero padding (what an event-driven chip computes; equal to
    ``macs`` for linear layers). ``spike_source`` names the layer whose input neuron fires the spikes this
    synapse reads: the layer itself, except a ResNet 1×1 shortcut, which reads its block
    conv1's spikes (its own neuron never runs, so energy models count no neuron for it).
    A linear layer applied to each of N tokens (``[B, N, in]``) has N·in·out MACs.

    ``output_neurons``: neurons that fire this layer's output at its S and T
    (:attr:`models.SpikingLayer.output_neuron`: a self-attention's Q, K, V), 0 for none.
    ``attention_products``: for the layer whose choice governs a spiking self-attention, the
    products of each of its two spike-spike matrix products per sample and step,
    heads·N²·d (Q·Kᵀ, then (Q·Kᵀ)·V), with ``attention_tokens`` N and
    ``attention_head_dim`` d; 0 for every other layer. How the cost metrics count them:
    :func:`evaluators.cost.attention_bit_products`.
    """

    name: str
    kind: str
    n_weights: int
    n_inputs: int
    n_outputs: int
    macs: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    spike_source: str = ""
    synapses: int = 0
    output_neurons: int = 0
    attention_products: int = 0
    attention_tokens: int = 0
    attention_head_dim: int = 0

    def __post_init__(self) -> None:
        if not self.spike_source:
            object.__setattr__(self, "spike_source", self.name)
        if not self.synapses:
            object.__setattr__(self, "synapses", self.macs)

    @property
    def owns_neuron(self) -> bool:
        """Whether this layer's own input neuron fires (False for a shortcut reading another's spikes)."""
        return self.spike_source == self.name

    def attention_map_bits(self, s_bits: int) -> int:
        """Bits of one entry of Q·Kᵀ when Q and K hold S-bit spike levels (0 … 2^S − 1):
        a sum of d products, each at most (2^S − 1)², so ⌈log₂(d·(2^S − 1)² + 1)⌉."""
        if not self.attention_products:
            return 0
        return math.ceil(math.log2(self.attention_head_dim * (2**s_bits - 1) ** 2 + 1))

    @property
    def fan_in(self) -> int:
        """Synapses per output neuron: k²·C_in/groups (conv) or in_features (linear)."""
        return self.macs // self.n_outputs


def _taps_inside(size_in: int, size_out: int, kernel: int, stride: int, padding: int | str, dilation: int) -> int:
    """Σ over output positions of the kernel taps that land inside the input (one dimension)."""
    if isinstance(padding, str):
        raise ValueError("string padding is not supported; give Conv2d an integer padding")
    return sum(
        1 for o in range(size_out) for k in range(kernel) if 0 <= o * stride - padding + k * dilation < size_in
    )


def _record_shapes(probe: SpikingNetwork, shape: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per layer of ``probe`` (an eval-mode copy on the meta device): the shape of one step's
    spikes its synapse reads and of the current it sends, both per sample.

    A forward hook on each layer's deployed synapse (``layer.deployed``, :mod:`models.hooked`)
    records them: while hooked, the layer runs that synapse once per step on the spikes, which
    also catches the layers whose ``synapse_forward`` an architecture calls directly (a ResNet
    shortcut, a SEW block, q, k and v). The hooks are removed afterwards, even on an error."""
    records: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    handles = []
    try:
        for lname, layer in probe.spiking_layers().items():

            def record(_module: nn.Module, args: tuple, out: Tensor, _name: str = lname) -> None:
                records[_name] = (tuple(args[0].shape[1:]), tuple(out.shape[1:]))

            handles.append(layer.deployed.register_forward_hook(record))
        with torch.no_grad():
            probe(torch.zeros((1, *shape), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return records


def _layer_spec(name: str, layer: SpikingLayer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> LayerSpec:
    """The :class:`LayerSpec` of ``layer`` reading spikes of ``in_shape`` and sending a current
    of ``out_shape`` (per sample and step)."""
    syn = layer.synapse
    n_out = int(torch.Size(out_shape).numel())
    if isinstance(syn, nn.Conv2d):
        kh, kw = syn.kernel_size
        macs = n_out * kh * kw * syn.in_channels // syn.groups
        taps = 1
        for d in range(2):
            taps *= _taps_inside(in_shape[1 + d], out_shape[1 + d], syn.kernel_size[d], syn.stride[d], syn.padding[d], syn.dilation[d])
        synapses = taps * syn.in_channels // syn.groups * syn.out_channels
    else:
        macs = synapses = n_out * syn.in_features  # tokens · in · out
    attention = {}
    if layer.attention is not None:
        heads, head_dim = layer.attention
        tokens = int(torch.Size(out_shape[:-1]).numel())
        attention = {
            "attention_products": heads * tokens * tokens * head_dim,
            "attention_tokens": tokens,
            "attention_head_dim": head_dim,
        }
    return LayerSpec(
        name,
        layer.kind,
        int(syn.weight.numel()),
        int(torch.Size(in_shape).numel()),
        n_out,
        int(macs),
        in_shape,
        out_shape,
        layer.spike_source or name,
        int(synapses),
        output_neurons=n_out if layer.output_neuron is not None else 0,
        **attention,
    )


def layer_specs(model: SpikingNetwork, input_shape: Sequence[int] | None = None) -> list[LayerSpec]:
    """Per-layer structure of ``model`` for inputs of ``input_shape`` (C, H, W).

    Runs a structural copy of the model on PyTorch's meta device: no data, no arithmetic,
    and the model itself is left untouched.
    """
    shape = tuple(input_shape or model.input_shape)
    name, kwargs = model.arch
    with torch.device("meta"):
        probe = build(name, **kwargs)
    probe.eval()
    records = _record_shapes(probe, shape)
    specs = []
    for lname, layer in probe.spiking_layers().items():
        if lname not in records:
            raise RuntimeError(f"layer {lname} was not reached by a forward pass")
        specs.append(_layer_spec(lname, layer, *records[lname]))
    return specs
