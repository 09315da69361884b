"""Measured spike activity: per-layer, per-step counts of the spikes each synapse reads.

Every synaptic layer reads T spike maps ``[T, B, ...]`` (:meth:`models.SpikingLayer.synapse_forward`).
A spike of a refined neuron at step t is s_t = γ_t·k with an integer level
k ∈ [0, 2^S − 1]; a LIF spike is 0 or 1 (γ = 1, S = 1). This module observes those maps:

* :func:`probe_synapses` — a forward hook on every layer's synapse call while a block runs,
  so a callback sees the spikes (and may replace the synaptic output; :mod:`evaluators.hardware`
  does);
* :func:`integer_levels` — k = round(s_t / γ_t) with the γ of the neuron that fired them;
* :func:`record_layer_activity` / :func:`measure_activity` — :class:`LayerActivity` per
  layer: non-zero spikes, integer levels, set bits, per step;
* :func:`activity_rates`, :func:`s_ace_active` — rates for the event-driven energy estimate
  and the activity-aware S-ACE;
* :func:`neurobench_counts` — NeuroBench's synaptic operations (Effective_ACs,
  Effective_MACs, Dense), counted per time step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from spikebits.evaluators.cost import s_ace
from spikebits.models import LayerSpec, RefinedNeuron, SpikingLayer, SpikingNetwork, spike_levels
from spikebits.space import Config, ConfigError

#: ``fn(name, layer, spikes)`` of :func:`probe_synapses`; a non-None return replaces the output.
SynapseProbe = Callable[[str, SpikingLayer, Tensor], "Tensor | None"]


# ---------------------------------------------------------------------- integer spikes
def source_layer(model: SpikingNetwork, layer_name: str) -> SpikingLayer:
    """The layer whose input neuron fires the spikes ``layer_name``'s synapse reads (itself,
    or for a ResNet 1×1 shortcut its block conv1)."""
    layer = model.get_submodule(layer_name)
    return model.get_submodule(layer.spike_source) if layer.spike_source else layer


def spike_bits(neuron: nn.Module, timesteps: int) -> list[int]:
    """B_s,t for t = 1 … ``timesteps``: the configured S, per step when learnable; 1 for LIF.

    A full-precision neuron (``bits`` None) has no integer levels: :class:`space.ConfigError`."""
    if not isinstance(neuron, RefinedNeuron):  # LIF: binary spikes
        return [1] * timesteps
    if neuron.bits is None:
        raise ConfigError("a layer's neuron is full precision; configure every layer before measuring integer spikes")
    if neuron.bits_param is not None and neuron.step_bits:
        return [int(b) for b in neuron.step_bits[:timesteps]]
    return [int(neuron.bits)] * timesteps


def spike_steps(neuron: nn.Module, timesteps: int) -> Tensor:
    """γ_t for t = 1 … ``timesteps`` (ones for a LIF neuron, whose spikes are 0/1)."""
    if not isinstance(neuron, RefinedNeuron):
        return torch.ones(timesteps)
    return neuron.gamma.detach()[:timesteps]


def integer_levels(model: SpikingNetwork, layer_name: str, spikes: Tensor) -> Tensor:
    """Integer spike levels k = round(s_t / γ_t) of the spikes ``[T, B, ...]`` that layer
    ``layer_name``'s synapse reads, as a LongTensor of the same shape.

    γ_t is that of the *source* neuron (``layer.spike_source`` or the layer itself); LIF spikes
    are already 0/1. A full-precision neuron has no levels: :class:`space.ConfigError`
    ("configure every layer before measuring integer spikes").
    """
    neuron = source_layer(model, layer_name).neuron
    timesteps = spikes.shape[0]
    spike_bits(neuron, timesteps)  # raises for a full-precision neuron
    if not isinstance(neuron, RefinedNeuron):
        return spikes.detach().round().long()
    gamma = spike_steps(neuron, timesteps).to(spikes.device, spikes.dtype)
    shape = (timesteps,) + (1,) * (spikes.dim() - 1)
    return torch.round(spikes.detach() / gamma.reshape(shape)).long()


def popcount(levels: Tensor, bits: int) -> Tensor:
    """Number of set bits of each non-negative integer level (of at most ``bits`` bits)."""
    count = torch.zeros_like(levels)
    for j in range(max(bits, 1)):
        count += (levels >> j) & 1
    return count


# ---------------------------------------------------------------------- probing
@contextmanager
def probe_synapses(model: SpikingNetwork, fn: SynapseProbe) -> Iterator[None]:
    """While the block runs, every call of a layer's synapse also calls
    ``fn(name, layer, spikes)`` with the ``[T, B, ...]`` spikes it reads; if that returns a
    tensor, it is the layer's output instead of the synapse's (the hardware simulator's
    integer computation), else the synapse's output stands.

    A forward hook on each layer's ``synapse_op`` (:class:`models.hooked.SynapseOp`, through
    which :meth:`models.SpikingLayer.synapse_forward` always computes its current, also where
    an architecture calls it directly): the synapse runs first, then ``fn``. The hooks are
    removed afterwards, even when the block raises. A call of the layer's synapse that ``fn``
    makes itself (to compare with it) is not probed again. Probes nest: hooks run in the order
    registered, so an outer probe's ``fn`` runs first and the innermost replacement is the
    output; every probe sees every call.
    """
    handles = []
    running: set[str] = set()  # layers whose fn is running: their nested synapse calls pass

    def hook_for(name: str, layer: SpikingLayer) -> Callable[[nn.Module, tuple, Tensor], Tensor | None]:
        def hook(_op: nn.Module, args: tuple, _output: Tensor) -> Tensor | None:
            if name in running:
                return None
            running.add(name)
            try:
                return fn(name, layer, args[0])
            finally:
                running.discard(name)

        return hook

    try:
        for name, layer in model.spiking_layers().items():
            handles.append(layer.synapse_op.register_forward_hook(hook_for(name, layer)))
        yield
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------- activity
@dataclass
class LayerActivity:
    """Spikes one layer's synapse read, summed over the samples seen, per time step t.

    ``nonzero[t]``: non-zero spikes; ``total[t]``: spikes (inputs × samples);
    ``level_sum[t]``: Σ k (integer levels); ``set_bits[t]``: Σ popcount(k);
    ``value_sum``: Σ s (real spike values, all steps); ``samples``: samples seen;
    ``ternary``: True while every real value read was in {−1, 0, 1} (NeuroBench's test for
    accumulates instead of multiply-accumulates).
    """

    name: str
    timesteps: int = 0
    nonzero: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)
    level_sum: list[int] = field(default_factory=list)
    set_bits: list[int] = field(default_factory=list)
    value_sum: float = 0.0
    samples: int = 0
    ternary: bool = True

    def add(self, spikes: Tensor, levels: Tensor, bits: Sequence[int]) -> None:
        """Count one batch of spikes ``[T, B, ...]`` with their integer levels and B_s,t."""
        timesteps = spikes.shape[0]
        while len(self.nonzero) < timesteps:
            for counts in (self.nonzero, self.total, self.level_sum, self.set_bits):
                counts.append(0)
        self.timesteps = max(self.timesteps, timesteps)
        per_step = spikes[0].numel()
        for t in range(timesteps):
            k = levels[t]
            self.nonzero[t] += int((k != 0).sum())
            self.total[t] += per_step
            self.level_sum[t] += int(k.sum())
            self.set_bits[t] += int(popcount(k, bits[t]).sum())
        self.value_sum += float(spikes.double().sum())
        self.samples += spikes.shape[1]
        if self.ternary:
            self.ternary = bool(((spikes == 0) | (spikes == 1) | (spikes == -1)).all())

    @property
    def rate(self) -> float:
        """Fraction of non-zero spikes over all steps."""
        total = sum(self.total)
        return sum(self.nonzero) / total if total else 0.0

    @property
    def rates(self) -> list[float]:
        """Fraction of non-zero spikes, per step."""
        return [n / t if t else 0.0 for n, t in zip(self.nonzero, self.total)]

    @property
    def mean_level(self) -> float:
        """Mean integer level k of a non-zero spike."""
        n = sum(self.nonzero)
        return sum(self.level_sum) / n if n else 0.0

    @property
    def bits_per_spike(self) -> float:
        """Mean popcount(k) of a non-zero spike (the adds a zero-gated bit-serial synapse does)."""
        n = sum(self.nonzero)
        return sum(self.set_bits) / n if n else 0.0

    @property
    def mean_value(self) -> float:
        """Mean real value γ_t·k of a non-zero spike."""
        n = sum(self.nonzero)
        return self.value_sum / n if n else 0.0

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "rate": self.rate,
            "rates": self.rates,
            "mean_level": self.mean_level,
            "bits_per_spike": self.bits_per_spike,
            "mean_value": self.mean_value,
        }


@contextmanager
def record_layer_activity(model: SpikingNetwork) -> Iterator[dict[str, LayerActivity]]:
    """Count the spikes every layer's synapse reads while the block runs (layer → :class:`LayerActivity`).

    Every neuron must be quantized (or LIF): integer levels need γ (:func:`integer_levels`).
    For the coarse rate of a full-precision model use :func:`models.record_activity`."""
    stats = {name: LayerActivity(name) for name in model.spiking_layers()}

    def count(name: str, layer: SpikingLayer, spikes: Tensor) -> None:
        with torch.no_grad():
            levels = integer_levels(model, name, spikes)
            bits = spike_bits(source_layer(model, name).neuron, spikes.shape[0])
            stats[name].add(spikes.detach(), levels, bits)

    with probe_synapses(model, count):
        yield stats


def _loader(dataset: Dataset, batch_size: int, max_samples: int | None) -> DataLoader:
    """The first ``max_samples`` items of any map-style ``dataset`` (every loader's type: a
    ``TensorDataset``, in-memory images, event frames read from disk), in order."""
    if max_samples is not None and max_samples < len(dataset):
        dataset = Subset(dataset, range(max_samples))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; the previous mode comes back afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def measure_activity(
    model: SpikingNetwork,
    dataset: Dataset,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    max_samples: int | None = None,
) -> dict[str, LayerActivity]:
    """Run ``model`` (already on ``device``) over ``dataset`` (images, labels) in eval mode
    without gradients, the first ``max_samples`` samples only if given, and return each
    layer's :class:`LayerActivity`."""
    with evaluation_mode(model), record_layer_activity(model) as stats:
        for batch in _loader(dataset, batch_size, max_samples):
            model(batch[0].to(device))
    return stats


def activity_rates(activity: Mapping[str, LayerActivity]) -> dict[str, float]:
    """layer → non-zero spike rate, for ``evaluators.energy.energy_report(..., rates=)``."""
    return {name: a.rate for name, a in activity.items()}


def s_ace_active(specs: Sequence[LayerSpec], config: Config, activity: Mapping[str, LayerActivity]) -> float:
    """Activity-aware S-ACE = Σ_l MACs_l · B_w,l · Σ_t B_s,l,t · rate_l, rate_l the measured
    non-zero fraction of layer l's input spikes (:func:`evaluators.cost.s_ace` with rates)."""
    missing = [s.name for s in specs if s.name not in activity]
    if missing:
        raise ConfigError(f"no activity for layer {missing[0]!r}; measure the activity of every layer")
    return s_ace(specs, config, rates=activity_rates(activity))


# ---------------------------------------------------------------------- NeuroBench
def connection_count(layer: SpikingLayer, inputs: Tensor, weights: Tensor) -> Tensor:
    """Σ of the synapse applied to ``inputs`` with ``weights`` and no bias, per sample
    (``[B]``): with 0/1 inputs and weights, the connections between the ones."""
    syn = layer.synapse
    if isinstance(syn, nn.Conv2d):
        out = F.conv2d(inputs, weights, None, syn.stride, syn.padding, syn.dilation, syn.groups)
    else:
        out = F.linear(inputs, weights)
    return out.flatten(1).sum(1)


def neurobench_counts(
    model: SpikingNetwork,
    dataset: Dataset,
    *,
    integer_spikes: bool = True,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    max_samples: int | None = None,
) -> dict:
    """NeuroBench's synaptic operations per sample, counted on every time step of every layer.

    NeuroBench (``SynapticOperations``) runs each synaptic layer a second time with its inputs
    replaced by (x ≠ 0), its weights by (w ≠ 0) and no bias: the sum of the output is the
    number of *effective* operations (non-zero input × non-zero weight). A call whose inputs
    all lie in {−1, 0, 1} counts them as accumulates (``Effective_ACs``), any other call as
    multiply-accumulates (``Effective_MACs``). ``Dense`` is the same with inputs and weights
    all ones: every connection, zero inputs included (zero padding is no connection, so it
    equals ``LayerSpec.synapses`` per step). Counts are averaged over samples.

    Here one call is one time step t of one batch: the synapse reads the spike map s_t
    (``synapse(mean_t s_t)`` is how the layer computes Σ_t synapse(s_t)/T), so each layer's
    counts are summed over its T steps, and the AC/MAC decision is made per (batch, step), as
    NeuroBench makes it per forward call. The weights are the fake-quantized ones
    (``layer.quantized_weight()``): a weight quantized to 0 is no operation.

    ``integer_spikes=True`` (default) feeds the integer levels k (γ_t folded into the weights,
    as deployed hardware sees them): a layer reading 1-bit spikes (S = 1, or LIF) does ACs,
    a multi-bit layer MACs unless a step happens to fire only level-1 spikes. Inputs that
    are not on the source neuron's grid γ_t·k (a SEW-ResNet sum of several neurons' spikes, a
    pooled average) are fed as they are (:func:`models.spike_levels`), as a network that
    NeuroBench watches computes them (:mod:`models.hooked`).
    ``integer_spikes=False`` feeds the real values γ_t·k, as NeuroBench would see the
    fake-quantized PyTorch model: MACs unless γ_t = 1 (or the step is silent).

    Returns ``{"layers": {name: {"effective_acs", "effective_macs", "dense"}}, "Effective_ACs",
    "Effective_MACs", "Dense", "samples", "integer_spikes"}``.
    """
    names = model.layer_names
    acs = {n: 0.0 for n in names}
    macs = {n: 0.0 for n in names}
    dense = {n: 0.0 for n in names}
    samples = 0

    def count(name: str, layer: SpikingLayer, spikes: Tensor) -> None:
        if integer_spikes:
            neuron = source_layer(model, name).neuron
            spike_bits(neuron, spikes.shape[0])  # raises for a full-precision neuron
            x = spike_levels(spikes, spike_steps(neuron, spikes.shape[0]))[0]
        else:
            x = spikes.detach()
        w = layer.quantized_weight().detach()
        w_mask = (w != 0).to(x.dtype)
        ones_w = torch.ones_like(w_mask)
        for t in range(x.shape[0]):
            xt = x[t]
            effective = float(connection_count(layer, (xt != 0).to(x.dtype), w_mask).sum())
            if bool(((xt == 0) | (xt == 1) | (xt == -1)).all()):
                acs[name] += effective
            else:
                macs[name] += effective
            dense[name] += float(connection_count(layer, torch.ones_like(xt), ones_w).sum())

    with evaluation_mode(model), probe_synapses(model, count):
        for batch in _loader(dataset, batch_size, max_samples):
            model(batch[0].to(device))
            samples += batch[0].shape[0]
    n = max(samples, 1)
    layers = {name: {"effective_acs": acs[name] / n, "effective_macs": macs[name] / n, "dense": dense[name] / n} for name in names}
    return {
        "layers": layers,
        "Effective_ACs": sum(v["effective_acs"] for v in layers.values()),
        "Effective_MACs": sum(v["effective_macs"] for v in layers.values()),
        "Dense": sum(v["dense"] for v in layers.values()),
        "samples": samples,
        "integer_spikes": integer_spikes,
    }
