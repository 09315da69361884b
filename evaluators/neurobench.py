"""NeuroBench on spikebits models: counted natively, a wrapper that counts the same way
independently, and the bit-aware metrics NeuroBench lacks.

NeuroBench (``neurobench.benchmarks.Benchmark``) counts a network's work with hooks on its
``nn.Conv2d`` / ``nn.Linear`` modules (``SynapticOperations``: each call re-run with binary
inputs and weights; a call whose inputs lie in {−1, 0, 1} is accumulates, any other
multiply-accumulates) and on its activation modules (``ActivationSparsity``: the outputs;
``MembraneUpdates``: the ``mem`` of an ``snntorch.SpikingNeuron`` before and after each
call). ``TorchModel`` finds activation modules by ``isinstance`` of ``nn.ReLU`` /
``nn.Sigmoid``. A :class:`models.SpikingLayer` computes its synapse once on the temporal
mean of its input spikes (``F.conv2d(mean_t s_t, Q(W))``, exact because the synapse is
affine) and a neuron runs its T steps as one fused node, so none of those hooks would fire.
Running the synapse once per time step always, as a chip does, would make every training
step 1.45–1.57× slower (digits_cnn at W4/S2/T2 on 2 CPU cores, ``bench/neurobench_overhead.py``).

**Native** (what a NeuroBench user writes: ``Benchmark(TorchModel(model), ...)`` on a bare
network from ``models.build`` + ``apply_config``, or from ``models.load_sbq``): every layer
and neuron owns a module that does its work step by step *while watched* — in eval mode
(``TorchModel`` sets it) with a module hook registered on it (:mod:`models.hooked`):

* ``layer.deployed`` (an ``nn.Conv2d`` / ``nn.Linear`` holding Q(W), no bias) is called once
  per step t on the integer spike levels k_t (0/1 for S = 1 or LIF spikes, so NeuroBench
  counts accumulates there, multiply-accumulates for multi-bit spikes); the layer's current
  is Σ_t γ_t·deployed(k_t)/T + bias, the model's up to float rounding. The float
  ``layer.synapse`` is hooked too but never called, so it counts nothing.
* ``neuron.firing`` (an ``nn.ReLU`` subclass, and an ``snntorch.SpikingNeuron`` when snnTorch
  is installed) fires each step's spikes from the membrane, which it holds as ``mem``.

Training and unwatched inference are untouched (the same numbers, bit for bit, and the same
speed); watched eval forwards cost ~1.9× (the same bench). Counts equal
:func:`evaluators.activity.neurobench_counts` (synaptic operations) and this module's wrapper
(all metrics) — tested on digits_cnn, resnet20 and sew_resnet18, checked on every family.
After ``Benchmark.run`` NeuroBench keeps its hooks until the ``Benchmark`` is collected or
``TorchModel.cleanup_hooks()`` runs; until then the model's eval forwards stay step by step.

**Wrapper**: :class:`NeuroBenchNet` (``neurobench_model(model)`` wraps it in ``TorchModel``)
is a copy of a configured network in which

* every synapse is a real ``nn.Conv2d`` / ``nn.Linear`` holding Q(W), called once per time
  step on k_t (each layer's ``synapse_op`` is a :class:`SteppedSynapse`);
* every neuron runs step by step as an snnTorch ``SpikingNeuron`` (:class:`StepNeuron`),
  registered as NeuroBench's activation module.

It is an independent implementation of the same counts, and refuses a full-precision network.

Inputs a layer reads that are not one neuron's integer levels stay as they are, both ways (a
SEW-ResNet layer may read sums of several neurons' spikes; a pooled head reads averages);
NeuroBench then counts their non-zero entries as multiply-accumulates, as it would for any
real-valued input. The spike-spike products of a Spikformer attention are not ``nn.Linear``
calls and are not counted (S-ACE counts them: :func:`evaluators.cost.attention_bit_products`).

Bit-aware metrics, NeuroBench-style (classes NeuroBench's ``Benchmark`` takes in its metric
lists; results are keyed by class name):

* :class:`BitSynapticOperations` (workload): Σ over effective synaptic operations (a non-zero
  input level meets a non-zero weight) of W × popcount(k), the bits a bit-serial datapath
  actually processes; per sample, like ``SynapticOperations``.
* :class:`PackedFootprint` (static): bytes of the packed ``.sbq`` payload, ⌈Σ_l N_w,l·W_l / 8⌉
  (:func:`models.save_sbq`), against ``Footprint``'s float32 bytes.
* :class:`StateFootprint` (static): bytes of the neurons' membranes for one sample,
  ⌈Σ_l M_l·U_l / 8⌉ with M_l the neurons that run at layer l's choice (the ``state_bits``
  formula, :func:`space.metrics.state_term`) and U_l its membrane bits; an unquantized
  membrane (U None) is the float32 the model holds, 32 bits.

All three read a bare network in ``TorchModel`` as well as the wrapper (the deployed synapse
carries ``w_bits``); :class:`StateFootprint` needs a registered architecture (``models.build``,
``models.load_sbq``), whose layer shapes it reads without data.

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

from spikebits.evaluators.activity import source_layer, spike_bits, spike_steps
from spikebits.models import LIFNeuron, SpikingLayer, SpikingNetwork, current_config, layer_specs, quantize_unsigned
from spikebits.models.quantizers import membrane_fire
from spikebits.space import ConfigError, CostContext
from spikebits.space.metrics import STATE_BITS

__all__ = [
    "BitSynapticOperations",
    "NeuroBenchNet",
    "PackedFootprint",
    "StateFootprint",
    "StepNeuron",
    "neurobench_model",
    "packed_bytes",
    "state_bytes",
]


class StepNeuron(snntorch.SpikingNeuron):
    """One time step of a spikebits neuron as an snnTorch neuron: ``mem`` holds the membrane
    v_t, each call takes the step's input current and returns the step's spikes.

    Refined neuron: v_t = v_{t−1}/τ + x − s_{t−1}, s_t = γ_t·clip(⌊v_t/γ_t + 0.5⌋, 0, 2^(B_s,t) − 1);
    LIF: v_t = β·v_{t−1}·(1 − s_{t−1}) + x, s_t = H(v_t − θ) (fires at v_t ≥ θ, as the LIF
    neuron's own step). With a U-bit membrane (the wrapped neuron's ``membrane_bits``,
    ``docs/membrane_bits.md``) the charged v_t is stored first — the refined neuron's
    :func:`models.quantizers.membrane_fire`, the LIF neuron's :meth:`models.LIFNeuron.store` —
    and ``mem`` holds the stored membrane, from which the spikes fire. The parameters are those
    of the wrapped neuron (read, never copied)."""

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
        membrane_bits = neuron.membrane_bits
        if isinstance(neuron, LIFNeuron):
            self.mem = neuron.beta * self.mem * (1.0 - self.spk) + x
            if membrane_bits is not None:
                self.mem = neuron.store(self.mem, membrane_bits)
            self.spk = (self.mem >= neuron.threshold).to(x.dtype)
        else:
            charged = (self.mem if neuron.tau == 1.0 else self.mem / neuron.tau) + x - self.spk
            bits = spike_bits(neuron, t + 1)[t]
            if membrane_bits is None:
                self.mem = charged
                self.spk = quantize_unsigned(self.mem, neuron.gamma[t], bits)
            else:
                self.mem, self.spk, _ = membrane_fire(charged, neuron.gamma[t], membrane_bits, bits)
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
            for name, layer in self.net.spiking_layers().items():
                layer.synapse_op = SteppedSynapse(source_layer(self.net, name).neuron.step.neuron)
        #: ⌈Σ_l N_w,l·W_l / 8⌉: the ``.sbq`` payload (:func:`evaluators.cost.size_bits`).
        self.packed_bytes = packed_bytes(model)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SteppedSynapse(nn.Module):
    """Σ_t γ_t·synapse(k_t) / T + bias, one call of the layer's real synapse per step t on the
    integer levels k_t of the spikes ``source`` fired (:func:`_levels`; the spikes as they are,
    γ = 1, when they are not its levels): the ``synapse_op`` of every layer of a
    :class:`NeuroBenchNet`, called as :class:`models.hooked.SynapseOp` is,
    ``forward(spikes, layer)``, in its place (the layer's own path would call its
    ``deployed`` twin, which NeuroBench counts too).

    ``source``, the spikebits neuron, is held in a tuple, not as a submodule: it belongs to the
    network already, and NeuroBench, walking the modules, would find it twice."""

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.source_neuron = (source,)

    def forward(self, spikes: Tensor, layer: SpikingLayer) -> Tensor:  # type: ignore[override]
        neuron = self.source_neuron[0]
        levels = _levels(neuron, spikes)
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


def _levels(source: nn.Module, spikes: Tensor) -> Tensor:
    """The integer levels k_t of the spikes the neuron ``source`` fired, as floats; the spikes
    themselves (``spikes``, the same object) when they are not its levels."""
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


def packed_bytes(model: SpikingNetwork) -> int:
    """⌈Σ_l N_w,l·W_l / 8⌉: bytes of the packed ``.sbq`` payload of a configured network."""
    config = current_config(model)
    if config is None:
        raise ConfigError("the packed size needs a quantized network; configure every layer (apply_config) first")
    return math.ceil(sum(layer.synapse.weight.numel() * config[n].w_bits for n, layer in model.spiking_layers().items()) / 8)


class PackedFootprint(StaticMetric):
    """Bytes of the packed ``.sbq`` payload: ⌈Σ_l N_w,l·W_l / 8⌉ (every weight at its own bit
    width, no padding), against ``Footprint``'s float32 parameters and buffers. Reads a
    spikebits network in NeuroBench's ``TorchModel`` or a :func:`neurobench_model`."""

    def __call__(self, model) -> float:  # noqa: ANN001 - a NeuroBench model
        net = model.__net__()
        if isinstance(net, NeuroBenchNet):
            return net.packed_bytes
        if isinstance(net, SpikingNetwork):
            return packed_bytes(net)
        raise ConfigError("PackedFootprint reads a spikebits network; benchmark TorchModel(model) of a spikebits model")


#: The width :class:`StateFootprint` counts an unquantized membrane (U None) at: the float32
#: the model holds.
UNQUANTIZED_MEMBRANE_BITS = 32


def state_bytes(model: SpikingNetwork) -> int:
    """⌈Σ_l M_l·U_l / 8⌉: bytes of the membranes of a configured network's neurons for one
    sample, M_l = N_a,l·[l owns its neuron] + N_out,l (:func:`space.metrics.state_term`), U_l
    the layer's membrane bits, 32 (a float32) where unquantized. The layer shapes come from the
    registered architecture (:func:`models.layer_specs`), without data."""
    config = current_config(model)
    if config is None:
        raise ConfigError("the state footprint needs a quantized network; configure every layer (apply_config) first")
    if not model.arch[0]:
        raise ConfigError("the state footprint reads the layer shapes of a registered architecture; build the model with models.build")
    bits = STATE_BITS.value(layer_specs(model), config, CostContext(membrane_bits=UNQUANTIZED_MEMBRANE_BITS))
    return math.ceil(bits / 8)


class StateFootprint(StaticMetric):
    """Bytes of the neurons' membranes for one sample: ⌈Σ_l M_l·U_l / 8⌉ (:func:`state_bytes`;
    a U-bit membrane at U bits, an unquantized one at 32), beside :class:`PackedFootprint`'s
    weights. Reads a spikebits network in NeuroBench's ``TorchModel`` or a
    :func:`neurobench_model`."""

    def __call__(self, model) -> float:  # noqa: ANN001 - a NeuroBench model
        net = model.__net__()
        if isinstance(net, NeuroBenchNet):
            return state_bytes(net.net)  # the copy keeps the architecture and every layer's choice
        if isinstance(net, SpikingNetwork):
            return state_bytes(net)
        raise ConfigError("StateFootprint reads a spikebits network; benchmark TorchModel(model) of a spikebits model")
