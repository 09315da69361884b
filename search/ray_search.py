"""Run a strategy's trials on Ray (this machine or a cluster) with Ray Tune: :class:`RayExecutor`.

Ray Tune is the engine; the strategy stays the decision maker, through its public API only:

* a strategy whose trials are asked and told one by one (``nsga2``, ``tpe``, ``random``,
  ``ilp``, ``boost``) is wrapped in a Tune searcher (:class:`StrategySearcher`): Tune's
  ``suggest`` is the strategy's :meth:`Strategy.ask`, a finished trial's record goes back
  through :meth:`Strategy.tell` — so an Optuna strategy keeps its own sampler, storage, warm
  starts, budget constraints and signature check, exactly as in a local search;
* a strategy that :meth:`splits <search.Strategy.split>` into independent parts
  (``differentiable``, ``gumbel``: one supernet per target) runs one Tune trial per part and
  gets the parts' outcomes back with :meth:`Strategy.merge`;
* trials run the shared :class:`evaluators.Evaluator`, shipped once to the object store with
  its data and pretrained state (``tune.with_parameters``), in Ray's reused worker processes,
  so a trial pays neither for importing torch again nor for re-reading data or the checkpoint;
* a trial that raises is retried up to ``max_failures`` times (``FailureConfig``); after that it
  is a failed trial with its reason, and the search goes on;
* ``early_stop`` adds ASHA on accuracy (one metric: schedulers take one), reported after
  each fine-tuning epoch; a stopped trial is recorded as PRUNED;
* ``resume`` continues an interrupted search from its Optuna study (``--storage``): the
  study keeps every finished trial, and the trials the killed driver had asked but not
  finished are failed with the reason and asked again (:meth:`OptunaStrategy.fail_orphans`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spikebits.results import TrialRecord
from spikebits.search.base import Proposal, SplitStrategy, Strategy, TrialCallback, available, evaluate_trial, get_strategy
from spikebits.search.driver import Driver, RunControl
from spikebits.space import Budget, Config, ConfigError, one_line
from spikebits.space.metrics import ACCURACY

#: Settings the project itself applies before starting or joining Ray (loopback-safe).
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # the old reporter honours verbose=0: no tables on stdout
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",  # a failing trial reports only its error
}
EXPERIMENT_NAME = "spikebits"


def check_address(address: str | None) -> None:
    """A ``HOST:PORT`` that accepts no connection within 5 s is a one-line error (``ray.init``
    itself would wait minutes)."""
    if address in (None, "local", "auto") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise ConfigError(
            f"cannot reach a Ray cluster at {address} ({reason}); start one with `ray start --head` or drop the address"
        ) from None


def init_ray(address: str | None, *, num_cpus: int | None = None) -> None:
    """Start Ray in-process (``address`` None or ``"local"``) or join the cluster at ``address``."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        return
    check_address(address)
    try:
        if address in (None, "local"):
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        else:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        reason = one_line(err)
        raise ConfigError(f"cannot reach a Ray cluster at {address} ({reason}); start one with `ray start --head` or drop the address") from None


# ---------------------------------------------------------------------------- trainables
def run_trial(
    params: dict, evaluator: Any = None, budget: Budget | None = None, strategy: str = "", threads: int = 1, early_stop: bool = False
) -> None:
    """The Ray Tune trainable of one asked trial: score the config with the shared evaluator
    (:func:`search.base.evaluate_trial`) and report the record.

    With ``early_stop`` the accuracy after each fine-tuning epoch is reported for ASHA. A
    failed trial reports its reason (the searcher keeps it) and raises, so ``FailureConfig``
    retries it."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(threads)))
    config = Config.from_dict(params["config"])

    def report_epoch(epoch: int, model) -> None:  # noqa: ANN001 - a SpikingNetwork
        tune.report({ACCURACY.name: evaluator.validation_accuracy(model), "epoch": epoch, "final": False})

    record = evaluate_trial(
        evaluator, config, int(params["number"]), strategy=strategy, budget=budget or Budget(), info=params.get("info"), on_epoch=report_epoch if early_stop else None
    )
    if record.state != "COMPLETE":
        tune.report({"error": record.error, "final": False, "traceback": record.info.get("traceback", "")})
        raise RuntimeError(record.error)
    # As JSON text: Tune flattens nested dicts of a result before the searcher sees it.
    tune.report({ACCURACY.name: record.metrics.get(ACCURACY.name), "record": json.dumps(record.to_dict()), "final": True})


def run_part(params: dict, parts: Sequence[Strategy] = (), threads: int = 1) -> None:
    """The Ray Tune trainable of one part of a split strategy: its whole run, reported as its
    :meth:`Strategy.outcome`. A part whose trial failed reports the reason and raises, so
    ``FailureConfig`` retries it."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(threads)))
    part = parts[int(params["part"])]
    records = Driver(part, part.n_trials).run()
    failed = next((r for r in records if r.state != "COMPLETE"), None)
    if failed is not None or not records:
        reason = failed.error if failed is not None and failed.error else "the trial failed"
        tune.report({"error": reason, "final": False})
        raise RuntimeError(reason)
    tune.report({"final": True, "outcome": part.outcome()})


# ---------------------------------------------------------------------------- searcher
def _searcher_class() -> type:
    from ray.tune.search import Searcher

    class StrategySearcher(Searcher):
        """A Tune searcher that asks and tells a :class:`search.Strategy` (in the driver)."""

        def __init__(self, driver: Driver) -> None:
            super().__init__()
            self.driver = driver
            self.pending: dict[str, Proposal] = {}
            self.numbers: dict[str, int] = {}
            self.errors: dict[str, str] = {}

        def set_search_properties(self, metric, mode, config, **spec) -> bool:  # noqa: ANN001 - Tune's signature
            return True

        def suggest(self, trial_id: str) -> dict | str | None:
            if self.driver is None:  # read back from Tune's checkpoint: not how spikebits resumes
                raise RuntimeError("this searcher was read back from Tune's checkpoint, without its strategy; resume with --resume")
            asked = self.driver.propose()
            if asked is None:
                return Searcher.FINISHED
            proposal, number = asked
            self.pending[trial_id] = proposal
            self.numbers[trial_id] = number
            return {"config": proposal.config.to_dict(), "number": number, "info": proposal.info or {}}

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            if result.get("error"):
                self.errors[trial_id] = str(result["error"])

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            proposal = self.pending.pop(trial_id, None)
            if proposal is None:
                return
            number = self.numbers.pop(trial_id)
            if error or not result or not result.get("final"):
                stopped = bool(result) and not error
                reason = self.errors.pop(trial_id, None) or ("stopped early by ASHA" if stopped else "the trial failed")
                record = TrialRecord.failed(
                    number, proposal.config, reason, strategy=self.driver.strategy.name, state="PRUNED" if stopped else "FAIL"
                )
            else:
                record = TrialRecord.from_dict(json.loads(result["record"]))
            self.driver.tell(proposal, record)

        def abandon_pending(self, reason: str) -> None:
            """Tell every trial still in flight as failed with ``reason`` (the run ended first)."""
            for trial_id in list(self.pending):
                self.errors[trial_id] = reason
                self.on_trial_complete(trial_id, None, error=True)

        def save(self, checkpoint_path: str) -> None:
            """The strategy keeps the search's state (an Optuna study in its storage); Tune's
            checkpoint holds only the trials in flight."""
            with open(checkpoint_path, "w") as handle:
                json.dump({"pending": self.numbers}, handle)

        def restore(self, checkpoint_path: str) -> None:
            """Nothing to restore: a resumed search reopens the strategy's study instead."""

        def __getstate__(self) -> dict:
            """What Tune pickles (its ``tuner.pkl`` holds the search algorithm): the numbers of
            the trials in flight, never the driver (the strategy, the callback), nor the proposals. They live
            in the driver, hold library objects that need not pickle (an Optuna sampler's lock,
            a trial's storage) and the evaluator with its data; Tune's own restore is not used
            for them (a resumed search reopens the strategy's study)."""
            return {**self.__dict__, "driver": None, "pending": {}}

    return StrategySearcher


def make_searcher(driver: Driver) -> Any:
    """A Ray Tune searcher (``ray.tune.search.Searcher``) that asks and tells the strategy
    through ``driver`` in this process; what Tune pickles of it holds no driver."""
    return _searcher_class()(driver)


# ---------------------------------------------------------------------------- executor
class RayExecutor:
    """Runs a strategy's trials as Ray Tune trials (see the module docstring).

    ``address``: ``None``/``"local"`` starts Ray in this process (``num_cpus`` CPUs), else the
    cluster at ``HOST:PORT`` is joined. ``cpus_per_trial`` (also each trial's torch threads)
    and ``gpus_per_trial`` size a trial; ``max_concurrent`` caps trials at once (default: as
    many as the cluster fits); ``max_failures`` retries a trial that raises; ``early_stop``
    adds ASHA; ``resume`` continues the search whose Optuna study is in the strategy's
    storage; ``ray_storage`` is Tune's experiment folder (shared by every node of a cluster).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
        max_concurrent: int | None = None,
        max_failures: int = 0,
        early_stop: bool = False,
        resume: bool = False,
        ray_storage: str | os.PathLike[str] | None = None,
        num_cpus: int | None = None,
    ) -> None:
        if cpus_per_trial <= 0 or gpus_per_trial < 0:
            raise ConfigError("--cpus-per-trial must be more than 0 and --gpus-per-trial 0 or more")
        if max_concurrent is not None and max_concurrent < 1:
            raise ConfigError("--max-concurrent must be at least 1")
        if max_failures < 0:
            raise ConfigError("--max-failures must be 0 or more")
        self.address = None if address == "local" else address
        self.cpus_per_trial = cpus_per_trial
        self.gpus_per_trial = gpus_per_trial
        self.max_concurrent = max_concurrent
        self.max_failures = max_failures
        self.early_stop = early_stop
        self.resume = resume
        self.ray_storage = str(Path(ray_storage).expanduser().resolve()) if ray_storage else None
        self.num_cpus = num_cpus

    def describe(self) -> dict[str, Any]:
        return {
            "name": "ray",
            "address": self.address or "local",
            "cpus_per_trial": self.cpus_per_trial,
            "gpus_per_trial": self.gpus_per_trial,
            "max_concurrent": self.max_concurrent,
            "max_failures": self.max_failures,
            "early_stop": self.early_stop,
            "resume": self.resume,
        }

    def check(self, strategy: Strategy) -> None:
        """Settings that do not fit ``strategy`` are one-line errors, before any work."""
        if self.early_stop and strategy.splits:
            raise ConfigError(
                f"--early-stop stops fine-tuning epoch by epoch; the {strategy.name} strategy runs whole supernet runs (drop --early-stop)"
            )
        if self.resume and not (strategy.resumable and strategy.options.storage):
            resumable = ", ".join(name for name in available() if get_strategy(name).resumable)
            raise ConfigError(
                f"--resume on Ray continues a study: it needs one of {resumable} and the first run's --storage "
                "(sqlite:///FILE.db or a journal file)"
            )

    def run(
        self, strategy: Strategy, n_trials: int, callback: TrialCallback | None = None, control: RunControl | None = None
    ) -> list[TrialRecord]:
        self.check(strategy)
        init_ray(self.address, num_cpus=self.num_cpus)
        evaluator = strategy.evaluator
        evaluator.prepare()  # train or read the checkpoint (and a one-shot supernet) once, in the driver
        progress, log = evaluator.progress, evaluator.log
        evaluator.progress = evaluator.log = None  # a tqdm wrapper and the console's epoch log do not travel
        driver = Driver(strategy, n_trials, control, callback=callback)
        strategy.start()
        try:
            if self.resume and not any(r.state == "COMPLETE" for r in strategy.records()):
                raise ConfigError("no finished trial to resume in the study; run without --resume first (same --storage and --study)")
            if strategy.splits:
                self._run_parts(strategy, strategy.split())
            else:
                self._run_trials(driver)
        finally:
            evaluator.progress, evaluator.log = progress, log
            strategy.finish()
        return strategy.records()

    # ------------------------------------------------------------------ internals
    def _tuner(self, trainable: Any, param_space: dict | None = None, **tune_config: Any) -> Any:
        from ray import tune

        return tune.Tuner(
            tune.with_resources(trainable, {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial}),
            param_space=param_space,
            tune_config=tune.TuneConfig(reuse_actors=True, **tune_config),
            run_config=tune.RunConfig(
                name=EXPERIMENT_NAME,
                storage_path=self.ray_storage,
                failure_config=tune.FailureConfig(max_failures=self.max_failures),
                verbose=0,
            ),
        )

    def _run_trials(self, driver: Driver) -> None:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import ConcurrencyLimiter

        remaining = driver.remaining()
        if remaining <= 0:
            return
        strategy = driver.strategy
        searcher = make_searcher(driver)
        search_alg = ConcurrencyLimiter(searcher, max_concurrent=self.max_concurrent) if self.max_concurrent else searcher
        scheduler = None
        if self.early_stop:
            epochs = max(1, strategy.evaluator.finetune_settings.epochs)
            scheduler = ASHAScheduler(metric=ACCURACY.name, mode="max", time_attr="training_iteration", max_t=epochs + 1, grace_period=1)
        trainable = tune.with_parameters(
            run_trial, evaluator=strategy.evaluator, budget=strategy.budget, strategy=strategy.name,
            threads=max(1, int(self.cpus_per_trial)), early_stop=self.early_stop,
        )
        self._tuner(trainable, num_samples=remaining, search_alg=search_alg, scheduler=scheduler).fit()
        searcher.abandon_pending("interrupted: the Ray run ended before this trial finished")

    def _run_parts(self, strategy: SplitStrategy, parts: list[Strategy]) -> None:
        from ray import tune

        for part in parts:
            part.progress = None  # a tqdm wrapper does not travel
        trainable = tune.with_parameters(run_part, parts=parts, threads=max(1, int(self.cpus_per_trial)))
        grid = self._tuner(
            trainable, param_space={"part": tune.grid_search(list(range(len(parts))))}, max_concurrent_trials=self.max_concurrent or 0
        ).fit()
        by_part = {int(result.config["part"]): result for result in grid}
        outcomes: list[dict | str] = []
        for index in range(len(parts)):
            result = by_part.get(index)
            metrics = result.metrics if result is not None else {}
            if metrics.get("final"):
                outcomes.append(metrics["outcome"])
            else:
                error = result.error if result is not None else None
                outcomes.append(metrics.get("error") or (one_line(error) if error else "the trial failed"))
        strategy.merge(outcomes)
