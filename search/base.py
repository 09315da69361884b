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
from spikebits.space import Budget, Config, DataError, OutputError, SearchSpace, SpikebitsError, TrainingStopped, one_line, unknown_name_error

#: Trials a search runs when nobody says otherwise (strategies with a plan of their own, such
#: as one supernet per target, may run fewer).
DEFAULT_TRIALS = 24
#: The strategy a search runs when none is named: the primary one (Yao et al.'s).
DEFAULT_STRATEGY = "differentiable"
#: Characters a failed trial's reason keeps.
MAX_REASON = 500


class ConfigEvaluator(Protocol):
    """What search reads of an evaluator: :class:`evaluators.Evaluator` is one, and
    :class:`EvaluatorBase` gives the optional members their defaults for an evaluator of your
    own (or a test double) that scores configs without training.

    Every search reads ``space``, calls the evaluator on a config (``on_epoch`` when the local
    early stopping watches the fine-tuning) and ``cost``. Read when they are not the defaults:
    ``specs`` (the layers: exact least and largest costs, the integer program),
    ``energy_model``, ``metric_names`` (what it produces; empty: not checked), ``scoring``
    (``"one-shot"``: the front is fine-tuned after the search), ``log`` and ``stop`` (the
    console's epoch log; the stop request of SIGINT/SIGTERM), ``progress``,
    ``finetune_settings`` and ``validation_accuracy`` (the early stopping), ``prepare``
    (shared work done once, before a comparison's clock or Ray's workers), ``describe``
    (its settings, for ``run.json`` and a resumed study's identity). Strategies that measure
    sensitivities call ``sensitivity``; the supernet strategies need an
    :class:`evaluators.Evaluator` itself.
    """

    space: SearchSpace
    specs: Sequence[Any] | None
    energy_model: Any
    metric_names: tuple[str, ...]
    scoring: str
    log: Callable[[str], None] | None
    stop: Any
    progress: Progress | None
    finetune_settings: Any
    validation_accuracy: Callable[[Any], float] | None

    def __call__(self, config: Config) -> dict[str, float]: ...

    def cost(self, config: Config) -> dict[str, float]: ...

    def prepare(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class EvaluatorBase:
    """The defaults of :class:`ConfigEvaluator`'s optional members: no layer specs (least and
    largest costs at the space's smallest and largest configs), the default energy model,
    every metric accepted, scored by fine-tuning, no log, no stop request, no early
    stopping, nothing to prepare, no settings to describe. Subclass it and give ``space``,
    ``__call__`` and ``cost``."""

    specs: Sequence[Any] | None = None
    energy_model: Any = None
    metric_names: tuple[str, ...] = ()
    scoring: str = "finetune"
    log: Callable[[str], None] | None = None
    stop: Any = None
    progress: Progress | None = None
    finetune_settings: Any = None
    validation_accuracy: Callable[[Any], float] | None = None

    def prepare(self) -> None:
        """Nothing to do once ahead."""

    def describe(self) -> dict[str, Any]:
        """No settings."""
        return {}


@dataclass
class Proposal:
    """A config a strategy wants evaluated, with the strategy's own handle (e.g. an Optuna
    trial). ``number``: the trial's number when the strategy owns the numbering (an Optuna
    trial's), else None and the driver numbers it. ``scorer``: what scores the config instead
    of the shared evaluator (a supernet's handed-on network), same call as the evaluator."""

    config: Config
    handle: Any = None
    info: dict | None = None
    number: int | None = None
    scorer: Any = None


@dataclass(frozen=True)
class Failed:
    """What :meth:`Strategy.ask` returns for a trial that failed before it could be scored
    (a supernet that diverged): the driver records a FAIL trial with ``reason`` and asks
    again. ``interrupted``: the failure was a stop on request; the driver records nothing and
    asks nothing more."""

    reason: str
    info: dict | None = None
    interrupted: bool = False


#: ``callback(record)`` after every evaluated trial (the CLI advances its progress bar).
TrialCallback = Callable[[TrialRecord], None]


def failure_reason(err: BaseException) -> str:
    """The one-line reason a failed trial records: a :class:`space.SpikebitsError`'s own
    message, else ``"TypeName: message"``."""
    return one_line(err, MAX_REASON, with_type=not isinstance(err, SpikebitsError))


def is_fatal(record: TrialRecord) -> bool:
    """Whether ``record`` failed on what fails every trial alike: the data on disk
    (:class:`space.DataError`) or an output that cannot be written (:class:`space.OutputError`);
    the driver then stops the run (:meth:`search.driver.RunControl.fail`)."""
    return bool(record.info.get("fatal"))


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
    (:func:`was_interrupted`): the driver then stops the search. A data error or an output
    that cannot be written (:class:`space.DataError`, :class:`space.OutputError`) fails every
    trial alike: a FAIL record with ``info["fatal"]`` (:func:`is_fatal`), after which the
    driver stops the search and the runner raises it once the finished trials are written.
    ``on_epoch(epoch, model)``
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
    except (DataError, OutputError) as err:  # every trial would fail alike: recorded, then the run stops
        return TrialRecord.failed(
            number, config, failure_reason(err), strategy=strategy, wall_time_s=time.perf_counter() - start,
            info={"fatal": True, "traceback": traceback.format_exc(limit=3)},
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
    """A search strategy: ask and tell, plus hooks. Every strategy sees the same space,
    evaluator, budget, objectives and number of trials; what sets one apart is its
    :attr:`Options`.

    Lifecycle, driven by an executor through its :class:`search.driver.Driver` (which
    numbers the trials, counts them, keeps the deadline and the stop requests):

    1. ``__init__(space, evaluator, budget, objectives, *, seed, n_trials, options, ...)``
       stores settings and does no work. ``options`` is an instance of the strategy's
       :attr:`Options` dataclass (or give its fields as keywords).
    2. :meth:`start` (hook) opens resources: an Optuna study, previous trials of a resumed
       search, warm starts, sensitivities.
    3. While :meth:`remaining` is above 0 and :meth:`ask` returns a :class:`Proposal`: the
       driver scores ``proposal.config`` (:func:`evaluate_trial`: timed, budget checked,
       failures recorded) and calls :meth:`tell` with the record. Several proposals may be
       out at once (on Ray). ``ask`` may return :class:`Failed` for a trial that failed
       before it could be scored.
    4. :meth:`finish` (hook) closes resources; :meth:`records` returns every
       :class:`results.TrialRecord` of the run, resumed ones included. After the run,
       :meth:`publish` (hook) hands the results to the strategy's own store and files.

    Capabilities are declared, not probed: :attr:`splits` (a :class:`SplitStrategy`, whose
    trials are whole runs that can run in parallel parts), :attr:`resumable` (its study
    continues from a storage), :attr:`data_budgets`, the options'
    :meth:`~search.options.StrategyOptions.sensitivity_request` (a sensitivity report
    measured before the run) and :attr:`draw_artifacts` (figures beside ``pareto.png``).

    Subclasses implement :meth:`ask` (and :meth:`tell`, or keep the default, which keeps the
    records in order) and declare ``name`` and ``Options``.
    """

    name: ClassVar[str] = ""
    #: The strategy's options dataclass: the only place its defaults are written.
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    #: One line for ``spikebits strategies`` (default: the docstring's first line).
    summary: ClassVar[str] = ""
    #: How the strategy counts its trials when ``n_trials`` does not (``"one per target"``),
    #: for help texts; "" when it runs ``n_trials``.
    trials_note: ClassVar[str] = ""
    #: Whether the strategy is a :class:`SplitStrategy` (whole runs that are one trial each).
    splits: ClassVar[bool] = False
    #: Whether a search continues from the study in its ``storage`` option (``--resume``).
    resumable: ClassVar[bool] = False
    #: Directions of the data metrics (``accuracy>=``, ``firing_rate<=``) this strategy can
    #: hold a budget on; a budget on a data-free metric it can always hold. Checked once per
    #: run (:func:`search.checks.check_run`).
    data_budgets: ClassVar[frozenset[str]] = frozenset({"maximize", "minimize"})
    #: ``draw_artifacts(out_dir, run_info, records) -> [paths]``: the strategy's own figures,
    #: drawn from a run's ``run.json`` contents and records, after the run and again by
    #: ``spikebits report``; None: none.
    draw_artifacts: ClassVar[Callable[[Path, Mapping[str, Any], Sequence[TrialRecord]], list[Path]] | None] = None

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
        self.trial_records: list[TrialRecord] = []

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def ask(self) -> Proposal | Failed | None:
        """The next config to evaluate, :class:`Failed` for a trial that failed before it
        could be scored, or ``None`` when the strategy has nothing more to try."""

    def tell(self, proposal: Proposal | Failed, record: TrialRecord) -> None:
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

    def remaining(self, n_trials: int, told: int) -> int:
        """How many trials are still to run when ``n_trials`` were asked for and the driver
        has told ``told`` in this run (default: the difference). A strategy with a plan of its
        own (one trial per target, per ladder level) counts its plan; a resumable one counts
        the finished trials of its study, those of the run it resumed included. Pure: it
        changes nothing."""
        return n_trials - told

    def publish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], out_dir: Path | None) -> list[Path]:
        """After a run, hand its results on: to the strategy's own store (an Optuna study, for
        optuna-dashboard) and, with ``out_dir`` (the run's files, staged), as files of its own
        beside ``pareto.png`` (figures, networks); returns the files written. Nothing by
        default."""
        return []

    def describe(self) -> dict[str, Any]:
        """JSON-able settings for ``run.json``: the name, the seed and the options."""
        return {"name": self.name, "seed": self.seed, **self.options.to_dict()}


class SplitStrategy(Strategy):
    """A strategy whose trials are independent whole runs (one supernet per target): besides
    asking and telling them one by one, it can run them in parallel parts. :meth:`split`
    returns the parts, each a whole strategy whose run is one trial of this one; each part
    runs its own lifecycle anywhere and says :meth:`outcome`; :meth:`merge` takes the
    outcomes back."""

    splits = True

    @abc.abstractmethod
    def split(self) -> list[Strategy]:
        """Independent parts of a started strategy, in trial order."""

    def outcome(self) -> dict[str, Any]:
        """What a finished part sends back to :meth:`merge` (JSON-able): its records and
        whatever the strategy needs for its files."""
        return {"records": [r.to_dict() for r in self.records()]}

    @abc.abstractmethod
    def merge(self, outcomes: Sequence[Mapping[str, Any] | str]) -> None:
        """Take back the parts of :meth:`split`, in order: each an :meth:`outcome`, or the
        one-line reason the part failed."""


def sensitivity_of(strategy: Strategy, probes: int, network: str = "full") -> Any:
    """The layer sensitivities ``strategy`` decides with: the report it was given, or its
    evaluator's with at most ``probes`` Hutchinson probes and the Hessian taken on
    ``network`` (``"full"`` or ``"quantized"``, see :meth:`Evaluator.sensitivity`; measured
    once and cached by the evaluator, and kept on the strategy)."""
    if strategy.sensitivity_report is None:
        strategy.sensitivity_report = strategy.evaluator.sensitivity(probes=probes, progress=strategy.progress, network=network)
    return strategy.sensitivity_report


def prepare_sensitivity(strategy: Strategy) -> None:
    """Measure ahead the sensitivity report ``strategy``'s options ask for
    (:meth:`search.options.StrategyOptions.sensitivity_request`), so that a comparison's
    clock (``spikebits compare``) starts after it for every strategy alike, like the
    pretrained checkpoint's."""
    request = strategy.options.sensitivity_request()
    if request is not None:
        sensitivity_of(strategy, *request)


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


def trials_notes() -> str:
    """How the strategies that do not run ``n_trials`` count their trials, for help texts
    (``"differentiable: one per target; ..."``)."""
    return "; ".join(f"{name}: {_STRATEGIES[name].trials_note}" for name in available() if _STRATEGIES[name].trials_note)


def taking_option(option: str) -> list[str]:
    """The registered strategies whose options have the field ``option``."""
    return [name for name in available() if option in {info.name for info in _STRATEGIES[name].Options.fields_info()}]


def strategy_summary(cls: type[Strategy]) -> str:
    """One line that says what ``cls`` does: ``summary``, else the first sentence of its
    docstring's first paragraph."""
    if cls.summary:
        return cls.summary
    paragraph = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    sentence, dot, _ = paragraph.partition(". ")
    return sentence + "." if dot else paragraph


def options_by_strategy() -> dict[str, list[Any]]:
    """Every registered strategy's options (:class:`search.options.OptionInfo`), by name."""
    return {name: _STRATEGIES[name].Options.fields_info() for name in available()}


__all__ = [
    "DEFAULT_STRATEGY",
    "DEFAULT_TRIALS",
    "ConfigEvaluator",
    "EvaluatorBase",
    "Failed",
    "Progress",
    "Proposal",
    "SplitStrategy",
    "Strategy",
    "StrategyOptions",
    "TrialCallback",
    "available",
    "evaluate_trial",
    "failure_reason",
    "get_strategy",
    "options_by_strategy",
    "prepare_sensitivity",
    "register_strategy",
    "sensitivity_of",
    "strategy_summary",
    "taking_option",
    "trials_notes",
]
