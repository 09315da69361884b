"""Metric names and budgets: named ``<=`` constraints on metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spikebits.space.config import MAX_BITS, MAX_TIMESTEPS
from spikebits.space.errors import BudgetError
from spikebits.space.metrics import METRICS, REPORTED_METRICS, direction

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
    """Targets W̄/S̄/T̄ of the differentiable search's budget loss (``"2/2/1"``)."""

    w_bits: float
    s_bits: float
    timesteps: float

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

    @classmethod
    def parse(cls, text: str) -> BitTargets:
        if not isinstance(text, str):
            raise BudgetError(f"target {text!r} is not text; write W/S/T, for example 2/2/1")
        parts = text.strip().split("/")
        if len(parts) != 3:
            raise BudgetError(f"target {text!r} is malformed; write W/S/T, for example 2/2/1")
        try:
            w, s, t = (float(p) for p in parts)
        except ValueError:
            raise BudgetError(f"target {text!r} is malformed; write W/S/T numbers, for example 2/2/1") from None
        return cls(w, s, t)

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
        return {"w_bits": self.w_bits, "s_bits": self.s_bits, "timesteps": self.timesteps}

    def __str__(self) -> str:
        return f"{self.w_bits:g}/{self.s_bits:g}/{self.timesteps:g}"
