"""The options of the supernet strategies (``differentiable``, ``gumbel``), which are also the
settings of one supernet run: the optimizer and its learning rates, the bit parameters'
schedule, the budget loss's coefficients, step-size renewal, the start, and the seed paper's
recipe (:data:`PAPER_RECIPE`). Their docstrings and help texts are the CLI's help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spikebits.models.supernet import DEFAULT_MEMBRANE_LAMBDA
from spikebits.search.options import SensitivityOptions, option
from spikebits.search.supernet_network import NETWORKS
from spikebits.search.supernet_targets import paper_lambdas
from spikebits.space import SENSITIVITY_METRICS, BitTargets, BudgetError, Config, ConfigError

RENEWAL_MODES = ("none", "spikes", "weights", "both")
OPTIMIZERS = ("adam", "sgd")
BIT_SCHEDULES = ("cosine", "freeze", "constant")
#: Learning rates when the options leave them unset: (weights and step sizes, B̂ and θ, T̂).
#: sgd is the seed paper's recipe (momentum 0.9; lr 0.1, and 0.01 for T̂).
DEFAULT_LRS = {"adam": (1e-3, 0.05, 0.05), "sgd": (0.1, 0.1, 0.01)}
#: Weight decay of the synapse weights when the options leave it unset (the released code:
#: 1e-4 with SGD, on the weights only; none on step sizes, bit parameters, BatchNorm, biases).
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "sgd": 1e-4}
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
    λ_T), or (λ_w, λ_s, λ_T, λ_U) with the coefficient of the membrane term λ_U|Ū − U_t|, of
    the budget loss for every target; unset, each target takes the released code's
    (:func:`paper_lambdas`; λ_U 0.01). ``targets`` are W/S/T, or W/S/T/U with a membrane
    target Ū where the space searches U (unset there: S_t + 2, :func:`with_membrane_target`). ``recipe paper`` sets the seed paper's training
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
        None, "targets W/S/T of the budget loss, one supernet run each (default: split from a bit_budget budget, else 1/1/1,2/2/1,4/4/1); "
        "W/S/T/U adds a target Ū for a space that searches the membrane width (--membrane-bits; default there: U = S + 2)",
        metavar="W/S/T[/U],...",
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
    lambdas: tuple[float, ...] | None = option(
        None, "budget-loss coefficients λ_w/λ_s/λ_T for every target (default: the released code's per target, 0.04/0.04/0.01, "
        "with λ_w 0.01 and λ_s 0.02 for a W or S target of 3 bits or more); a fourth, λ_U, weighs the membrane target "
        "(default 0.01)", metavar="LW/LS/LT[/LU]",
    )
    renewal: str = option("spikes", "step-size renewal when a rounded bit width changes", choices=RENEWAL_MODES)
    renewal_grid: int = option(50, "clipping ranges tried by a renewal (the seed paper uses 50 to 100)", metavar="K")
    renewal_min_share: float = option(0.07, "share of training before the renewal switch-off rule may act (seed paper: 14 of 200 epochs)")
    switch_off: float = option(0.24, "renewal stops once avg − target < this share of (start − target)")
    init_bits: str | None = option(
        None, "supernet start: W/S/T for every unpinned layer (snapped to its options), or largest (default 4/4/2, the seed paper's); "
        "W/S/T/U also starts U (default: the largest U option)",
        metavar="W/S/T[/U]",
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
        self.require(self.supernet_lr is None or self.supernet_lr > 0, "supernet_lr", "more than 0 (the weights must learn)")
        for name in ("bits_lr", "timesteps_lr"):  # 0: that kind does not learn (its start is kept)
            value = getattr(self, name)
            self.require(value is None or value >= 0, name, "0 or more")
        self.require(self.batch_size >= 1, "batch_size", "at least 1")
        self.require(self.target_tolerance >= 0, "target_tolerance", "0 or more")
        self.require(self.network_epochs is None or self.network_epochs >= 0, "network_epochs", "0 or more")
        if self.network_epochs and self.network != "supernet":
            raise ConfigError("network_epochs fine-tunes the supernet's network; with network finetune the evaluator's --epochs set the fine-tune")
        self.require(0 <= self.switch_off <= 1, "switch_off", "between 0 and 1")
        if self.lambdas is not None and len(self.lambdas) not in (3, 4):
            raise ConfigError(
                f"{self.strategy_name} option lambdas needs 3 numbers, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01 "
                f"(or 4 with λ_U of a membrane target); got {len(self.lambdas)}"
            )
        self.require(
            self.lambdas is None or all(x >= 0 for x in self.lambdas), "lambdas",
            "numbers >= 0, λ_w/λ_s/λ_T[/λ_U], for example 0.04/0.04/0.01",
        )
        if self.targets is not None:
            BitTargets.parse_list(self.targets)
        if self.init_bits not in (None, "largest"):
            try:
                BitTargets.parse(self.init_bits)
            except BudgetError as err:
                raise ConfigError(f"init_bits {self.init_bits!r} is unknown; use largest, W/S/T or W/S/T/U, for example 4/4/2 ({err})") from None
        if self.init_sensitivity is not None and self.init_bits is not None:
            raise ConfigError("give init_bits or init_sensitivity, not both: both say where the supernet starts")

    def learning_rates(self) -> tuple[float, float, float]:
        """(weights and step sizes, B̂ and θ, T̂): the options, or the optimizer's defaults."""
        defaults = DEFAULT_LRS[self.optimizer]
        given = (self.supernet_lr, self.bits_lr, self.timesteps_lr)
        return tuple(d if g is None else g for g, d in zip(given, defaults))  # type: ignore[return-value]

    def lambdas_for(self, target: BitTargets) -> tuple[float, ...]:
        """(λ_w, λ_s, λ_T) of ``target``'s budget loss — and λ_U when it has a membrane target —:
        ``lambdas`` (λ_U: its fourth number, else :data:`models.supernet.DEFAULT_MEMBRANE_LAMBDA`),
        or :func:`paper_lambdas`."""
        if self.lambdas is None:
            return paper_lambdas(target)
        if target.u_bits is None:
            return tuple(self.lambdas[:3])
        return tuple(self.lambdas[:3]) + (self.lambdas[3] if len(self.lambdas) > 3 else DEFAULT_MEMBRANE_LAMBDA,)


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
