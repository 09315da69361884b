"""Per-layer decisions: :class:`LayerChoice`, :class:`LayerOptions` and :class:`Config`."""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from spikebits.space.errors import ConfigError, one_line
from spikebits.space.json_input import decoded_text, loads_strict, parser_limits, read_json_file, short_repr

SCHEMES: tuple[str, ...] = ("uniform", "pow2")
#: Widest weight or spike bit width any evaluator accepts.
MAX_BITS = 16
#: Most time steps T a network is trained or evaluated at (far above the seed papers' 1-8 and
#: a conversion-style SNN's hundreds). A LayerChoice itself takes any T >= 1, so cost figures
#: (``evaluate --cost-only``) stay available for any T; the evaluators refuse a larger T before
#: they allocate anything (:func:`evaluators.resources.check_timesteps`).
MAX_TIMESTEPS = 4096
#: Narrowest and widest membrane U a layer's neuron may store (docs/membrane_bits.md): one
#: sign bit and one integer bit at least; 32 bits approach the unquantized neuron.
MIN_MEMBRANE_BITS = 2
MAX_MEMBRANE_BITS = 32
#: The keys of one layer's choice; ``u_bits`` (membrane bits U) is optional: absent or null
#: is the unquantized membrane, today's neuron.
FIELDS: tuple[str, ...] = ("w_bits", "s_bits", "timesteps", "scheme", "u_bits")
#: The keys of one layer's options (:meth:`LayerOptions.to_dict`); ``u_bits`` is optional.
OPTION_KEYS: tuple[str, ...] = ("w_bits", "s_bits", "timesteps", "schemes", "u_bits")
#: Largest config or space file :meth:`Config.from_file` and :meth:`SearchSpace.from_file` read
#: (a real one is a few kB).
MAX_JSON_FILE_BYTES = 16 << 20
#: The keys of a config file (:meth:`Config.to_dict`).
CONFIG_KEYS: tuple[str, ...] = ("layers",)


def _as_int(value: Any, what: str) -> int:
    """``value`` as an int: an int, or a float with an integral finite value (4.0). Booleans,
    strings, None, non-integral or non-finite floats are a one-line :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise ConfigError(f"{what} must be an integer, got {short_repr(value)}")
    return int(value)


def check_layer_name(name: Any, what: str) -> str:
    """A layer name read from a file: non-empty printable text (so that every message naming
    it stays one line); else a one-line :class:`ConfigError`."""
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ConfigError(f"{what}: layer name {short_repr(name)} is not a layer name; use the model's layer names (`spikebits space MODEL`)")
    return name


@dataclass(frozen=True)
class LayerChoice:
    """One layer's decision: weight bits W, input-spike bits S, time steps T, weight scheme,
    and membrane bits U.

    ``s_bits`` is the bit width of the spikes the layer *receives* (its input activations)
    and ``timesteps`` the number of time steps over which it receives them, so that
    S-ACE = MACs · W · Σ_t S pairs the three numbers of one layer (DESIGN.md). ``u_bits`` is
    the width U of the membrane potential of the neuron that fires those spikes, a signed
    fixed-point number whose step is tied to the spike step (``docs/membrane_bits.md``);
    None: the unquantized membrane (what every layer runs when U is not searched; costs then
    count the energy model's ``membrane_bits``).
    """

    w_bits: int
    s_bits: int
    timesteps: int
    scheme: str = "uniform"
    u_bits: int | None = None

    def __post_init__(self) -> None:
        w = _as_int(self.w_bits, "w_bits")
        s = _as_int(self.s_bits, "s_bits")
        t = _as_int(self.timesteps, "timesteps")
        object.__setattr__(self, "w_bits", w)
        object.__setattr__(self, "s_bits", s)
        object.__setattr__(self, "timesteps", t)
        if not 1 <= w <= MAX_BITS:
            raise ConfigError(f"w_bits={short_repr(w)} is out of range; use 1 to {MAX_BITS}")
        if not 1 <= s <= MAX_BITS:
            raise ConfigError(f"s_bits={short_repr(s)} is out of range; use 1 to {MAX_BITS}")
        if t < 1:
            raise ConfigError(f"timesteps={short_repr(t)} is out of range; use 1 or more")
        if not isinstance(self.scheme, str) or self.scheme not in SCHEMES:
            raise ConfigError(f"scheme={short_repr(self.scheme)} is unknown; use one of {', '.join(SCHEMES)}")
        if self.u_bits is not None:
            u = _as_int(self.u_bits, "u_bits")
            object.__setattr__(self, "u_bits", u)
            if not MIN_MEMBRANE_BITS <= u <= MAX_MEMBRANE_BITS:
                raise ConfigError(f"u_bits={short_repr(u)} is out of range; use {MIN_MEMBRANE_BITS} to {MAX_MEMBRANE_BITS}, or leave it out for an unquantized membrane")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``u_bits`` only when set (a config without U reads and writes as before U existed)."""
        out = asdict(self)
        if self.u_bits is None:
            del out["u_bits"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "layer") -> LayerChoice:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected an object with {', '.join(FIELDS)}")
        extra = [str(k) for k in data if k not in FIELDS]
        if extra:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(map(short_repr, sorted(extra)))}; use {', '.join(FIELDS)}")
        missing = [k for k in FIELDS[:3] if k not in data]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(data["w_bits"], data["s_bits"], data["timesteps"], data.get("scheme", "uniform"), data.get("u_bits"))
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None

    def short(self) -> str:
        """Compact label such as ``W4S2T1``, ``W4pS2T1`` (p marks power-of-two weights) or
        ``W4S2T1U8`` (a U-bit membrane)."""
        p = "p" if self.scheme == "pow2" else ""
        u = "" if self.u_bits is None else f"U{self.u_bits}"
        return f"W{self.w_bits}{p}S{self.s_bits}T{self.timesteps}{u}"


def parse_json(text: str | bytes, what: str) -> Any:
    """``json.loads(text)``, strictly (:func:`space.json_input.loads_strict`): anything but one
    JSON document of finite numbers and objects without repeated keys is a one-line
    :class:`ConfigError` naming ``what``.

    Refused, besides malformed text: ``NaN``, ``Infinity`` and ``-Infinity`` (Python's json
    accepts them), numbers that overflow a float (``1e999``), integers too long to read, a
    key given twice in one object (the first value would be dropped silently), nesting deeper
    than :data:`space.json_input.MAX_DEPTH`, and bytes that are not UTF-8.
    """
    return loads_strict(text, what)


def parse_toml(text: str | bytes, what: str) -> dict[str, Any]:
    """``tomllib.loads(text)``: anything but one TOML document is a one-line
    :class:`ConfigError` naming ``what`` (malformed text, nesting too deep to parse, a number
    tomllib cannot convert, bytes that are not UTF-8)."""
    text = decoded_text(text, what, "TOML")
    with parser_limits(what, "a number that cannot be read"):
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{what} is not valid TOML ({one_line(err)}); fix the file") from None


def nearest_option(value: float, options: Iterable[int]) -> int:
    """The allowed option nearest to ``value``; a tie goes to the smaller (cheaper) one."""
    return min(options, key=lambda o: (abs(o - value), o))


@dataclass(frozen=True)
class LayerOptions:
    """The values a search may choose for one layer. ``u_bits``: the membrane widths U to
    search; empty (the default) keeps the unquantized membrane (U = None), today's neuron."""

    w_bits: tuple[int, ...] = (1, 2, 3, 4, 8)
    s_bits: tuple[int, ...] = (1, 2, 4)
    timesteps: tuple[int, ...] = (1, 2, 4)
    schemes: tuple[str, ...] = SCHEMES
    u_bits: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in OPTION_KEYS:
            values = tuple(getattr(self, name))
            if not values and name != "u_bits":
                raise ConfigError(f"option list {name} is empty; give at least one value")
            if name != "schemes":
                values = tuple(sorted({_as_int(v, name) for v in values}))
            else:
                for v in values:
                    if not isinstance(v, str) or v not in SCHEMES:
                        raise ConfigError(f"scheme {short_repr(v)} in schemes is unknown; use {', '.join(SCHEMES)}")
                values = tuple(dict.fromkeys(values))
            object.__setattr__(self, name, values)
        # Every combination must be a valid LayerChoice.
        LayerChoice(max(self.w_bits), max(self.s_bits), max(self.timesteps), self.schemes[0], max(self.u_bits, default=None))
        LayerChoice(min(self.w_bits), min(self.s_bits), min(self.timesteps), self.schemes[-1], min(self.u_bits, default=None))

    @property
    def membrane_options(self) -> tuple[int | None, ...]:
        """The U a choice may take: ``u_bits``, or (None,) when U is not searched."""
        return self.u_bits or (None,)

    @property
    def searches_membrane(self) -> bool:
        """Whether U is a decision of this layer (``u_bits`` given)."""
        return bool(self.u_bits)

    def allows(self, choice: LayerChoice) -> bool:
        return (
            choice.w_bits in self.w_bits
            and choice.s_bits in self.s_bits
            and choice.timesteps in self.timesteps
            and choice.scheme in self.schemes
            and choice.u_bits in self.membrane_options
        )

    def choices(self) -> Iterator[LayerChoice]:
        """Every LayerChoice these options allow."""
        for scheme in self.schemes:
            for w in self.w_bits:
                for s in self.s_bits:
                    for t in self.timesteps:
                        for u in self.membrane_options:
                            yield LayerChoice(w, s, t, scheme, u)

    def largest(self) -> LayerChoice:
        return LayerChoice(max(self.w_bits), max(self.s_bits), max(self.timesteps), self.schemes[0], max(self.u_bits, default=None))

    def smallest(self) -> LayerChoice:
        return LayerChoice(min(self.w_bits), min(self.s_bits), min(self.timesteps), self.schemes[0], min(self.u_bits, default=None))

    def count(self) -> int:
        """How many choices these options allow."""
        return len(self.w_bits) * len(self.s_bits) * len(self.timesteps) * len(self.schemes) * len(self.membrane_options)

    def to_dict(self) -> dict[str, list[Any]]:
        """The JSON form; ``u_bits`` only when U is searched (a space file without U reads and
        writes as before U existed)."""
        return {k: list(getattr(self, k)) for k in OPTION_KEYS if k != "u_bits" or self.u_bits}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "options") -> LayerOptions:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected an object with w_bits, s_bits, timesteps, schemes (and u_bits)")
        known = OPTION_KEYS
        extra = [str(k) for k in data if k not in known]
        if extra:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(map(short_repr, sorted(extra)))}; use {', '.join(sorted(known))}")
        for k in known:
            if k in data and not isinstance(data[k], (list, tuple)):
                raise ConfigError(f"{where}: {k} must be a list, for example {list(getattr(cls(), k))}")
        default = cls()
        try:
            return cls(**{k: tuple(data.get(k, getattr(default, k))) for k in known})
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None


@dataclass(frozen=True)
class Config(Mapping[str, LayerChoice]):
    """Mapping from layer name to :class:`LayerChoice`; JSON round-trips exactly.

    JSON form: ``{"layers": {"conv1": {"w_bits": 4, "s_bits": 2, "timesteps": 1,
    "scheme": "uniform"}, ...}}``. Flat Optuna-style form: ``{"conv1.w_bits": 4, ...}``.
    """

    layers: Mapping[str, LayerChoice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layers = dict(self.layers)
        for name, choice in layers.items():
            if not isinstance(choice, LayerChoice):
                raise ConfigError(f"layer {name!r}: expected a LayerChoice")
        object.__setattr__(self, "layers", layers)

    def __getitem__(self, name: str) -> LayerChoice:
        return self.layers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.layers.items())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return dict(self.layers) == dict(other.layers)

    def replace(self, **changes: LayerChoice) -> Config:
        return Config({**self.layers, **changes})

    def to_dict(self) -> dict[str, Any]:
        return {"layers": {name: c.to_dict() for name, c in self.layers.items()}}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """The JSON form ``{"layers": {NAME: {"w_bits", "s_bits", "timesteps", "scheme"}}}``;
        any other document (an unknown key at any level included) is a one-line :class:`ConfigError`."""
        shape = 'a config is an object {"layers": {NAME: {"w_bits": .., "s_bits": .., "timesteps": ..}}}'
        if not isinstance(data, Mapping):
            raise ConfigError(shape)
        extra = [str(k) for k in data if k not in CONFIG_KEYS]
        if extra:
            raise ConfigError(f"config: unknown key {short_repr(extra[0])}; {shape}")
        if not isinstance(data.get("layers"), Mapping):
            raise ConfigError(shape)
        layers = {}
        for k, v in data["layers"].items():
            name = check_layer_name(k, "config")
            layers[name] = LayerChoice.from_dict(v, f"layer {name!r}")
        return cls(layers)

    @classmethod
    def from_json(cls, text: str | bytes) -> Config:
        return cls.from_dict(parse_json(text, "config"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, limit: int = MAX_JSON_FILE_BYTES) -> Config:
        """The config in the JSON file ``path``, read strictly (:func:`space.read_json_file`:
        a regular file of at most ``limit`` bytes, UTF-8, finite numbers); every failure is a
        one-line :class:`ConfigError` naming the file."""
        return cls.from_dict(read_json_file(path, "config file", limit=limit))

    def to_flat(self) -> dict[str, Any]:
        """Optuna-style flat names: ``{"conv1.w_bits": 4, "conv1.s_bits": 2, ...}``."""
        flat: dict[str, Any] = {}
        for name, c in self.layers.items():
            for key in FIELDS:
                if key != "u_bits" or c.u_bits is not None:
                    flat[f"{name}.{key}"] = getattr(c, key)
        return flat

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> Config:
        grouped: dict[str, dict[str, Any]] = {}
        for key, value in flat.items():
            name, sep, attr = key.rpartition(".") if isinstance(key, str) else ("", "", "")
            if not sep or attr not in FIELDS:
                raise ConfigError(f"flat name {key!r} is not LAYER.FIELD with FIELD in {', '.join(FIELDS)}")
            grouped.setdefault(name, {})[attr] = value
        return cls({n: LayerChoice.from_dict(v, f"layer {n!r}") for n, v in grouped.items()})

    def short(self) -> str:
        return " ".join(f"{n}:{c.short()}" for n, c in self.layers.items())

    def check_layers(self, names: Iterable[str]) -> None:
        """The config must name exactly the layers ``names`` (in any order): an unknown or a
        missing layer is a one-line :class:`ConfigError`."""
        names = list(names)
        for n in self.layers:
            if n not in names:
                raise ConfigError(f"config names unknown layer {n!r}; layers are: {', '.join(names)}")
        for n in names:
            if n not in self.layers:
                raise ConfigError(f"config has no choice for layer {n!r}; give every layer a choice")
