"""The :class:`Strategy` base class and the strategy registry."""

from __future__ import annotations

import abc
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from spikebits.results import TrialRecord
from spikebits.space import Budget, Config, SearchSpace, SpikebitsError, unknown_name_error


class ConfigEvaluator(Protocol):
    """What a strategy needs from an evaluator (``evaluators.Evaluator`` is one)."""

    space: SearchSpace

    def __call__(self, config: Config) -> dict[str, float]: ...

    def cost(self, config: Config) -> dict[str, float]: ...


@dataclass
class Proposal:
    """A config a strategy wants evaluated, with the strategy's own handle (e.g. an Optuna trial)."""

    config: Config
    handle: Any = None
    info: dict | None = None


#: ``callback(record)`` after every evaluated trial (the CLI advances its progress bar).
TrialCallback = Callable[[TrialRecord], None]


class Strategy(abc.ABC):
    """A search strategy. Every strategy sees the same space, evaluator, budget and objectives.

    Lifecycle, driven by :meth:`run`:

    1. ``__init__(space, evaluator, budget, objectives, seed, **options)`` stores settings and
       does no work.
    2. :meth:`start` (hook) opens resources: an Optuna study, previous trials of a resumed
       search, warm starts.
    3. Until :meth:`remaining` is 0 or :meth:`ask` returns ``None``:
       ``proposal = ask()`` → the base class evaluates ``proposal.config`` with the shared
       evaluator (timed, budget checked, failures recorded) → ``tell(proposal, record)``.
    4. :meth:`finish` (hook) closes resources; :meth:`records` returns every
       :class:`results.TrialRecord` of the run, resumed ones included.

    Subclasses implement :meth:`ask`, :meth:`tell` and :meth:`records`.
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        space: SearchSpace,
        evaluator: ConfigEvaluator,
        budget: Budget,
        objectives: Sequence[str],
        *,
        seed: int = 0,
        **options: Any,
    ) -> None:
        self.space = space
        self.evaluator = evaluator
        self.budget = budget
        self.objectives = tuple(objectives)
        self.seed = seed
        self.options = options
        self._told = 0

    # ------------------------------------------------------------------ the three to implement
    @abc.abstractmethod
    def ask(self) -> Proposal | None:
        """The next config to evaluate, or ``None`` when the strategy has nothing more to try."""

    @abc.abstractmethod
    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        """Feed the evaluated record back."""

    @abc.abstractmethod
    def records(self) -> list[TrialRecord]:
        """Every trial of this run (and of the run it resumed), in trial order."""

    # ------------------------------------------------------------------ hooks
    def start(self) -> None:
        """Open resources before the first :meth:`ask`."""

    def finish(self) -> None:
        """Close resources after the last :meth:`tell`."""

    def remaining(self, n_trials: int) -> int:
        """How many trials are still to run to reach ``n_trials`` (resumable strategies count
        the finished trials of the resumed run too)."""
        return n_trials - self._told

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """Write strategy-specific files beside ``pareto.png`` (after the run); returns them."""
        return []

    def describe(self) -> dict[str, Any]:
        """JSON-able settings for ``run.json``."""
        return {"name": self.name, "seed": self.seed, **{k: v for k, v in self.options.items() if _jsonable(v)}}

    # ------------------------------------------------------------------ driver
    def evaluate(self, proposal: Proposal, number: int) -> TrialRecord:
        """Score ``proposal.config`` with the shared evaluator. An exception inside the
        evaluator becomes a FAIL record with its one-line reason; the search goes on."""
        start = time.perf_counter()
        try:
            metrics = self.evaluator(proposal.config)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # a failed trial must not end the search
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if not isinstance(err, SpikebitsError):
                reason = f"{type(err).__name__}: {reason}"
            return TrialRecord(
                number=number,
                config=proposal.config,
                metrics={},
                strategy=self.name,
                wall_time_s=time.perf_counter() - start,
                feasible=False,
                state="FAIL",
                error=reason,
                info={"traceback": traceback.format_exc(limit=3)},
            )
        return TrialRecord.evaluated(
            number,
            proposal.config,
            metrics,
            strategy=self.name,
            wall_time_s=time.perf_counter() - start,
            budget=self.budget,
            info=proposal.info,
        )

    def run(self, n_trials: int, callback: TrialCallback | None = None) -> list[TrialRecord]:
        """Run the lifecycle until ``n_trials`` trials are done; returns :meth:`records`."""
        self.start()
        try:
            while self.remaining(n_trials) > 0:
                proposal = self.ask()
                if proposal is None:
                    break
                record = self.evaluate(proposal, self.next_number(proposal))
                self.tell(proposal, record)
                self._told += 1
                if callback is not None:
                    callback(record)
        finally:
            self.finish()
        return self.records()

    def next_number(self, proposal: Proposal) -> int:
        """Trial number of ``proposal`` (Optuna strategies use the trial's own number)."""
        return self._told


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))


_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    _STRATEGIES[cls.name] = cls
    return cls


def available() -> list[str]:
    return sorted(_STRATEGIES)


def get_strategy(name: str) -> type[Strategy]:
    if name not in _STRATEGIES:
        raise unknown_name_error("strategy", name, available())
    return _STRATEGIES[name]
