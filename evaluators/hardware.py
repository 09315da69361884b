"""A bit-serial neural integration unit, simulated layer by layer on real inputs (an estimate).

The simulator runs the model forward with every synapse replaced by the integer computation
an event-driven, bit-serial chip does, counts the work and prices it with the constants of an
:class:`evaluators.energy.EnergyModel`.

Integer datapath of layer l (W-bit weights, S-bit spikes, T steps):

* spikes are integer levels k_t ∈ [0, 2^S − 1] with the source neuron's step γ_t
  (:func:`evaluators.activity.integer_levels`);
* weights are integer levels w_int with one scale: uniform α·k, k ∈ [−Q_p, Q_p]
  (b = 1: ±1, scale α); power-of-two sign·2^(E−k), E = 2^(W−1) − 2, scale α·2^(−E);
* bit-serial accumulate, for each step t and each spike bit j:
  acc_t += (synapse of bit-plane j of k_t with w_int) << j — only the set bits of a non-zero
  spike reach the adder (zero bits are clock-gated);
* output = (Σ_t γ_t·acc_t)·scale / T + bias, equal to the fake-quantized
  :meth:`models.SpikingLayer.synapse_forward` up to float rounding.

Counts per layer and inference (averaged over the samples):

* ``events`` = Σ_t Σ over non-zero input spikes of their fan-out connections (taps on zero
  padding are no connection);
* ``bit_cycles`` = Σ_t S_t·events_t: a fixed schedule, every bit of a non-zero spike takes
  one cycle of a lane;
* ``adds`` = Σ over set spike bits of their fan-out;
* ``weight_bits_read`` = events·W (every event reads its weight, no reuse);
* ``neuron_updates`` = N_a·T for a layer that owns its input neuron (not a ResNet shortcut);
* ``spikes`` = non-zero spikes its own neuron emitted;
* ``cycles`` = ⌈(bit_cycles + neuron_updates)/lanes⌉ per sample: ``lanes`` units work in
  parallel within a layer, one cycle per bit event or neuron update; layers run one after
  another.

Energy (pJ per inference) uses the preset's constants with the rules of
:mod:`evaluators.energy` for the ``shift_add`` datapath, *whatever datapath the preset
names*, because this unit is bit-serial: each set bit is one synaptic op, an A-bit add
(A = W' + S + ⌈log₂ fan-in⌉ unless the preset fixes it, S the widest step) plus the preset's
``synop_pj``; weights are read from the tier holding N_w·W bits; each neuron update costs
``neuron_pj + neuron_adds·U·add_pj_per_bit`` and a U-bit membrane read and write (2·U bits
from the tier holding N_a·U bits), U the membrane bits the layer's neuron ran at (its
``u_bits``; the preset's ``membrane_bits`` for an unquantized membrane); each emitted spike
``spike_pj``. With every spike at its maximum level (``force_levels="max"``) the counts and
energy equal the dense :func:`evaluators.energy.energy_report` on ``bitserial45nm`` layer by
layer, U included.

Neurons are not simulated here: the model's own neurons fire the spikes the integer synapses
read, so a U-bit membrane (``docs/membrane_bits.md``) runs exactly as the model runs it — its
U-bit signed codes, rounding and saturation (:func:`models.quantizers.membrane_codes`) — and
the simulated logits follow the model's with U set as without.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikebits.evaluators.activity import (
    evaluation_mode,
    integer_levels,
    popcount,
    probe_synapses,
    source_layer,
    spike_bits,
    spike_steps,
)
from spikebits.evaluators.energy import BASIS, EnergyModel, LayerTotals, load_energy_model, neuron_update_pj
from spikebits.models import LayerSpec, SpikingLayer, SpikingNetwork
from spikebits.models.quantizers import pow2_max_shift, signed_levels
from spikebits.space import ConfigError, LayerChoice, format_number, format_table
from spikebits.space.metrics import membrane_width

FORCE_LEVELS = ("max",)


# ---------------------------------------------------------------------- integer arithmetic
def integer_weights(layer: SpikingLayer) -> tuple[Tensor, float]:
    """(w_int, scale) with ``layer.quantized_weight() == w_int·scale``: w_int holds integers
    (float64). Uniform: scale α, |w_int| ≤ Q_p (±1 at b = 1); power-of-two: scale α·2^(−E),
    w_int = sign·2^(E−k), E = 2^(W−1) − 2."""
    quantizer = layer.weight_quantizer
    bits = quantizer.bits
    if bits is None:
        raise ConfigError("a layer has full-precision weights; configure every layer before simulating hardware")
    w_q = layer.quantized_weight().detach().double()  # first: a fresh quantizer initialises α here
    alpha = float(quantizer.alpha.detach())
    if quantizer.scheme == "pow2" and bits > 1:
        shift = pow2_max_shift(bits)
        scale, bound = alpha * 2.0**-shift, 2**shift
    else:
        scale, bound = alpha, max(signed_levels(bits), 1)
    w = w_q / scale
    w_int = torch.round(w)
    if w.numel() and (float((w - w_int).abs().max()) > 1e-3 or float(w_int.abs().max()) > bound):
        raise RuntimeError("quantized weights are not integer multiples of their scale; is the quantizer consistent?")
    return w_int, scale


def _synapse(layer: SpikingLayer, x: Tensor, weight: Tensor) -> Tensor:
    syn = layer.synapse
    if isinstance(syn, nn.Conv2d):
        return F.conv2d(x, weight, None, syn.stride, syn.padding, syn.dilation, syn.groups)
    return F.linear(x, weight)


def fan_out_sum(layer: SpikingLayer, x: Tensor) -> Tensor:
    """Σ over inputs of x·(the input's fan-out connections), per sample ``[B]``. For a 0/1 mask
    x it counts the connections leaving the set inputs (zero padding is no connection)."""
    syn = layer.synapse
    if isinstance(syn, nn.Conv2d):
        if syn.groups != 1:
            raise ConfigError(f"layer {syn}: grouped convolutions are not supported by the hardware simulator")
        ones = torch.ones((1, syn.in_channels, *syn.kernel_size), dtype=x.dtype, device=x.device)
        per_output = F.conv2d(x, ones, None, syn.stride, syn.padding, syn.dilation)
        return per_output.flatten(1).sum(1) * syn.out_channels
    return x.flatten(1).sum(1) * syn.out_features


def integer_synapse(layer: SpikingLayer, levels: Tensor, gamma: Tensor, bits: list[int]) -> tuple[Tensor, dict[str, Tensor]]:
    """Bit-serial integer synapse of one layer on integer spike levels ``[T, B, ...]``.

    acc_t = Σ_j (synapse(bit-plane j of k_t, w_int) << j), exact in float64;
    output = (Σ_t γ_t·acc_t)·scale/T + bias (float64). Also returns per-sample counts
    ``[B]``: ``events``, ``bit_cycles``, ``adds`` (see the module docstring)."""
    w_int, scale = integer_weights(layer)
    timesteps, batch = levels.shape[0], levels.shape[1]
    device = levels.device
    w_int = w_int.to(device)
    total = None
    events = torch.zeros(batch, dtype=torch.float64, device=device)
    bit_cycles = torch.zeros_like(events)
    adds = torch.zeros_like(events)
    for t in range(timesteps):
        k = levels[t]
        acc = None
        for j in range(bits[t]):
            plane = ((k >> j) & 1).double()
            part = _synapse(layer, plane, w_int) * float(2**j)
            acc = part if acc is None else acc + part
        step = float(gamma[t]) * acc
        total = step if total is None else total + step
        fired = fan_out_sum(layer, (k != 0).double())
        events += fired
        bit_cycles += fired * bits[t]
        adds += fan_out_sum(layer, popcount(k, bits[t]).double())
    out = total * scale / timesteps
    bias = layer.synapse.bias
    if bias is not None:
        shape = (1, -1) + (1,) * (out.dim() - 2)
        out = out + bias.detach().double().reshape(shape)
    return out, {"events": events, "bit_cycles": bit_cycles, "adds": adds}


# ---------------------------------------------------------------------- report
@dataclass
class LayerHardware:
    """One layer's simulated counts (per inference) and energies (pJ, an estimate).

    ``max_abs_error`` is the largest |integer output − fake-quantized output| seen and
    ``max_abs_reference`` the largest |fake-quantized output| (both None with forced levels)."""

    name: str
    timesteps: int
    w_bits: int
    s_bits: int
    scheme: str
    membrane_width: int
    accumulator_bits: int
    events: float
    bit_cycles: float
    adds: float
    weight_bits_read: float
    neuron_updates: float
    spikes: float
    cycles: float
    weight_memory: str
    membrane_memory: str
    compute_pj: float
    weight_memory_pj: float
    membrane_memory_pj: float
    max_abs_error: float | None = None
    max_abs_reference: float | None = None

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.weight_memory_pj + self.membrane_memory_pj


@dataclass
class HardwareReport(LayerTotals):
    """Simulated cycles and energy per inference, by layer and in total. ``basis`` is always
    ``"estimate"``; ``activity`` is ``"measured"`` (the spikes the model fired) or ``"max"``
    (every spike forced to its top level). ``logits`` are the simulated outputs (not in
    :meth:`to_dict`)."""

    model: EnergyModel
    layers: list[LayerHardware]
    lanes: int
    samples: int
    activity: str = "measured"
    accuracy: float | None = None
    basis: str = BASIS
    logits: Tensor | None = field(default=None, repr=False)

    @property
    def cycles(self) -> float:
        return self._sum("cycles")

    @property
    def energy_pj(self) -> float:
        return self.total_pj

    def counts(self) -> dict[str, float]:
        keys = ("events", "bit_cycles", "adds", "weight_bits_read", "neuron_updates", "spikes", "cycles")
        return {k: self._sum(k) for k in keys}

    def to_dict(self) -> dict:
        d = {
            "basis": self.basis,
            "energy_model": self.model.name,
            "datapath": "shift_add",
            "activity": self.activity,
            "lanes": self.lanes,
            "samples": self.samples,
            "cycles": self.cycles,
            "energy_pj": self.energy_pj,
            **self.breakdown_dict(),
        }
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy
        return d

    def format(self) -> str:
        """A table per layer plus the totals."""
        head = ["layer", "W", "S", "T", "U", "events", "adds", "bit cycles", "updates", "cycles", "compute pJ", "weight pJ",
                "membrane pJ", "total pJ"]
        rows = [
            [x.name, str(x.w_bits), str(x.s_bits), str(x.timesteps), str(x.membrane_width), format_number(x.events), format_number(x.adds), format_number(x.bit_cycles),
             format_number(x.neuron_updates), format_number(x.cycles), format_number(x.compute_pj), format_number(x.weight_memory_pj), format_number(x.membrane_memory_pj),
             format_number(x.total_pj)]
            for x in self.layers
        ]
        rows.append(["total", "", "", "", "", format_number(self._sum("events")), format_number(self._sum("adds")), format_number(self._sum("bit_cycles")),
                     format_number(self._sum("neuron_updates")), format_number(self.cycles), format_number(self.compute_pj), format_number(self.weight_memory_pj),
                     format_number(self.membrane_memory_pj), format_number(self.energy_pj)])
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.4f}"
        title = (
            f"bit-serial simulation per inference ({self.basis}, {self.activity} activity, {self.samples} samples, "
            f"{self.lanes} lane{'s' if self.lanes != 1 else ''}{acc}): constants of {self.model.name}, shift_add datapath"
        )
        return format_table(head, rows, title=title)


# ---------------------------------------------------------------------- the simulator
@dataclass
class _Tally:
    """Running sums of one layer over the simulated samples."""

    spec: LayerSpec
    timesteps: int
    s_bits: int
    #: U of the layer's own neuron (None: unquantized).
    u_bits: int | None = None
    events: float = 0.0
    bit_cycles: float = 0.0
    adds: float = 0.0
    neuron_updates: float = 0.0
    spikes: float = 0.0
    cycles: float = 0.0
    max_abs_error: float = 0.0
    max_abs_reference: float = 0.0


def _layer_spec(name: str, layer: SpikingLayer, spikes: Tensor, out: Tensor) -> LayerSpec:
    """The structure of ``layer`` from one observed call (no registry needed)."""
    syn = layer.synapse
    n_outputs = int(out[0].numel())
    if isinstance(syn, nn.Conv2d):
        fan_in = syn.in_channels // syn.groups * syn.kernel_size[0] * syn.kernel_size[1]
    else:
        fan_in = syn.in_features
    synapses = int(fan_out_sum(layer, torch.ones_like(spikes[0, :1], dtype=torch.float64))[0])
    return LayerSpec(
        name,
        layer.kind,
        int(syn.weight.numel()),
        int(spikes[0, 0].numel()),
        n_outputs,
        n_outputs * fan_in,
        tuple(spikes.shape[2:]),
        tuple(out.shape[1:]),
        layer.spike_source or name,
        synapses,
    )


def simulate(
    model: SpikingNetwork,
    inputs: Tensor,
    *,
    energy_model: EnergyModel | str | None = "bitserial45nm",
    lanes: int = 1,
    labels: Tensor | None = None,
    force_levels: str | None = None,
    batch_size: int = 256,
) -> HardwareReport:
    """Simulate ``model`` (every layer configured) on ``inputs`` ``[N, C, H, W]`` on the
    bit-serial unit; counts and energy per inference (module docstring).

    ``energy_model``: a preset name, an :class:`EnergyModel` or a preset file; priced with the
    shift_add rules whatever its datapath. ``lanes``: parallel units within a layer.
    ``labels``: if given, the report's ``accuracy`` of the simulated logits.
    ``force_levels="max"``: every spike is replaced by its top level 2^S − 1 (every bit set),
    the dense worst case; outputs then no longer follow the model.
    """
    if getattr(model, "bit_serial_unsupported", None):
        raise ConfigError(f"the bit-serial simulation cannot run {model.arch[0] or type(model).__name__}: {model.bit_serial_unsupported}")
    energy = load_energy_model(energy_model)
    if int(lanes) != lanes or lanes < 1:
        raise ConfigError(f"lanes={lanes!r} must be a whole number >= 1")
    if force_levels is not None and force_levels not in FORCE_LEVELS:
        raise ConfigError(f"force_levels={force_levels!r} is unknown; use None or 'max'")
    if labels is not None and len(labels) != len(inputs):
        raise ConfigError(f"{len(labels)} labels for {len(inputs)} inputs; give one label per input")
    tallies: dict[str, _Tally] = {}

    def run(name: str, layer: SpikingLayer, spikes: Tensor) -> Tensor:
        neuron = source_layer(model, name).neuron
        timesteps, batch = spikes.shape[0], spikes.shape[1]
        bits = spike_bits(neuron, timesteps)
        gamma = spike_steps(neuron, timesteps)
        levels = integer_levels(model, name, spikes)
        if force_levels == "max":
            top = torch.tensor([2**b - 1 for b in bits], dtype=levels.dtype, device=levels.device)
            levels = top.reshape((timesteps,) + (1,) * (levels.dim() - 1)).expand_as(levels).contiguous()
        exact, counts = integer_synapse(layer, levels, gamma, bits)
        out = exact.to(spikes.dtype)
        tally = tallies.get(name)
        if tally is None:
            tally = tallies[name] = _Tally(_layer_spec(name, layer, spikes, out), timesteps, max(bits))
        tally.timesteps = max(tally.timesteps, timesteps)
        tally.s_bits = max(tally.s_bits, *bits)
        owns = layer.spike_source in (None, name)
        tally.u_bits = layer.neuron.membrane_bits  # its own neuron's U (Û's rounding when learnable)
        updates = float(tally.spec.n_inputs * timesteps) if owns else 0.0
        tally.events += float(counts["events"].sum())
        tally.bit_cycles += float(counts["bit_cycles"].sum())
        tally.adds += float(counts["adds"].sum())
        tally.neuron_updates += updates * batch
        if owns:
            tally.spikes += float((levels != 0).sum())
        tally.cycles += float(torch.ceil((counts["bit_cycles"] + updates) / lanes).sum())
        if force_levels is None:
            reference = layer.synaptic_current(spikes)  # the synapse's own output, no probe
            tally.max_abs_error = max(tally.max_abs_error, float((out - reference).abs().max()))
            tally.max_abs_reference = max(tally.max_abs_reference, float(reference.abs().max()))
        return out

    device = next(model.parameters()).device
    logits = []
    with evaluation_mode(model), probe_synapses(model, run):
        for start in range(0, len(inputs), batch_size):
            logits.append(model(inputs[start:start + batch_size].to(device)))
    samples = len(inputs)
    names = [n for n in model.layer_names if n in tallies]
    layers = [_price(energy, model.get_submodule(n), tallies[n], samples, force_levels is None) for n in names]
    all_logits = torch.cat(logits) if logits else None
    accuracy = None
    if labels is not None and all_logits is not None:
        accuracy = float((all_logits.argmax(1).cpu() == labels.cpu()).float().mean())
    return HardwareReport(
        energy, layers, int(lanes), samples, activity="measured" if force_levels is None else force_levels,
        accuracy=accuracy, logits=all_logits,
    )


def _price(energy: EnergyModel, layer: SpikingLayer, tally: _Tally, samples: int, checked: bool) -> LayerHardware:
    """Per-inference counts of one layer and their energy on the shift_add datapath."""
    quantizer = layer.weight_quantizer
    spec = tally.spec
    w_bits, scheme = int(quantizer.bits), quantizer.scheme
    choice = LayerChoice(w_bits, tally.s_bits, tally.timesteps, scheme, tally.u_bits)
    acc_bits = energy.accumulator_width(spec, choice)
    u = membrane_width(choice, energy.membrane_bits)
    n = max(samples, 1)
    events, adds = tally.events / n, tally.adds / n
    updates, spikes = tally.neuron_updates / n, tally.spikes / n
    weight_bits = events * w_bits
    compute = adds * (acc_bits * energy.add_pj_per_bit + energy.synop_pj)
    compute += updates * neuron_update_pj(energy, u)
    compute += spikes * energy.spike_pj
    w_pj, w_tier = energy.memory_pj(spec.n_weights * w_bits / 8)
    m_pj, m_tier = energy.memory_pj(spec.n_inputs * u / 8)
    membrane_bits = 2 * updates * u
    return LayerHardware(
        name=spec.name,
        timesteps=tally.timesteps,
        w_bits=w_bits,
        s_bits=tally.s_bits,
        scheme=scheme,
        membrane_width=u,
        accumulator_bits=acc_bits,
        events=events,
        bit_cycles=tally.bit_cycles / n,
        adds=adds,
        weight_bits_read=weight_bits,
        neuron_updates=updates,
        spikes=spikes,
        cycles=tally.cycles / n,
        weight_memory=w_tier,
        membrane_memory=m_tier if spec.owns_neuron else "-",
        compute_pj=float(compute),
        weight_memory_pj=float(weight_bits / 64 * w_pj),
        membrane_memory_pj=float(membrane_bits / 64 * m_pj),
        max_abs_error=tally.max_abs_error if checked else None,
        max_abs_reference=tally.max_abs_reference if checked else None,
    )

