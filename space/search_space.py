"""What a search may choose: :class:`SearchSpace`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spikebits.space.config import FIELDS, MAX_JSON_FILE_BYTES, Config, LayerChoice, LayerOptions, check_layer_name, nearest_option, parse_json, short_repr
from spikebits.space.errors import ConfigError
from spikebits.space.json_input import read_json_file

SPACE_SCHEMA = "spikebits.space/1"
#: The keys of a space file (:meth:`SearchSpace.to_dict`).
SPACE_KEYS: tuple[str, ...] = ("schema", "model", "chip", "layers", "ties", "pinned")
#: The seed paper keeps the first layer at 8-bit weights and 8-bit (image) input, one step.
FIRST_LAYER_PIN = LayerChoice(8, 8, 1, "uniform")


@dataclass(frozen=True)
class SearchSpace:
    """Ordered synaptic layers with their options, tied groups and pinned layers.

    * ``layers``: layer name -> :class:`LayerOptions`, in network order.
    * ``ties``: groups of layers that must share one :class:`LayerChoice` (for example a
      residual block's first convolution and its 1×1 shortcut, which read the same spikes).
      A group is decided once, by its first member (its *representative*).
    * ``pinned``: layer name -> fixed :class:`LayerChoice`. Pinned layers are not searched
      and are left out of the bit-budget averages; they still count in S-ACE and size.
    * ``chip``: the chip profile the space was built for (a built-in profile's name or a
      profile file's path; ``evaluators.chips``), or None. The cost metrics place each config
      on that chip (``cores_used``, ``core_memory_bits``); without one, on the generic
      ``ideal`` chip.
    """

    layers: Mapping[str, LayerOptions]
    ties: tuple[tuple[str, ...], ...] = ()
    pinned: Mapping[str, LayerChoice] = field(default_factory=dict)
    model: str | None = None
    chip: str | None = None

    def __post_init__(self) -> None:
        layers = dict(self.layers)
        if not layers:
            raise ConfigError("a search space needs at least one layer")
        ties = tuple(tuple(g) for g in self.ties if len(g) > 1)
        pinned = dict(self.pinned)
        seen: set[str] = set()
        for group in ties:
            for name in group:
                if name not in layers:
                    raise ConfigError(f"tied layer {name!r} is not a layer of the space; use one of {', '.join(layers)}")
                if name in seen:
                    raise ConfigError(f"layer {name!r} is in two tied groups; merge the groups")
                seen.add(name)
            pins = {pinned.get(n) for n in group}
            if len(pins) > 1:
                raise ConfigError(f"tied group {list(group)} is partly pinned; pin all of its layers or none")
        for name, choice in pinned.items():
            if name not in layers:
                raise ConfigError(f"pinned layer {name!r} is not a layer of the space; use one of {', '.join(layers)}")
            if not isinstance(choice, LayerChoice):
                raise ConfigError(f"pinned layer {name!r}: expected a LayerChoice")
        # Options of tied layers must agree, since they take one choice.
        for group in ties:
            opts = {layers[n] for n in group}
            if len(opts) > 1:
                raise ConfigError(f"tied group {list(group)} has different options per layer; give them the same options")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "ties", ties)
        object.__setattr__(self, "pinned", pinned)

    # ----------------------------------------------------------------- construction
    @classmethod
    def default(
        cls,
        layer_names: Sequence[str],
        ties: Iterable[Sequence[str]] = (),
        *,
        options: LayerOptions | None = None,
        pin_first: bool = True,
        model: str | None = None,
    ) -> SearchSpace:
        """Every layer gets ``options`` (DESIGN defaults); the first layer is pinned at W8/S8/T1."""
        options = options or LayerOptions()
        pinned = {layer_names[0]: FIRST_LAYER_PIN} if pin_first and layer_names else {}
        return cls({n: options for n in layer_names}, tuple(tuple(t) for t in ties), pinned, model)

    def unpin(self, *names: str) -> SearchSpace:
        """The space with ``names`` unpinned (every pinned layer when none is given)."""
        names = names or tuple(self.pinned)
        for n in names:
            if n not in self.pinned:
                raise ConfigError(f"layer {n!r} is not pinned; pinned layers: {', '.join(self.pinned) or 'none'}")
        return SearchSpace(self.layers, self.ties, {k: v for k, v in self.pinned.items() if k not in names}, self.model, self.chip)

    def with_options(self, name: str, options: LayerOptions) -> SearchSpace:
        """A copy where ``name`` (and every layer tied to it) gets ``options``."""
        self._check_layer(name)
        group = self.group_of(name)
        return SearchSpace({n: (options if n in group else o) for n, o in self.layers.items()}, self.ties, self.pinned, self.model, self.chip)

    def searching_membrane(self, u_bits: Iterable[int]) -> SearchSpace:
        """A copy where every unpinned layer searches the membrane widths ``u_bits`` (U) beside
        its W, S, T and scheme (an empty ``u_bits``: every layer keeps the unquantized
        membrane); pinned layers keep their pin."""
        u_bits = tuple(u_bits)
        layers = {
            n: o if n in self.pinned else LayerOptions(o.w_bits, o.s_bits, o.timesteps, o.schemes, u_bits) for n, o in self.layers.items()
        }
        return SearchSpace(layers, self.ties, self.pinned, self.model, self.chip)

    # ----------------------------------------------------------------- queries
    @property
    def names(self) -> list[str]:
        return list(self.layers)

    @property
    def free_layers(self) -> list[str]:
        """Unpinned layers, in order: those the bit-budget averages run over."""
        return [n for n in self.layers if n not in self.pinned]

    def group_of(self, name: str) -> tuple[str, ...]:
        for group in self.ties:
            if name in group:
                return group
        return (name,)

    @property
    def decisions(self) -> list[str]:
        """One representative per independent decision: unpinned layers, one per tied group."""
        reps = []
        for n in self.layers:
            if n in self.pinned:
                continue
            if self.group_of(n)[0] == n:
                reps.append(n)
        return reps

    def _check_layer(self, name: str) -> None:
        if name not in self.layers:
            raise ConfigError(f"config names unknown layer {name!r}; layers are: {', '.join(self.layers)}")

    def size(self) -> int:
        """Number of distinct configs."""
        total = 1
        for n in self.decisions:
            total *= self.layers[n].count()
        return total

    def configs(self) -> Iterator[Config]:
        """Every config of the space (use only on tiny spaces)."""
        reps = self.decisions

        def rec(i: int, acc: dict[str, LayerChoice]) -> Iterator[Config]:
            if i == len(reps):
                yield self.expand(acc)
                return
            for c in self.layers[reps[i]].choices():
                acc[reps[i]] = c
                yield from rec(i + 1, acc)

        yield from rec(0, {})

    # ----------------------------------------------------------------- configs
    def expand(self, decisions: Mapping[str, LayerChoice]) -> Config:
        """Full config from choices for the representatives (ties copied, pins added)."""
        layers: dict[str, LayerChoice] = {}
        for n in self.layers:
            if n in self.pinned:
                layers[n] = self.pinned[n]
                continue
            rep = self.group_of(n)[0]
            if rep not in decisions:
                raise ConfigError(f"config has no choice for layer {rep!r}; give every unpinned layer a choice")
            layers[n] = decisions[rep]
        return Config(layers)

    def smallest_config(self) -> Config:
        """Every unpinned decision at its smallest W, S and T (first scheme); pins kept."""
        return self.expand({n: self.layers[n].smallest() for n in self.decisions})

    def largest_config(self) -> Config:
        """Every unpinned decision at its largest W, S and T (first scheme); pins kept."""
        return self.expand({n: self.layers[n].largest() for n in self.decisions})

    def nearest_config(
        self, w_bits: float | None = None, s_bits: float | None = None, timesteps: float | None = None, u_bits: float | None = None
    ) -> Config:
        """Every unpinned decision at the options nearest to ``w_bits``, ``s_bits``,
        ``timesteps`` and ``u_bits`` (a tie goes to the smaller option; ``None``: the largest
        option), with the uniform scheme where the layer allows it; pins kept. A layer that
        does not search U keeps the unquantized membrane."""
        choices = {}
        for n in self.decisions:
            o = self.layers[n]
            near = [max(opts) if x is None else nearest_option(x, opts) for opts, x in ((o.w_bits, w_bits), (o.s_bits, s_bits), (o.timesteps, timesteps))]
            u = (max(o.u_bits) if u_bits is None else nearest_option(u_bits, o.u_bits)) if o.u_bits else None
            choices[n] = LayerChoice(*near, "uniform" if "uniform" in o.schemes else o.schemes[0], u)
        return self.expand(choices)

    def uniform(self, choice: LayerChoice, *, include_pinned: bool = False) -> Config:
        """Every unpinned layer at ``choice``; pinned layers keep their pin, or with
        ``include_pinned`` take ``choice`` too (the seed paper's U-Quant rows quantize every
        layer, the first one included; evaluate such a config on :meth:`unpin` ``()``)."""
        if include_pinned:
            return Config({n: choice for n in self.layers})
        return self.expand({n: choice for n in self.decisions})

    def complete(self, config: Config, *, strict: bool = True) -> Config:
        """Check ``config`` against the space and fill in pinned layers it leaves out.

        Unknown layers, missing unpinned layers, tied layers with different choices and a
        pinned layer with another choice are errors. ``strict`` also requires every choice to
        be among the layer's options; with ``strict=False`` any valid choice (W and S 1–16,
        T ≥ 1) is accepted, as ``spikebits evaluate --cost-only`` does.
        """
        for name in config:
            self._check_layer(name)
        layers: dict[str, LayerChoice] = {}
        for n in self.layers:
            if n in self.pinned:
                given = config.layers.get(n)
                if given is not None and given != self.pinned[n]:
                    raise ConfigError(
                        f"layer {n!r} is pinned at {self.pinned[n].short()} but the config gives {given.short()}; "
                        "drop it from the config or unpin it in the space file"
                    )
                layers[n] = self.pinned[n]
                continue
            group = self.group_of(n)
            given = config.layers.get(n)
            if given is None:
                others = [config.layers[g] for g in group if g in config.layers]
                if not others:
                    raise ConfigError(f"config has no choice for layer {n!r}; give every unpinned layer a choice")
                given = others[0]
            for g in group:
                if g in config.layers and config.layers[g] != given:
                    raise ConfigError(f"layers {', '.join(group)} are tied and must share one choice; the config gives them different ones")
            if strict and not self.layers[n].allows(given):
                o = self.layers[n]
                raise ConfigError(
                    f"layer {n!r}: {given.short()} ({given.scheme}) is outside its options "
                    f"w_bits {list(o.w_bits)}, s_bits {list(o.s_bits)}, timesteps {list(o.timesteps)}, schemes {list(o.schemes)}"
                    + (f", u_bits {list(o.u_bits)}" if o.u_bits else ", an unquantized membrane (no u_bits)")
                )
            layers[n] = given
        return Config(layers)

    def decision_keys(self, name: str) -> tuple[str, ...]:
        """The choices a search makes for the decision ``name``, as :class:`LayerChoice`
        fields: W, S, T and scheme, and U where the layer searches it
        (:attr:`LayerOptions.searches_membrane`)."""
        return FIELDS if self.layers[name].searches_membrane else FIELDS[:4]

    def flat_params(self, config: Config) -> dict[str, Any]:
        """Optuna parameters of ``config``: flat names for the representatives only (U only
        where the layer searches it)."""
        flat = config.to_flat()
        return {f"{n}.{k}": flat.get(f"{n}.{k}") for n in self.decisions for k in self.decision_keys(n)}

    def from_params(self, params: Mapping[str, Any]) -> Config:
        """Inverse of :meth:`flat_params`."""
        decisions = Config.from_flat(params).layers
        return self.expand(decisions)

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``chip`` only when set (a space without a chip writes as before)."""
        out: dict[str, Any] = {"schema": SPACE_SCHEMA, "model": self.model}
        if self.chip is not None:
            out["chip"] = self.chip
        out.update(
            layers={n: o.to_dict() for n, o in self.layers.items()},
            ties=[list(g) for g in self.ties],
            pinned={n: c.to_dict() for n, c in self.pinned.items()},
        )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """The JSON form of :meth:`to_dict`; any other document is a one-line :class:`ConfigError`.

        Strict, so that a typo never drops a setting silently: an unknown key at any level, a
        tie that is not a list of two or more layer names (each in one group only, each a
        layer of the space), a pinned layer that is not a layer of the space, a ``model`` that
        is not a name are all errors.
        """
        if not isinstance(data, Mapping):
            raise ConfigError('a space file is an object with a "layers" mapping from layer name to its options')
        extra = [str(k) for k in data if k not in SPACE_KEYS]
        if extra:
            raise ConfigError(f"space file: unknown key {short_repr(extra[0])}; the keys are {', '.join(SPACE_KEYS)}")
        if not isinstance(data.get("layers"), Mapping):
            raise ConfigError('a space file is an object with a "layers" mapping from layer name to its options')
        schema = data.get("schema", SPACE_SCHEMA)
        if schema != SPACE_SCHEMA:
            raise ConfigError(f"space schema {short_repr(schema)} is not supported; expected {SPACE_SCHEMA!r}")
        model = data.get("model")
        if model is not None and not (isinstance(model, str) and model and model.isprintable()):
            raise ConfigError('space file: "model" must be a model name (text) or null')
        chip = data.get("chip")
        if chip is not None and not (isinstance(chip, str) and chip and chip.isprintable()):
            raise ConfigError('space file: "chip" must be a chip profile name or file (text) or null; see `spikebits chips`')
        layers: dict[str, LayerOptions] = {}
        for n, o in data["layers"].items():
            name = check_layer_name(n, "space file")
            layers[name] = LayerOptions.from_dict(o, f"layer {name!r}")
        ties_raw = data.get("ties", [])
        tie_hint = 'write "ties" as a list of groups of two or more layer names, for example [["a.conv1", "a.shortcut"]]'
        if not isinstance(ties_raw, list) or not all(isinstance(g, list) for g in ties_raw):
            raise ConfigError(f'"ties" must be a list of lists of layer names; {tie_hint}')
        ties: list[tuple[str, ...]] = []
        for group in ties_raw:
            names = tuple(check_layer_name(n, "space file ties") for n in group)
            if len(names) < 2:
                raise ConfigError(f"tied group {list(names)} has fewer than two layers; {tie_hint}")
            if len(set(names)) != len(names):
                raise ConfigError(f"tied group {list(names)} names a layer twice; name each layer once")
            ties.append(names)
        pinned_raw = data.get("pinned", {})
        if not isinstance(pinned_raw, Mapping):
            raise ConfigError('"pinned" must map layer names to choices, for example {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1}}')
        pinned: dict[str, LayerChoice] = {}
        for n, c in pinned_raw.items():
            name = check_layer_name(n, "space file pinned")
            pinned[name] = LayerChoice.from_dict(c, f"pinned layer {name!r}")
        return cls(layers, tuple(ties), pinned, model, chip)

    @classmethod
    def from_json(cls, text: str | bytes) -> SearchSpace:
        return cls.from_dict(parse_json(text, "space file"))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, limit: int = MAX_JSON_FILE_BYTES) -> SearchSpace:
        """The space in the JSON file ``path``, read strictly (:func:`space.read_json_file`:
        a regular file of at most ``limit`` bytes, UTF-8, finite numbers); every failure is a
        one-line :class:`ConfigError` naming the file."""
        return cls.from_dict(read_json_file(path, "space file", limit=limit))
