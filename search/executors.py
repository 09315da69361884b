"""Executors: where a strategy's trials run.

An executor drives a :class:`search.Strategy` through its lifecycle and returns its records:

* :class:`LocalExecutor` runs every trial in this process, one after the other
  (:meth:`Strategy.run`);
* :class:`search.ray_search.RayExecutor` runs the trials as Ray Tune trials, in parallel, on
  this machine or a cluster.

Both speak only the public :class:`Strategy` API (``start``, ``ask``, ``tell``, ``split``,
``merge``, ``finish``), so every registered strategy runs on either.
"""

from __future__ import annotations

from typing import Any, Protocol

from spikebits.results import TrialRecord
from spikebits.search.base import Strategy, TrialCallback


class Executor(Protocol):
    """Runs ``strategy`` until ``n_trials`` trials are done (or it has nothing more to try)."""

    def run(self, strategy: Strategy, n_trials: int, callback: TrialCallback | None = None) -> list[TrialRecord]: ...

    def check(self, strategy: Strategy) -> None:
        """Raise a one-line :class:`space.ConfigError` if ``strategy`` cannot run here (before any work)."""

    def describe(self) -> dict[str, Any]: ...


class LocalExecutor:
    """Every trial in this process, one after the other."""

    def check(self, strategy: Strategy) -> None:
        """Every strategy runs locally."""

    def run(self, strategy: Strategy, n_trials: int, callback: TrialCallback | None = None) -> list[TrialRecord]:
        return strategy.run(n_trials, callback)

    def describe(self) -> dict[str, Any]:
        return {"name": "local"}
