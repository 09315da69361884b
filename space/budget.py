"""Metric names and budgets: named ``<=`` constraints on metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from spikebits.space.config import MAX_BITS, MAX_MEMBRANE_BITS, MAX_TIMESTEPS, MIN_MEMBRANE_BITS, Config
from spikebits.space.errors import BudgetError
from spikebits.space.metrics import METRICS, REPORTED_METRICS, LayerShape, direction

_BUDGET_RE = re.compile(r"^\s*([a-z_]+)\s*<=\s*([-+0-9.eE]+|[-+]?(?i:nan|inf|infinity))\s*$")


def parse_objectives(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"accuracy,bit_budget"`` -> ``("accuracy", "bit_budget")``, checking every name."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise BudgetError("no objectives given; use for example --objectives accuracy,bit_budget,s_ace")
    for n in names:
        direction(n)
    if len(set(names)) != len(names):
        raise BudgetError(f"objective listed twice in {','.join(names)}; list each once")
    return tuple(names)


@dataclass(frozen=True)
class Constraint:
    """``metric <= limit``."""

    metric: str
    limit: float

    def violation(self, metrics: Mapping[str, float]) -> float:
        """``value - limit``: ≤ 0 is feasible (Optuna 5 constraint semantics)."""
        return float(metrics[self.metric]) - self.limit

    def __str__(self) -> str:
        return f"{self.metric}<={self.limit:g}"


@dataclass(frozen=True)
class Budget:
    """A set of named constraints such as ``bit_budget<=2.0`` and ``s_ace<=1e9``."""

    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str] | str | None) -> Budget:
        if texts is None:
            return cls()
        if isinstance(texts, str):
            texts = [texts]
        out: dict[str, Constraint] = {}
        for text in texts:
            if not isinstance(text, str):
                raise BudgetError(f"budget {text!r} is not text; write METRIC<=NUMBER, for example bit_budget<=2.5")
            m = _BUDGET_RE.match(text)
            if not m:
                raise BudgetError(f"budget {text!r} is malformed; write METRIC<=NUMBER, for example bit_budget<=2.5")
            metric, raw = m.groups()
            if metric in REPORTED_METRICS:
                direction(metric)  # says that it is read once, to report
            if metric not in METRICS:
                raise BudgetError(f"budget {text!r} names unknown metric {metric!r}; use one of {', '.join(METRICS)}")
            try:
                limit = float(raw)
            except ValueError:
                raise BudgetError(f"budget {text!r} has no valid number after <=; write for example {metric}<=2.5") from None
            if not math.isfinite(limit):
                raise BudgetError(f"budget {text!r} needs a finite limit; write a number, for example {metric}<=2.5")
            if limit < 0:
                # Every metric is a count, a size, an energy or a fraction: never negative.
                raise BudgetError(f"budget {text!r} can never be met: {metric} is never negative; give a limit >= 0")
            limit += 0.0  # -0 -> 0
            if metric in out:
                raise BudgetError(f"metric {metric!r} is budgeted twice; keep one limit")
            out[metric] = Constraint(metric, limit)
        return cls(tuple(out.values()))

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(c.metric for c in self.constraints)

    def violations(self, metrics: Mapping[str, float]) -> dict[str, float]:
        return {c.metric: c.violation(metrics) for c in self.constraints}

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        return all(v <= 0 for v in self.violations(metrics).values())

    def to_dict(self) -> dict[str, float]:
        return {c.metric: c.limit for c in self.constraints}

    def __str__(self) -> str:
        return ", ".join(str(c) for c in self.constraints) or "none"

    def __bool__(self) -> bool:
        return bool(self.constraints)


@dataclass(frozen=True)
class BitTargets:
    """Targets W̄/S̄/T̄ of the differentiable search's budget loss (``"2/2/1"``), and
    optionally the average membrane width Ū (``"2/2/1/4"``; None: no membrane target).

    Ū = Σ N_a,l·U_l / Σ N_a,l over the unpinned layers that search U (weighted like S̄ and T̄:
    :func:`membrane_average`); it stands for the state memory Σ neurons × U of those layers
    per neuron. A target with ``u_bits`` needs a space that searches U."""

    w_bits: float
    s_bits: float
    timesteps: float
    u_bits: float | None = None

    def __post_init__(self) -> None:
        for name in ("w_bits", "s_bits", "timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BudgetError(f"target {name} = {value!r} must be a number >= 1; write targets as W/S/T, for example 2/2/1")
            if not (math.isfinite(value) and value >= 1.0):
                raise BudgetError(f"target {name} = {value:g} must be a number >= 1; write targets as W/S/T, for example 2/2/1")
            high = MAX_TIMESTEPS if name == "timesteps" else MAX_BITS
            if value > high:
                raise BudgetError(f"target {name} = {value:g} is above {high}, the most any layer can have; write a smaller target")
        u = self.u_bits
        if u is not None:
            if isinstance(u, bool) or not isinstance(u, (int, float)) or not math.isfinite(u):
                raise BudgetError(
                    f"target u_bits = {u!r} must be a number from {MIN_MEMBRANE_BITS} to {MAX_MEMBRANE_BITS}; "
                    "write W/S/T/U, for example 2/2/1/4"
                )
            if not MIN_MEMBRANE_BITS <= u <= MAX_MEMBRANE_BITS:
                raise BudgetError(
                    f"target u_bits = {u:g} is outside {MIN_MEMBRANE_BITS} to {MAX_MEMBRANE_BITS}, the membrane widths a layer can have; "
                    "write W/S/T/U, for example 2/2/1/4"
                )

    @classmethod
    def parse(cls, text: str) -> BitTargets:
        """``"W/S/T"`` or ``"W/S/T/U"`` (U: the membrane target Ū)."""
        if not isinstance(text, str):
            raise BudgetError(f"target {text!r} is not text; write W/S/T, for example 2/2/1")
        parts = text.strip().split("/")
        if len(parts) not in (3, 4):
            raise BudgetError(f"target {text!r} is malformed; write W/S/T (or W/S/T/U with a membrane target), for example 2/2/1")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise BudgetError(f"target {text!r} is malformed; write W/S/T numbers (or W/S/T/U), for example 2/2/1") from None
        return cls(*numbers)

    @classmethod
    def parse_list(cls, text: str | Iterable[str]) -> tuple[BitTargets, ...]:
        """``"1/1/1,2/2/1"`` (or a list of such strings) -> targets, in order."""
        if not isinstance(text, str):
            text = list(text)
        if not isinstance(text, str) and any(not isinstance(t, str) for t in text):
            raise BudgetError("targets must be text such as 1/1/1,2/2/1; write --targets W/S/T,W/S/T")
        items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
        targets = tuple(cls.parse(t) for t in items if t.strip())
        if not targets:
            raise BudgetError("no targets given; write for example --targets 1/1/1,2/2/1,4/4/1")
        twice = next((t for i, t in enumerate(targets) if t in targets[:i]), None)
        if twice is not None:
            raise BudgetError(f"target {twice} is given twice (each target is a whole supernet run); give each once")
        return targets

    @property
    def bit_budget(self) -> float:
        return self.w_bits * self.s_bits * self.timesteps

    def to_dict(self) -> dict[str, float]:
        """The JSON form; ``u_bits`` only when set (a target without U reads and writes as before U existed)."""
        out = {"w_bits": self.w_bits, "s_bits": self.s_bits, "timesteps": self.timesteps}
        if self.u_bits is not None:
            out["u_bits"] = self.u_bits
        return out

    def __str__(self) -> str:
        u = "" if self.u_bits is None else f"/{self.u_bits:g}"
        return f"{self.w_bits:g}/{self.s_bits:g}/{self.timesteps:g}{u}"


def membrane_average(specs: Sequence[LayerShape], config: Config, layers: Iterable[str] | None = None) -> float | None:
    """Ū over those of ``layers`` (default: all) whose choice has a membrane width U, weighted
    by N_a (as S̄ and T̄ are):

        Ū = Σ U_l N_a,l / Σ N_a,l    (layers with U None — an unquantized membrane — left out)

    None when no such layer has a U (the space does not search it)."""
    keep = set(layers) if layers is not None else {s.name for s in specs}
    chosen = [(s, config[s.name].u_bits) for s in specs if s.name in keep and s.name in config]
    chosen = [(s, u) for s, u in chosen if u is not None]
    if not chosen:
        return None
    return sum(u * s.n_inputs for s, u in chosen) / sum(s.n_inputs for s, _ in chosen)
