"""NeuroBench on spikebits models: a wrapper that NeuroBench's hooks see, and the bit-aware
metrics NeuroBench lacks.

NeuroBench (``neurobench.benchmarks.Benchmark``) counts a network's work with hooks on its
``nn.Conv2d`` / ``nn.Linear`` modules (synaptic operations) and on its activation modules
(activation sparsity, membrane updates). A :class:`models.SpikingLayer` computes its synapse
once on the temporal mean of its input spikes (``F.conv2d(mean_t s_t, Q(W))``, exact because
the synapse is affine), so those hooks never fire. Running the synapse once per time step
instead, as a chip does, would make every training step slower: 1.45–1.48× for digits_cnn at
W4/S2/T2 on 2 CPU cores (``bench/neurobench_overhead.py``), far above the 10 % a built-in path
may cost. So NeuroBench gets a wrapper:

:class:`NeuroBenchNet` (``neurobench_model(model)`` wraps it in NeuroBench's ``TorchModel``)
is a copy of a configured network in which

* every synapse is a real ``nn.Conv2d`` / ``nn.Linear`` holding the quantized weights Q(W)
  (α·levels; a weight quantized to 0 is 0), called once per time step t on the *integer*
  spike levels k_t = s_t/γ_t a chip would see (0/1 for S = 1 or LIF spikes, so NeuroBench
  counts accumulates there and multiply-accumulates for multi-bit spikes); the layer's
  current is Σ_t γ_t·conv(k_t)/T + bias, the same numbers as the fake-quantized network up
  to float rounding (tested);
* every neuron runs step by step as an snnTorch ``SpikingNeuron`` (:class:`StepNeuron`) whose
  ``mem`` is its membrane, so ``ActivationSparsity`` and ``MembraneUpdates`` count it.

Inputs a layer reads that are not one neuron's integer levels stay as they are (a SEW-ResNet
layer reads sums of several neurons' spikes; a pooled head reads averages); NeuroBench then
counts their non-zero entries as multiply-accumulates, as it would for any real-valued input.
The spike-spike products of a Spikformer attention are not ``nn.Linear`` calls and are not
counted (S-ACE counts them: :func:`evaluators.cost.attention_bit_products`).

Bit-aware metrics, NeuroBench-style (classes NeuroBench's ``Benchmark`` takes in its metric
lists; results are keyed by class name):

* :class:`BitSynapticOperations` (workload): Σ over effective synaptic operations (a non-zero
  input level meets a non-zero weight) of W × popcount(k), the bits a bit-serial datapath
  actually processes; per sample, like ``SynapticOperations``.
* :class:`PackedFootprint` (static): bytes of the packed ``.sbq`` payload, ⌈Σ_l N_w,l·W_l / 8⌉
  (:func:`models.save_sbq`), against ``Footprint``'s float32 bytes.

NeuroBench is optional: ``pip install 'spikebits[neurobench]'`` then
``pip install --no-deps neurobench==2.3.0`` (its torchaudio requirement would replace this
project's torch; the benchmark path never imports torchaudio). ``make test`` does both.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:
    import snntorch
    from neurobench.metrics.abstract.static_metric import StaticMetric
    from neurobench.metrics.abstract.workload_metric import AccumulatedMetric
    from neurobench.models import TorchModel
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"spikebits.evaluators.neurobench needs neurobench and snntorch ({err}); install them with "
        "pip install 'spikebits[neurobench]' && pip install --no-deps neurobench==2.3.0"
    ) from None

from spikebits.evaluators.activity import probe_synapses, source_layer, spike_bits, spike_steps
from spikebits.models import LIFNeuron, SpikingLayer, SpikingNetwork, current_config, quantize_unsigned
from spikebits.space import ConfigError

__all__ = ["BitSynapticOperations", "NeuroBenchNet", "PackedFootprint", "StepNeuron", "neurobench_model"]


class StepNeuron(snntorch.SpikingNeuron):
    """One time step of a spikebits neuron as an snnTorch neuron: ``mem`` holds the membrane
    v_t, each call takes the step's input current and returns the step's spikes.

    Refined neuron: v_t = v_{t−1}/τ + x − s_{t−1}, s_t = γ_t·clip(⌊v_t/γ_t + 0.5⌋, 0, 2^(B_s,t) − 1);
    LIF: v_t = β·v_{t−1}·(1 − s_{t−1}) + x, s_t = H(v_t − θ). The parameters are those of the
    wrapped neuron (read, never copied)."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__(init_hidden=True, output=False)
        self.neuron = neuron
        self.t = 0
        self.spk: Tensor | None = None
        self.mem = torch.zeros(())

    def start(self, like: Tensor) -> None:
        """Membrane and last spikes at zero before step 1."""
        self.t = 0
        self.mem = torch.zeros_like(like)
        self.spk = torch.zeros_like(like)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        neuron, t = self.neuron, self.t
        if isinstance(neuron, LIFNeuron):
            self.mem = neuron.beta * self.mem * (1.0 - self.spk) + x
            self.spk = (self.mem > neuron.threshold).to(x.dtype)
        else:
            self.mem = (self.mem if neuron.tau == 1.0 else self.mem / neuron.tau) + x - self.spk
            bits = spike_bits(neuron, t + 1)[t]
            self.spk = quantize_unsigned(self.mem, neuron.gamma[t], bits)
        self.t += 1
        return self.spk


class SteppedNeuron(nn.Module):
    """A spikebits neuron run as T calls of its :class:`StepNeuron` (``[B, ...]`` current in,
    ``[T, B, ...]`` spikes out, the wrapped neuron's own result)."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.step = StepNeuron(neuron)
        self.timesteps = neuron.timesteps

    def forward(self, x: Tensor) -> Tensor:
        self.step.start(x)
        return torch.stack([self.step(x) for _ in range(self.timesteps)])


class NeuroBenchNet(nn.Module):
    """A configured spikebits network as NeuroBench sees it (module docstring).

    ``model`` must have every layer configured (:func:`models.apply_config`) and its step
    sizes initialised (one forward, as after training); it is copied and left untouched.
    """

    def __init__(self, model: SpikingNetwork) -> None:
        super().__init__()
        config = current_config(model)
        if config is None:
            raise ConfigError("NeuroBench counts a quantized network; configure every layer (apply_config) first")
        self.config = config
        self.input_shape = tuple(model.input_shape)
        self.net = copy.deepcopy(model).eval()
        self.weight_bits: dict[str, int] = {}
        with torch.no_grad():
            for name, layer in self.net.spiking_layers().items():
                layer.synapse.weight.copy_(layer.quantized_weight())  # Q(W): what NeuroBench's binary copy reads
                layer.synapse.w_bits = config[name].w_bits  # read by BitSynapticOperations
                for attr in ("neuron", "output_neuron"):
                    neuron = getattr(layer, attr)
                    if neuron is not None:
                        setattr(layer, attr, SteppedNeuron(neuron))
        #: ⌈Σ_l N_w,l·W_l / 8⌉: the ``.sbq`` payload (:func:`evaluators.cost.size_bits`).
        self.packed_bytes = math.ceil(sum(layer.synapse.weight.numel() * config[n].w_bits for n, layer in model.spiking_layers().items()) / 8)

    def _synapse(self, name: str, layer: SpikingLayer, spikes: Tensor) -> Tensor:
        """Σ_t γ_t·synapse(k_t) / T + bias, with one real synapse call per step on k_t."""
        source = source_layer(self.net, name).neuron
        neuron = source.step.neuron if isinstance(source, SteppedNeuron) else source
        levels = _levels(self.net, name, spikes)
        steps = spikes.shape[0]
        gamma = spike_steps(neuron, steps).to(spikes.device, spikes.dtype) if levels is not spikes else torch.ones(steps)
        syn = layer.synapse
        bias, syn.bias = syn.bias, None  # the bias once, after the mean (NeuroBench ignores it too)
        try:
            total = sum(gamma[t] * syn(levels[t]) for t in range(steps))
        finally:
            syn.bias = bias
        out = total / steps
        if bias is not None:
            out = out + (bias.view(1, -1, *([1] * (out.dim() - 2))) if isinstance(syn, nn.Conv2d) else bias)
        return out

    def forward(self, x: Tensor) -> Tensor:
        with probe_synapses(self.net, self._synapse):
            return self.net(x)


def _levels(model: SpikingNetwork, name: str, spikes: Tensor) -> Tensor:
    """The integer levels k_t of the spikes layer ``name`` reads, as floats; the spikes
    themselves (``spikes``, the same object) when they are not one neuron's levels."""
    source = source_layer(model, name).neuron
    if isinstance(source, SteppedNeuron):
        source = source.step.neuron
    with torch.no_grad():
        if isinstance(source, LIFNeuron):
            return spikes
        gamma = spike_steps(source, spikes.shape[0]).to(spikes.device, spikes.dtype)
        levels = spikes / gamma.view(-1, *([1] * (spikes.dim() - 1)))
        rounded = levels.round()
        return rounded if torch.allclose(levels, rounded, atol=1e-4) else spikes


def neurobench_model(model: SpikingNetwork) -> TorchModel:
    """``model`` wrapped for ``neurobench.benchmarks.Benchmark``: NeuroBench's ``TorchModel``
    around a :class:`NeuroBenchNet`, with :class:`StepNeuron` registered as its activation
    module (so ``ActivationSparsity`` and ``MembraneUpdates`` see every neuron)."""
    wrapped = TorchModel(NeuroBenchNet(model))
    wrapped.add_activation_module(StepNeuron)
    return wrapped


def _popcount(levels: Tensor) -> Tensor:
    """Set bits of each |level| (non-integer inputs count as one bit per non-zero value)."""
    k = levels.detach().abs()
    if not torch.equal(k, k.round()):
        return (k != 0).to(levels.dtype)
    k = k.long()
    count = torch.zeros_like(k)
    while bool(k.any()):
        count += k & 1
        k = k >> 1
    return count.to(levels.dtype)


class BitSynapticOperations(AccumulatedMetric):
    """Bit-weighted synaptic operations per sample: Σ over effective synaptic operations (a
    non-zero input level k meets a non-zero weight) of W·popcount(k), over every layer and
    time step. A 1-bit spike costs W; a 3 (0b11) costs 2W."""

    def __init__(self) -> None:
        super().__init__(requires_hooks=True)
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.samples = 0

    def __call__(self, model, preds, data):  # noqa: ANN001, ANN204 - NeuroBench's signature
        for hook in model.connection_hooks:
            layer = hook.layer
            bits = getattr(layer, "w_bits", None)
            if bits is None:
                continue
            mask = (layer.weight.detach() != 0).to(layer.weight.dtype)
            for inputs in hook.inputs:
                x = inputs[0] if isinstance(inputs, tuple) else inputs
                count = _popcount(x)
                if isinstance(layer, nn.Conv2d):
                    ops = F.conv2d(count, mask, None, layer.stride, layer.padding, layer.dilation, layer.groups)
                else:
                    ops = F.linear(count, mask)
                self.total += float(ops.sum()) * bits
        self.samples += data[0].size(0)
        return self.compute()

    def compute(self) -> float:
        return self.total / self.samples if self.samples else 0.0


class PackedFootprint(StaticMetric):
    """Bytes of the packed ``.sbq`` payload: ⌈Σ_l N_w,l·W_l / 8⌉ (every weight at its own bit
    width, no padding), against ``Footprint``'s float32 parameters and buffers."""

    def __call__(self, model) -> float:  # noqa: ANN001 - a NeuroBench model
        net = model.__net__()
        if not isinstance(net, NeuroBenchNet):
            raise ConfigError("PackedFootprint reads a spikebits network; wrap it with neurobench_model(model)")
        return net.packed_bytes
