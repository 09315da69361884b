"""Spiking synaptic layers with temporal squeezing.

A :class:`SpikingLayer` is one synaptic layer *with the neuron that feeds it*:

    current [B, ...] → neuron (S bits, T steps) → spikes [T, B, ...]
                     → synapse with W-bit weights → mean over T → current [B, ...]

so the three numbers of a :class:`space.LayerChoice` belong to one module: W is the bit
width of the synapse's weights, S that of the spikes it receives and T the number of steps
over which it receives them (S-ACE = MACs·W·Σ_t S). Temporal squeezing: the layer hands the
next layer the mean of its T outputs, which the next neuron receives as a constant current
for each of its own T' steps, so neighbouring layers may use different T. Because the
synapse is affine, mean_t(synapse(s_t)) = synapse(mean_t s_t) exactly, and the layer
computes the right-hand side (one synaptic pass instead of T).

Seen by module hooks (NeuroBench's): in eval mode, while a hook watches the layer's
``deployed`` twin of its synapse (:mod:`models.hooked`), the layer computes the left-hand
side instead, as a chip does: Σ_t γ_t·deployed(k_t) / T + bias, one call per step on the
integer spike levels k_t, with the deployed weights Q(W) — the same current up to float
rounding.

Seen by probes: the synaptic current is always computed as the call
``layer.synapse_op(spikes, layer)`` of a parameter-free child (:class:`models.hooked.SynapseOp`),
so a hook on ``synapse_op`` sees every synapse call, also those an architecture makes through
:meth:`SpikingLayer.synapse_forward` directly (:func:`evaluators.activity.probe_synapses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebits.models.hooked import SynapseOp, deployed_synapse, spike_levels, tag_levels, tagged_levels
from spikebits.models.neurons import NEURONS, RefinedNeuron
from spikebits.models.quantizers import WeightQuantizer
from spikebits.space import ConfigError, LayerChoice


@dataclass
class Activity:
    """Running spike counts of one layer's input neuron (for firing rates)."""

    nonzero: float = 0.0
    total: float = 0.0
    spike_sum: float = 0.0

    @property
    def rate(self) -> float:
        return self.nonzero / self.total if self.total else 0.0


def _autocast_on(tensor: Tensor) -> bool:
    """Whether autocast (mixed precision) is on for ``tensor``'s device (never on the meta
    device, where shapes are traced)."""
    return tensor.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(tensor.device.type)


def _fire(neuron: nn.Module, current: Tensor) -> Tensor:
    """``neuron(current)``; under autocast in float32 with autocast off, so that the membrane
    and the integer spike levels are those of a float32 run."""
    if _autocast_on(current):
        with torch.autocast(current.device.type, enabled=False):
            return neuron(current.float())
    return neuron(current)


class SpikingLayer(nn.Module):
    """Input neuron + quantized synapse (``nn.Conv2d`` or ``nn.Linear``) + temporal squeeze.

    ``neuron`` is ``"refined"`` (multi-bit, default) or ``"lif"`` (binary spikes).
    ``encoder=True`` marks a network's first layer, whose "neuron" quantizes the input
    image (a refined neuron, whatever ``neuron`` says: at T = 1 it is an unsigned quantizer).
    """

    def __init__(self, synapse: nn.Conv2d | nn.Linear, neuron: str = "refined", *, encoder: bool = False) -> None:
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"unknown neuron {neuron!r}")
        if isinstance(synapse, nn.Conv2d) and synapse.padding_mode != "zeros":
            raise ConfigError(f"convolutions with padding_mode {synapse.padding_mode!r} are not supported; use zero padding")
        self.synapse = synapse
        #: The synapse as deployed (Q(W), no bias), called once per step while a hook watches it
        #: in eval mode (module docstring); holds no state of its own.
        self.deployed = deployed_synapse(synapse)
        #: The module call through which :meth:`synapse_forward` computes the synaptic current,
        #: for module hooks to watch (module docstring); no parameters, no state.
        self.synapse_op = SynapseOp()
        self.neuron = RefinedNeuron() if encoder else NEURONS[neuron]()
        self.weight_quantizer = WeightQuantizer()
        self.choice: LayerChoice | None = None
        self.activity: Activity | None = None
        #: Module path of the layer whose input neuron fires the spikes this synapse reads;
        #: None: its own (a ResNet 1×1 shortcut reads its block conv1's spikes).
        self.spike_source: str | None = None
        #: A second neuron at this layer's S and T that fires the layer's *output* current
        #: (:meth:`fire_output`), for outputs that no synapse reads but a spike-spike product
        #: does: the Q, K and V of a spiking self-attention (``models.spikformer``). None: the
        #: output is a current for the next layer's input neuron, as everywhere else.
        self.output_neuron: nn.Module | None = None
        #: (heads, head dim) of the spiking self-attention this layer's choice governs (its
        #: Q·Kᵀ and (Q·Kᵀ)·V products, counted by the cost metrics), or None.
        self.attention: tuple[int, int] | None = None

    @property
    def kind(self) -> str:
        return "conv" if isinstance(self.synapse, nn.Conv2d) else "linear"

    def configure(self, choice: LayerChoice | None, *, timesteps: int = 1) -> None:
        """Apply a :class:`LayerChoice`; ``None`` means full precision (float weights,
        unquantized neuron) at ``timesteps`` steps."""
        self.choice = choice
        if choice is None:
            self.weight_quantizer.configure(None)
        else:
            self.weight_quantizer.configure(choice.w_bits, choice.scheme)
        bits, steps, membrane = (None, timesteps, None) if choice is None else (choice.s_bits, choice.timesteps, choice.u_bits)
        for neuron in self.neurons():
            neuron.configure(bits, steps, membrane)

    def neurons(self) -> list[nn.Module]:
        """The neurons that run at this layer's S and T: the input neuron, then the output
        neuron when there is one."""
        return [self.neuron] if self.output_neuron is None else [self.neuron, self.output_neuron]

    def learn_spikes(
        self,
        bit_range: tuple[int, int] | None,
        timestep_range: tuple[int, int] | None,
        *,
        bits_init=None,
        timesteps_init=None,
        bit_options: tuple[int, ...] | None = None,
        timestep_options: tuple[int, ...] | None = None,
    ) -> tuple[nn.Parameter | None, nn.Parameter | None]:
        """Make this layer's B_s,t and/or T learnable (:meth:`models.neurons.Neuron.learn`): the output
        neuron shares the input neuron's B̂_s and T̂, so both always run at one S and T.
        Returns (B̂_s, T̂) for tied layers to share."""
        options = {"bit_options": bit_options, "timestep_options": timestep_options}
        bits_p, steps_p = self.neuron.learn(bit_range, timestep_range, bits_init=bits_init, timesteps_init=timesteps_init, **options)
        if self.output_neuron is not None:
            self.output_neuron.learn(bit_range, timestep_range, bits_init=bits_p, timesteps_init=steps_p, **options)
        return bits_p, steps_p

    @property
    def timesteps(self) -> int:
        return self.neuron.timesteps

    def spikes(self, current: Tensor) -> Tensor:
        """The input neuron's T spike maps, ``[T, B, ...]``. Under mixed precision (autocast)
        the neuron runs in float32 with autocast off, so its membrane and its integer spike
        levels are those of a float32 run; only the synapse's product runs in bf16."""
        return _fire(self.neuron, current)

    def fire_output(self, current: Tensor) -> Tensor:
        """The output neuron's T spike maps ``[T, B, ...]`` of this layer's output current (in
        float32 under autocast, as :meth:`spikes`)."""
        if self.output_neuron is None:
            raise RuntimeError("this layer has no output neuron")
        return _fire(self.output_neuron, current)

    def quantized_weight(self) -> Tensor:
        """Q(W) (the weight quantizer's levels times α), in float32 also under autocast."""
        weight = self.synapse.weight
        if _autocast_on(weight):
            with torch.autocast(weight.device.type, enabled=False):
                return self.weight_quantizer(weight.float())
        return self.weight_quantizer(weight)

    def squeeze(self, spikes: Tensor) -> Tensor:
        """Temporal squeeze of the ``[T, B, ...]`` spikes this layer's neuron fired: Σ_t s_t / T,
        and with a learnable T̂, Σ_t s_t / (T + (T̂ − stopgrad(T̂))), so that T̂ gets
        −Σ_t s_t / T² (DESIGN, temporal squeezing)."""
        t_hat = getattr(self.neuron, "timesteps_param", None)
        if t_hat is None:
            return spikes.mean(dim=0)
        return spikes.sum(dim=0) / (spikes.shape[0] + (t_hat - t_hat.detach()))

    def synapse_forward(self, spikes: Tensor) -> Tensor:
        """Synaptic current averaged over the T input spike maps (temporal squeeze).

        Activity is counted here, on the spikes the synapse reads, so that a layer fed by
        another layer's neuron (a ResNet 1×1 shortcut reads its block conv1's spikes) is
        counted too.

        The current is :meth:`synaptic_current`, computed as the call
        ``self.synapse_op(spikes, self)`` that module hooks on ``synapse_op`` see (and a
        forward hook may replace)."""
        if self.activity is not None:
            with torch.no_grad():
                self.activity.nonzero += float((spikes != 0).sum())
                self.activity.total += float(spikes.numel())
                self.activity.spike_sum += float(spikes.sum())
        return self.synapse_op(spikes, self)

    def synaptic_current(self, spikes: Tensor) -> Tensor:
        """synapse(mean_t s_t) with the weights Q(W), of the ``[T, B, ...]`` spikes this synapse
        reads; while ``deployed`` is watched in eval mode, Σ_t γ_t·deployed(k_t) / T + bias
        (module docstring). What ``synapse_op`` computes; called directly, no hook sees it and
        no activity is counted."""
        if not self.training and self.deployed.watched:
            return self._stepwise(spikes)
        x = self.squeeze(spikes)
        w = self.quantized_weight()
        if isinstance(self.synapse, nn.Conv2d):
            conv = self.synapse
            return F.conv2d(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
        return F.linear(x, w, self.synapse.bias)

    def spike_levels(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        """(k, γ) of the ``[T, B, ...]`` spikes this synapse reads, s_t = γ_t·k_t: as tagged by
        the watched neuron that fired them; else, when this layer's own neuron is their source,
        k = s/γ if that is integer (:func:`models.hooked.spike_levels`, tagged for the layers
        that read the same spikes); else the spikes as they are, γ = 1."""
        tagged = tagged_levels(spikes)
        if tagged is not None:
            return tagged
        steps = torch.ones(spikes.shape[0], device=spikes.device, dtype=spikes.dtype)
        if self.spike_source is None and getattr(self.neuron, "bits", None) is not None:
            steps = self.neuron.gamma.detach()[: spikes.shape[0]]
        levels, steps = spike_levels(spikes, steps)
        tag_levels(spikes, levels, steps)
        return levels, steps

    def _stepwise(self, spikes: Tensor) -> Tensor:
        """Σ_t γ_t·deployed(k_t) / T + bias, one call of ``self.deployed`` per step (module docstring)."""
        levels, steps = self.spike_levels(spikes)
        deployed = self.deployed
        deployed.deploy(self.synapse, self.quantized_weight(), None if self.choice is None else self.choice.w_bits)
        total = steps[0] * deployed(levels[0])
        for t in range(1, levels.shape[0]):
            total = total + steps[t] * deployed(levels[t])
        out = total / levels.shape[0]
        bias = self.synapse.bias
        if bias is None:
            return out
        return out + (bias.view(1, -1, *([1] * (out.dim() - 2))) if isinstance(self.synapse, nn.Conv2d) else bias)

    def forward(self, current: Tensor) -> Tensor:
        return self.synapse_forward(self.spikes(current))
