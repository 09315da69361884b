"""Run an Optuna strategy (``nsga2``, ``tpe``, ``random``) on a Ray cluster with Ray Tune.

Ray Tune is the engine, Optuna stays the sampler and the storage:

* the strategy's own study (same sampler, same ``--storage``, same warm starts and signature
  check as a local search) is handed to :class:`ConstrainedOptunaSearch`, an ``OptunaSearch``
  that asks the study with the same define-by-run parameters as :class:`OptunaStrategy` and,
  before telling a finished trial, stores its metrics and sets every budget as an Optuna
  constraint (``value − limit``, ≤ 0 feasible) — Ray 2.60's ``OptunaSearch`` drops both;
* trials run the shared :class:`evaluators.Evaluator`, shipped once to the object store with
  its data and pretrained state (``tune.with_parameters``), in Ray's reused worker processes,
  so a trial pays neither for importing torch again nor for re-reading data or the checkpoint;
* a trial that raises is retried up to ``max_failures`` times (``FailureConfig``); after that it
  is a failed trial with its reason in the study, and the search goes on;
* ``--early-stop`` adds ASHA on accuracy (one metric: schedulers take one), reported after
  each fine-tuning epoch; a stopped trial is recorded as PRUNED;
* ``--resume`` continues an interrupted experiment with ``Tuner.restore``.

After the run the records are read back from the Optuna study exactly as a local search
reads them, so ``pareto.json`` and ``trials.csv`` come out the same way.
"""

from __future__ import annotations

import copy
import os
import pickle
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from spikebits.results import TrialRecord
from spikebits.search.optuna_base import OptunaStrategy
from spikebits.space import Config, ConfigError, SpikebitsError

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
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"cannot reach a Ray cluster at {address} ({reason}); start one with `ray start --head` or drop the address") from None


def _searcher_class():
    from ray.tune.search.optuna import OptunaSearch

    class ConstrainedOptunaSearch(OptunaSearch):
        """``OptunaSearch`` on a given study, with budgets as Optuna constraints."""

        def __init__(self, strategy: OptunaStrategy, **kwargs: Any) -> None:
            self.strategy = strategy
            objectives = list(strategy.objectives)
            modes = ["max" if d == "maximize" else "min" for d in (_direction(m) for m in objectives)]
            super().__init__(space=strategy_space(strategy), metric=objectives, mode=modes, **kwargs)
            self._errors: dict[str, str] = {}

        def _setup_study(self, mode):  # noqa: ANN001 - Ray's signature
            self._ot_study = self.strategy.study

        def save(self, checkpoint_path: str) -> None:
            """Ray's save pickles ``__dict__``; leave the evaluator (data, weights) out."""
            state = self.__dict__.copy()
            state["strategy"] = copy.copy(self.strategy)
            state["strategy"].evaluator = None
            with open(checkpoint_path, "wb") as handle:
                pickle.dump(state, handle)

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            if result.get("error"):
                self._errors[trial_id] = str(result["error"])

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            from optuna.trial import TrialState

            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is None or trial_id in self._completed_trials:
                return super().on_trial_complete(trial_id, result, error)
            self._completed_trials.add(trial_id)
            study = self.strategy.study
            if study._storage.get_trial(ot_trial._trial_id).state.is_finished():
                return  # told before an interruption; a resumed run repeated it
            if result and "wall_time_s" in result:
                ot_trial.set_user_attr("wall_time_s", float(result["wall_time_s"]))
            if error or not result or not result.get("final"):
                reason = self._errors.get(trial_id) or ("stopped early by ASHA" if result and not error else "the trial failed")
                ot_trial.set_user_attr("error", reason)
                study.tell(ot_trial, state=TrialState.PRUNED if (result and not error) else TrialState.FAIL)
                return
            metrics = {k: float(v) for k, v in result.items() if k in _metric_names() and v is not None}
            ot_trial.set_user_attr("metrics", metrics)
            for constraint in self.strategy.budget.constraints:
                ot_trial.set_constraint(constraint.metric, constraint.violation(metrics))
            study.tell(ot_trial, [metrics[m] for m in self.strategy.objectives])

    return ConstrainedOptunaSearch


def _direction(metric: str) -> str:
    from spikebits.space import direction

    return direction(metric)


def _metric_names() -> tuple[str, ...]:
    from spikebits.space import METRICS

    return tuple(METRICS)


class DefineByRun:
    """The define-by-run search space: the flat names and choices of :meth:`OptunaStrategy.ask`
    (a class, not a closure, so that Tune can pickle the searcher)."""

    def __init__(self, space) -> None:  # noqa: ANN001 - a SearchSpace
        self.space = space

    def __call__(self, trial) -> None:  # noqa: ANN001 - an optuna.Trial
        for layer in self.space.decisions:
            opts = self.space.layers[layer]
            trial.suggest_categorical(f"{layer}.w_bits", list(opts.w_bits))
            trial.suggest_categorical(f"{layer}.s_bits", list(opts.s_bits))
            trial.suggest_categorical(f"{layer}.timesteps", list(opts.timesteps))
            trial.suggest_categorical(f"{layer}.scheme", list(opts.schemes))


def strategy_space(strategy: OptunaStrategy) -> DefineByRun:
    return DefineByRun(strategy.space)


def _flatten(params: dict, prefix: str = "") -> dict:
    """Tune hands the params back nested at the dots; undo that."""
    out = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def run_trial(params: dict, evaluator: Any = None, threads: int = 1, early_stop: bool = False) -> None:
    """The Ray Tune trainable: score one config with the shared evaluator and report it.

    With ``early_stop`` the accuracy after each fine-tuning epoch is reported for ASHA. On an
    exception the reason is reported (the searcher stores it) and the exception re-raised, so
    ``FailureConfig`` retries the trial."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(threads)))
    start = time.perf_counter()
    try:
        config: Config = evaluator.space.from_params(_flatten(params))
        if early_stop:
            def on_epoch(epoch: int, model) -> None:  # noqa: ANN001
                tune.report({"accuracy": evaluator.score(model)["accuracy"], "epoch": epoch, "final": False})

            metrics = evaluator(config, on_epoch=on_epoch)
        else:
            metrics = evaluator(config)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not isinstance(err, SpikebitsError):
            reason = f"{type(err).__name__}: {reason}"
        tune.report({"error": reason, "final": False, "traceback": traceback.format_exc(limit=3)})
        raise
    tune.report({**metrics, "wall_time_s": time.perf_counter() - start, "final": True})


def run_on_ray(
    strategy: OptunaStrategy,
    evaluator: Any,
    n_trials: int,
    *,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
    max_failures: int = 0,
    early_stop: bool = False,
    resume: bool = False,
    ray_storage: str | os.PathLike[str] | None = None,
    num_cpus: int | None = None,
) -> list[TrialRecord]:
    """Run ``strategy`` (already started: its study open) for ``n_trials`` finished trials."""
    init_ray(address, num_cpus=num_cpus)
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter

    evaluator.pretrained()  # train or read the checkpoint once, in the driver
    _ = evaluator.data
    progress, evaluator.progress = evaluator.progress, None  # a tqdm wrapper does not travel
    storage_path = str(Path(ray_storage).expanduser().resolve()) if ray_storage else None
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, evaluator=evaluator, threads=max(1, int(cpus_per_trial)), early_stop=early_stop),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    try:
        experiment = Path(storage_path or Path("~/ray_results").expanduser()) / EXPERIMENT_NAME
        if resume:
            if not tune.Tuner.can_restore(str(experiment)):
                raise ConfigError(f"no Ray experiment to resume in {experiment}; run without --resume first (same --ray-storage)")
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=False, restart_errored=False)
        else:
            remaining = strategy.remaining(n_trials)
            searcher = _searcher_class()(strategy)
            if max_concurrent:
                searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
            scheduler = None
            if early_stop:
                epochs = max(1, evaluator.finetune_settings.epochs)
                scheduler = ASHAScheduler(metric="accuracy", mode="max", time_attr="training_iteration", max_t=epochs + 1, grace_period=1)
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(num_samples=max(remaining, 0), search_alg=searcher, scheduler=scheduler, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=EXPERIMENT_NAME,
                    storage_path=storage_path,
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    verbose=0,
                ),
            )
        if resume or strategy.remaining(n_trials) > 0:
            tuner.fit()
        if resume:
            _fail_interrupted(strategy)
    finally:
        evaluator.progress = progress
    return strategy.records()


def _fail_interrupted(strategy: OptunaStrategy) -> None:
    """After a resumed run, trials still RUNNING in the study were asked by the interrupted
    run but never reached Tune's checkpoint: mark them failed with the reason."""
    from optuna.trial import TrialState

    for trial in strategy.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        strategy.study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted: the Ray run ended before this trial finished")
        strategy.study.tell(trial.number, state=TrialState.FAIL)


# ---------------------------------------------------------------------------- target sweep
def run_target(params: dict, strategy: Any = None, threads: int = 1) -> None:
    """The Ray Tune trainable of a ``differentiable`` / ``gumbel`` sweep: one supernet run
    for one target (train, snap, fit, fine-tune, score), reported as a whole."""
    import torch
    from ray import tune

    torch.set_num_threads(max(1, int(threads)))
    index = int(params["target"])
    worker = copy.copy(strategy)
    worker.targets = (strategy.targets[index],)
    worker.initial_configs = [strategy.initial_configs[index]] if strategy.initial_configs else None
    worker.runs, worker.moves, worker._records = [], [], []
    proposal = worker.ask()
    record = worker.evaluate(proposal, index)
    if record.state != "COMPLETE":
        tune.report({"error": record.error or "the trial failed", "final": False})
        raise RuntimeError(record.error or "the trial failed")
    tune.report({"final": True, "record": record.to_dict(), "run": worker.runs[0].to_dict(), "moves": worker.moves[0]})


def run_targets_on_ray(
    strategy: Any,
    evaluator: Any,
    *,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    max_concurrent: int | None = None,
    max_failures: int = 0,
    ray_storage: str | os.PathLike[str] | None = None,
    num_cpus: int | None = None,
) -> list[TrialRecord]:
    """One Ray trial per target of a started :class:`search.differentiable.DifferentiableStrategy`;
    the strategy's runs and records are filled in target order, as a local run fills them."""
    from spikebits.search.differentiable import SupernetRun
    from spikebits.space import BitTargets

    init_ray(address, num_cpus=num_cpus)
    from ray import tune

    evaluator.pretrained()
    _ = evaluator.data
    progress, evaluator.progress, strategy.progress = evaluator.progress, None, None
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_target, strategy=strategy, threads=max(1, int(cpus_per_trial))),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"target": tune.grid_search(list(range(len(strategy.targets))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent or 0, reuse_actors=True),
            run_config=tune.RunConfig(
                name=EXPERIMENT_NAME,
                storage_path=str(Path(ray_storage).expanduser().resolve()) if ray_storage else None,
                failure_config=tune.FailureConfig(max_failures=max_failures),
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        evaluator.progress = strategy.progress = progress
    by_target: dict[int, Any] = {}
    for result in grid:
        by_target[int(result.config["target"])] = result
    for index, target in enumerate(strategy.targets):
        result = by_target.get(index)
        metrics = result.metrics if result is not None else {}
        if metrics.get("final"):
            record = TrialRecord.from_dict(metrics["record"])
            run = metrics["run"]
            strategy.runs.append(
                SupernetRun(
                    target=BitTargets(**run["target"]),
                    config=Config.from_dict({"layers": run["snapped"]}),
                    learned=run["learned"],
                    history=run["history"],
                    layer_history=run["layer_history"],
                    renewals=run["renewals"],
                    renewal_off_epoch=run["renewal_off_epoch"],
                    supernet_accuracy=run["supernet_accuracy"],
                    wall_time_s=run["wall_time_s"],
                )
            )
            strategy.moves.append(metrics["moves"])
        else:
            reason = metrics.get("error") or (str(result.error).splitlines()[0] if result is not None and result.error else "the trial failed")
            record = TrialRecord(number=index, config=None, metrics={}, strategy=strategy.name, wall_time_s=0.0,
                                 feasible=False, state="FAIL", error=reason, info={"target": str(target)})
        strategy._records.append(record)
    return strategy.records()
