"""The :class:`Strategy` base class, its options, and the strategy registry."""

from __future__ import annotations

import abc
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from spikebits.evaluators.training import Progress
from spikebits.results import TrialRecord
from spikebits.search.halving import TrialPruned
from spikebits.search.options import StrategyOptions
from spikebits.space import Budget, Config, SearchSpace, SpikebitsError, TrainingStopped, unknown_name_error

#: Trials a search runs when nobody says otherwise (strategies with a plan of their own, such
#: as one supernet per target, may run fewer).
DEFAULT_TRIALS = 24


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


def failure_reason(err: BaseException) -> str:
    """The one-line reason a failed trial records: a :class:`space.SpikebitsError`'s own
    message, else ``"TypeName: first line"``."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return reason if isinstance(err, SpikebitsError) else f"{type(err).__name__}: {reason}"


def was_interrupted(record: TrialRecord) -> bool:
    """Whether ``record`` is a trial whose training was stopped on request (SIGINT, SIGTERM)."""
    return bool(record.info.get("interrupted"))


def evaluate_trial(
    evaluator: ConfigEvaluator,
    config: Config,
    number: int,
    *,
    strategy: str,
    budget: Budget,
    info: Mapping[str, Any] | None = None,
    on_epoch: Callable[..., None] | None = None,
) -> TrialRecord:
    """Score ``config`` with ``evaluator`` as trial ``number``, timed and budget-checked. An
    exception inside the evaluator becomes a FAIL record with its one-line reason (and a short
    traceback in ``info``), so a failed trial never ends a search. A training stopped on request
    (:class:`space.TrainingStopped`) becomes a FAIL record with ``info["interrupted"]``
    (:func:`was_interrupted`): :meth:`Strategy.step` then stops the search. ``on_epoch(epoch, model)``
    is passed to the evaluator (Ray's early stopping reports through it); one that raises
    :class:`search.halving.TrialPruned` (the local early stopping) makes a PRUNED record whose
    ``info`` holds the epoch and the validation accuracy at which it stopped."""
    start = time.perf_counter()
    try:
        metrics = evaluator(config) if on_epoch is None else evaluator(config, on_epoch=on_epoch)
    except KeyboardInterrupt:
        raise
    except TrialPruned as stop:  # stopped at a rung by successive halving: PRUNED, as on Ray
        return TrialRecord.failed(
            number, config, str(stop), strategy=strategy, wall_time_s=time.perf_counter() - start, state="PRUNED",
            info={**(info or {}), **stop.info()},
        )
    except TrainingStopped as err:  # stopped at a batch boundary: a FAIL marked interrupted
        return TrialRecord.failed(
            number, config, failure_reason(err), strategy=strategy, wall_time_s=time.perf_counter() - start, info={"interrupted": True}
        )
    except Exception as err:  # a failed trial must not end the search
        return TrialRecord.failed(
            number,
            config,
            failure_reason(err),
            strategy=strategy,
            wall_time_s=time.perf_counter() - start,
            info={"traceback": traceback.format_exc(limit=3)},
        )
    return TrialRecord.evaluated(
        number, config, metrics, strategy=strategy, wall_time_s=time.perf_counter() - start, budget=budget, info=info
    )


class Strategy(abc.ABC):
    """A search strategy. Every strategy sees the same space, evaluator, budget, objectives and
    number of trials; what sets one apart is its :attr:`Options`.

    Lifecycle, driven by an executor (:class:`search.LocalExecutor` calls :meth:`run`):

    1. ``__init__(space, evaluator, budget, objectives, *, seed, n_trials, options, ...)``
       stores settings and does no work. ``options`` is an instance of the strategy's
       :attr:`Options` dataclass (or give its fields as keywords).
    2. :meth:`start` (hook) opens resources: an Optuna study, previous trials of a resumed
       search, warm starts, sensitivities.
    3. Until :meth:`remaining` is 0 or :meth:`ask` returns ``None``:
       ``proposal = ask()`` → the executor evaluates ``proposal.config`` with the shared
       evaluator (:func:`evaluate_trial`: timed, budget checked, failures recorded) →
       ``tell(proposal, record)``. Several proposals may be out at once (on Ray).
    4. :meth:`finish` (hook) closes resources; :meth:`records` returns every
       :class:`results.TrialRecord` of the run, resumed ones included.

    A strategy whose trials are independent whole runs (one supernet per target) can also be
    run in parallel parts: :meth:`split` returns them, each part runs its own lifecycle
    anywhere, and :meth:`merge` takes back what each one's :meth:`outcome` said.

    Subclasses implement :meth:`ask` and :meth:`tell` (or use the default :meth:`tell`, which
    keeps the records in order) and declare ``name`` and ``Options``.
    """

    name: ClassVar[str] = ""
    #: The strategy's options dataclass: the only place its defaults are written.
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    #: One line for ``spikebits strategies`` (default: the docstring's first line).
    summary: ClassVar[str] = ""
    #: Whether :meth:`split` gives parts (whole runs that are one trial each).
    splits: ClassVar[bool] = False

    def __init__(
        self,
        space: SearchSpace,
        evaluator: ConfigEvaluator,
        budget: Budget,
        objectives: Sequence[str],
        *,
        seed: int = 0,
        n_trials: int = DEFAULT_TRIALS,
        options: StrategyOptions | None = None,
        progress: Progress | None = None,
        sensitivity: Any = None,
        **option_values: Any,
    ) -> None:
        """``progress`` wraps long loops (the CLI's bars); ``sensitivity`` is a report measured
        beforehand (default: the evaluator measures it when the strategy needs one);
        ``option_values`` are fields of :attr:`Options`, given instead of ``options``."""
        if options is None:
            options = self.Options.from_mapping(option_values)
        elif option_values:
            options = options.replace(**option_values)
        if not isinstance(options, self.Options):
            raise TypeError(f"the {self.name} strategy takes {self.Options.__name__}, not {type(options).__name__}")
        self.space = space
        self.evaluator = evaluator
        self.budget = budget
        self.objectives = tuple(objectives)
        self.seed = seed
        self.n_trials = n_trials
        self.options = options
        self.progress = progress
        self.sensitivity_report = sensitivity
        self.n_asked = 0
        self.n_told = 0
        self.trial_records: list[TrialRecord] = []
        #: ``time.monotonic()`` after which nothing more is asked (a wall-clock budget, e.g.
        #: ``spikebits compare --time-budget``); trials in flight finish. None: no limit.
        self.deadline: float | None = None
        #: Why the search was asked to stop early (:meth:`request_stop`); None: it was not.
        self.stop_reason: str | None = None
        #: ``on_epoch(epoch, model)`` that :meth:`evaluate` passes to the evaluator with every
        #: trial, set by an executor (:class:`search.LocalExecutor`'s early stopping); None: none.
        self.on_epoch: Callable[[int, Any], None] | None = None

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def ask(self) -> Proposal | None:
        """The next config to evaluate, or ``None`` when the strategy has nothing more to try."""

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        """Feed the evaluated record back (default: keep it, in order)."""
        self.trial_records.append(record)

    def records(self) -> list[TrialRecord]:
        """Every trial of this run (and of the run it resumed), in trial order."""
        return sorted(self.trial_records, key=lambda r: r.number)

    # ------------------------------------------------------------------ hooks
    def start(self) -> None:
        """Open resources before the first :meth:`ask`."""

    def finish(self) -> None:
        """Close resources after the last :meth:`tell`."""

    def remaining(self, n_trials: int | None = None) -> int:
        """How many trials are still to run to reach ``n_trials`` (default: the strategy's own;
        resumable strategies count the finished trials of the resumed run too)."""
        return (self.n_trials if n_trials is None else n_trials) - self.n_told

    def prepare(self) -> None:
        """Shared work this strategy reads but does not own — the evaluator's sensitivity
        report, cached per seed like the pretrained checkpoint — done ahead, so that a
        comparison's clock (``spikebits compare``) starts after it for every strategy alike.
        Default: nothing."""

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask nothing more (trials in flight finish and are told); safe to call from a signal
        handler. The run then ends as if the strategy had nothing more to try."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def publish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord]) -> None:
        """After a run: hand the results to the strategy's own store (an Optuna study, for
        optuna-dashboard). Nothing by default."""

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """Write strategy-specific files beside ``pareto.png`` (after the run); returns them."""
        return []

    @classmethod
    def redraw_artifacts(cls, out_dir: Path, run_info: Mapping[str, Any], records: Sequence[TrialRecord]) -> list[Path]:
        """Draw :meth:`write_artifacts`' figures again from a finished run's stored ``run.json``
        (``run_info``) and ``trials.csv`` (``records``), recomputing nothing (``spikebits
        report``); returns them."""
        return []

    def describe(self) -> dict[str, Any]:
        """JSON-able settings for ``run.json``: the name, the seed and the options."""
        return {"name": self.name, "seed": self.seed, **self.options.to_dict()}

    def sensitivity(self, probes: int, network: str = "full") -> Any:
        """The layer sensitivities this strategy decides with: the report it was given, or
        the evaluator's with at most ``probes`` Hutchinson probes and the Hessian taken on
        ``network`` (``"full"`` or ``"quantized"``, see :meth:`Evaluator.sensitivity`;
        measured once and cached by the evaluator)."""
        if self.sensitivity_report is None:
            self.sensitivity_report = self.evaluator.sensitivity(probes=probes, progress=self.progress, network=network)
        return self.sensitivity_report

    # ------------------------------------------------------------------ parallel parts
    def split(self) -> list[Strategy]:
        """Independent parts of a started strategy, each a whole strategy whose run is one
        trial of this one, in trial order; ``[]`` when the strategy cannot be split (its
        trials are asked and told one by one)."""
        return []

    def outcome(self) -> dict[str, Any]:
        """What a finished part sends back to :meth:`merge` (JSON-able): its records and
        whatever the strategy needs for its files."""
        return {"records": [r.to_dict() for r in self.records()]}

    def merge(self, outcomes: Sequence[Mapping[str, Any] | str]) -> None:
        """Take back the parts of :meth:`split`, in order: each an :meth:`outcome`, or the
        one-line reason the part failed."""
        raise NotImplementedError(f"the {self.name} strategy is not split into parts")

    # ------------------------------------------------------------------ driver
    def evaluate(self, proposal: Proposal, number: int) -> TrialRecord:
        """Score ``proposal.config`` with the shared evaluator (:func:`evaluate_trial`), with
        :attr:`on_epoch` when an executor set one."""
        return evaluate_trial(
            self.evaluator, proposal.config, number, strategy=self.name, budget=self.budget, info=proposal.info,
            on_epoch=self.on_epoch,
        )

    def propose(self) -> tuple[Proposal, int] | None:
        """:meth:`ask` and the trial number of the answer (``None`` when nothing is left, once
        :attr:`deadline` has passed, or after :meth:`request_stop`); an executor that keeps
        several trials in flight numbers them this way."""
        if self.stop_reason is not None or (self.deadline is not None and time.monotonic() >= self.deadline):
            return None
        proposal = self.ask()
        if proposal is None:
            return None
        number = self.next_number(proposal)
        self.n_asked += 1
        return proposal, number

    def step(self, callback: TrialCallback | None = None) -> bool:
        """Ask one proposal, evaluate it and tell the record; ``False`` when nothing was asked."""
        asked = self.propose()
        if asked is None:
            return False
        proposal, number = asked
        record = self.evaluate(proposal, number)
        if was_interrupted(record):  # its training was stopped: ask nothing more
            self.request_stop(record.error or "interrupted")
        self.tell(proposal, record)
        self.note_told()
        if callback is not None:
            callback(record)
        return True

    def run(self, n_trials: int | None = None, callback: TrialCallback | None = None) -> list[TrialRecord]:
        """The whole lifecycle in this process until ``n_trials`` (default: the strategy's
        own) trials are done; returns :meth:`records`."""
        self.start()
        try:
            while self.remaining(n_trials) > 0 and self.step(callback):
                pass
        finally:
            self.finish()
        return self.records()

    def next_number(self, proposal: Proposal) -> int:
        """Trial number of ``proposal``, just asked: how many were asked before it (Optuna
        strategies use the trial's own number)."""
        return self.n_asked

    def note_told(self) -> None:
        """Count a told trial (:meth:`step` does; an executor that tells outside it must)."""
        self.n_told += 1


_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available under ``cls.name``. Each registered strategy
    declares its own ``Options`` class (a subclass, maybe with no new field, when it shares
    another's), which learns the strategy's name for its messages."""
    if "Options" not in cls.__dict__:
        raise TypeError(f"strategy {cls.name!r} must declare its own Options dataclass")
    cls.Options.strategy_name = cls.name
    _STRATEGIES[cls.name] = cls
    return cls


def available() -> list[str]:
    return sorted(_STRATEGIES)


def get_strategy(name: str) -> type[Strategy]:
    if name not in _STRATEGIES:
        raise unknown_name_error("strategy", name, available())
    return _STRATEGIES[name]


def strategy_summary(cls: type[Strategy]) -> str:
    """One line that says what ``cls`` does (``summary``, else its docstring's first line)."""
    return cls.summary or (cls.__doc__ or "").strip().splitlines()[0].strip()


def options_by_strategy() -> dict[str, list[Any]]:
    """Every registered strategy's options (:class:`search.options.OptionInfo`), by name."""
    return {name: _STRATEGIES[name].Options.fields_info() for name in available()}


__all__ = [
    "DEFAULT_TRIALS",
    "ConfigEvaluator",
    "Progress",
    "Proposal",
    "Strategy",
    "StrategyOptions",
    "TrialCallback",
    "available",
    "evaluate_trial",
    "failure_reason",
    "get_strategy",
    "options_by_strategy",
    "register_strategy",
    "strategy_summary",
]
