"""Shared machinery of the Optuna strategies (``nsga2``, ``tpe``, ``random``, ``gp``, ``qmc``).

Each Optuna strategy is a :class:`OptunaStrategy` with its own sampler. Parameters use the
flat names of DESIGN.md (``conv2.w_bits``, ``conv2.scheme``, ...), one set per independent
decision (tied groups decided by their first layer, pinned layers left out). Budgets become
Optuna constraints, value − limit per budget metric (≤ 0 feasible), recorded as one list in
the budget's order (the form optuna-dashboard reads and Optuna reads too, so samplers,
``best_trials`` and plots see them; the names are in the trial's user attribute
``violations``). The study's metric names are the objectives.

Budgets on data-free metrics (:data:`space.COST_METRICS`: bit budget, S-ACE, energy, size,
effective resolution) are known before any training, so no fine-tune is spent on a config
that breaks one (``infeasible``):

* ``skip`` (random's default): the config is recorded as a SKIPPED trial with its costs and
  told to Optuna as COMPLETE with its constraint violations (a data metric's at its bound:
  accuracy 0, active S-ACE and energy at their dense values, firing rate 1) and its data
  objectives as the worst infinity (never measured), so constrained samplers rank it below
  every feasible trial and learn the budget from it, while Optuna's importance evaluators
  and history plot, which use finite values only, leave it out; then the sampler draws
  again. Random sampling therefore draws until feasible.
* ``repair`` (nsga2's and tpe's default): as ``skip``, and the config is then repaired by the
  fit rule (:func:`search.fitting.fit_config`: one option of one layer at a time, the
  cheapest move per unit of budget excess first) and the repaired config is enqueued as the
  next trial (``repaired_from`` in ``trials.csv``), so the sampler's child is kept as close
  as the budget allows.
* ``train``: every proposal is fine-tuned and scored (the behaviour before).

SKIPPED trials do not count towards ``n_trials``. After ``MAX_SKIPS`` draws in a row that all
break the budget, the search stops with a one-line error.

Resume: with ``storage`` (an sqlite URL, or a path to a journal file) and ``study_name``,
a search started again continues the same study, locally or on Ray. Trials of a process that
died (SIGKILL) stay RUNNING in the storage; :meth:`OptunaStrategy.start` marks those whose
owner process is gone as FAIL (the reason is kept in the study's user attribute
``error.<number>``) and enqueues their parameters again, so the interrupted config is retried.
A process asks its trial and then records itself as the owner, two writes: one killed between
them leaves a RUNNING trial without an owner, which is an orphan once it is
:data:`OWNERLESS_GRACE_S` old (a live process records its ownership within milliseconds);
``start`` waits for a younger one to reach that age before it decides.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from spikebits.results import TrialRecord
from spikebits.search.base import Proposal, Strategy, sensitivity_of, was_interrupted
from spikebits.search.options import SensitivityOptions, option
from spikebits.search.fitting import fit_config
from spikebits.search.identity import evaluator_identity
from spikebits.search.study_dashboard import AllocationPlots
from spikebits.search.study_storage import open_storage
from spikebits.space import COST_METRICS, SENSITIVITY_METRICS, BudgetError, Config, ConfigError, direction, worst_values

optuna.logging.set_verbosity(optuna.logging.WARNING)

INFEASIBLE_MODES = ("repair", "skip", "train")
#: Draws in a row that break a data-free budget before a search gives up.
MAX_SKIPS = 2000

#: Trial states of a finished trial.
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)

_STATE_NAMES = {
    TrialState.COMPLETE: "COMPLETE",
    TrialState.FAIL: "FAIL",
    TrialState.PRUNED: "PRUNED",
    TrialState.RUNNING: "RUNNING",
    TrialState.WAITING: "RUNNING",
}


def _unmeasured(metric: str) -> float:
    """The objective value Optuna is told for a data metric of a config that was never
    trained: the worst infinity of its direction. Constrained samplers still rank the trial
    (NSGA-II and TPE by its budget violation, GP clips it to the worst finite value), while
    Optuna's importance evaluators, which keep finite targets only, leave it out."""
    return -math.inf if direction(metric) == "maximize" else math.inf


#: Seconds after which a RUNNING trial that names no owner is an orphan (its process died
#: between asking the trial and recording itself as the owner).
OWNERLESS_GRACE_S = 10.0


def _age_s(trial: optuna.trial.FrozenTrial) -> float:
    """Seconds since ``trial`` was asked."""
    start = trial.datetime_start
    return math.inf if start is None else (datetime.datetime.now() - start).total_seconds()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class OptunaOptions(SensitivityOptions):
    """Options of every Optuna strategy."""

    storage: str | None = option(None, "Optuna storage: sqlite:///FILE.db or a journal file path (resumable)")
    study_name: str | None = option(None, "study name inside the storage (resume by reusing it; default spikebits-STRATEGY)", flag="--study")
    warm_starts: tuple[Config, ...] = option((), "configs enqueued as the first trials (--warm-start)", cli=False)
    init_sensitivity: str | None = option(
        None, "also enqueue sensitivity-guided configs first: the integer program's optima (hessian, output) or KurtBoost configs (kurtosis)",
        choices=SENSITIVITY_METRICS,
    )
    init_count: int = option(4, "how many sensitivity-guided configs --init-sensitivity enqueues")
    infeasible: str = option(
        "repair", "a sampled config that breaks a data-free budget: repair (record it untrained, evaluate its repair by the fit "
        "rule), skip (record it untrained, draw again) or train (fine-tune it anyway)", choices=INFEASIBLE_MODES,
    )

    def validate(self) -> None:
        self.require(self.init_count >= 1, "init_count", "at least 1")
        super().validate()


class OptunaStrategy(Strategy):
    """An Optuna sampler behind the :class:`Strategy` lifecycle (ask/tell interface); its
    options are :class:`OptunaOptions` (subclasses add their sampler's)."""

    Options = OptunaOptions
    options: OptunaOptions
    resumable = True

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def start(self) -> None:
        """Create or load the study (checking that a loaded one was made with the same
        strategy, objectives, budget and space), fail the trials of dead processes
        (:meth:`fail_orphans`), and enqueue the warm starts."""
        #: The study's storage (in memory without ``storage``), kept for its public API.
        self.storage = open_storage(self.options.storage) or optuna.storages.InMemoryStorage()
        storage = self.storage
        name = self.options.study_name or f"spikebits-{self.name}"
        directions = [direction(m) for m in self.objectives]
        signature = {
            "strategy": self.name,
            "objectives": list(self.objectives),
            "budget": self.budget.to_dict(),
            "space": self.space.to_dict(),
            "evaluator": evaluator_identity(self.evaluator),
        }
        existing = None
        if self.options.storage is not None:
            try:
                existing = optuna.load_study(study_name=name, storage=storage)
            except KeyError:
                existing = None
            if existing is not None:
                old = existing.user_attrs.get("spikebits")
                # A study written before a key joined the signature is judged on the keys it has.
                changed = [k for k in signature if old is not None and k in old and old[k] != json.loads(json.dumps(signature[k]))]
                if changed:
                    raise ConfigError(
                        f"study {name!r} in {self.options.storage} was made with another {', '.join(changed)}; "
                        "use a new --study name, another --storage (or --out), or the same settings"
                    )
        # A resumed study reseeds its sampler, so it does not repeat the first run's draws.
        previous = len(existing.trials) if existing is not None else 0
        self.study = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=directions,
            sampler=self.make_sampler(self.seed + previous),
            load_if_exists=True,
        )
        self.study.set_user_attr("spikebits", signature)
        #: The allocation plots of the front trials, for optuna-dashboard (with a file storage).
        self.allocation_plots = AllocationPlots(self.options.storage, self.study.study_name, self.space, self.objectives)
        self.study_id = self.storage.get_study_id_from_name(self.study.study_name)
        with warnings.catch_warnings():  # experimental in some Optuna versions
            warnings.simplefilter("ignore")
            self.study.set_metric_names(list(self.objectives))
        self.fail_orphans()
        warm = list(self.options.warm_starts)
        if self.options.init_sensitivity is not None:
            from spikebits.search.warm import warm_start_configs

            warm += warm_start_configs(
                self.evaluator, self.options.init_sensitivity, self.budget, count=self.options.init_count,
                report=sensitivity_of(self, self.options.probes, self.options.hessian_network), progress=self.progress,
            )
        for config in warm:
            full = self.space.complete(config)
            self.study.enqueue_trial(self.encode(self.space.flat_params(full)), skip_if_exists=True)

    def fail_orphans(self) -> int:
        """Mark RUNNING trials whose owner process on this host is gone as FAIL (the reason
        in the study's user attribute ``error.<number>``) and enqueue their params again;
        returns how many."""
        host = socket.gethostname()
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        young = [_age_s(t) for t in running if "owner" not in t.user_attrs and _age_s(t) < OWNERLESS_GRACE_S]
        if young:  # an owner may still be recording itself: look again once it could not be
            time.sleep(OWNERLESS_GRACE_S - min(young))
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        failed = 0
        for trial in running:
            owner = trial.user_attrs.get("owner")
            if owner is None:
                reason = "interrupted: its process ended before recording itself as the owner"
            elif owner.get("host") != host or _process_alive(int(owner.get("pid", -1))):
                continue
            else:
                reason = f"interrupted: process {owner.get('pid')} ended"
            self.study.set_user_attr(f"error.{trial.number}", reason)
            self.study.tell(trial.number, state=TrialState.FAIL)
            if trial.params:
                self.study.enqueue_trial(trial.params, skip_if_exists=False)
            failed += 1
        return failed

    def _counts(self, trial: optuna.trial.FrozenTrial, interrupted: set[int]) -> bool:
        """Whether ``trial`` counts towards ``n_trials``: trained and finished (COMPLETE, FAIL
        or PRUNED: a failing search ends too), or in flight when ``RUNNING`` is asked for;
        not a SKIPPED config, a surplus ask or a trial of a process that died (retried)."""
        if "skipped" in trial.user_attrs or "surplus" in trial.user_attrs:
            return False
        return not (trial.state == TrialState.FAIL and trial.number in interrupted)

    def _interrupted(self) -> set[int]:
        return {int(k.split(".", 1)[1]) for k in self.study.user_attrs if k.startswith("error.") and k.split(".", 1)[1].isdigit()}

    def remaining(self, n_trials: int, told: int) -> int:
        """Trials still to run: ``n_trials`` less the finished ones of the study (this run's,
        a resumed run's, another process's on a shared storage; failed ones count, so a search
        in which every trial fails ends)."""
        if getattr(self, "study", None) is None:  # before start(): nothing is known to be done
            return n_trials
        interrupted = self._interrupted()
        return n_trials - sum(self._counts(t, interrupted) for t in self.study.get_trials(deepcopy=False, states=FINISHED))

    def _surplus(self, trial: optuna.trial.Trial) -> bool:
        """With a storage that other processes share, whether ``trial`` (just asked) would
        exceed the strategy's ``n_trials``: the storage numbers trials in the order they were
        created, so the trials before it that count (finished or in flight) decide, the same in
        every process."""
        if self.options.storage is None:
            return False
        interrupted = self._interrupted()
        before = [
            t for t in self.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
            if t.number < trial.number and self._counts(t, interrupted)
        ]
        return len(before) >= self.n_trials

    # ------------------------------------------------------------------ parameters
    #: The LayerOptions field that lists the values of each choice (the flat parameter names
    #: use the LayerChoice field).
    OPTION_FIELD = {"w_bits": "w_bits", "s_bits": "s_bits", "timesteps": "timesteps", "scheme": "schemes", "u_bits": "u_bits"}

    def keys(self, layer: str) -> list[tuple[str, str]]:
        """(flat key, options field) of each choice of the decision ``layer``: W, S, T, scheme,
        and U where the layer searches it (:meth:`space.SearchSpace.decision_keys`)."""
        return [(key, self.OPTION_FIELD[key]) for key in self.space.decision_keys(layer)]

    def suggest(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        """The flat parameters (``conv2.w_bits`` …, DESIGN) of a new trial: one categorical
        per choice of each decision. A sampler that needs numbers overrides this together
        with :meth:`encode` and :meth:`decode`."""
        params: dict[str, Any] = {}
        for layer in self.space.decisions:
            opts = self.space.layers[layer]
            for key, field in self.keys(layer):
                params[f"{layer}.{key}"] = trial.suggest_categorical(f"{layer}.{key}", list(getattr(opts, field)))
        return params

    def encode(self, flat: dict[str, Any]) -> dict[str, Any]:
        """Flat parameters → the trial parameters :meth:`suggest` records (for enqueued trials)."""
        return flat

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's parameters → flat parameters."""
        return params

    #: Beginnings of sampler warnings that say nothing to a spikebits user (each sampler's own).
    quiet_warnings: tuple[str, ...] = ()

    def _sample(self) -> tuple[optuna.trial.Trial, Config]:
        with warnings.catch_warnings():
            for message in self.quiet_warnings:
                warnings.filterwarnings("ignore", message=message)
            trial = self.study.ask()
            trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": os.getpid()})
            return trial, self.space.from_params(self.suggest(trial))

    def _cost_limits(self) -> dict[str, float]:
        """The budget's limits on data-free metrics, which decide before any training ({}
        with ``infeasible="train"``)."""
        if self.options.infeasible == "train":
            return {}
        return {m: lim for m, lim in self.budget.to_dict().items() if m in COST_METRICS}

    def _skip(self, trial: optuna.trial.Trial, config: Config, costs: dict[str, float]) -> None:
        """Tell ``trial`` (whose config breaks a data-free budget) without training it."""
        record = TrialRecord.skipped(trial.number, config, costs, strategy=self.name, budget=self.budget)
        trial.set_user_attr("skipped", record.error)
        trial.set_user_attr("metrics", dict(record.metrics))
        self._describe_trial(trial, config, feasible=False)
        # Optuna gets every constraint of the budget, as for a trained trial (a data metric's
        # at its bound), and an unmeasured data objective as the worst infinity.
        bounds = {**worst_values(costs), **costs}
        bounds = {m: bounds[m] for m in self.budget.metrics}
        self._set_constraints(trial, {c.metric: c.violation(bounds) for c in self.budget.constraints})
        self.study.tell(trial, [costs[m] if m in costs else _unmeasured(m) for m in self.objectives])

    def ask(self) -> Proposal | None:
        limits = self._cost_limits()
        for _ in range(MAX_SKIPS):
            trial, config = self._sample()
            if self._surplus(trial):  # another process on the same study took the last trial
                trial.set_user_attr("surplus", True)
                self.study.tell(trial, state=TrialState.FAIL)
                return None
            info = {"repaired_from": trial.user_attrs["repaired_from"]} if "repaired_from" in trial.user_attrs else None
            if not limits:
                return Proposal(config, trial, info=info, number=trial.number)
            costs = self.evaluator.cost(config)
            if all(costs[m] <= lim for m, lim in limits.items()):
                return Proposal(config, trial, info=info, number=trial.number)
            self._skip(trial, config, costs)
            if self.options.infeasible == "repair":
                try:
                    repaired, _ = fit_config(config, self.space, self.evaluator.cost, limits)
                except BudgetError:
                    continue
                full = self.space.complete(repaired)
                self.study.enqueue_trial(self.encode(self.space.flat_params(full)), user_attrs={"repaired_from": trial.number})
        raise BudgetError(
            f"{MAX_SKIPS} sampled configs in a row broke the budget {self.budget} before any training; loosen the budget"
        )

    def _describe_trial(self, trial: optuna.trial.Trial, config: Config, *, feasible: bool | None) -> None:
        """What optuna-dashboard shows of a trial besides its parameters: the whole config
        (pinned layers included, as ``config`` and one line ``config_short``) and whether it
        keeps the budget (``feasible``: None for a trial that did not finish)."""
        full = self.space.complete(config, strict=False)
        trial.set_user_attr("config", full.to_dict()["layers"])
        trial.set_user_attr("config_short", full.short())
        trial.set_user_attr("feasible", feasible)

    def _set_constraints(self, trial: optuna.trial.Trial, violations: dict[str, float]) -> None:
        """Record the budget's constraint values of ``trial`` (value − limit, ≤ 0 feasible) as
        one list in the budget's order, under the trial's system attribute ``constraints``,
        written through the storage's public API. Optuna 5 reads that list as it reads
        ``trial.set_constraint`` (its samplers, ``best_trials`` and plots see the same
        values), and optuna-dashboard reads only that list (it does not know the names Optuna
        5 stores). Writing both would make Optuna count every constraint twice, so the names
        go in the user attribute ``violations`` instead (:meth:`_named_violations` reads them
        back)."""
        if not violations:
            return
        names = [c.metric for c in self.budget.constraints]
        trial.set_user_attr("violations", {m: float(violations[m]) for m in names})
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        self.storage.set_trial_system_attr(trial_id, "constraints", [float(violations[m]) for m in names])

    def _named_violations(self, trial: optuna.trial.FrozenTrial) -> dict[str, float]:
        """``trial``'s constraint values by metric name (the list's positions are the budget's
        constraints; a study written by ``trial.set_constraint`` has the names already)."""
        names = [c.metric for c in self.budget.constraints]
        return {names[int(k)] if k.isdigit() and int(k) < len(names) else k: v for k, v in trial.constraints.items()}

    def publish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], out_dir: Path | None) -> list[Path]:
        """Mark the front in the study: user attribute ``pareto_front``, its trial numbers."""
        study = getattr(self, "study", None)
        if study is not None:
            study.set_user_attr("pareto_front", sorted(r.number for r in front))
        return []

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        trial = proposal.handle
        trial.set_user_attr("wall_time_s", record.wall_time_s)
        self._describe_trial(trial, record.config, feasible=record.feasible if record.state == "COMPLETE" else None)
        if was_interrupted(record):  # stopped on request (SIGINT, SIGTERM): FAIL, not counted towards n_trials
            self.study.set_user_attr(f"error.{trial.number}", record.error)
            self.study.tell(trial, state=TrialState.FAIL)
            return
        if record.state != "COMPLETE":
            trial.set_user_attr("error", record.error)
            if record.state == "PRUNED" and record.info:  # where it stopped (local early stopping), read back by records()
                trial.set_user_attr("info", {k: v for k, v in record.info.items() if k != "traceback"})
            self.study.tell(trial, state=TrialState.PRUNED if record.state == "PRUNED" else TrialState.FAIL)
            return
        trial.set_user_attr("metrics", dict(record.metrics))
        if record.info:
            trial.set_user_attr("info", {k: v for k, v in record.info.items() if k != "traceback"})
        self.allocation_plots.attach(trial, record)
        self._set_constraints(trial, record.violations)
        self.study.tell(trial, [record.metrics[m] for m in self.objectives])

    def records(self) -> list[TrialRecord]:
        errors = self.study.user_attrs
        return [self._record(trial, errors) for trial in self.study.get_trials(deepcopy=False) if "surplus" not in trial.user_attrs]

    def _record(self, trial: optuna.trial.FrozenTrial, errors: Mapping[str, Any]) -> TrialRecord:
        """The :class:`results.TrialRecord` of a study trial (``errors``: the study's user
        attributes, where an interrupted trial's reason is kept)."""
        state = _STATE_NAMES.get(trial.state, "FAIL")
        if state == "COMPLETE" and "skipped" in trial.user_attrs:
            state = "SKIPPED"
        try:
            config = self.space.from_params(self.decode(trial.params)) if trial.params else None
        except ConfigError:
            config = None
        violations = self._named_violations(trial)
        return TrialRecord(
            number=trial.number, config=config, metrics=trial.user_attrs.get("metrics", {}) if state in ("COMPLETE", "SKIPPED") else {},
            strategy=self.name, wall_time_s=float(trial.user_attrs.get("wall_time_s", 0.0)),
            feasible=state == "COMPLETE" and all(v <= 0 for v in violations.values()), state=state, violations=violations,
            error=trial.user_attrs.get("error") or trial.user_attrs.get("skipped") or errors.get(f"error.{trial.number}"),
            info=trial.user_attrs.get("info", {}),
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.pop("warm_starts", None)
        info["study_name"] = self.study.study_name
        info["sampler"] = type(self.study.sampler).__name__
        return info
