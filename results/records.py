"""Trial records: what every strategy emits for every evaluated (or failed) config.

A :class:`TrialRecord` is the one currency between ``search/`` and ``results/``: every
strategy, whatever it does inside, reports each trial as a record, and the Pareto front, the
hypervolume, ``trials.csv`` and ``pareto.json`` are computed from records only.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikebits.space import RECORD_METRICS, Budget, Config, DataError

#: Trial states, named as Optuna names them.
STATES: tuple[str, ...] = ("COMPLETE", "FAIL", "PRUNED", "RUNNING", "SKIPPED")


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into plain JSON types (dict, list, str, int, float, bool, None).

    numpy scalars and arrays become Python numbers and lists, tuples and sets become lists,
    mappings get string keys, objects with ``to_dict()`` (``Config``, ``Budget``,
    ``SearchSpace``) and dataclasses become dicts, paths and enums become their value, and
    non-finite floats (NaN, ±inf) become ``None`` so that the output is strict JSON.
    Anything else is written as ``str(value)``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _float_map(values: Mapping[str, Any], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if key not in RECORD_METRICS:
            raise ValueError(
                f"{what} key {key!r} is not a metric; use one of {', '.join(RECORD_METRICS)} (put other numbers in info)"
            )
        out[key] = math.nan if value is None else float(value)
    return out


@dataclass(frozen=True)
class TrialRecord:
    """One trial of one strategy.

    * ``number``: the trial's number within its run (0, 1, 2, ...).
    * ``config``: the config evaluated, or ``None`` when the trial failed before it had one.
    * ``metrics``: metric name -> value, keys from :data:`space.RECORD_METRICS` (may be partial).
    * ``strategy``: the strategy's registry name (``"nsga2"``, ``"differentiable"``, ...).
    * ``wall_time_s``: wall-clock seconds the trial took.
    * ``feasible``: whether every budget constraint holds (``violations`` all ≤ 0).
    * ``state``: ``"COMPLETE"``, ``"FAIL"``, ``"PRUNED"``, ``"RUNNING"`` or ``"SKIPPED"`` (a
      config that breaks a budget on a data-free metric, recorded with its costs and not
      trained; ``error`` says which limit).
    * ``violations``: budget metric -> ``value - limit`` (≤ 0 is feasible, Optuna 5 semantics).
    * ``error``: a one-line error message for failed trials.
    * ``info``: JSON-able extras (seed, epochs, activity-aware S-ACE, energy basis, ...).

    Metric and violation values are stored as Python floats; a missing value passed as
    ``None`` is stored as NaN (and written back as ``null``).
    """

    number: int
    config: Config | None
    metrics: Mapping[str, float]
    strategy: str
    wall_time_s: float
    feasible: bool
    state: str = "COMPLETE"
    violations: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"trial state {self.state!r} is unknown; use one of {', '.join(STATES)}")
        if self.config is not None and not isinstance(self.config, Config):
            raise TypeError(f"config must be a space.Config or None, got {type(self.config).__name__}")
        object.__setattr__(self, "number", int(self.number))
        object.__setattr__(self, "wall_time_s", float(self.wall_time_s))
        object.__setattr__(self, "feasible", bool(self.feasible))
        object.__setattr__(self, "metrics", _float_map(self.metrics, "metrics"))
        object.__setattr__(self, "violations", _float_map(self.violations, "violations"))
        object.__setattr__(self, "info", dict(self.info))

    # ----------------------------------------------------------------- construction
    @classmethod
    def evaluated(
        cls,
        number: int,
        config: Config,
        metrics: Mapping[str, float],
        *,
        strategy: str,
        wall_time_s: float,
        budget: Budget,
        info: Mapping[str, Any] | None = None,
    ) -> TrialRecord:
        """A COMPLETE record whose ``violations`` and ``feasible`` come from ``budget``.

        Metrics that are not in :data:`space.RECORD_METRICS` (for example an evaluator's
        ``basis: "estimate"`` field) are moved into ``info``. Every budgeted metric must be
        among ``metrics``.
        """
        known = {k: v for k, v in metrics.items() if k in RECORD_METRICS}
        extra = {k: v for k, v in metrics.items() if k not in RECORD_METRICS}
        missing = [m for m in budget.metrics if m not in known]
        if missing:
            raise ValueError(f"metrics lack {', '.join(missing)}, which the budget constrains; evaluate them too")
        violations = budget.violations(known)
        return cls(
            number=number,
            config=config,
            metrics=known,
            strategy=strategy,
            wall_time_s=wall_time_s,
            feasible=all(v <= 0 for v in violations.values()),
            violations=violations,
            info={**extra, **(info or {})},
        )

    @classmethod
    def failed(
        cls,
        number: int,
        config: Config | None,
        reason: str,
        *,
        strategy: str,
        wall_time_s: float = 0.0,
        state: str = "FAIL",
        info: Mapping[str, Any] | None = None,
    ) -> TrialRecord:
        """A trial that produced no metrics (``state`` FAIL or PRUNED), with its one-line ``reason``."""
        return cls(
            number=number,
            config=config,
            metrics={},
            strategy=strategy,
            wall_time_s=wall_time_s,
            feasible=False,
            state=state,
            error=reason,
            info=info or {},
        )

    @classmethod
    def skipped(
        cls,
        number: int,
        config: Config,
        costs: Mapping[str, float],
        *,
        strategy: str,
        budget: Budget,
        info: Mapping[str, Any] | None = None,
    ) -> TrialRecord:
        """A SKIPPED record: ``config`` breaks a budget on a data-free metric, known from its
        ``costs`` alone, so it was not trained. ``metrics`` are the costs; ``violations`` cover
        the budgeted metrics among them; ``error`` names the broken limits."""
        known = {k: v for k, v in costs.items() if k in RECORD_METRICS}
        violations = {c.metric: c.violation(known) for c in budget.constraints if c.metric in known}
        broken = [f"{c.metric} {known[c.metric]:.4g} breaks {c}" for c in budget.constraints if violations.get(c.metric, 0.0) > 0]
        return cls(
            number=number,
            config=config,
            metrics=known,
            strategy=strategy,
            wall_time_s=0.0,
            feasible=False,
            state="SKIPPED",
            violations=violations,
            error="not trained: " + "; ".join(broken),
            info=info or {},
        )

    # ----------------------------------------------------------------- queries
    def has(self, metric: str) -> bool:
        """Whether ``metric`` is present with a finite value."""
        value = self.metrics.get(metric)
        return value is not None and math.isfinite(value)

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form; :meth:`from_dict` reads it back."""
        return {
            "number": self.number,
            "state": self.state,
            "strategy": self.strategy,
            "feasible": self.feasible,
            "wall_time_s": to_jsonable(self.wall_time_s),
            "config": None if self.config is None else self.config.to_dict(),
            "metrics": to_jsonable(self.metrics),
            "violations": to_jsonable(self.violations),
            "error": self.error,
            "info": to_jsonable(self.info),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        """Inverse of :meth:`to_dict`; a malformed record raises :class:`space.DataError`."""
        if not isinstance(data, Mapping):
            raise DataError("a trial record is a JSON object with number, config, metrics, strategy; fix the file")
        try:
            config = data.get("config")
            wall = data.get("wall_time_s", 0.0)
            return cls(
                number=data["number"],
                config=None if config is None else Config.from_dict(config),
                metrics=dict(data.get("metrics") or {}),
                strategy=str(data["strategy"]),
                wall_time_s=math.nan if wall is None else wall,
                feasible=data["feasible"],
                state=data.get("state", "COMPLETE"),
                violations=dict(data.get("violations") or {}),
                error=data.get("error"),
                info=dict(data.get("info") or {}),
            )
        except KeyError as err:
            raise DataError(f"trial record lacks field {err.args[0]!r}; fix the file or write it again") from None
        except (TypeError, ValueError) as err:
            raise DataError(f"trial record is malformed ({err}); fix the file or write it again") from None
