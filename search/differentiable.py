"""``differentiable`` and ``gumbel``: learn each layer's bits during training (Yao et al.;
SpikeHQ), then hand the snapped config to the shared evaluator.

One supernet run per target W̄/S̄/T̄; several targets trace a front. A run:

1. starts from the cached full-precision model set to the initial config (default: every
   unpinned layer at 4/4/2, the seed paper's start) and calibrates the step sizes;
2. trains weights, step sizes and the bit parameters (B̂_w, B̂_s,t, T̂; or the Gumbel logits
   θ over (scheme, W)) with L = CE + λ_w|W̄ − W_t| + λ_s|S̄ − S_t| + λ_T|T̄ − T_t| (exact
   averages), with step-size renewal when a rounded bit width changes until the switch-off
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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spikebits.evaluators.training import (
    Progress,
    StepSizeGuard,
    accuracy,
    batch_format,
    calibrate,
    check_loss,
    default_cache_dir,
    make_loader,
    partial_path,
    pretrain_cache_key,
    read_partial,
    recompute_batchnorm,
    rng_state,
    set_rng_state,
    to_memory_format,
    write_partial,
)
from spikebits.models import DEFAULT_LAMBDAS, Supernet, apply_config
from spikebits.results import TrialRecord
from spikebits.search.base import Proposal, Strategy, evaluate_trial, register_strategy
from spikebits.search.fitting import fit_config
from spikebits.search.options import SensitivityOptions, option
from spikebits.search.supernet_network import NETWORKS, NetworkScore, decode_network, encode_network, hand_on, write_networks
from spikebits.space import (
    COST_METRICS,
    SENSITIVITY_METRICS,
    BitTargets,
    Budget,
    BudgetError,
    Config,
    ConfigError,
    SearchSpace,
    TrainingError,
    TrainingStopped,
    direction,
)

RENEWAL_MODES = ("none", "spikes", "weights", "both")
#: Share of the supernet's steps at the end in which config changes are counted (``late_changes``).
LATE_SHARE = 0.1
#: The supernet's start when neither init_bits nor init_sensitivity is given (seed paper).
DEFAULT_START = "4/4/2"
#: Targets used when neither --targets nor a bit_budget budget is given.
DEFAULT_TARGETS = "1/1/1,2/2/1,4/4/1"


OPTIMIZERS = ("adam", "sgd")
BIT_SCHEDULES = ("cosine", "freeze", "constant")
#: Learning rates when the options leave them unset: (weights and step sizes, B̂ and θ, T̂).
#: sgd is the seed paper's recipe (momentum 0.9; lr 0.1, and 0.01 for T̂).
DEFAULT_LRS = {"adam": (1e-3, 0.05, 0.05), "sgd": (0.1, 0.1, 0.01)}
#: Weight decay of the synapse weights when the options leave it unset (the released code:
#: 1e-4 with SGD, on the weights only; none on step sizes, bit parameters, BatchNorm, biases).
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "sgd": 1e-4}
#: The released code's budget-loss coefficients (λ_w, λ_s, λ_T): its default for targets
#: below 3 bits, and the gentler set it notes as good for targets of 3 bits or more.
PAPER_LAMBDAS_LOW: tuple[float, float, float] = DEFAULT_LAMBDAS
PAPER_LAMBDAS_HIGH: tuple[float, float, float] = (0.01, 0.02, 0.01)
#: A bit target at or above this takes the gentler coefficient (per W and S).
GENTLE_FROM_BITS = 3.0
RECIPES = ("paper",)
#: Fine-tuning epochs of a handed-on network whose config fitting moved off the one trained.
MOVED_EPOCHS = 1
#: ``recipe paper``: the seed paper's training of the supernet (its released code's CIFAR
#: script): SGD with momentum 0.9 and weight decay 1e-4, lr 0.1 (weights, step sizes, bits)
#: and 0.01 (T̂), all on one cosine to zero, batch 128, 200 epochs.
PAPER_RECIPE: dict[str, Any] = {
    "optimizer": "sgd", "supernet_lr": 0.1, "bits_lr": 0.1, "timesteps_lr": 0.01, "weight_decay": 1e-4,
    "bits_schedule": "cosine", "batch_size": 128, "supernet_epochs": 200,
}
#: What an option left unset takes without a recipe (the learning rates and weight decay
#: follow the optimizer, the epochs the data set's size, the coefficients each target).
PLAIN_DEFAULTS: dict[str, Any] = {"optimizer": "adam", "bits_schedule": "cosine", "batch_size": 64}


def paper_lambdas(target: BitTargets) -> tuple[float, float, float]:
    """The released code's (λ_w, λ_s, λ_T) for ``target``: per kind, the gentler coefficient
    of :data:`PAPER_LAMBDAS_HIGH` when its target is 3 bits or more, else
    :data:`PAPER_LAMBDAS_LOW`; λ_T is 0.01 either way."""
    return (
        PAPER_LAMBDAS_HIGH[0] if target.w_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[0],
        PAPER_LAMBDAS_HIGH[1] if target.s_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[1],
        PAPER_LAMBDAS_LOW[2],
    )


@dataclass(frozen=True)
class DifferentiableOptions(SensitivityOptions):
    """Options of the supernet strategies, and the settings of one supernet run.

    ``optimizer`` adam (default) or sgd (momentum 0.9, the seed paper's recipe); the learning
    rates of the weights and step sizes (``supernet_lr``), of B̂ and θ (``bits_lr``) and of T̂
    (``timesteps_lr``) default to the optimizer's (:data:`DEFAULT_LRS`), the synapse weights'
    ``weight_decay`` to 1e-4 with sgd and 0 with adam (:data:`DEFAULT_WEIGHT_DECAY`). The
    weights always decay on one cosine to zero over all steps; ``bits_schedule`` says what the
    bit parameters do: ``cosine`` (default: the same cosine to zero, as in the seed paper),
    ``freeze`` (constant, then frozen for the last ``freeze_share`` of the steps) or
    ``constant`` (never settles; for comparison). ``late_changes`` counts the config's changes
    over the last 10% of the steps in which the bits still learn. ``lambdas`` = (λ_w, λ_s,
    λ_T) of the budget loss for every target; unset, each target takes the released code's
    (:func:`paper_lambdas`). ``recipe paper`` sets the seed paper's training
    (:data:`PAPER_RECIPE`) for the options left unset and refuses others. The start is
    ``init_bits`` (seed paper: 4/4/2) snapped to each layer's options; B̂ then moves in [1,
    start + ``bits_above``] and T̂ in [1, start + ``timesteps_above``] (seed paper: 2 and 1),
    both within the layer's options and only at them (:class:`models.Supernet`).
    ``renewal``: which step sizes are renewed when a rounded bit width changes (seed paper's
    best: spikes). Renewal of a kind switches off for good after the first step, at
    or beyond ``renewal_min_share`` of training, at which avg − target < ``switch_off``·(start
    − target) (the signed rule of the seed paper's code), and at once when the start equals
    the target.
    """

    targets: str | None = option(
        None, "targets W/S/T of the budget loss, one supernet run each (default: split from a bit_budget budget, else 1/1/1,2/2/1,4/4/1)",
        metavar="W/S/T,...",
    )
    target_tolerance: float = option(0.25, "bits a final average may miss its target by before a layer is moved")
    supernet_epochs: int | None = option(
        None, "supernet training epochs per target (default: enough to see 12,000 training samples, 1 to 10 epochs: "
        "10 on digits, 1 on MNIST)"
    )
    recipe: str | None = option(
        None, "paper: the seed paper's supernet training (sgd, momentum 0.9, weight decay 1e-4, lr 0.1 and 0.01 for T̂, cosine, "
        "batch 128, 200 epochs), for reproducing it on a GPU; options it sets may not be given other values", choices=RECIPES,
    )
    optimizer: str | None = option(None, "supernet optimizer: adam (default), or sgd with momentum 0.9 (the seed paper's)", choices=OPTIMIZERS)
    supernet_lr: float | None = option(None, "learning rate of the weights and step sizes (cosine to zero; default 1e-3 with adam, 0.1 with sgd)")
    bits_lr: float | None = option(None, "learning rate of B̂ and θ (default 0.05 with adam, 0.1 with sgd)")
    timesteps_lr: float | None = option(None, "learning rate of T̂ (default 0.05 with adam, 0.01 with sgd)")
    weight_decay: float | None = option(None, "weight decay of the synapse weights (default 1e-4 with sgd, as the released code; 0 with adam)")
    bits_schedule: str | None = option(
        None, "learning-rate schedule of the bit parameters: cosine (default: with the weights, to zero, as the seed paper), "
        "freeze (constant, frozen for the last freeze_share) or constant", choices=BIT_SCHEDULES,
    )
    freeze_share: float = option(0.2, "share of the steps at the end in which the bit parameters stay frozen (bits_schedule freeze)")
    bits_hysteresis: float = option(
        0.1, "bits by which B̂ or T̂ must pass a rounding threshold before the value it stands for changes; a budget that binds "
        "holds B̂ on a threshold, and without a margin the config flips there until the last step (0: plain rounding)",
    )
    batch_size: int | None = option(None, "supernet training batch size (default 64; 128 with recipe paper)")
    lambdas: tuple[float, float, float] | None = option(
        None, "budget-loss coefficients λ_w/λ_s/λ_T for every target (default: the released code's per target, 0.04/0.04/0.01, "
        "with λ_w 0.01 and λ_s 0.02 for a W or S target of 3 bits or more)", metavar="LW/LS/LT",
    )
    renewal: str = option("spikes", "step-size renewal when a rounded bit width changes", choices=RENEWAL_MODES)
    renewal_grid: int = option(50, "clipping ranges tried by a renewal (the seed paper uses 50 to 100)", metavar="K")
    renewal_min_share: float = option(0.07, "share of training before the renewal switch-off rule may act (seed paper: 14 of 200 epochs)")
    switch_off: float = option(0.24, "renewal stops once avg − target < this share of (start − target)")
    init_bits: str | None = option(
        None, "supernet start: W/S/T for every unpinned layer (snapped to its options), or largest (default 4/4/2, the seed paper's)",
        metavar="W/S/T",
    )
    bits_above: int = option(2, "B̂ may rise at most this many bits above its start (seed paper: 2)")
    timesteps_above: int = option(1, "T̂ may rise at most this many steps above its start (seed paper: 1)")
    init_sensitivity: str | None = option(
        None, "start each target's supernet from a sensitivity-guided config: hessian, output (integer program) or kurtosis (KurtBoost)",
        choices=SENSITIVITY_METRICS,
    )
    initial_configs: tuple[Config, ...] = option((), "one starting config per target (replaces init_bits)", cli=False)
    network: str = option(
        "supernet", "the network each target's front point scores: supernet (the supernet's own trained network at the fitted "
        "config, BatchNorm recomputed; its checkpoint and .sbq are written) or finetune (the full-precision network fine-tuned "
        "at that config by the evaluator, as other strategies' configs are; for comparison)", choices=NETWORKS,
    )
    network_epochs: int | None = option(
        None, "epochs of fine-tuning the supernet's network at its fitted config before it is scored (network supernet; default: "
        f"{MOVED_EPOCHS} when fitting moved a layer off the config the supernet trained at, else 0)",
    )

    def __post_init__(self) -> None:
        """Fill the options left unset from ``recipe`` (or the plain defaults) before the
        checks; a value given that the recipe sets otherwise is a one-line error."""
        recipe = PAPER_RECIPE if self.recipe == "paper" else {}
        for name, value in recipe.items():
            given = getattr(self, name)
            if given is not None and given != value:
                raise ConfigError(f"recipe paper sets {name} to {value}; drop --{name.replace('_', '-')} {given} or --recipe")
            object.__setattr__(self, name, value)
        for name, value in PLAIN_DEFAULTS.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.weight_decay is None and self.optimizer in DEFAULT_WEIGHT_DECAY:
            object.__setattr__(self, "weight_decay", DEFAULT_WEIGHT_DECAY[self.optimizer])
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        self.require(self.supernet_epochs is None or self.supernet_epochs >= 1, "supernet_epochs", "at least 1")
        self.require(self.weight_decay is not None and self.weight_decay >= 0, "weight_decay", "0 or more")
        self.require(self.renewal_grid >= 1, "renewal_grid", "at least 1 (the seed paper uses 50 to 100)")
        self.require(0 <= self.renewal_min_share <= 1, "renewal_min_share", "between 0 and 1")
        self.require(0 <= self.freeze_share < 1, "freeze_share", "at least 0 and below 1")
        self.require(self.bits_above >= 0, "bits_above", "0 or more")
        self.require(0 <= self.bits_hysteresis < 0.5, "bits_hysteresis", "at least 0 and below 0.5")
        self.require(self.timesteps_above >= 0, "timesteps_above", "0 or more")
        for name in ("supernet_lr", "bits_lr", "timesteps_lr"):
            value = getattr(self, name)
            self.require(value is None or value >= 0, name, "0 or more")
        self.require(self.batch_size >= 1, "batch_size", "at least 1")
        self.require(self.target_tolerance >= 0, "target_tolerance", "0 or more")
        self.require(self.network_epochs is None or self.network_epochs >= 0, "network_epochs", "0 or more")
        if self.network_epochs and self.network != "supernet":
            raise ConfigError("network_epochs fine-tunes the supernet's network; with network finetune the evaluator's --epochs set the fine-tune")
        self.require(0 <= self.switch_off <= 1, "switch_off", "between 0 and 1")
        if self.lambdas is not None and len(self.lambdas) != 3:
            raise ConfigError(f"{self.strategy_name} option lambdas needs 3 numbers, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01; got {len(self.lambdas)}")
        self.require(self.lambdas is None or all(x >= 0 for x in self.lambdas), "lambdas", "three numbers >= 0, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01")
        if self.targets is not None:
            BitTargets.parse_list(self.targets)
        if self.init_bits not in (None, "largest"):
            try:
                BitTargets.parse(self.init_bits)
            except BudgetError:
                raise ConfigError(f"init_bits {self.init_bits!r} is unknown; use largest or W/S/T, for example 4/4/2") from None
        if self.init_sensitivity is not None and self.init_bits is not None:
            raise ConfigError("give init_bits or init_sensitivity, not both: both say where the supernet starts")

    def learning_rates(self) -> tuple[float, float, float]:
        """(weights and step sizes, B̂ and θ, T̂): the options, or the optimizer's defaults."""
        defaults = DEFAULT_LRS[self.optimizer]
        given = (self.supernet_lr, self.bits_lr, self.timesteps_lr)
        return tuple(d if g is None else g for g, d in zip(given, defaults))  # type: ignore[return-value]

    def lambdas_for(self, target: BitTargets) -> tuple[float, float, float]:
        """(λ_w, λ_s, λ_T) of ``target``'s budget loss: ``lambdas``, or :func:`paper_lambdas`."""
        return tuple(self.lambdas) if self.lambdas is not None else paper_lambdas(target)  # type: ignore[return-value]


#: The options that set how one supernet is trained (``run.json`` groups them under ``settings``).
SUPERNET_SETTINGS = (
    "supernet_epochs", "recipe", "optimizer", "supernet_lr", "bits_lr", "timesteps_lr", "weight_decay", "bits_schedule",
    "freeze_share", "batch_size", "lambdas", "bits_hysteresis", "renewal", "renewal_grid", "renewal_min_share", "switch_off",
    "init_bits", "bits_above", "timesteps_above",
    "temperature",
)


@dataclass(frozen=True)
class GumbelOptions(DifferentiableOptions):
    temperature: tuple[float, float] = option((5.0, 0.5), "Gumbel-softmax τ, annealed exponentially from the first to the second", metavar="T0/T1")

    def validate(self) -> None:
        super().validate()
        self.require(all(t > 0 for t in self.temperature), "temperature", "two numbers > 0")


@dataclass
class SupernetRun:
    """What one supernet run learned: the snapped config, the unrounded values per layer,
    the averages after every step and the per-layer rounded values after every epoch."""

    target: BitTargets
    config: Config
    learned: dict[str, dict]
    history: list[dict[str, float]] = field(default_factory=list)
    layer_history: list[dict[str, Any]] = field(default_factory=list)
    renewals: dict[str, int] = field(default_factory=dict)
    #: The step after which renewal of weights / spikes switched off (0: never on; None: stayed on).
    renewal_off_step: dict[str, int | None] = field(default_factory=dict)
    #: How many of the last 10% of the steps in which the bits learn changed the rounded
    #: config: {"steps", "changes"}.
    late_changes: dict[str, int] = field(default_factory=dict)
    supernet_accuracy: float = float("nan")
    wall_time_s: float = 0.0
    #: (λ_w, λ_s, λ_T) of this target's budget loss.
    lambdas: tuple[float, ...] = ()
    #: The trained :class:`models.Supernet`, fixed at :attr:`config` (not saved; handed on once).
    supernet: Supernet | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SupernetRun:
        """Inverse of :meth:`to_dict`."""
        return cls(
            target=BitTargets(**data["target"]),
            config=Config.from_dict({"layers": data["snapped"]}),
            learned=data["learned"],
            history=data["history"],
            layer_history=data["layer_history"],
            renewals=data["renewals"],
            renewal_off_step=data["renewal_off_step"],
            late_changes=data["late_changes"],
            supernet_accuracy=data["supernet_accuracy"],
            wall_time_s=data["wall_time_s"],
            lambdas=tuple(data.get("lambdas", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "snapped": self.config.to_dict()["layers"],
            "learned": self.learned,
            "renewals": self.renewals,
            "renewal_off_step": self.renewal_off_step,
            "late_changes": self.late_changes,
            "supernet_accuracy": self.supernet_accuracy,
            "wall_time_s": self.wall_time_s,
            "lambdas": list(self.lambdas),
            "history": self.history,
            "layer_history": self.layer_history,
        }


def initial_config(space: SearchSpace, init: str | None) -> Config:
    """The supernet's starting config: every decision at its largest options (``"largest"``),
    or at ``init`` = W/S/T (None: :data:`DEFAULT_START`) snapped to the options; uniform scheme
    where allowed."""
    init = DEFAULT_START if init is None else init
    if init == "largest":
        return space.nearest_config()
    start = BitTargets.parse(init)
    return space.nearest_config(start.w_bits, start.s_bits, start.timesteps)


def learning_steps(schedule: str, total_steps: int, freeze_share: float) -> int:
    """How many of the first steps the bit parameters learn in (a factor above 0): every step
    with ``cosine`` (its factor reaches 0 only after the last) and ``constant``, the steps
    before the freeze with ``freeze``."""
    if schedule == "freeze":
        return total_steps - math.ceil(freeze_share * total_steps)
    return total_steps


def _bits_factor(schedule: str, total_steps: int, freeze_share: float) -> Callable[[int], float]:
    """The bit parameters' learning-rate factor after ``k`` steps (``bits_schedule``)."""
    if schedule == "cosine":
        return lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, total_steps) / total_steps))
    if schedule == "freeze":
        frozen_from = total_steps - math.ceil(freeze_share * total_steps)
        return lambda k: 1.0 if k < frozen_from else 0.0
    return lambda k: 1.0


#: Bump when a supernet run of the same settings would train differently: the partial
#: checkpoints written before are then not found (:func:`supernet_checkpoint`).
SUPERNET_CHECKPOINT_VERSION = 2
#: Plain attributes of the quantizers and neurons that the next batch depends on and no state
#: dict holds: the rounded bit widths and time steps of the last forward (a change renews a
#: step size), the renewal switches and counts, and the Gumbel temperature.
MODULE_STATE = ("bits", "step_bits", "timesteps", "renew", "renewals", "temperature")


def supernet_checkpoint(
    evaluator: Any, model: Any, target: BitTargets, settings: DifferentiableOptions, *, seed: int, gumbel: bool,
    start: Config, epochs: int,
) -> Path | None:
    """The partial (per-epoch) checkpoint file of one supernet run: in the evaluator's cache
    folder (``evaluator.cache_dir`` or :func:`evaluators.training.default_cache_dir`), named
    ``{pretraining cache key}-supernet-{hash}.partial.pt``, the hash covering everything that
    decides the run: the target, the supernet settings (:data:`SUPERNET_SETTINGS`), Gumbel or
    not, the starting config (``init_bits``, ``init_sensitivity`` or ``initial_configs``), the
    number of epochs, the space, the seed and the fine-tuning format (amp, channels_last). A run
    of other settings looks for another file, so it never resumes this one. None (no
    checkpoint) for an evaluator without a pretraining cache key."""
    try:
        key = pretrain_cache_key(model, evaluator.dataset, evaluator.seed, evaluator.pretrain_settings, evaluator.data_key)
        fmt = evaluator.finetune_settings
        blob = json.dumps(
            {
                "target": target.to_dict(), "settings": {k: getattr(settings, k, None) for k in SUPERNET_SETTINGS}, "gumbel": gumbel,
                "start": start.to_dict(), "epochs": epochs, "space": evaluator.space.to_dict(), "seed": seed,
                "format": {"amp": fmt.amp, "channels_last": fmt.channels_last}, "v": SUPERNET_CHECKPOINT_VERSION,
            },
            sort_keys=True,
            default=str,
        )
        folder = Path(evaluator.cache_dir) if getattr(evaluator, "cache_dir", None) else default_cache_dir()
    except AttributeError:
        return None
    return partial_path(folder / f"{key}-supernet-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.pt")


def module_state(model: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """Per module name, its :data:`MODULE_STATE` attributes (plain numbers, lists, None)."""
    out: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        attrs = {k: (list(v) if isinstance(v, list) else v) for k, v in vars(module).items() if k in MODULE_STATE}
        if attrs:
            out[name] = attrs
    return out


def set_module_state(model: torch.nn.Module, state: Mapping[str, Mapping[str, Any]]) -> None:
    """Restore :func:`module_state` (every module it names must exist and have the attribute)."""
    modules = dict(model.named_modules())
    for name, attrs in state.items():
        for k, v in attrs.items():
            if k not in MODULE_STATE or k not in vars(modules[name]):
                raise ValueError(f"module {name!r} has no {k}")
            setattr(modules[name], k, list(v) if isinstance(v, list) else v)


def supernet_optimizer(net: Supernet, settings: DifferentiableOptions) -> torch.optim.Optimizer:
    """The supernet's optimizer: Adam, or SGD with momentum 0.9 (``settings.optimizer``), over
    four groups whose learning-rate factors the scheduler sets (cosine, bits, bits, cosine):
    the synapse (matrix) weights, with ``weight_decay``; B̂ and θ; T̂; and the rest of the
    model's parameters (step sizes, BatchNorm, biases). Weight decay only on the first, as
    the released code: never on step sizes, BatchNorm, biases or the bit parameters."""
    lr_weights, lr_bits, lr_steps = settings.learning_rates()
    steps_ids = {id(p) for p in net.timestep_params}
    weights = net.model_parameters()
    groups = [
        {"params": [p for p in weights if p.ndim > 1], "lr": lr_weights, "weight_decay": settings.weight_decay},
        {"params": [p for p in net.arch_params if id(p) not in steps_ids], "lr": lr_bits, "weight_decay": 0.0},
        {"params": net.timestep_params, "lr": lr_steps, "weight_decay": 0.0},
        {"params": [p for p in weights if p.ndim <= 1], "lr": lr_weights, "weight_decay": 0.0},
    ]
    if settings.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=0.9)
    return torch.optim.Adam(groups)


def train_supernet(
    evaluator: Any,
    target: BitTargets,
    settings: DifferentiableOptions,
    *,
    seed: int = 0,
    gumbel: bool = False,
    progress: Progress | None = None,
    init_config: Config | None = None,
    resume: bool = True,
) -> SupernetRun:
    """One supernet run towards ``target`` on the evaluator's model, data and device, with the
    supernet settings of ``settings`` (a :class:`GumbelOptions` for ``gumbel``);
    ``init_config`` (e.g. a sensitivity-guided allocation) replaces ``settings.init_bits``.

    After training, the network is fixed at the snapped config (:meth:`Supernet.fix`), its
    BatchNorm statistics are recomputed at that config on the training data
    (:func:`evaluators.training.recompute_batchnorm`), and then it is scored. The evaluator's
    ``stop`` (:class:`evaluators.training.StopRequest`, if it has one) is checked after each
    batch: a stop request raises :class:`space.TrainingStopped`.

    After each epoch but the last, everything the next epoch depends on is saved to a partial
    checkpoint (:func:`supernet_checkpoint`: in the evaluator's cache folder, named for these
    settings): the model's state (weights, step sizes, B̂, T̂, θ, quantizer buffers and
    :data:`MODULE_STATE`), the optimizer and scheduler (the bit parameters' schedule), the
    step, the renewal switches, the recorded trajectory and snapshots, and the random state
    (the loader's shuffling and the Gumbel noise). A run that finds one resumes after its
    epoch (said through the evaluator's ``log``) and ends bit for bit as an uninterrupted run
    on the same device; a damaged one is ignored (training starts over), and ``resume=False``
    ignores it too. The file is removed once the run is over (finished, or diverged:
    :class:`space.TrainingError`)."""
    start = time.perf_counter()
    device = evaluator.device
    data = evaluator.data
    model = evaluator.full_precision_model()
    start_config = init_config if init_config is not None else initial_config(evaluator.space, settings.init_bits)
    apply_config(model, evaluator.space.complete(start_config, strict=True))
    to_memory_format(model.to(device), evaluator.finetune_settings)
    calibrate(model, data.train, device=device)
    torch.manual_seed(seed)
    net = Supernet(
        model, evaluator.space, evaluator.specs, gumbel=gumbel, renewal_grid=settings.renewal_grid,
        bits_above=settings.bits_above, timesteps_above=settings.timesteps_above, hysteresis=settings.bits_hysteresis,
    )
    renew = {"weights": settings.renewal in ("weights", "both"), "spikes": settings.renewal in ("spikes", "both")}
    loader = make_loader(data.train, settings.batch_size, shuffle=True, seed=seed)
    optimizer = supernet_optimizer(net, settings)
    n_epochs = settings.supernet_epochs if settings.supernet_epochs is not None else supernet_epochs(len(data.train))
    total_steps = n_epochs * len(loader)
    cosine = _bits_factor("cosine", total_steps, 0.0)
    bits_factor = _bits_factor(settings.bits_schedule, total_steps, settings.freeze_share)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [cosine, bits_factor, bits_factor, cosine])
    guard = StepSizeGuard(model)
    with torch.no_grad():
        initial = [float(v) for v in net.averages()]
    targets = (target.w_bits, target.s_bits, target.timesteps)
    # Signed start − target gap per renewed kind; a kind that starts at its target never renews.
    gaps = {"weights": initial[0] - targets[0], "spikes": initial[1] - targets[1]}
    run = SupernetRun(target, net.snap(), {})
    run.renewal_off_step = {k: (None if on else 0) for k, on in renew.items()}
    for kind in renew:
        if renew[kind] and gaps[kind] == 0:
            renew[kind] = False
            run.renewal_off_step[kind] = 0
    net.set_renewal(**renew)
    run.history.append({"step": 0, "epoch": 0.0, "w_bits": initial[0], "s_bits": initial[1], "timesteps": initial[2]})
    tau0, tau1 = settings.temperature if gumbel else (1.0, 1.0)
    step = 0
    stop = getattr(evaluator, "stop", None)  # a StopRequest: checked after each batch
    log = getattr(evaluator, "log", None)
    min_step = math.ceil(settings.renewal_min_share * total_steps)
    last_epoch: list[dict[str, dict]] = []
    # The rounded config after each of the last 10% of the steps in which the bits still learn
    # (and the step before them): with a freeze schedule the window ends where the freeze starts.
    learn_end = learning_steps(settings.bits_schedule, total_steps, settings.freeze_share)
    late_from = learn_end - max(1, math.ceil(LATE_SHARE * learn_end))
    late: list[dict[str, dict]] = []
    lambdas = run.lambdas = settings.lambdas_for(target)
    checkpoint = supernet_checkpoint(
        evaluator, model, target, settings, seed=seed, gumbel=gumbel, start=start_config, epochs=n_epochs
    )
    description = f"supernet {target}"
    done = 0
    saved = read_partial(checkpoint, "supernet", checkpoint.stem if checkpoint else None, log, description) if resume else None
    if saved is not None:
        try:
            book = saved["book"]
            done = int(book["epoch"])
            if not 0 < done < n_epochs:
                raise ValueError(f"{done} epochs of {n_epochs}")
            model.load_state_dict(saved["model"])
            set_module_state(model, saved["modules"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            step, renew = int(book["step"]), {k: bool(v) for k, v in book["renew"].items()}
            run.history, run.layer_history = list(book["history"]), list(book["layer_history"])
            run.renewal_off_step = dict(book["renewal_off_step"])
            last_epoch, late = list(book["last_epoch"]), list(book["late"])
            net.set_renewal(**renew)
            set_rng_state(loader, device, saved["rng"])
        except Exception as err:  # noqa: BLE001 - it did not fit: start over from the start
            if log is not None:
                log(f"{description}: ignoring the partial checkpoint {checkpoint} ({type(err).__name__}: {err}); starting over")
            return train_supernet(
                evaluator, target, settings, seed=seed, gumbel=gumbel, progress=progress, init_config=init_config, resume=False
            )
        if log is not None:
            log(f"{description}: resuming from {checkpoint} after epoch {done}/{n_epochs}")
    epochs = range(done, n_epochs)
    if progress is not None:
        epochs = progress(epochs, description, n_epochs - done)
    try:
        for epoch in epochs:
            if gumbel:
                frac = epoch / max(n_epochs - 1, 1)
                net.set_temperature(tau0 * (tau1 / tau0) ** frac)
            model.train()
            epoch_start = time.perf_counter()
            for x, y in loader:
                x, y = batch_format(x.to(device, non_blocking=True), evaluator.finetune_settings), y.to(device, non_blocking=True)
                with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=evaluator.finetune_settings.amp):
                    ce = F.cross_entropy(model(x), y)
                penalty, avg = net.budget_loss(target, lambdas)
                loss = ce + penalty
                ce_value = check_loss(float(ce.detach()), epoch + 1, step + 1, what="the supernet loss", hint="lower --supernet-lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                guard.before_step()
                optimizer.step()
                guard.after_step()
                scheduler.step()
                net.clamp_()
                step += 1
                late_step = late_from <= step <= learn_end
                if epoch == n_epochs - 1 or late_step:
                    rounded = net.rounded()
                    if epoch == n_epochs - 1:
                        last_epoch.append(rounded)
                    if late_step:
                        late.append(rounded)
                run.history.append(
                    {"step": step, "epoch": step / len(loader), "w_bits": avg[0], "s_bits": avg[1], "timesteps": avg[2], "loss": ce_value}
                )
                # Switch-off rule (seed paper's code, signed): avg − target < switch_off·(start − target).
                if step >= min_step:
                    for kind, index in (("weights", 0), ("spikes", 1)):
                        if renew[kind] and avg[index] - targets[index] < settings.switch_off * gaps[kind]:
                            renew[kind] = False
                            run.renewal_off_step[kind] = step
                            net.set_renewal(**renew)
                if stop is not None:
                    stop.check(f"supernet {target} epoch {epoch + 1}")
            run.layer_history.append({"epoch": epoch + 1, "layers": net.rounded()})
            if checkpoint is not None and epoch + 1 < n_epochs:
                write_partial(checkpoint, {
                    "kind": "supernet", "key": checkpoint.stem, "model": model.state_dict(), "modules": module_state(model),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(loader, device),
                    "book": {
                        "epoch": epoch + 1, "step": step, "renew": dict(renew), "renewal_off_step": dict(run.renewal_off_step),
                        "history": run.history, "layer_history": run.layer_history, "last_epoch": last_epoch, "late": late,
                    },
                })
            if log is not None:
                log(f"supernet {target} epoch {epoch + 1}/{n_epochs}: loss {ce_value:.4f}, W̄/S̄/T̄ {avg[0]:.2f}/{avg[1]:.2f}/{avg[2]:.2f}, "
                    f"{time.perf_counter() - epoch_start:.1f} s")
    except TrainingError:  # diverged: the run is over (a FAIL trial), its checkpoint would only diverge again
        _remove(checkpoint)
        raise
    run.learned = net.learned()
    run.config = net.snap(_mean_values(last_epoch) if last_epoch else None)
    run.late_changes = {"steps": len(late) - 1, "changes": count_changes(late)}
    run.renewals = net.renewals()
    net.fix(run.config)
    recompute_batchnorm(model, data.train, device=device)
    run.supernet_accuracy = accuracy(model, data.val, device=device)  # validation: the test split is only reported
    run.wall_time_s = time.perf_counter() - start
    run.supernet = net
    _remove(checkpoint)
    return run


def _remove(path: Path | None) -> None:
    """Remove a finished run's partial checkpoint (one left behind is harmless: a finished
    run is not asked again)."""
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


#: The default supernet training length: epochs enough to see this many training samples …
SUPERNET_SAMPLES = 12_000
#: … and at most this many epochs.
MAX_SUPERNET_EPOCHS = 10


def supernet_epochs(train_samples: int) -> int:
    """Supernet epochs per target when ``supernet_epochs`` is not set: ⌈12,000 / N_train⌉,
    between 1 and 10 (digits, 1,293 training images: 10, as before; MNIST, 54,000: 1, which
    is 844 steps of 64 against digits' 210)."""
    return max(1, min(MAX_SUPERNET_EPOCHS, math.ceil(SUPERNET_SAMPLES / max(train_samples, 1))))


def count_changes(snapshots: Sequence[Any]) -> int:
    """How many times consecutive ``snapshots`` differ (the rounded config changed)."""
    return sum(a != b for a, b in zip(snapshots, snapshots[1:]))


def _mean_values(snapshots: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per decision, the mean of the rounded W, S, T over ``snapshots`` (the last epoch's
    steps): near the target the rounded values flip between neighbours, and their mean says
    which one the supernet preferred. The scheme is the last one."""
    out: dict[str, dict[str, Any]] = {}
    for rep, last in snapshots[-1].items():
        out[rep] = {k: sum(float(s[rep][k]) for s in snapshots) / len(snapshots) for k in ("w_bits", "s_bits", "timesteps")}
        out[rep]["scheme"] = last["scheme"]
    return out


# ---------------------------------------------------------------------------- targets
def split_bit_budget(limit: float, space: SearchSpace) -> BitTargets:
    """Targets for a lone ``bit_budget<=X``: T̄ at the smallest allowed T (the seed paper's
    best results use T = 1), and W̄ = S̄ = √(X / T̄); a side that hits its largest option
    passes the rest to the other. Values are kept within the options' range."""
    reps = space.decisions
    if not reps:
        raise BudgetError("the space has no unpinned layer to search; unpin a layer in the space file")
    t = float(min(min(space.layers[r].timesteps) for r in reps))
    w_lo = min(min(space.layers[r].w_bits) for r in reps)
    w_hi = max(max(space.layers[r].w_bits) for r in reps)
    s_lo = min(min(space.layers[r].s_bits) for r in reps)
    s_hi = max(max(space.layers[r].s_bits) for r in reps)
    per_bit = max(limit / t, 1.0)
    w = min(max(math.sqrt(per_bit), w_lo), w_hi)
    s = min(max(per_bit / w, s_lo), s_hi)
    w = min(max(per_bit / s, w_lo), w_hi)
    return BitTargets(max(w, 1.0), max(s, 1.0), t)


def resolve_targets(targets: str | Sequence[BitTargets] | None, budget: Budget, space: SearchSpace) -> tuple[BitTargets, ...]:
    """``--targets`` if given; else the split of a ``bit_budget`` budget; else the defaults."""
    if targets:
        return BitTargets.parse_list(targets) if isinstance(targets, str) else tuple(targets)
    limits = budget.to_dict()
    if "bit_budget" in limits:
        return (split_bit_budget(limits["bit_budget"], space),)
    return BitTargets.parse_list(DEFAULT_TARGETS)


# ---------------------------------------------------------------------------- strategy
def exact_targets(targets: Sequence[BitTargets]) -> str:
    """``targets`` as ``--targets`` text that parses back to the same floats (``repr``)."""
    return ",".join(f"{t.w_bits!r}/{t.s_bits!r}/{t.timesteps!r}" for t in targets)


@register_strategy
class DifferentiableStrategy(Strategy):
    """Learnable W, S and T per layer (Yao et al.): one supernet run per target, then snap and fit.

    Options: :class:`DifferentiableOptions`. ``n_trials`` is ignored: there is one trial per
    target. The runs are independent, so :meth:`split` gives one part per target (a Ray
    executor runs them in parallel).
    """

    name = "differentiable"
    Options = DifferentiableOptions
    options: DifferentiableOptions
    gumbel = False
    splits = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets = resolve_targets(self.options.targets, self.budget, self.space)
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

    def _measure(self, config: Config) -> dict[str, float]:
        values = dict(self.evaluator.cost(config))
        values["avg_w_bits"], values["avg_s_bits"], values["avg_timesteps"] = self.evaluator.averages(config)
        return values

    def start(self) -> None:
        for m in self.budget.metrics:
            if direction(m) == "minimize" and m not in COST_METRICS:
                raise BudgetError(f"the {self.name} strategy cannot enforce a budget on {m!r}; budget one of {', '.join(COST_METRICS)}")
        values = self._measure(self.space.smallest_config())
        over = [f"{m} {values[m]:.4g}" for m, lim in self._limits().items() if values[m] > lim]
        if over:
            raise BudgetError(f"budget {self.budget} cannot be met: the smallest config of the space has {', '.join(over)}; loosen the budget")
        if self.options.init_sensitivity is not None and not self.initial_configs:
            from spikebits.search.warm import initial_configs

            self.initial_configs = initial_configs(
                self.evaluator, self.options.init_sensitivity, self.targets, self.budget,
                report=self.sensitivity(self.options.probes, network=self.options.hessian_network), progress=self.progress,
            )

    def remaining(self, n_trials: int | None = None) -> int:
        return len(self.targets) - self.n_told

    def ask(self) -> Proposal | None:
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
            return Proposal(None, handle=str(err), info={"target": str(target)})  # type: ignore[arg-type]
        except TrainingStopped as err:  # stopped (SIGINT/SIGTERM): nothing more is asked; finished trials are kept
            self.request_stop(str(err))
            return None
        config, moves = fit_config(
            run.config, self.space, self._measure, self._limits(), target=target, tolerance=self.options.target_tolerance,
            learned=run.learned,
        )
        supernet, run.supernet = run.supernet, None
        network = hand_on(supernet, run.config, config, self.evaluator) if self.options.network == "supernet" else None
        self.runs.append(run)
        self.moves.append(moves)
        averages = self.evaluator.averages(config)
        return Proposal(
            config,
            handle=network,
            info={
                "target": str(target),
                "network": self.options.network,
                "supernet_accuracy": run.supernet_accuracy,
                "late_changes": run.late_changes.get("changes"),
                "moves": ";".join(moves),
                "avg_w_bits": averages[0],
                "avg_s_bits": averages[1],
                "avg_timesteps": averages[2],
            },
        )

    def evaluate(self, proposal: Proposal, number: int) -> TrialRecord:
        """Score the fitted config: the supernet's handed-on network (``network: supernet``,
        :class:`search.supernet_network.NetworkScore`, kept for :meth:`write_artifacts`) or
        the evaluator's fine-tune of the full-precision network (``network: finetune``); a
        target whose supernet diverged is a FAIL trial with the reason."""
        if proposal.config is None:
            return TrialRecord.failed(number, None, str(proposal.handle), strategy=self.name, info=proposal.info)
        if not isinstance(proposal.handle, torch.nn.Module):
            return super().evaluate(proposal, number)
        epochs = self.options.network_epochs
        if epochs is None:
            epochs = MOVED_EPOCHS if proposal.info and proposal.info.get("moves") else 0
        score = NetworkScore(self.evaluator, proposal.handle, epochs)
        record = evaluate_trial(
            score, proposal.config, number, strategy=self.name, budget=self.budget, info={**(proposal.info or {}), "network_epochs": epochs},
            on_epoch=self.on_epoch,
        )
        if record.state == "COMPLETE":
            self.networks[number] = (proposal.handle, proposal.config)
        return record

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
            self.note_told()

    # ------------------------------------------------------------------ output
    def describe(self) -> dict[str, Any]:
        """The base description with the supernet training options grouped under ``settings``."""
        info = super().describe()
        info["settings"] = {k: info.pop(k) for k in SUPERNET_SETTINGS if k in info}
        info["initial_configs"] = [c.short() for c in self.initial_configs] if self.initial_configs else []
        info["targets"] = [t.to_dict() for t in self.targets]
        info["runs"] = [{**run.to_dict(), "moves": moves} for run, moves in zip(self.runs, self.moves)]
        return info

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """``bit_trajectories.png`` (W̄, S̄, T̄ over training, with the targets) and
        ``allocation.png`` (per-layer bars of each final config), beside ``pareto.png``; and
        each scored network handed on as ``network-{trial}.pt`` and ``.sbq``
        (:func:`search.supernet_network.write_networks`)."""
        if not self.runs:
            return []
        return draw_supernet_figures(
            out_dir, self.name, [(run.target, run.history) for run in self.runs],
            [rec.config for rec in self.records() if rec.config is not None],
        ) + write_networks(out_dir, self.networks)

    @classmethod
    def redraw_artifacts(cls, out_dir: Path, run_info: Mapping[str, Any], records: Sequence[TrialRecord]) -> list[Path]:
        """The same figures from ``run.json``'s supernet runs and ``trials.csv``'s records."""
        runs = (run_info.get("strategy") or {}).get("runs") or []
        if not runs:
            return []
        return draw_supernet_figures(
            out_dir, cls.name, [(BitTargets(**run["target"]), run["history"]) for run in runs],
            [rec.config for _, rec in zip(runs, records)],
        )


def draw_supernet_figures(
    out_dir: Path, name: str, runs: Sequence[tuple[BitTargets, list]], configs: Sequence[Config | None]
) -> list[Path]:
    """``bit_trajectories.png`` (average bits of each supernet run, with its target) and
    ``allocation.png`` (each run's final config per layer) in ``out_dir``; returns them."""
    from spikebits.results import plot_allocation, plot_bit_trajectories

    series = [{"label": f"target {target}", "targets": target.to_dict(), "history": history} for target, history in runs]
    allocations = [
        {"label": f"target {target}", "layers": {n: c.to_dict() for n, c in config.layers.items()}}
        for (target, _), config in zip(runs, configs)
        if config is not None
    ]
    paths = [out_dir / "bit_trajectories.png", out_dir / "allocation.png"]
    plot_bit_trajectories(paths[0], series, title=f"{name}: average bits during supernet training")
    plot_allocation(paths[1], allocations, title=f"{name}: final per-layer allocation")
    return paths


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
