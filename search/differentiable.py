"""``differentiable`` and ``gumbel``: learn each layer's bits during training (Yao et al.;
SpikeHQ), then hand the snapped config to the shared evaluator.

One supernet run per target W̄/S̄/T̄ (W̄/S̄/T̄/Ū where the space searches the membrane width
U: :mod:`search.supernet_targets`); several targets trace a front. A run:

1. starts from the cached full-precision model set to the initial config (default: every
   unpinned layer at 4/4/2, the seed paper's start) and calibrates the step sizes;
2. trains weights, step sizes and the bit parameters (B̂_w, B̂_s,t, T̂; or the Gumbel logits
   θ over (scheme, W); Û where U is searched) with L = CE + λ_w|W̄ − W_t| + λ_s|S̄ − S_t| +
   λ_T|T̄ − T_t| (+ λ_U|Ū − U_t|) (exact averages), with step-size renewal when a rounded bit width changes until the switch-off
   rule stops it, and the bit parameters frozen for the last part of training; after each
   epoch but the last, a partial checkpoint in the evaluator's cache folder (named for the
   run's settings, :func:`supernet_checkpoint`) lets a stopped run resume bit for bit;
3. snaps the learned values (the rounded values averaged over the last epoch) to each
   layer's options, fixes the network there and recomputes its BatchNorm statistics before
   scoring it; if the config breaks a budget or an average misses its target by more
   than ``target_tolerance``, moves one option of one layer at a time — first the reduction
   that costs least — until it fits (:func:`fit_config`);
4. hands on the supernet's own network at that config (``network: supernet``, the default:
   :mod:`search.supernet_network`), scored by the shared evaluator's :meth:`score` and
   written as ``network-{trial}.pt`` / ``.sbq``; or (``network: finetune``) proposes the
   config for the shared :class:`evaluators.Evaluator` to fine-tune from full precision and
   score like any other strategy's.

This file holds the two registered strategies; their pieces live beside it, one job each: the
options (:mod:`search.supernet_options`), the targets (:mod:`search.supernet_targets`), one
run's training (:mod:`search.supernet_training`) and its partial checkpoint
(:mod:`search.supernet_checkpoints`), the figures (:mod:`search.supernet_figures`) and the
handed-on network (:mod:`search.supernet_network`). Their public names are importable from
here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from spikebits.results import TrialRecord
from spikebits.search.base import Failed, Proposal, SplitStrategy, Strategy, register_strategy, sensitivity_of
from spikebits.search.fitting import fit_config
from spikebits.search.supernet_checkpoints import (
    MODULE_STATE,
    SUPERNET_CHECKPOINT_VERSION,
    module_state,
    remove_checkpoint,
    set_module_state,
    supernet_checkpoint,
)
from spikebits.search.supernet_figures import draw_supernet_figures
from spikebits.search.supernet_network import NetworkScore, decode_network, encode_network, hand_on, write_networks
from spikebits.search.supernet_options import (
    BIT_SCHEDULES,
    DEFAULT_LRS,
    DEFAULT_WEIGHT_DECAY,
    MOVED_EPOCHS,
    OPTIMIZERS,
    PAPER_RECIPE,
    PLAIN_DEFAULTS,
    RECIPES,
    RENEWAL_MODES,
    SUPERNET_SETTINGS,
    DifferentiableOptions,
    GumbelOptions,
)
from spikebits.search.supernet_targets import (
    DEFAULT_TARGETS,
    GENTLE_FROM_BITS,
    PAPER_LAMBDAS_HIGH,
    PAPER_LAMBDAS_LOW,
    exact_targets,
    paper_lambdas,
    resolve_targets,
    split_bit_budget,
)
from spikebits.search.supernet_training import (
    DEFAULT_START,
    LATE_SHARE,
    MAX_SUPERNET_EPOCHS,
    SUPERNET_SAMPLES,
    SupernetLoop,
    SupernetRun,
    count_changes,
    initial_config,
    learning_steps,
    supernet_epochs,
    supernet_optimizer,
    train_supernet,
)
from spikebits.space import COST_METRICS, BitTargets, Config, ConfigError, TrainingError, TrainingStopped
from spikebits.space.budget import membrane_average

def draw_artifacts(out_dir: Path, run_info: Mapping[str, Any], records: Sequence[TrialRecord]) -> list[Path]:
    """``bit_trajectories.png`` (W̄, S̄, T̄ over training, with the targets) and
    ``allocation.png`` (per-layer bars of each final config), beside ``pareto.png``, from
    ``run.json``'s supernet runs and the records (after a run, and again by ``spikebits
    report``)."""
    strategy = run_info.get("strategy") or {}
    runs = strategy.get("runs") or []
    if not runs:
        return []
    return draw_supernet_figures(
        out_dir, strategy.get("name", "differentiable"), [(BitTargets(**run["target"]), run["history"]) for run in runs],
        [rec.config for rec in records if rec.config is not None],
    )


@register_strategy
class DifferentiableStrategy(SplitStrategy):
    """Learnable W, S and T per layer (Yao et al.): one supernet run per target, then snap and fit.

    Options: :class:`DifferentiableOptions`. ``n_trials`` is ignored: there is one trial per
    target. The runs are independent, so :meth:`split` gives one part per target (a Ray
    executor runs them in parallel).
    """

    name = "differentiable"
    Options = DifferentiableOptions
    options: DifferentiableOptions
    gumbel = False
    trials_note = "one per target"
    #: The fit step holds data-free budgets; of the data metrics, only a floor (accuracy>=).
    data_budgets = frozenset({"maximize"})
    draw_artifacts = staticmethod(draw_artifacts)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets = resolve_targets(self.options.targets, self.budget, self.space)
        lambdas = self.options.lambdas
        if lambdas is not None and len(lambdas) == 4 and not any(self.space.layers[n].searches_membrane for n in self.space.decisions):
            raise ConfigError(
                f"lambdas {'/'.join(f'{x:g}' for x in lambdas)} has a fourth number, λ_U, but the space searches no membrane widths; "
                "give 3 numbers, or add --membrane-bits (u_bits in the space file)"
            )
        if self.options.initial_configs and len(self.options.initial_configs) != len(self.targets):
            raise ConfigError(f"{len(self.options.initial_configs)} initial configs for {len(self.targets)} targets; give one per target")
        self.initial_configs: list[Config] = list(self.options.initial_configs)
        self.runs: list[SupernetRun] = []
        self.moves: list[list[str]] = []
        #: Targets whose supernet training diverged (a FAIL trial each, without a run).
        self.diverged = 0
        #: Per scored trial, the handed-on network and its config (``network: supernet``).
        self.networks: dict[int, tuple[torch.nn.Module, Config]] = {}

    # ------------------------------------------------------------------ lifecycle
    def _limits(self) -> dict[str, float]:
        return {m: lim for m, lim in self.budget.to_dict().items() if m in COST_METRICS}

    def _membrane_average(self, config: Config) -> float | None:
        """Ū of ``config`` over the unpinned layers (None where the space searches no U)."""
        return membrane_average(self.evaluator.specs, self.space.complete(config, strict=False), self.space.free_layers)

    def _measure(self, config: Config) -> dict[str, float]:
        values = dict(self.evaluator.cost(config))
        values["avg_w_bits"], values["avg_s_bits"], values["avg_timesteps"] = self.evaluator.averages(config)
        u = self._membrane_average(config)
        if u is not None:
            values["avg_u_bits"] = u
        return values

    def start(self) -> None:
        if self.options.init_sensitivity is not None and not self.initial_configs:
            from spikebits.search.warm import initial_configs

            self.initial_configs = initial_configs(
                self.evaluator, self.options.init_sensitivity, self.targets, self.budget,
                report=sensitivity_of(self, self.options.probes, self.options.hessian_network), progress=self.progress,
            )

    def remaining(self, n_trials: int, told: int) -> int:
        """One trial per target (``n_trials`` does not enter)."""
        return len(self.targets) - told

    def ask(self) -> Proposal | Failed | None:
        """Train the next target's supernet, fit its config and propose it, scored by the
        handed-on network (``network: supernet``, :class:`search.supernet_network.NetworkScore`)
        or by the evaluator's fine-tune of the full-precision network (``network: finetune``);
        a target whose supernet diverged is :class:`search.base.Failed` with the reason."""
        i = len(self.runs) + self.diverged
        if i >= len(self.targets):
            return None
        target = self.targets[i]
        init = self.initial_configs[i] if self.initial_configs else None
        try:
            run = train_supernet(
                self.evaluator, target, self.options, seed=self.seed, gumbel=self.gumbel, progress=self.progress, init_config=init
            )
        except TrainingError as err:  # this target's trial fails; the next target still runs
            self.diverged += 1
            return Failed(str(err), info={"target": str(target)})
        except TrainingStopped as err:  # stopped (SIGINT/SIGTERM): nothing more is asked; finished trials are kept
            return Failed(str(err), interrupted=True)
        config, moves = fit_config(
            run.config, self.space, self._measure, self._limits(), target=target, tolerance=self.options.target_tolerance,
            learned=run.learned,
        )
        supernet, run.supernet = run.supernet, None
        network = hand_on(supernet, run.config, config, self.evaluator) if self.options.network == "supernet" else None
        self.runs.append(run)
        self.moves.append(moves)
        averages = self.evaluator.averages(config)
        info = {
            "target": str(target),
            "network": self.options.network,
            "supernet_accuracy": run.supernet_accuracy,
            "late_changes": run.late_changes.get("changes"),
            "moves": ";".join(moves),
            "avg_w_bits": averages[0],
            "avg_s_bits": averages[1],
            "avg_timesteps": averages[2],
        }
        membrane = self._membrane_average(config)
        if membrane is not None:
            info["avg_u_bits"] = membrane
        if network is None:
            return Proposal(config, info=info)
        epochs = self.options.network_epochs
        if epochs is None:
            epochs = MOVED_EPOCHS if moves else 0
        return Proposal(config, handle=network, info={**info, "network_epochs": epochs}, scorer=NetworkScore(self.evaluator, network, epochs))

    def tell(self, proposal: Proposal | Failed, record: TrialRecord) -> None:
        """Keep the record, and a scored handed-on network for :meth:`publish`."""
        super().tell(proposal, record)
        if record.state == "COMPLETE" and isinstance(proposal, Proposal) and proposal.scorer is not None:
            self.networks[record.number] = (proposal.handle, proposal.config)

    # ------------------------------------------------------------------ parts
    def split(self) -> list[Strategy]:
        """One part per target (call after :meth:`start`): the same strategy with that one
        target and its starting config."""
        parts: list[Strategy] = []
        for i, target in enumerate(self.targets):
            options = self.options.replace(
                targets=exact_targets([target]), initial_configs=(self.initial_configs[i],) if self.initial_configs else ()
            )
            parts.append(
                type(self)(self.space, self.evaluator, self.budget, self.objectives, seed=self.seed, n_trials=1,
                           options=options, sensitivity=self.sensitivity_report)
            )
        return parts

    def outcome(self) -> dict[str, Any]:
        return {
            **super().outcome(),
            "runs": [{**run.to_dict(), "moves": moves} for run, moves in zip(self.runs, self.moves)],
            "networks": [encode_network(model, config) for _, (model, config) in sorted(self.networks.items())],
        }

    def merge(self, outcomes: Sequence[Mapping[str, Any] | str]) -> None:
        for index, (target, outcome) in enumerate(zip(self.targets, outcomes)):
            if isinstance(outcome, str):
                record = TrialRecord.failed(index, None, outcome, strategy=self.name, info={"target": str(target)})
            else:
                record = dataclasses.replace(TrialRecord.from_dict(outcome["records"][0]), number=index)
                run = dict(outcome["runs"][0])
                self.moves.append(run.pop("moves"))
                self.runs.append(SupernetRun.from_dict(run))
                for text in outcome.get("networks", [])[:1]:
                    model = decode_network(text, self.evaluator)
                    self.networks[index] = (model, record.config)
            self.trial_records.append(record)

    # ------------------------------------------------------------------ output
    def describe(self) -> dict[str, Any]:
        """The base description with the supernet training options grouped under ``settings``."""
        info = super().describe()
        info["settings"] = {k: info.pop(k) for k in SUPERNET_SETTINGS if k in info}
        info["initial_configs"] = [c.short() for c in self.initial_configs] if self.initial_configs else []
        info["targets"] = [t.to_dict() for t in self.targets]
        info["runs"] = [{**run.to_dict(), "moves": moves} for run, moves in zip(self.runs, self.moves)]
        return info

    def publish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], out_dir: Path | None) -> list[Path]:
        """With ``out_dir``: the figures (:func:`draw_artifacts`) and each scored network
        handed on, as ``network-{trial}.pt`` and ``.sbq``
        (:func:`search.supernet_network.write_networks`)."""
        if out_dir is None or not self.runs:
            return []
        return draw_artifacts(out_dir, {"strategy": self.describe()}, self.records()) + write_networks(out_dir, self.networks)


@register_strategy
class GumbelStrategy(DifferentiableStrategy):
    """Gumbel-softmax choice of (scheme, W) per layer (SpikeHQ), with learnable S and T.

    Per layer, logits θ over the (scheme × w_bits) options; the weights are the mixture
    Σ_c m_c·Q_c(W), m = softmax((θ + g)/τ), τ annealed (``temperature``, default 5 to 0.5);
    the expected-cost penalty is λ_w·|Σ_l Σ_c m_lc·bits_c·N_w,l/ΣN_w − W_t| (the expected W̄
    against its target, in the same form as the budget loss); at the end each layer takes
    argmax θ.
    """

    name = "gumbel"
    Options = GumbelOptions
    options: GumbelOptions
    gumbel = True


#: Re-exported: the supernet strategies' pieces, importable from here as before the split.
__all__ = [
    "BIT_SCHEDULES",
    "DEFAULT_LRS",
    "DEFAULT_START",
    "DEFAULT_TARGETS",
    "DEFAULT_WEIGHT_DECAY",
    "GENTLE_FROM_BITS",
    "LATE_SHARE",
    "MAX_SUPERNET_EPOCHS",
    "MODULE_STATE",
    "MOVED_EPOCHS",
    "OPTIMIZERS",
    "PAPER_LAMBDAS_HIGH",
    "PAPER_LAMBDAS_LOW",
    "PAPER_RECIPE",
    "PLAIN_DEFAULTS",
    "RECIPES",
    "RENEWAL_MODES",
    "SUPERNET_CHECKPOINT_VERSION",
    "SUPERNET_SAMPLES",
    "SUPERNET_SETTINGS",
    "DifferentiableOptions",
    "DifferentiableStrategy",
    "GumbelOptions",
    "GumbelStrategy",
    "SupernetLoop",
    "SupernetRun",
    "count_changes",
    "draw_supernet_figures",
    "exact_targets",
    "initial_config",
    "learning_steps",
    "module_state",
    "paper_lambdas",
    "remove_checkpoint",
    "resolve_targets",
    "set_module_state",
    "split_bit_budget",
    "supernet_checkpoint",
    "supernet_epochs",
    "supernet_optimizer",
    "train_supernet",
]
