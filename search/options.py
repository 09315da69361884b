"""Typed strategy options: each strategy declares one frozen dataclass, the only place where
its defaults are written and documented.

::

    @dataclass(frozen=True)
    class BoostOptions(StrategyOptions):
        threshold: float = option(3.0, "trimmed z-score above which a jump is an outlier")

* Every field is made with :func:`option`: its default, a one-line help, and optionally the
  allowed ``choices``, a CLI ``flag`` other than ``--field-name``, and ``cli=False`` for
  values that only the Python API passes (configs, for example).
* On construction each value is checked against the field's annotation (``int``, ``float``,
  ``str``, ``bool``, ``X | None``, ``tuple[float, ...]`` written ``"a/b/c"`` on the command
  line) and its ``choices``, then :meth:`StrategyOptions.validate` checks ranges. A bad value
  is a one-line :class:`space.ConfigError`. A value of 0 stays 0.
* :meth:`StrategyOptions.to_dict` is what ``run.json`` records; :meth:`StrategyOptions.fields_info`
  is what the CLI builds its flags and ``spikebits strategies`` its listing from.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from spikebits.space import HESSIAN_NETWORKS, Config, ConfigError

#: Largest whole-number option (epochs, levels, a population, probes, a batch size): far above
#: any real run, so that a typo is one line instead of a run that never ends or a batch that
#: cannot be allocated.
MAX_OPTION_COUNT = 100_000


def option(
    default: Any,
    help: str,  # noqa: A002  (argparse's word)
    *,
    choices: Sequence[Any] | None = None,
    flag: str | None = None,
    metavar: str | None = None,
    cli: bool = True,
) -> Any:
    """A strategy option field: ``default``, one line of ``help`` and how the CLI offers it."""
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "flag": flag, "metavar": metavar, "cli": cli}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionInfo:
    """One option as the CLI and ``spikebits strategies`` see it."""

    name: str
    kind: str  # "int", "float", "str", "bool", "floats" (a/b/c), "configs"
    optional: bool
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    flag: str
    metavar: str | None
    cli: bool


def _kind(annotation: Any) -> tuple[str, bool]:
    """(kind, optional) of a field annotation."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return _kind(inner[0])[0], True
    if origin is tuple:
        return ("configs" if args and args[0] is Config else "floats"), False
    for kind in (bool, int, float, str):
        if annotation is kind:
            return kind.__name__, False
    raise TypeError(f"unsupported option type {annotation!r}")  # pragma: no cover  (a programming error)


@dataclass(frozen=True)
class StrategyOptions:
    """Base of every strategy's options (see the module docstring). Subclasses add fields
    made with :func:`option` and may override :meth:`validate`."""

    #: The strategy these options belong to (set by ``register_strategy``), for messages.
    strategy_name: ClassVar[str] = "strategy"

    def __post_init__(self) -> None:
        for info in self.fields_info():
            value = self._coerce(info, getattr(self, info.name))
            object.__setattr__(self, info.name, value)
            if isinstance(value, int) and not isinstance(value, bool):  # a count: epochs, levels, a population, a batch
                self.require(value <= MAX_OPTION_COUNT, info.name, f"at most {MAX_OPTION_COUNT} (a count that drives a loop)")
        self.validate()

    def sensitivity_request(self) -> tuple[int, str] | None:
        """(probes, network) of the sensitivity report the strategy reads before its first
        trial, measured ahead so that a comparison's clock starts after it
        (:func:`search.base.prepare_sensitivity`); None: it needs none (the default)."""
        return None

    # ------------------------------------------------------------------ checks
    def _coerce(self, info: OptionInfo, value: Any) -> Any:
        where = f"{self.strategy_name} option {info.name}"
        if value is None:
            if info.optional:
                return None
            raise ConfigError(f"{where} needs a value; its default is {info.default}")
        kind = info.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false; got {value!r}")
        elif kind == "int":
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
                raise ConfigError(f"{where} must be a whole number; got {value!r}")
            value = int(value)
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number; got {value!r}")
            value = float(value)
        elif kind == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be text; got {value!r}")
        elif kind == "floats":
            value = self._floats(where, value, info)
        elif kind == "configs":
            value = tuple(value)
            if not all(isinstance(c, Config) for c in value):
                raise ConfigError(f"{where} must be a list of configs")
        if info.choices is not None and value not in info.choices:
            raise ConfigError(f"{where} {value!r} is unknown; use one of {', '.join(map(str, info.choices))}")
        return value

    @staticmethod
    def _floats(where: str, value: Any, info: OptionInfo) -> tuple[float, ...]:
        example = "/".join(f"{v:g}" for v in info.default) if info.default else "1/2/3"
        if isinstance(value, str):
            parts = value.split("/")
        elif isinstance(value, Sequence):
            parts = list(value)
        else:
            raise ConfigError(f"{where} must be numbers written a/b/..., for example {example}; got {value!r}")
        try:
            numbers = tuple(float(p) for p in parts)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} {value!r} is malformed; write numbers a/b/..., for example {example}") from None
        if info.default and len(numbers) != len(info.default):
            raise ConfigError(f"{where} needs {len(info.default)} numbers, for example {example}; got {len(numbers)}")
        if not all(math.isfinite(x) for x in numbers):
            raise ConfigError(f"{where} must be finite numbers, for example {example}")
        return numbers

    def validate(self) -> None:
        """Range checks beyond the types; raise :class:`space.ConfigError` with one line."""

    def require(self, condition: bool, name: str, what: str) -> None:
        """``ConfigError("<strategy> option <name> = <value> must be <what>")`` unless ``condition``."""
        if not condition:
            raise ConfigError(f"{self.strategy_name} option {name} = {getattr(self, name)!r} must be {what}")

    # ------------------------------------------------------------------ views
    @classmethod
    def fields_info(cls) -> list[OptionInfo]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            kind, optional = _kind(hints[f.name])
            out.append(
                OptionInfo(
                    name=f.name,
                    kind=kind,
                    optional=optional,
                    default=f.default,
                    help=meta.get("help", ""),
                    choices=meta.get("choices"),
                    flag=meta.get("flag") or "--" + f.name.replace("_", "-"),
                    metavar=meta.get("metavar"),
                    cli=meta.get("cli", True),
                )
            )
        return out

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StrategyOptions:
        """Options from ``values``; a name the strategy does not take is a one-line error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ConfigError(
                f"the {cls.strategy_name} strategy has no option {unknown[0]!r}; its options are: {', '.join(sorted(known)) or 'none'}"
            )
        return cls(**values)

    def replace(self, **changes: Any) -> StrategyOptions:
        """A copy with ``changes`` (checked like the original)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values for ``run.json`` (configs in their short form)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [v.short() if isinstance(v, Config) else v for v in value]
            out[f.name] = value
        return out


@dataclass(frozen=True)
class SensitivityOptions(StrategyOptions):
    """Options of a strategy that decides with measured layer sensitivities (a Hessian trace
    among them): how many Hutchinson probes at most, and the network the trace is taken on."""

    probes: int = option(200, "most Hutchinson probes when a sensitivity is measured")
    hessian_network: str = option(
        "full",
        "network the Hessian traces are taken on: full (the pretrained full-precision one) or quantized "
        "(its weights at the space's largest config, over their time steps; Lui & Neftci)",
        choices=HESSIAN_NETWORKS,
    )

    def validate(self) -> None:
        self.require(self.probes >= 1, "probes", "at least 1")
