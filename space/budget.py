"""Metric names and budgets: named ``<=`` constraints on metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from space.errors import BudgetError

#: The fixed metric keys (DESIGN.md) and the direction in which each one is better.
METRICS: dict[str, str] = {
    "accuracy": "maximize",
    "bit_budget": "minimize",
    "s_ace": "minimize",
    "energy_pj": "minimize",
    "size_bits": "minimize",
    "firing_rate": "minimize",
    "effective_resolution": "minimize",
}
DEFAULT_OBJECTIVES: tuple[str, ...] = ("accuracy", "bit_budget", "s_ace")

_BUDGET_RE = re.compile(r"^\s*([a-z_]+)\s*<=\s*([-+0-9.eE]+)\s*$")


def direction(metric: str) -> str:
    if metric not in METRICS:
        raise BudgetError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return METRICS[metric]


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
            m = _BUDGET_RE.match(text)
            if not m:
                raise BudgetError(f"budget {text!r} is malformed; write METRIC<=NUMBER, for example bit_budget<=2.5")
            metric, raw = m.groups()
            if metric not in METRICS:
                raise BudgetError(f"budget {text!r} names unknown metric {metric!r}; use one of {', '.join(METRICS)}")
            try:
                limit = float(raw)
            except ValueError:
                raise BudgetError(f"budget {text!r} has no valid number after <=; write for example {metric}<=2.5") from None
            if not math.isfinite(limit):
                raise BudgetError(f"budget {text!r} needs a finite limit")
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
