"""A parametric, bit-aware energy model of SNN inference (an estimate, never a measurement).

One **synaptic operation** (op) is one input spike value meeting one weight in one time step:
layer l does ``synapses_l · T_l`` of them per inference (dense), or that times the measured
fraction of non-zero input spikes (event-driven: a zero spike costs nothing). ``synapses``
is MACs less the kernel taps that fall on zero padding (:class:`models.LayerSpec`): padding
is not a spike, so no chip spends energy on it. Each op costs,
with W = B_w, S = B_s and A the accumulator width:

* S = 1: one accumulate, an add of A bits;
* S > 1 and datapath ``multiply``: a W × S multiply plus an A-bit add (power-of-two weights
  need no multiplier: a shift plus the add);
* S > 1 and datapath ``shift_add``: S shift-adds (one per spike bit, bit-serial), each an
  A-bit add; the preset's fixed ``synop_pj`` is paid per spike bit too.

Scaling (DESIGN.md): adder energy ∝ bits (``add_pj_per_bit``), multiplier energy ∝ W·S
(``mult_pj_per_bit2``). The accumulator holds one time step's sum over the fan-in K, so by
default A = W + S + ⌈log₂ K⌉ (a W-bit weight level times an S-bit spike level, K times); a
preset may fix A instead. Power-of-two weights are priced at the same width: their exact
integer levels would need 2^(W−1) bits, but a shift-add datapath truncates the shifted spike
to the accumulator, as the multiplier-free designs that use them do.

Membrane width: U_l, the layer's membrane bits (``LayerChoice.u_bits``, the U-bit neuron of
``docs/membrane_bits.md``); where U is not set (an unquantized membrane) the preset's
``membrane_bits`` (16 in the 45 nm presets, 24 in ``loihi``), so a config without U costs
what it cost before U existed.

Memory: every op reads its weight (W bits, no reuse assumed) from the SRAM tier that holds the
layer's N_w·W bits; every neuron update reads and writes its U_l-bit membrane (2·U_l bits) in
the tier that holds the layer's membranes, M_l·U_l/8 bytes for its M_l neurons. An access of
b bits costs b/64 of the tier's 64-bit access energy; above the largest tier the DRAM energy
applies.

Neurons: layer l's input neuron population (N_a,l neurons) updates once per time step,
``N_a,l · T_l`` updates, each ``neuron_pj + neuron_adds · U_l · add_pj_per_bit`` (U_l-bit
adders: charge and reset); every emitted non-zero spike costs ``spike_pj`` (routing). A layer
that reads another layer's spikes (a ResNet shortcut) has no neuron of its own; the neurons
that fire a self-attention's Q, K and V (``output_neurons``) run at the layer's S, T and U too.
Per layer and inference (dense; event-driven multiplies ops and spikes by the rates):

    M_l       = N_a,l·[l owns its neuron] + N_out,l
    updates_l = M_l · T_l
    neuron_pj = updates_l · (neuron_pj + neuron_adds · U_l · add_pj_per_bit) + spikes_l · spike_pj
    memory_pj = 2 · updates_l · U_l / 64 · E_64(M_l · U_l / 8)      (E_64: the tier's 64-bit access)

Presets: ``horowitz45nm`` (default; 45 nm constants of Horowitz, ISSCC 2014, per-bit scales
anchored at 8 bits: int add 0.03 pJ → 0.00375 pJ/bit, int mult 0.2 pJ → 0.003125 pJ/bit²;
SRAM 10/20/100 pJ per 64 bits up to 8 KB/32 KB/1 MB, DRAM 1.3 nJ, the low end of
1.3–2.6 nJ), ``bitserial45nm`` (the same constants on the bit-serial ``shift_add`` datapath
that :mod:`evaluators.hardware` simulates) and ``loihi`` (Davies et al. 2018: 23.6 pJ per
synaptic spike op, 3.5 pJ per spike hop, 81 pJ per neuron update, memory included in those).
A user preset is a TOML or JSON file giving every constant (:func:`load_energy_model`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from spikebits.models import LayerSpec
from spikebits.space import Config, ConfigError, LayerChoice, format_number, format_table, parse_json, read_input_bytes
from spikebits.space.config import parse_toml
from spikebits.space.metrics import membrane_width, neuron_count

DATAPATHS = ("multiply", "shift_add")
BASIS = "estimate"


@dataclass(frozen=True)
class EnergyModel:
    """The constants of one hardware preset (energies in pJ, widths in bits, sizes in bytes)."""

    name: str
    datapath: str
    add_pj_per_bit: float
    mult_pj_per_bit2: float
    synop_pj: float
    spike_pj: float
    neuron_pj: float
    neuron_adds: float
    membrane_bits: int
    accumulator_bits: int  # 0: sized per layer, W + S + ⌈log₂ fan-in⌉
    sram_bytes: tuple[int, ...]
    sram_pj_per_64bit: tuple[float, ...]
    dram_pj_per_64bit: float
    description: str = ""

    def __post_init__(self) -> None:
        if self.datapath not in DATAPATHS:
            raise ConfigError(f"energy model {self.name!r}: datapath {self.datapath!r} is unknown; use multiply or shift_add")
        if len(self.sram_bytes) != len(self.sram_pj_per_64bit):
            raise ConfigError(f"energy model {self.name!r}: sram_bytes and sram_pj_per_64bit must have the same length")
        if list(self.sram_bytes) != sorted(self.sram_bytes):
            raise ConfigError(f"energy model {self.name!r}: sram_bytes must be in increasing order")
        for f in fields(self):
            if f.name in ("name", "datapath", "description"):
                continue
            value = getattr(self, f.name)
            for v in value if isinstance(value, tuple) else (value,):
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                    raise ConfigError(f"energy model {self.name!r}: {f.name} = {v!r} must be a finite number >= 0")
        if self.membrane_bits < 1 or int(self.membrane_bits) != self.membrane_bits:
            raise ConfigError(f"energy model {self.name!r}: membrane_bits must be a whole number >= 1")
        if int(self.accumulator_bits) != self.accumulator_bits:
            raise ConfigError(f"energy model {self.name!r}: accumulator_bits must be a whole number (0 sizes it per layer)")

    # ------------------------------------------------------------------ pieces
    def memory_pj(self, size_bytes: float) -> tuple[float, str]:
        """Energy of one 64-bit access to a memory of ``size_bytes``, and the tier's name."""
        for cap, pj in zip(self.sram_bytes, self.sram_pj_per_64bit):
            if size_bytes <= cap:
                return float(pj), f"SRAM {_kb(cap)}"
        return float(self.dram_pj_per_64bit), "DRAM"

    def accumulator_width(self, spec: LayerSpec, choice: LayerChoice) -> int:
        """A: the preset's fixed width, else W + S + ⌈log₂ fan-in⌉."""
        if self.accumulator_bits:
            return int(self.accumulator_bits)
        return choice.w_bits + choice.s_bits + math.ceil(math.log2(max(spec.fan_in, 1)))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sram_bytes"], d["sram_pj_per_64bit"] = list(self.sram_bytes), list(self.sram_pj_per_64bit)
        return d


def _kb(n: int) -> str:
    return f"{n // 1048576} MB" if n >= 1048576 and n % 1048576 == 0 else f"{n / 1024:g} KB"


DEFAULT_ENERGY_MODEL = "horowitz45nm"

#: Largest energy preset file read (a real one is under 2 kB).
MAX_PRESET_BYTES = 1 << 20

_REQUIRED = [f.name for f in fields(EnergyModel) if f.name not in ("name", "description")]


_LISTS = ("sram_bytes", "sram_pj_per_64bit")
#: Largest constant a user file may give: far above any energy (pJ), width (bits) or memory
#: size (bytes) of a real chip, and small enough that sums of them stay finite floats.
_MAX_CONSTANT = 1e30


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def _check_constant(what: str, key: str, value: Any) -> None:
    """One numeric constant of a user preset: an int or float, finite, >= 0 and at most
    :data:`_MAX_CONSTANT`; else a one-line :class:`ConfigError` naming the file and the key."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what}: {key} = {_short(value)} must be a finite number >= 0; write a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{what}: {key} = {value!r} must be a finite number >= 0; write a number")
    if value < 0:
        raise ConfigError(f"{what}: {key} = {value!r} must be a finite number >= 0; write a number >= 0")
    if value > _MAX_CONSTANT:
        raise ConfigError(f"{what}: {key} = {_short(value)} is too large; write a number <= {_MAX_CONSTANT:g}")


def load_energy_model(name_or_path: str | Path | EnergyModel | None) -> EnergyModel:
    """A preset by name, an :class:`EnergyModel`, or a user preset from a ``.toml``/``.json`` file.

    A user file gives every constant of :class:`EnergyModel` (``name`` and ``description``
    are optional); a missing, unknown, non-numeric or negative constant is a one-line
    :class:`space.ConfigError`. The presets are files of the same kind
    (``evaluators/energy_presets/``), read the same way.
    """
    if name_or_path is None:
        return PRESETS[DEFAULT_ENERGY_MODEL]
    if isinstance(name_or_path, EnergyModel):
        return name_or_path
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"energy model {text!r} is neither a preset ({', '.join(PRESETS)}) nor a .toml/.json file")
    raw = read_input_bytes(path, "energy model file", hint=f"check the path or use a preset ({', '.join(PRESETS)})", limit=MAX_PRESET_BYTES)
    what = f"energy model file {path}" if str(path).isprintable() else f"energy model file {str(path)!r}"
    return energy_model_from(parse_json(raw, what) if suffix == ".json" else parse_toml(raw, what), what, path)


def energy_model_from(data: Any, what: str, path: Path) -> EnergyModel:
    """The :class:`EnergyModel` of a preset file's table ``data`` (``what`` names the file in
    messages; ``path`` gives the default name and description), every constant checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must hold a table of constants: {', '.join(_REQUIRED)}")
    unknown = sorted(str(k) for k in set(data) - set(_REQUIRED) - {"name", "description"})
    if unknown:
        raise ConfigError(f"{what}: unknown key {unknown[0]!r}; the keys are {', '.join(_REQUIRED)} (and name, description)")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{what} is missing {missing[0]!r}; give every constant: {', '.join(_REQUIRED)}")
    values = dict(data)
    values.setdefault("name", path.stem)
    values.setdefault("description", f"user preset {path.name}")
    for key in ("name", "description", "datapath"):
        if not isinstance(values[key], str):
            raise ConfigError(f"{what}: {key} must be a string")
    if values["datapath"] not in DATAPATHS:
        raise ConfigError(f"{what}: datapath {_short(values['datapath'])} is unknown; use {' or '.join(DATAPATHS)}")
    for key in _REQUIRED:
        if key == "datapath":
            continue
        value = values[key]
        if key in _LISTS:
            if not isinstance(value, list):
                raise ConfigError(f"{what}: {key} must be a list of numbers, one per SRAM tier, for example [8192, 32768]")
            for item in value:
                _check_constant(what, key, item)
            values[key] = tuple(value)
        else:
            _check_constant(what, key, value)
    for key in ("membrane_bits", "accumulator_bits"):
        if not float(values[key]).is_integer():
            raise ConfigError(f"{what}: {key} = {_short(values[key])} must be a whole number")
        values[key] = int(values[key])
    if values["membrane_bits"] < 1:
        raise ConfigError(f"{what}: membrane_bits = {values['membrane_bits']} must be a whole number >= 1")
    if len(values["sram_bytes"]) != len(values["sram_pj_per_64bit"]):
        raise ConfigError(
            f"{what}: sram_bytes has {len(values['sram_bytes'])} tiers but sram_pj_per_64bit {len(values['sram_pj_per_64bit'])}; "
            "give one energy per tier"
        )
    try:
        return EnergyModel(**values)
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None


def _read_presets(names: Sequence[str]) -> dict[str, EnergyModel]:
    """The packaged presets, in ``names`` order: ``energy_presets/NAME.toml`` beside this module."""
    folder = resources.files("spikebits.evaluators") / "energy_presets"
    presets = {}
    for name in names:
        resource = folder / f"{name}.toml"
        presets[name] = energy_model_from(parse_toml(resource.read_bytes(), f"energy preset {name}"), f"energy preset {name}", Path(resource.name))
    return presets


#: The packaged presets, by name (the default first).
PRESETS: dict[str, EnergyModel] = _read_presets((DEFAULT_ENERGY_MODEL, "bitserial45nm", "loihi"))


# ---------------------------------------------------------------------- the estimate
@dataclass
class LayerEnergy:
    """One layer's counts (per inference, one sample) and energies (pJ)."""

    name: str
    synaptic_ops: float
    adds: float
    mults: float
    accumulator_bits: int
    weight_bits_read: float
    weight_memory: str
    neuron_updates: float
    spikes: float
    membrane_bits_accessed: float
    membrane_width: int
    membrane_memory: str
    compute_pj: float
    weight_memory_pj: float
    membrane_memory_pj: float

    @property
    def total_pj(self) -> float:
        return self.compute_pj + self.weight_memory_pj + self.membrane_memory_pj


def neuron_update_pj(model: EnergyModel, membrane_bits: int) -> float:
    """Compute energy of one neuron update with a ``membrane_bits``-bit membrane U:
    ``neuron_pj + neuron_adds · U · add_pj_per_bit`` (U-bit adders for the charge and the
    reset; the state's read and write are memory, :func:`layer_energy`)."""
    return model.neuron_pj + model.neuron_adds * membrane_bits * model.add_pj_per_bit


def layer_energy(
    model: EnergyModel, spec: LayerSpec, choice: LayerChoice, *, rate: float = 1.0, source_rate: float | None = None
) -> LayerEnergy:
    """Energy of one layer at ``choice``. ``rate``: fraction of this layer's input spikes that
    are non-zero (1 = dense); ``source_rate``: that of the spikes its neuron emits (routing),
    default ``rate``. The dense value depends only on (spec, choice), so it is a per-layer cost
    an integer program can budget."""
    w, s, t = choice.w_bits, choice.s_bits, choice.timesteps
    ops = spec.synapses * t * rate
    acc = model.accumulator_width(spec, choice)
    if s == 1:
        adds, mults, events = ops, 0.0, ops
    elif model.datapath == "shift_add":
        adds, mults, events = ops * s, 0.0, ops * s
    else:
        adds, events = ops, ops
        mults = 0.0 if choice.scheme == "pow2" else ops
    compute = adds * acc * model.add_pj_per_bit + mults * w * s * model.mult_pj_per_bit2 + events * model.synop_pj
    weight_read = ops * w
    w_pj, w_tier = model.memory_pj(spec.n_weights * w / 8)
    if spec.owns_neuron:
        updates = spec.n_inputs * t
        spikes = updates * (rate if source_rate is None else source_rate)
    else:
        updates = spikes = 0.0
    attn_adds, attn_mults, attn_pj = attention_compute(model, spec, choice)
    adds, mults, compute = adds + attn_adds, mults + attn_mults, compute + attn_pj
    updates += spec.output_neurons * t  # Q, K, V neurons (read where they fire, not routed)
    u = membrane_width(choice, model.membrane_bits)
    compute += updates * neuron_update_pj(model, u) + spikes * model.spike_pj
    membrane_bits = 2 * updates * u
    m_pj, m_tier = model.memory_pj(neuron_count(spec) * u / 8)
    return LayerEnergy(
        name=spec.name,
        synaptic_ops=float(ops),
        adds=float(adds),
        mults=float(mults),
        accumulator_bits=acc,
        weight_bits_read=float(weight_read),
        weight_memory=w_tier,
        neuron_updates=float(updates),
        spikes=float(spikes),
        membrane_bits_accessed=float(membrane_bits),
        membrane_width=u,
        membrane_memory=m_tier if updates else "-",
        compute_pj=float(compute),
        weight_memory_pj=float(weight_read / 64 * w_pj),
        membrane_memory_pj=float(membrane_bits / 64 * m_pj),
    )


def attention_compute(model: EnergyModel, spec: LayerSpec, choice: LayerChoice) -> tuple[float, float, float]:
    """(adds, multiplies, pJ) of the spike-spike products of a self-attention governed by
    ``spec``'s choice (0 for any other layer), dense, per sample.

    Per step P = heads·N²·d products in each of Q·Kᵀ and (Q·Kᵀ)·V
    (:class:`models.LayerSpec`). Q·Kᵀ multiplies two S-bit levels into an accumulator of
    A₁ = 2S + ⌈log₂ d⌉ bits; (Q·Kᵀ)·V multiplies a B_A-bit entry of Q·Kᵀ
    (:meth:`models.LayerSpec.attention_map_bits`) by an S-bit level into A₂ = B_A + S +
    ⌈log₂ N⌉ bits. On the ``multiply`` datapath each product is a multiply (a·b scaled, as
    W × S) plus an add and ``synop_pj``, except that with S = 1 a product with a binary
    spike is a gated add; on ``shift_add`` it is S shift-adds (one per bit of the spike operand), each an
    add of the accumulator's width, plus ``synop_pj`` per shift-add.
    """
    if not spec.attention_products:
        return 0.0, 0.0, 0.0
    s, t, d, n = choice.s_bits, choice.timesteps, spec.attention_head_dim, spec.attention_tokens
    map_bits = spec.attention_map_bits(s)
    ops = float(spec.attention_products * t)
    adds = mults = pj = 0.0
    for a_bits, acc in ((s, 2 * s + math.ceil(math.log2(d))), (map_bits, map_bits + s + math.ceil(math.log2(n)))):
        if model.datapath == "shift_add":
            adds += ops * s
            pj += ops * s * (acc * model.add_pj_per_bit + model.synop_pj)
        else:
            adds += ops
            pj += ops * (acc * model.add_pj_per_bit + model.synop_pj)
            if s > 1:
                mults += ops
                pj += ops * a_bits * s * model.mult_pj_per_bit2
    return adds, mults, pj


def _layer_sum(attr: str) -> property:
    """A read-only property of :class:`LayerTotals`: ``attr`` summed over ``self.layers``."""

    def total(self: LayerTotals) -> float:
        return self._sum(attr)

    return property(total, doc=f"``{attr}`` summed over the layers.")


class LayerTotals:
    """Sums over ``self.layers`` (rows with ``compute_pj``, ``weight_memory_pj``,
    ``membrane_memory_pj`` and ``total_pj``) shared by the estimate and the simulation."""

    layers: list

    def _sum(self, attr: str) -> float:
        return float(sum(getattr(x, attr) for x in self.layers))

    compute_pj = _layer_sum("compute_pj")
    weight_memory_pj = _layer_sum("weight_memory_pj")
    membrane_memory_pj = _layer_sum("membrane_memory_pj")
    total_pj = _layer_sum("total_pj")

    def breakdown_dict(self) -> dict[str, Any]:
        """The JSON fields both reports share: the breakdown, the counts, the rows."""
        return {
            "breakdown_pj": {
                "compute": self.compute_pj,
                "weight_memory": self.weight_memory_pj,
                "membrane_memory": self.membrane_memory_pj,
            },
            "counts": self.counts(),
            "layers": [{**asdict(x), "total_pj": x.total_pj} for x in self.layers],
        }


@dataclass
class EnergyReport(LayerTotals):
    """Energy per inference (one sample), by layer and in total. ``basis`` is always
    ``"estimate"``; ``activity`` says whether every spike was counted (``"dense"``) or only
    the measured non-zero ones (``"measured"``)."""

    model: EnergyModel
    layers: list[LayerEnergy]
    activity: str = "dense"
    basis: str = BASIS
    extra: dict = field(default_factory=dict)

    def counts(self) -> dict[str, float]:
        keys = ("synaptic_ops", "adds", "mults", "weight_bits_read", "neuron_updates", "spikes", "membrane_bits_accessed")
        return {k: self._sum(k) for k in keys}

    def to_dict(self) -> dict:
        return {
            "basis": self.basis,
            "energy_model": self.model.name,
            "datapath": self.model.datapath,
            "activity": self.activity,
            "total_pj": self.total_pj,
            **self.breakdown_dict(),
            **self.extra,
        }

    def format(self) -> str:
        """A table per layer plus the totals (for ``spikebits evaluate``)."""
        head = ["layer", "ops", "adds", "mults", "acc", "weights in", "updates", "U", "compute pJ", "weight pJ", "membrane pJ", "total pJ"]
        rows = [
            [x.name, format_number(x.synaptic_ops), format_number(x.adds), format_number(x.mults), str(x.accumulator_bits), x.weight_memory, format_number(x.neuron_updates),
             str(x.membrane_width), format_number(x.compute_pj), format_number(x.weight_memory_pj), format_number(x.membrane_memory_pj), format_number(x.total_pj)]
            for x in self.layers
        ]
        rows.append(["total", format_number(self._sum("synaptic_ops")), format_number(self._sum("adds")), format_number(self._sum("mults")), "", "",
                     format_number(self._sum("neuron_updates")), "", format_number(self.compute_pj), format_number(self.weight_memory_pj),
                     format_number(self.membrane_memory_pj), format_number(self.total_pj)])
        title = f"energy per inference ({self.basis}, {self.activity} activity): model {self.model.name} ({self.model.datapath} datapath)"
        return format_table(head, rows, title=title)


def energy_report(
    specs: Sequence[LayerSpec],
    config: Config,
    model: EnergyModel | str | None = None,
    *,
    rates: Mapping[str, float] | None = None,
) -> EnergyReport:
    """The estimate for ``config``: dense, or event-driven with ``rates`` (layer -> measured
    fraction of non-zero input spikes, as :func:`evaluators.activity.measure_activity` gives).
    The routing energy of a neuron uses the rate of the spikes it emits (its own layer's)."""
    model = load_energy_model(model)
    config.check_layers(s.name for s in specs)
    if rates is not None:
        missing = [s.name for s in specs if s.name not in rates]
        if missing:
            raise ConfigError(f"no firing rate for layer {missing[0]!r}; measure the activity of every layer")
    layers = []
    for spec in specs:
        rate = 1.0 if rates is None else float(rates[spec.name])
        source = None if rates is None else float(rates[spec.spike_source])
        layers.append(layer_energy(model, spec, config[spec.name], rate=rate, source_rate=source))
    return EnergyReport(model, layers, activity="dense" if rates is None else "measured")


def energy_pj(specs: Sequence[LayerSpec], config: Config, model: EnergyModel | str | None = None) -> float:
    """Dense energy per inference in pJ (the ``energy_pj`` metric): Σ over layers in network
    order of :func:`layer_energy`. Data-free, like S-ACE."""
    return energy_report(specs, config, model).total_pj


def choice_energy(model: EnergyModel, spec: LayerSpec, choice: LayerChoice) -> float:
    """Dense energy of one layer at ``choice`` (the per-layer cost of an integer program)."""
    return layer_energy(model, spec, choice).total_pj


def with_datapath(model: EnergyModel, datapath: str) -> EnergyModel:
    """``model`` on another datapath (for comparing the multiplier with bit-serial shift-adds)."""
    return replace(model, datapath=datapath, name=f"{model.name}:{datapath}")
