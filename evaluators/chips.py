"""Chip profiles: what a neuromorphic chip can run, and whether a configured network fits it.

A **profile** (:class:`ChipProfile`) is a TOML file: built-in ones live in
``evaluators/profiles/`` (``speck``, ``xylo``, ``loihi2``, ``akida``, and ``ideal``, a generic
chip that is not hardware); a user gives a path to a ``.toml`` file of the same form
(:func:`load_profile`). Every value carries its public source in a ``[sources]`` table that maps
the value's dotted key (``"capacity.cores"``, ``"conv.w_bits_uniform"``) to a citation; a value
without a source, a source without a value, an unknown key or a wrong type is a one-line
:class:`space.ConfigError`. A limit nobody publishes is left out of the file: it means "no limit
known", never a guess.

File layout::

    name, description     text
    hardware              true for a real chip, false for a generic reference ("ideal")
    [conv], [linear]      per layer kind: supported (bool); when supported:
                            w_bits_uniform, w_bits_pow2  W allowed per weight scheme ([] = scheme refused)
                            s_bits                       spike bits S
                            timesteps                    T (absent: any T)
                            u_bits                       membrane bits U (absent: not constrained)
                            fan_in, fan_out              per-kind limits (optional)
    [input_layer]         optional overrides of the kind's W/S/T/U for the first layer (the
                          one that reads the input data)
    [capacity]            cores (absent: unlimited); per core, a number or one number per core:
                            neurons_per_core, weight_memory_bits, state_memory_bits,
                            core_memory_bits (weights and state from one pool);
                          weight_word_bits, state_word_bits (fixed storage width; absent: W
                          bits per weight, U bits per neuron, 16 when U is unquantized);
                          fan_in, fan_out, layers_per_core, split_layers (required)
    [energy]              optional: synop_pj, spike_pj, neuron_update_pj
    [sources]             "dotted.key" = "document, section or URL"

A value list is a list of integers or a range ``{ min = 1, max = 16 }``. "Allowed W" means the
W-bit level set is stored exactly by one of the chip's weight words (uniform integers
−(2^(W−1)−1)…2^(W−1)−1; power-of-two levels ±2^k, k ≤ 2^(W−1)−2); S and U must equal a width at
which the chip's neuron saturates, since a narrower spike or membrane clips earlier.

**Placement** (:func:`place`), FIRST-FIT:

1. Each layer's demand: neurons = ``n_inputs`` if the layer owns its input neuron, else 0 (a
   ResNet shortcut's spikes come from a neuron placed with another layer), plus the output
   neurons it fires at its own S and T (a spiking self-attention's Q, K, V); weight bits =
   ``n_weights`` × (``weight_word_bits`` or W); state bits = neurons × (``state_word_bits`` or
   U, 16 when U is unquantized); fan-in = ``spec.fan_in``; fan-out = ⌈synapses / n_inputs⌉.
2. Layers go in network order; a layer goes into the first open core (lowest index first)
   whose remaining neurons, weight, state and core memory all hold it and whose
   ``layers_per_core`` allows another layer; else into the lowest-index unopened core whose
   empty capacity holds it (cores beyond the chip's count repeat its per-core layout, as on a
   second chip).
3. A layer that no empty core holds is split when the profile allows it: divided by neurons into
   the fewest equal parts p (each ⌈demand / p⌉, at most one part per neuron; a layer without a
   neuron is never split) such that a part fits an empty core; the parts are placed first-fit
   one after another. Without splitting, or when even one-neuron parts do not fit, it is a
   :class:`PlacementError` naming the layer, what it needs and what a core holds.
4. A kind the chip cannot run, a W/S/T/U the chip does not allow, or a fan-in / fan-out above
   the limit is a :class:`PlacementError` too. Too many cores is not: ``cores_used`` (cores up
   to the highest one used) may exceed the chip's count, and ``fits`` then says False, so a
   search can budget ``cores_used`` like any other metric.

:func:`chip_space` turns a model's default search space into the chip's: each layer's options
are the default options intersected with what the chip allows (rule on the function).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from spikebits.models import LayerSpec, SpikingNetwork, build, default_space
from spikebits.space import (
    MAX_BITS,
    SCHEMES,
    Config,
    ConfigError,
    LayerChoice,
    LayerOptions,
    SearchSpace,
    format_table,
    read_input_bytes,
    short_repr,
)
from spikebits.space.config import MAX_MEMBRANE_BITS, MAX_TIMESTEPS, MIN_MEMBRANE_BITS, parse_toml

#: The built-in profiles, in listing order (``evaluators/profiles/NAME.toml``).
BUILTIN_PROFILES: tuple[str, ...] = ("speck", "xylo", "loihi2", "akida", "ideal")
#: Largest profile file read (a real one is a few kB).
MAX_PROFILE_BYTES = 1 << 20
#: Layer kinds a profile describes (``models.LayerSpec.kind``).
KINDS: tuple[str, ...] = ("conv", "linear")
#: Membrane widths :func:`chip_space` offers when the chip allows many and the space searches none.
DEFAULT_MEMBRANE_OPTIONS: tuple[int, ...] = (4, 8, 16)
#: Neuron-state bits of an unquantized membrane (U = None) when the chip fixes no state width.
UNQUANTIZED_STATE_BITS = 16
#: Largest integer a profile value may hold (far above any chip; keeps sums exact and finite).
_MAX_VALUE = 1 << 48
#: Widest range ``{min, max}`` a value list may span.
_MAX_RANGE = 1 << 16

_TOP_KEYS = ("name", "description", "hardware", "conv", "linear", "input_layer", "capacity", "energy", "sources")
_REQUIRED_TOP = ("name", "description", "hardware", "conv", "linear", "capacity", "sources")
_BIT_KEYS = ("w_bits_uniform", "w_bits_pow2", "s_bits", "timesteps", "u_bits")
_KIND_KEYS = ("supported", *_BIT_KEYS, "fan_in", "fan_out")
_PER_CORE_KEYS = ("neurons_per_core", "weight_memory_bits", "state_memory_bits", "core_memory_bits")
_CAPACITY_KEYS = ("cores", *_PER_CORE_KEYS, "weight_word_bits", "state_word_bits", "fan_in", "fan_out", "layers_per_core", "split_layers")
_ENERGY_KEYS = ("synop_pj", "spike_pj", "neuron_update_pj")


class PlacementError(ConfigError):
    """A layer cannot be placed on the chip at all (one line naming the layer and what it needs)."""


# ------------------------------------------------------------------------------- the profile
@dataclass(frozen=True)
class KindRules:
    """What the chip allows for one layer kind (or for the first layer, with its overrides).

    Value lists are sorted tuples; ``timesteps`` None means any T, ``u_bits`` None means the
    chip does not constrain U; ``fan_in``/``fan_out`` None means no known limit."""

    kind: str
    supported: bool
    w_bits_uniform: tuple[int, ...] = ()
    w_bits_pow2: tuple[int, ...] = ()
    s_bits: tuple[int, ...] = ()
    timesteps: tuple[int, ...] | None = None
    u_bits: tuple[int, ...] | None = None
    fan_in: int | None = None
    fan_out: int | None = None

    def w_bits(self, scheme: str) -> tuple[int, ...]:
        """W allowed with ``scheme`` (``"uniform"`` or ``"pow2"``)."""
        return self.w_bits_uniform if scheme == "uniform" else self.w_bits_pow2

    @property
    def schemes(self) -> tuple[str, ...]:
        """The weight schemes this kind allows at some W."""
        return tuple(s for s in SCHEMES if self.w_bits(s))

    def refusal(self, choice: LayerChoice) -> tuple[str, str] | None:
        """Why ``choice`` is not allowed, as (what it uses, what is allowed), or None."""
        allowed = self.w_bits(choice.scheme)
        if choice.w_bits not in allowed:
            return f"W{choice.w_bits} {choice.scheme}", f"{choice.scheme} W {_summary(allowed)}" if allowed else f"no {choice.scheme} weights"
        if choice.s_bits not in self.s_bits:
            return f"S{choice.s_bits}", f"S {_summary(self.s_bits)}"
        if self.timesteps is not None and choice.timesteps not in self.timesteps:
            return f"T{choice.timesteps}", f"T {_summary(self.timesteps)}"
        if self.u_bits is not None and choice.u_bits not in self.u_bits:
            return ("an unquantized membrane" if choice.u_bits is None else f"U{choice.u_bits}"), f"U {_summary(self.u_bits)}"
        return None


@dataclass(frozen=True)
class CoreCapacity:
    """One core: neurons, weight memory, neuron-state memory and a shared memory pool (bits);
    None where no limit is known."""

    neurons: int | None = None
    weight_bits: int | None = None
    neuron_state_bits: int | None = None
    memory_bits: int | None = None


@dataclass(frozen=True)
class Capacity:
    """The chip's cores. ``core_types`` has one entry (every core alike) or one per core."""

    cores: int | None
    core_types: tuple[CoreCapacity, ...]
    weight_word_bits: int | None = None
    state_word_bits: int | None = None
    fan_in: int | None = None
    fan_out: int | None = None
    layers_per_core: int | None = None
    split_layers: bool = False

    def core(self, index: int) -> CoreCapacity:
        """Capacity of core ``index`` (beyond the chip's count, the per-core layout repeats)."""
        return self.core_types[index % len(self.core_types)]


@dataclass(frozen=True)
class ChipProfile:
    """A chip profile, parsed strictly from TOML (:func:`parse_profile`)."""

    name: str
    description: str
    hardware: bool
    kinds: Mapping[str, KindRules]
    input_layer: Mapping[str, Any]
    capacity: Capacity
    energy: Mapping[str, float] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def rules(self, kind: str, *, first: bool = False) -> KindRules:
        """The rules for a layer of ``kind``; ``first`` applies the ``[input_layer]`` overrides."""
        if kind not in self.kinds:
            raise ConfigError(f"layer kind {kind!r} is not described by chip profile {self.name!r}; kinds are {', '.join(KINDS)}")
        rules = self.kinds[kind]
        if first and rules.supported and self.input_layer:
            values = {k: getattr(rules, k) for k in _KIND_KEYS}
            values.update(self.input_layer)
            return KindRules(kind=kind, **values)
        return rules

    def source(self, key: str) -> str:
        """The citation of the value at dotted ``key``."""
        return self.sources.get(key, "no source")


def _check_int(what: str, key: str, value: Any, *, low: int = 1, high: int = _MAX_VALUE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what}: {key} = {short_repr(value)} must be a whole number; write an integer from {low} to {high}")
    if not low <= value <= high:
        raise ConfigError(f"{what}: {key} = {value} is out of range; write an integer from {low} to {high}")
    return value


def _check_bool(what: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what}: {key} = {short_repr(value)} must be true or false")
    return value


def _check_text(what: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ConfigError(f"{what}: {key} must be one line of text")
    return value


def _value_list(what: str, key: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """A list of integers >= 1, or a range table ``{min, max}``, as a sorted tuple."""
    if isinstance(value, dict):
        extra = sorted(str(k) for k in set(value) - {"min", "max"})
        if extra or set(value) != {"min", "max"}:
            raise ConfigError(f"{what}: {key} as a range needs exactly min and max, for example {{ min = 1, max = 8 }}")
        low = _check_int(what, f"{key}.min", value["min"])
        high = _check_int(what, f"{key}.max", value["max"])
        if high < low:
            raise ConfigError(f"{what}: {key} has max {high} below min {low}; write min <= max")
        if high - low > _MAX_RANGE:
            raise ConfigError(f"{what}: {key} spans more than {_MAX_RANGE} values; write a narrower range")
        return tuple(range(low, high + 1))
    if not isinstance(value, list):
        raise ConfigError(f"{what}: {key} must be a list of integers or a range, for example [1, 2, 4] or {{ min = 1, max = 8 }}")
    if not value and not allow_empty:
        raise ConfigError(f"{what}: {key} is empty; give at least one value")
    return tuple(sorted({_check_int(what, key, v) for v in value}))


def _check_keys(what: str, where: str, data: Any, known: Sequence[str]) -> dict[str, Any]:
    label = f"[{where}]" if where else "the file"
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {where or 'the file'} must be a table of keys: {', '.join(known)}")
    for k in data:
        if k not in known:
            raise ConfigError(f"{what}: unknown key {short_repr(str(k))} in {label}; the keys are {', '.join(known)}")
    return data


def _parse_kind(what: str, kind: str, data: Any) -> KindRules:
    data = _check_keys(what, kind, data, _KIND_KEYS)
    if "supported" not in data:
        raise ConfigError(f"{what}: [{kind}] is missing 'supported'; write supported = true or false")
    supported = _check_bool(what, f"{kind}.supported", data["supported"])
    if not supported:
        others = [k for k in data if k != "supported"]
        if others:
            raise ConfigError(f"{what}: [{kind}] says supported = false but gives {others[0]!r}; drop it")
        return KindRules(kind=kind, supported=False)
    for key in ("w_bits_uniform", "w_bits_pow2", "s_bits"):
        if key not in data:
            raise ConfigError(f"{what}: [{kind}] is missing {key!r}; give the allowed values ([] refuses a weight scheme)")
    values: dict[str, Any] = {}
    for key in _BIT_KEYS:
        if key in data:
            values[key] = _value_list(what, f"{kind}.{key}", data[key], allow_empty=key.startswith("w_bits"))
    if not values["w_bits_uniform"] and not values["w_bits_pow2"]:
        raise ConfigError(f"{what}: [{kind}] allows no weight scheme; give w_bits_uniform or w_bits_pow2 values, or write supported = false")
    for key in ("fan_in", "fan_out"):
        if key in data:
            values[key] = _check_int(what, f"{kind}.{key}", data[key])
    return KindRules(kind=kind, supported=True, **values)


def _parse_input_layer(what: str, data: Any) -> dict[str, Any]:
    data = _check_keys(what, "input_layer", data, _BIT_KEYS)
    values = {key: _value_list(what, f"input_layer.{key}", value, allow_empty=key.startswith("w_bits")) for key, value in data.items()}
    if values.get("w_bits_uniform", (1,)) == () and values.get("w_bits_pow2", (1,)) == ():
        raise ConfigError(f"{what}: [input_layer] allows no weight scheme; give w_bits_uniform or w_bits_pow2 values")
    return values


def _parse_capacity(what: str, data: Any) -> Capacity:
    data = _check_keys(what, "capacity", data, _CAPACITY_KEYS)
    if "split_layers" not in data:
        raise ConfigError(f"{what}: [capacity] is missing 'split_layers'; write split_layers = true if a layer may span cores, else false")
    cores = _check_int(what, "capacity.cores", data["cores"]) if "cores" in data else None
    per_core: dict[str, tuple[int | None, ...]] = {}
    for key in _PER_CORE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, list):
            if cores is None:
                raise ConfigError(f"{what}: capacity.{key} gives one value per core but capacity.cores is not set; give cores, or one number")
            if len(value) != cores:
                raise ConfigError(f"{what}: capacity.{key} has {len(value)} values for {cores} cores; give one per core")
            per_core[key] = tuple(_check_int(what, f"capacity.{key}", v) for v in value)
        else:
            per_core[key] = (_check_int(what, f"capacity.{key}", value),)
    n_types = max((len(v) for v in per_core.values()), default=1)
    fields_ = {"neurons_per_core": "neurons", "weight_memory_bits": "weight_bits", "state_memory_bits": "neuron_state_bits", "core_memory_bits": "memory_bits"}
    types = tuple(
        CoreCapacity(**{fields_[k]: (v[i] if len(v) > 1 else v[0]) for k, v in per_core.items()}) for i in range(n_types)
    )
    scalars: dict[str, Any] = {}
    for key in ("weight_word_bits", "state_word_bits"):
        if key in data:
            scalars[key] = _check_int(what, f"capacity.{key}", data[key], high=64)
    for key in ("fan_in", "fan_out", "layers_per_core"):
        if key in data:
            scalars[key] = _check_int(what, f"capacity.{key}", data[key])
    split = _check_bool(what, "capacity.split_layers", data["split_layers"])
    return Capacity(cores=cores, core_types=types, split_layers=split, **scalars)


def _parse_energy(what: str, data: Any) -> dict[str, float]:
    data = _check_keys(what, "energy", data, _ENERGY_KEYS)
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1e12:
            raise ConfigError(f"{what}: energy.{key} = {short_repr(value)} must be a finite number of pJ, 0 or more")
        out[key] = float(value)
    return out


def _value_keys(data: Mapping[str, Any]) -> list[str]:
    """The dotted keys of every value that needs a source: all but name, description, sources."""
    keys = []
    for top, value in data.items():
        if top in ("name", "description", "sources"):
            continue
        if isinstance(value, dict) and top in ("conv", "linear", "input_layer", "capacity", "energy"):
            keys.extend(f"{top}.{k}" for k in value)
        else:
            keys.append(top)
    return keys


def parse_profile(data: Any, what: str = "chip profile") -> ChipProfile:
    """The :class:`ChipProfile` of a parsed TOML document ``data``; ``what`` names the file in
    messages. Everything is checked: unknown or missing keys, types, ranges, and that every
    value has a source and every source a value (one-line :class:`ConfigError`)."""
    data = _check_keys(what, "", data, _TOP_KEYS)
    for key in _REQUIRED_TOP:
        if key not in data:
            raise ConfigError(f"{what} is missing {key!r}; a profile gives {', '.join(_REQUIRED_TOP)} (and optionally input_layer, energy)")
    name = _check_text(what, "name", data["name"])
    description = _check_text(what, "description", data["description"])
    hardware = _check_bool(what, "hardware", data["hardware"])
    kinds = {kind: _parse_kind(what, kind, data[kind]) for kind in KINDS}
    input_layer = _parse_input_layer(what, data["input_layer"]) if "input_layer" in data else {}
    capacity = _parse_capacity(what, data["capacity"])
    energy = _parse_energy(what, data["energy"]) if "energy" in data else {}
    sources = data["sources"]
    if not isinstance(sources, dict):
        raise ConfigError(f"{what}: sources must be a table of \"dotted.key\" = \"citation\" lines")
    needed = _value_keys(data)
    for key in needed:
        if key not in sources:
            raise ConfigError(f"{what}: {key} has no source; add \"{key}\" = \"document, section or URL\" to [sources], or drop the value if nobody publishes it")
    for key, citation in sources.items():
        if key not in needed:
            raise ConfigError(f"{what}: [sources] cites {short_repr(str(key))}, which is not a value of the profile; drop it or fix the key")
        _check_text(what, f"sources.{key}", citation)
    return ChipProfile(name, description, hardware, kinds, input_layer, capacity, energy, dict(sources))


@lru_cache(maxsize=None)
def _builtin(name: str) -> ChipProfile:
    what = f"chip profile {name}"
    raw = (resources.files("spikebits.evaluators") / "profiles" / f"{name}.toml").read_bytes()
    return parse_profile(parse_toml(raw, what), what)


def profile_names() -> tuple[str, ...]:
    """The built-in profile names, in listing order."""
    return BUILTIN_PROFILES


def load_profile(name_or_path: str | Path | ChipProfile) -> ChipProfile:
    """A built-in profile by name (:func:`profile_names`), a :class:`ChipProfile`, or a profile
    read from a ``.toml`` file (a regular file of at most :data:`MAX_PROFILE_BYTES`, through
    :func:`space.read_input_bytes`); every failure is a one-line :class:`ConfigError`."""
    if isinstance(name_or_path, ChipProfile):
        return name_or_path
    text = str(name_or_path)
    if text in BUILTIN_PROFILES:
        return _builtin(text)
    path = Path(text)
    if path.suffix.lower() != ".toml":
        raise ConfigError(f"chip profile {text!r} is neither a built-in profile ({', '.join(BUILTIN_PROFILES)}) nor a .toml file")
    raw = read_input_bytes(path, "chip profile file", hint=f"check the path or use a built-in profile ({', '.join(BUILTIN_PROFILES)})", limit=MAX_PROFILE_BYTES)
    what = f"chip profile file {path}" if str(path).isprintable() else f"chip profile file {str(path)!r}"
    return parse_profile(parse_toml(raw, what), what)


def _summary(values: Iterable[int] | None) -> str:
    """``1-8``, ``1,2,4``, ``any`` (None) or ``-`` (empty): runs of three or more consecutive
    values are written as ranges."""
    if values is None:
        return "any"
    values = sorted(values)
    if not values:
        return "-"
    runs: list[list[int]] = [[values[0]]]
    for v in values[1:]:
        if v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) >= 3 else ",".join(map(str, r)) for r in runs)


#: Columns of :func:`profile_table`.
PROFILE_TABLE_HEAD: tuple[str, ...] = ("profile", "kinds", "cores", "W uniform", "W pow2", "S", "T", "U", "description")


def profile_table(names: Sequence[str | Path | ChipProfile] | None = None) -> list[list[str]]:
    """One row per profile (the built-in ones by default) under :data:`PROFILE_TABLE_HEAD`:
    name, layer kinds it runs, cores, allowed W (uniform, pow2), S, T, U, description. Where
    conv and linear layers differ, each is given (``conv 1-8; linear 1-4``)."""
    rows = []
    for item in BUILTIN_PROFILES if names is None else names:
        profile = load_profile(item)
        kinds = [profile.kinds[k] for k in KINDS if profile.kinds[k].supported]

        def column(attr: str) -> str:
            texts = {r.kind: _summary(getattr(r, attr)) for r in kinds}
            if len(set(texts.values())) <= 1:
                return next(iter(texts.values()), "-")
            return "; ".join(f"{k} {t}" for k, t in texts.items())

        cores = "unlimited" if profile.capacity.cores is None else str(profile.capacity.cores)
        rows.append([
            profile.name, ",".join(r.kind for r in kinds), cores, column("w_bits_uniform"), column("w_bits_pow2"),
            column("s_bits"), column("timesteps"), column("u_bits"),
            profile.description if profile.hardware else f"{profile.description} [not hardware]",
        ])
    return rows


def format_profile_table(names: Sequence[str | Path | ChipProfile] | None = None) -> str:
    """:func:`profile_table` as printable text."""
    return format_table(list(PROFILE_TABLE_HEAD), profile_table(names), title="chip profiles", align="lllllllll")


# ------------------------------------------------------------------------------- the space
def _pick(base: Sequence[int], allowed: Sequence[int] | None, low: int, high: int) -> tuple[int, ...]:
    """``base`` ∩ ``allowed`` (within low..high); when that is empty, the allowed values (the
    three smallest when more than eight); ``allowed`` None: ``base`` unchanged."""
    if allowed is None:
        return tuple(base)
    usable = [v for v in allowed if low <= v <= high]
    inter = tuple(v for v in base if v in usable)
    if inter or not usable:
        return inter
    return tuple(usable) if len(usable) <= 8 else tuple(usable[:3])


def _chip_options(profile: ChipProfile, name: str, rules: KindRules, base: LayerOptions) -> LayerOptions:
    """The options of one layer on the chip (see :func:`chip_space`)."""
    chip_w = {s: [w for w in rules.w_bits(s) if w <= MAX_BITS] for s in SCHEMES}
    candidates = [s for s in base.schemes if chip_w[s]] or [s for s in SCHEMES if chip_w[s]]
    union = sorted({w for s in candidates for w in chip_w[s]})
    w_bits = _pick(base.w_bits, union, 1, MAX_BITS)
    schemes = [s for s in candidates if all(w in chip_w[s] for w in w_bits)]
    if not schemes:  # no scheme takes every W: keep the one that takes most (uniform on a tie)
        best = max(candidates, key=lambda s: (sum(w in chip_w[s] for w in w_bits), s == "uniform"))
        w_bits, schemes = tuple(w for w in w_bits if w in chip_w[best]), [best]
    s_bits = _pick(base.s_bits, rules.s_bits, 1, MAX_BITS)
    timesteps = _pick(base.timesteps, rules.timesteps, 1, MAX_TIMESTEPS)
    u_bits = base.u_bits if rules.u_bits is None else _pick(base.u_bits or DEFAULT_MEMBRANE_OPTIONS, rules.u_bits, MIN_MEMBRANE_BITS, MAX_MEMBRANE_BITS)
    checks = [("W", w_bits, union), ("S", s_bits, rules.s_bits), ("T", timesteps, rules.timesteps)]
    if rules.u_bits is not None:
        checks.append(("U", u_bits, rules.u_bits))
    for label, values, allowed in checks:
        if not values:
            raise ConfigError(
                f"layer {name!r}: the {profile.name} chip allows {label} {_summary(allowed)} for {rules.kind} layers, none of which spikebits can run; use another chip"
            )
    return LayerOptions(w_bits=w_bits, s_bits=s_bits, timesteps=timesteps, schemes=tuple(schemes), u_bits=u_bits)


def _nearest(value: int, options: Sequence[int]) -> int:
    """The option nearest to ``value``; a tie goes to the larger (a pin keeps precision)."""
    return min(options, key=lambda o: (abs(o - value), -o))


def _chip_pin(pin: LayerChoice, rules: KindRules, rate_steps: int) -> LayerChoice:
    """``pin`` where the chip allows it; otherwise each refused field moves to the chip's
    allowed value nearest to the pin's (a tie to the larger), an unquantized membrane to the
    chip's widest U, and a refused scheme to the other one. When the spikes get narrower than
    the pin's, T rises to ``rate_steps`` (where the chip allows it): the layer then reads its
    input as a rate code over T steps instead of one coarse step (on digits at width 0.5,
    W4/S1 elsewhere, 5 epochs: 40 % test accuracy with a one-step binary input, 87 % over 4
    steps, as with the 8-bit input)."""
    if rules.refusal(pin) is None:
        return pin
    usable = {s: [w for w in rules.w_bits(s) if w <= MAX_BITS] for s in SCHEMES}
    scheme = pin.scheme if usable[pin.scheme] else next(s for s in SCHEMES if usable[s])
    w = pin.w_bits if pin.w_bits in usable[scheme] else _nearest(pin.w_bits, usable[scheme])
    s_bits = [v for v in rules.s_bits if v <= MAX_BITS]
    s = pin.s_bits if pin.s_bits in s_bits else _nearest(pin.s_bits, s_bits)
    t = pin.timesteps
    if s < pin.s_bits and rate_steps > t:
        t = rate_steps
    if rules.timesteps is not None and t not in rules.timesteps:
        t = pin.timesteps if pin.timesteps in rules.timesteps else _nearest(pin.timesteps, rules.timesteps)
    u = pin.u_bits
    if rules.u_bits is not None and u not in rules.u_bits:
        widths = [v for v in rules.u_bits if MIN_MEMBRANE_BITS <= v <= MAX_MEMBRANE_BITS]
        u = max(widths) if u is None else _nearest(u, widths)
    return LayerChoice(w, s, t, scheme, u)


def _layer_kinds(model_or_space: SpikingNetwork | SearchSpace, specs: Sequence[LayerSpec] | None) -> dict[str, str]:
    if specs is not None:
        return {s.name: s.kind for s in specs}
    if isinstance(model_or_space, SearchSpace):
        if model_or_space.model is None:
            raise ConfigError("the search space names no model, so its layer kinds are unknown; pass specs=models.layer_specs(model)")
        model = build(model_or_space.model)
    else:
        model = model_or_space
    return {name: layer.kind for name, layer in model.spiking_layers().items()}


def chip_space(
    profile: str | Path | ChipProfile,
    model_or_space: SpikingNetwork | SearchSpace,
    *,
    specs: Sequence[LayerSpec] | None = None,
) -> SearchSpace:
    """The search space of ``model_or_space`` restricted to what the chip ``profile`` allows.

    A model starts from :func:`models.default_space`; a :class:`SearchSpace` from itself (its
    layer kinds come from ``specs``, else from the registry model it names). Per layer, with the
    rules of its kind (and ``[input_layer]`` for the first layer):

    * W: the space's W ∩ the chip's W (any scheme); a scheme is kept only if the chip allows it
      at every W kept (one scheme list serves all W in :class:`LayerOptions`), else the scheme
      allowing the most of them (uniform on a tie) with its W;
    * S, T: the space's values ∩ the chip's; T stays as in the space where the chip leaves T open;
    * U: the chip's widths ∩ the space's U (or :data:`DEFAULT_MEMBRANE_OPTIONS` when the space
      searches no U); where the chip does not constrain U, the space's U is kept (none is
      searched in a default space);
    * where an intersection is empty, the chip's own values (its three smallest when it allows
      more than eight). Values spikebits cannot run (W, S > 16; U outside 2–32) are dropped.

    Ties are kept (tied layers get the intersection of their options). A pinned layer (the first
    one, W8/S8/T1 with an unquantized membrane, by default) keeps its pin when the chip allows
    it; otherwise each refused field moves to the chip's allowed value nearest to the pin's (a
    tie to the larger: W8 stays W8 on an 8-bit chip, S8 becomes S1 on a binary-spike chip),
    an unquantized membrane becomes the chip's widest U, and T1 stays T1 unless the chip
    forbids it, or the chip narrows its spikes: then T becomes the layer's largest T option
    (4 by default), so that the input is read as a rate code. So the first layer keeps as much
    precision as the chip can give it: Speck pins W8/S1/T4/U16, Loihi 2 W8/S8/T1/U24, Akida
    keeps W8/S8/T1. A layer kind the chip
    cannot run is a one-line :class:`ConfigError` naming the layer.
    """
    profile = load_profile(profile)
    space = model_or_space if isinstance(model_or_space, SearchSpace) else default_space(model_or_space)
    kinds = _layer_kinds(model_or_space, specs)
    missing = [n for n in space.names if n not in kinds]
    if missing:
        raise ConfigError(f"layer {missing[0]!r} of the space is not a layer of the model; pass specs for the space's own model")
    layers: dict[str, LayerOptions] = {}
    rules_of: dict[str, KindRules] = {}
    for i, name in enumerate(space.names):
        rules = profile.rules(kinds[name], first=i == 0)
        if not rules.supported:
            raise ConfigError(
                f"layer {name!r} is a {rules.kind} layer, which the {profile.name} chip cannot run ({profile.source(rules.kind + '.supported')}); use another chip or model"
            )
        rules_of[name] = rules
        layers[name] = _chip_options(profile, name, rules, space.layers[name])
    for group in space.ties:
        opts = [layers[n] for n in group]
        if len(set(opts)) > 1:
            merged = {
                key: tuple(v for v in getattr(opts[0], key) if all(v in getattr(o, key) for o in opts[1:]))
                for key in ("w_bits", "s_bits", "timesteps", "schemes", "u_bits")
            }
            if not all(merged[k] for k in ("w_bits", "s_bits", "timesteps", "schemes")):
                raise ConfigError(f"tied layers {', '.join(group)} share no option the {profile.name} chip allows for all of them; use another chip")
            for n in group:
                layers[n] = LayerOptions(**merged)
    pinned = {name: _chip_pin(pin, rules_of[name], max(layers[name].timesteps)) for name, pin in space.pinned.items()}
    return SearchSpace(layers, space.ties, pinned, space.model)


# ------------------------------------------------------------------------------- placement
@dataclass(frozen=True)
class _Demand:
    neurons: int
    weight_bits: int
    neuron_state_bits: int

    def part(self, parts: int) -> _Demand:
        return _Demand(*(-(-x // parts) for x in (self.neurons, self.weight_bits, self.neuron_state_bits)))


@dataclass
class _OpenCore:
    index: int
    units: list[str] = field(default_factory=list)
    layers: set[str] = field(default_factory=set)
    neurons: int = 0
    weight_bits: int = 0
    neuron_state_bits: int = 0


def _room(cap: CoreCapacity, used: _OpenCore | None, d: _Demand) -> bool:
    n, w, s = (used.neurons, used.weight_bits, used.neuron_state_bits) if used else (0, 0, 0)
    return (
        (cap.neurons is None or n + d.neurons <= cap.neurons)
        and (cap.weight_bits is None or w + d.weight_bits <= cap.weight_bits)
        and (cap.neuron_state_bits is None or s + d.neuron_state_bits <= cap.neuron_state_bits)
        and (cap.memory_bits is None or w + s + d.weight_bits + d.neuron_state_bits <= cap.memory_bits)
    )


@dataclass(frozen=True)
class CoreLoad:
    """One used core: its index, the layers or parts it holds (``conv2[1/3]`` is the first of
    three parts), and its neurons, weight bits and neuron-state bits."""

    index: int
    layers: tuple[str, ...]
    neurons: int
    weight_bits: int
    neuron_state_bits: int

    @property
    def memory_bits(self) -> int:
        return self.weight_bits + self.neuron_state_bits


@dataclass(frozen=True)
class Placement:
    """Where each layer went (:func:`place`)."""

    profile: ChipProfile
    cores: tuple[CoreLoad, ...]
    parts: Mapping[str, int]

    @property
    def cores_used(self) -> int:
        """Cores up to and including the highest one used (the number of cores holding layers
        whenever every core is alike)."""
        return max((c.index for c in self.cores), default=-1) + 1

    @property
    def cores_occupied(self) -> int:
        """Cores that hold at least one layer or part."""
        return len(self.cores)

    @property
    def max_core_memory_bits(self) -> int:
        """Largest weight + neuron-state bits on one core."""
        return max((c.memory_bits for c in self.cores), default=0)

    @property
    def fits(self) -> bool:
        """Whether the placement needs no more cores than the chip has."""
        return self.profile.capacity.cores is None or self.cores_used <= self.profile.capacity.cores

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "cores_used": self.cores_used,
            "cores": self.profile.capacity.cores,
            "fits": self.fits,
            "max_core_memory_bits": self.max_core_memory_bits,
            "placement": [
                {"core": c.index, "layers": list(c.layers), "neurons": c.neurons, "weight_bits": c.weight_bits, "neuron_state_bits": c.neuron_state_bits}
                for c in self.cores
            ],
        }

    def table(self) -> str:
        """The placement as a printable table, one row per used core."""
        total = "unlimited" if self.profile.capacity.cores is None else str(self.profile.capacity.cores)
        verdict = "fits" if self.fits else "does NOT fit"
        title = f"placement on {self.profile.name}: {self.cores_used} of {total} cores ({verdict}), first-fit"
        rows = [[str(c.index), ", ".join(c.layers), f"{c.neurons:,}", f"{c.weight_bits:,}", f"{c.neuron_state_bits:,}"] for c in self.cores]
        return format_table(["core", "layers", "neurons", "weight bits", "state bits"], rows, title=title, align="rlrrr", empty="(no layers)")


def _too_big(name: str, profile: ChipProfile, d: _Demand, hint: str, *, parts: int = 1) -> PlacementError:
    """The error for a demand no empty core holds: the first dimension (neurons, weight bits,
    state bits, shared memory) in which it exceeds the roomiest core, with that core's figure."""
    caps = profile.capacity.core_types
    word = profile.capacity.weight_word_bits
    dims = (
        ("neurons", d.neurons, "neurons"),
        ("weight_bits", d.weight_bits, "weight bits"),
        ("neuron_state_bits", d.neuron_state_bits, "neuron-state bits"),
        ("memory_bits", d.weight_bits + d.neuron_state_bits, "bits of weights and neuron state"),
    )
    what = f"layer {name!r} needs" if parts == 1 else f"layer {name!r}, even split into {parts:,} one-neuron parts, needs per part"
    for attr, need, label in dims:
        limits = {getattr(c, attr) for c in caps} - {None}
        if limits and need > max(limits):
            limit = max(limits)
            core = f"the largest {profile.name} core" if len(limits) > 1 else f"a {profile.name} core"
            amount = f"{limit // word:,} × {word} = {limit:,}" if attr == "weight_bits" and word and limit % word == 0 else f"{limit:,}"
            return PlacementError(f"{what} {need:,} {label}; {core} holds {amount}; {hint}")
    return PlacementError(f"{what} more than any one {profile.name} core holds in neurons, weights and state together; {hint}")


def _demand(profile: ChipProfile, spec: LayerSpec, choice: LayerChoice) -> _Demand:
    c = profile.capacity
    neurons = (int(spec.n_inputs) if spec.owns_neuron else 0) + int(spec.output_neurons)
    w = c.weight_word_bits or choice.w_bits
    u = c.state_word_bits or choice.u_bits or UNQUANTIZED_STATE_BITS
    return _Demand(neurons, int(spec.n_weights) * w, neurons * u)


def _fan_out(spec: LayerSpec) -> int:
    """Mean synapses per input neuron, ⌈synapses / n_inputs⌉ (exact for linear layers)."""
    return -(-int(spec.synapses) // max(int(spec.n_inputs), 1))


def _check_layer(profile: ChipProfile, spec: LayerSpec, choice: LayerChoice, first: bool) -> None:
    rules = profile.rules(spec.kind, first=first)
    if not rules.supported:
        raise PlacementError(
            f"layer {spec.name!r} is a {spec.kind} layer, which the {profile.name} chip cannot run ({profile.source(spec.kind + '.supported')}); use another chip or model"
        )
    refusal = rules.refusal(choice)
    if refusal is not None:
        where = "its first layer" if first and profile.input_layer else f"{spec.kind} layers"
        uses, allowed = refusal
        raise PlacementError(f"layer {spec.name!r} uses {uses}, which {profile.name} does not allow for {where} (allowed: {allowed}); take the options of chips.chip_space")
    limits = (("fan-in", spec.fan_in, (rules.fan_in, profile.capacity.fan_in), "inputs"), ("fan-out", _fan_out(spec), (rules.fan_out, profile.capacity.fan_out), "targets"))
    for label, value, caps, unit in limits:
        known = [v for v in caps if v is not None]
        if known and value > min(known):
            raise PlacementError(f"layer {spec.name!r} has a {label} of {value:,}; a {profile.name} neuron takes at most {min(known):,} {unit}; use fewer channels or features, or another chip")


def _split(name: str, profile: ChipProfile, d: _Demand, *, any_parts: bool = False) -> int:
    """The fewest equal parts p (at most one per neuron; ``any_parts``: any number, a layer's
    weights divided among cores) of which one, ⌈demand / p⌉, fits an empty core of some kind."""
    if any_parts:
        return min(_parts_that_fit(cap, d) for cap in profile.capacity.core_types)
    best = None
    for cap in profile.capacity.core_types:
        parts = _fewest_parts(cap, d)
        # ⌈a/p⌉ + ⌈b/p⌉ can exceed a shared pool where (a + b)/p does not: a few more parts at most
        while parts <= d.neurons and not _room(cap, None, d.part(parts)):
            parts += 1
        if parts <= max(d.neurons, 1) and _room(cap, None, d.part(parts)):
            best = parts if best is None else min(best, parts)
    if best is None:
        hint = "use fewer channels or another chip"
        if d.neurons <= 1:
            reason = "it owns no neuron to split by" if d.neurons == 0 else "it has a single neuron"
            return_error = _too_big(name, profile, d, f"{reason}; {hint}")
        else:
            return_error = _too_big(name, profile, d.part(d.neurons), hint, parts=d.neurons)
        raise return_error
    return best


def _fewest_parts(cap: CoreCapacity, d: _Demand) -> int:
    """The parts ``d`` needs at least for an empty core ``cap``: ⌈need / limit⌉ in each dimension."""
    parts = 1
    for limit, need in ((cap.neurons, d.neurons), (cap.weight_bits, d.weight_bits), (cap.neuron_state_bits, d.neuron_state_bits),
                        (cap.memory_bits, d.weight_bits + d.neuron_state_bits)):
        if limit is not None:
            parts = max(parts, -(-need // limit))
    return parts


def _parts_that_fit(cap: CoreCapacity, d: _Demand) -> int:
    """The fewest equal parts of ``d`` one of which fits an empty core ``cap``, in any number."""
    parts = _fewest_parts(cap, d)
    while not _room(cap, None, d.part(parts)):  # ⌈a/p⌉ + ⌈b/p⌉ over a shared pool: a few more parts at most
        parts += 1
    return parts


def place(profile: str | Path | ChipProfile, specs: Sequence[LayerSpec], config: Config, *, formats: bool = True) -> Placement:
    """Place the layers ``specs`` configured by ``config`` on the chip ``profile``, first-fit
    (the rule is in this module's docstring). A layer the chip cannot take at all is a one-line
    :class:`PlacementError`; needing more cores than the chip has is not (``fits`` is False).
    ``formats=False`` places by capacity alone, whatever W, S, T and U the chip allows, and
    divides any layer too large for one core into as many parts as it takes (the generic chip
    the cost metrics use when a run names none: every config then has a placement)."""
    profile = load_profile(profile)
    config.check_layers(s.name for s in specs)
    cap = profile.capacity
    units: list[tuple[str, str, _Demand]] = []  # (layer, label, demand)
    parts_of: dict[str, int] = {}
    for i, spec in enumerate(specs):
        choice = config[spec.name]
        if formats:
            _check_layer(profile, spec, choice, first=i == 0)
        d = _demand(profile, spec, choice)
        if any(_room(c, None, d) for c in cap.core_types):
            parts = 1
        elif cap.split_layers or not formats:
            parts = _split(spec.name, profile, d, any_parts=not formats)
        else:
            raise _too_big(spec.name, profile, d, f"{profile.name} does not split a layer across cores; use fewer channels or another chip")
        parts_of[spec.name] = parts
        part = d.part(parts)
        units.extend((spec.name, spec.name if parts == 1 else f"{spec.name}[{k}/{parts}]", part) for k in range(1, parts + 1))
    open_cores: dict[int, _OpenCore] = {}
    for layer, label, d in units:
        target = None
        for index in sorted(open_cores):
            core = open_cores[index]
            if cap.layers_per_core is not None and layer not in core.layers and len(core.layers) >= cap.layers_per_core:
                continue
            if _room(cap.core(index), core, d):
                target = core
                break
        if target is None:  # the lowest unopened core that holds it (one exists: checked above)
            index = 0
            while index in open_cores or not _room(cap.core(index), None, d):
                index += 1
            target = open_cores[index] = _OpenCore(index)
        target.units.append(label)
        target.layers.add(layer)
        target.neurons += d.neurons
        target.weight_bits += d.weight_bits
        target.neuron_state_bits += d.neuron_state_bits
    loads = tuple(
        CoreLoad(c.index, tuple(c.units), c.neurons, c.weight_bits, c.neuron_state_bits) for c in sorted(open_cores.values(), key=lambda c: c.index)
    )
    return Placement(profile, loads, parts_of)


#: Above this many parts in one layer, the generic placement of the cost metrics is counted
#: without placing part by part (:func:`chip_usage`): first fit over many parts costs
#: (parts × open cores) room checks, 0.1 s per config on resnet20, and every trial's costs take it.
MAX_PLACED_PARTS = 1


def chip_usage(profile: str | Path | ChipProfile, specs: Sequence[LayerSpec], config: Config, *, formats: bool = True) -> tuple[int, int]:
    """(``cores_used``, ``core_memory_bits``) of ``config`` on the chip: the cores first-fit
    placement needs (:func:`place`) and the most weight + state bits on one core. A config
    the chip cannot take at all (a layer that fits no core, a value the chip refuses) counts
    as one core more than the chip has, so that a budget at the chip's core count (what
    ``--chip`` sets) refuses it like any other data-free budget, before any training, and its
    ``core_memory_bits`` as every layer's demand together (no core holds more); on a chip
    without a core count it is the :class:`PlacementError` itself. ``formats``: as :func:`place`;
    without formats (the generic chip of a run that names none), a layer that needs more than
    :data:`MAX_PLACED_PARTS` part (a layer larger than one core) makes the count simple and
    fast: every layer on cores of its own, ⌈its demand / a core⌉ of them (first fit would pack
    a few layers together)."""
    profile = load_profile(profile)
    if not formats:
        demands = [_demand(profile, spec, config[spec.name]) for spec in specs]
        parts = [min(_parts_that_fit(cap, d) for cap in profile.capacity.core_types) for d in demands]
        if max(parts, default=1) > MAX_PLACED_PARTS:
            return sum(parts), max((d.part(p).weight_bits + d.part(p).neuron_state_bits for d, p in zip(demands, parts)), default=0)
    try:
        placement = place(profile, specs, config, formats=formats)
    except PlacementError:
        if profile.capacity.cores is None:
            raise
        demands = [_demand(profile, spec, config[spec.name]) for spec in specs]
        return profile.capacity.cores + 1, sum(d.weight_bits + d.neuron_state_bits for d in demands)
    return placement.cores_used, placement.max_core_memory_bits
