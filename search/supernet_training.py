"""One supernet run towards a target W̄/S̄/T̄ (and Ū where the space searches U) (:func:`train_supernet`) and what it learned
(:class:`SupernetRun`): the start, the optimizer and the bit parameters' schedule, the training
loop with its budget loss, step-size renewal and switch-off rule, resuming from a partial
checkpoint (:mod:`search.supernet_checkpoints`), and the snap of the learned values at the end."""

from __future__ import annotations

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
    make_loader,
    read_partial,
    recompute_batchnorm,
    rng_state,
    set_rng_state,
    to_memory_format,
    write_partial,
)
from spikebits.models import Supernet, apply_config
from spikebits.search.supernet_checkpoints import module_state, remove_checkpoint, set_module_state, supernet_checkpoint
from spikebits.search.supernet_options import DifferentiableOptions
from spikebits.search.supernet_targets import with_membrane_target
from spikebits.space import BitTargets, Config, ConfigError, SearchSpace, TrainingError

#: Share of the supernet's steps at the end in which config changes are counted (``late_changes``).
LATE_SHARE = 0.1
#: The supernet's start when neither init_bits nor init_sensitivity is given (seed paper).
DEFAULT_START = "4/4/2"
#: The default supernet training length: epochs enough to see this many training samples …
SUPERNET_SAMPLES = 12_000
#: … and at most this many epochs.
MAX_SUPERNET_EPOCHS = 10


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
    #: (λ_w, λ_s, λ_T) of this target's budget loss (and λ_U with a membrane target).
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
    or at ``init`` = W/S/T or W/S/T/U (None: :data:`DEFAULT_START`) snapped to the options;
    uniform scheme where allowed. A layer that searches U starts at the largest U option, or
    at the one nearest ``init``'s U; a U for a space that searches none is a one-line error."""
    init = DEFAULT_START if init is None else init
    if init == "largest":
        return space.nearest_config()
    start = BitTargets.parse(init)
    if start.u_bits is not None and not any(space.layers[r].searches_membrane for r in space.decisions):
        raise ConfigError(f"init_bits {init} gives a membrane width U but the space searches none; write W/S/T or add --membrane-bits")
    return space.nearest_config(start.w_bits, start.s_bits, start.timesteps, start.u_bits)


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
def supernet_epochs(train_samples: int) -> int:
    """Supernet epochs per target when ``supernet_epochs`` is not set: ⌈12,000 / N_train⌉,
    between 1 and 10 (digits, 1,293 training images: 10, as before; MNIST, 54,000: 1, which
    is 844 steps of 64 against digits' 210)."""
    return max(1, min(MAX_SUPERNET_EPOCHS, math.ceil(SUPERNET_SAMPLES / max(train_samples, 1))))


def count_changes(snapshots: Sequence[Any]) -> int:
    """How many times consecutive ``snapshots`` differ (the rounded config changed)."""
    return sum(a != b for a, b in zip(snapshots, snapshots[1:]))


def _mean_values(snapshots: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per decision, the mean of the rounded W, S, T (and U where searched) over ``snapshots``
    (the last epoch's steps): near the target the rounded values flip between neighbours, and
    their mean says which one the supernet preferred. The scheme is the last one."""
    out: dict[str, dict[str, Any]] = {}
    for rep, last in snapshots[-1].items():
        keys = ("w_bits", "s_bits", "timesteps") + (("u_bits",) if "u_bits" in last else ())
        out[rep] = {k: sum(float(s[rep][k]) for s in snapshots) / len(snapshots) for k in keys}
        out[rep]["scheme"] = last["scheme"]
    return out


@dataclass
class SupernetLoop:
    """The state of one supernet run's training loop: the network, its optimizer, scheduler
    and loader, the record being written (:attr:`run`), and the bookkeeping the next step
    depends on (the step, the renewal switches, the rounded configs kept for the snap and for
    ``late_changes``); a partial checkpoint saves and restores it (:func:`save_loop`,
    :func:`resume_loop`)."""

    model: torch.nn.Module
    net: Supernet
    loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    guard: StepSizeGuard
    run: SupernetRun
    #: The starting config (``init_config``, else ``settings.init_bits``).
    start_config: Config
    #: (W_t, S_t, T_t) of the target.
    targets: tuple[float, float, float]
    #: Signed start − target gap per renewed kind; a kind that starts at its target never renews.
    gaps: dict[str, float]
    #: Which step sizes are renewed now (weights, spikes).
    renew: dict[str, bool]
    n_epochs: int
    #: The first step at which the renewal switch-off rule may act.
    min_step: int
    #: The steps late_from..learn_end whose rounded configs count towards ``late_changes``.
    late_from: int
    learn_end: int
    #: Gumbel τ annealed from the first to the second (None: not Gumbel).
    temperature: tuple[float, float] | None = None
    step: int = 0
    #: The rounded config after each step of the last epoch (their mean is snapped).
    last_epoch: list[dict[str, dict]] = field(default_factory=list)
    #: The rounded config after each of the late steps (and the step before them).
    late: list[dict[str, dict]] = field(default_factory=list)


def start_loop(
    evaluator: Any, target: BitTargets, settings: DifferentiableOptions, init_config: Config | None, *, seed: int, gumbel: bool
) -> SupernetLoop:
    """Set up a run: the cached full-precision model at the starting config (``init_config``,
    else :func:`initial_config` of ``settings.init_bits``) with calibrated step sizes, the
    :class:`models.Supernet` around it, the seeded loader, the optimizer and its schedule
    (weights on a cosine to zero, the bit parameters on ``bits_schedule``), the renewal
    switches (off for a kind whose start equals its target) and the first history point."""
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
        membrane = net.membrane_average()
    targets = (target.w_bits, target.s_bits, target.timesteps)
    gaps = {"weights": initial[0] - targets[0], "spikes": initial[1] - targets[1]}
    run = SupernetRun(target, net.snap(), {})
    run.renewal_off_step = {k: (None if on else 0) for k, on in renew.items()}
    for kind in renew:
        if renew[kind] and gaps[kind] == 0:
            renew[kind] = False
            run.renewal_off_step[kind] = 0
    net.set_renewal(**renew)
    first = {"step": 0, "epoch": 0.0, "w_bits": initial[0], "s_bits": initial[1], "timesteps": initial[2]}
    if membrane is not None:
        first["u_bits"] = float(membrane)
    run.history.append(first)
    # The rounded config after each of the last 10% of the steps in which the bits still learn
    # (and the step before them): with a freeze schedule the window ends where the freeze starts.
    learn_end = learning_steps(settings.bits_schedule, total_steps, settings.freeze_share)
    late_from = learn_end - max(1, math.ceil(LATE_SHARE * learn_end))
    run.lambdas = settings.lambdas_for(target)
    return SupernetLoop(
        model, net, loader, optimizer, scheduler, guard, run, start_config, targets, gaps, renew, n_epochs,
        min_step=math.ceil(settings.renewal_min_share * total_steps), late_from=late_from, learn_end=learn_end,
        temperature=settings.temperature if gumbel else None,
    )


def resume_loop(loop: SupernetLoop, saved: Mapping[str, Any], device: Any) -> int:
    """Restore ``loop`` from a partial checkpoint written by :func:`save_loop` and return the
    epochs it had done; raises if the checkpoint does not fit the loop."""
    book = saved["book"]
    done = int(book["epoch"])
    if not 0 < done < loop.n_epochs:
        raise ValueError(f"{done} epochs of {loop.n_epochs}")
    loop.model.load_state_dict(saved["model"])
    set_module_state(loop.model, saved["modules"])
    loop.optimizer.load_state_dict(saved["optimizer"])
    loop.scheduler.load_state_dict(saved["scheduler"])
    loop.step, loop.renew = int(book["step"]), {k: bool(v) for k, v in book["renew"].items()}
    loop.run.history, loop.run.layer_history = list(book["history"]), list(book["layer_history"])
    loop.run.renewal_off_step = dict(book["renewal_off_step"])
    loop.last_epoch, loop.late = list(book["last_epoch"]), list(book["late"])
    modules = dict(loop.model.named_modules())
    for name, bits in book.get("membrane", {}).items():
        if getattr(modules.get(name), "membrane_param", None) is None:
            raise ValueError(f"module {name!r} learns no membrane width")
        modules[name].membrane_bits = int(bits)
    loop.net.set_renewal(**loop.renew)
    set_rng_state(loop.loader, device, saved["rng"])
    return done


def save_loop(loop: SupernetLoop, checkpoint: Path, epochs_done: int, device: Any) -> None:
    """Write everything the next epoch depends on to the partial checkpoint ``checkpoint``."""
    run = loop.run
    write_partial(checkpoint, {
        "kind": "supernet", "key": checkpoint.stem, "model": loop.model.state_dict(), "modules": module_state(loop.model),
        "optimizer": loop.optimizer.state_dict(), "scheduler": loop.scheduler.state_dict(), "rng": rng_state(loop.loader, device),
        "book": {
            "epoch": epochs_done, "step": loop.step, "renew": dict(loop.renew), "renewal_off_step": dict(run.renewal_off_step),
            "history": run.history, "layer_history": run.layer_history, "last_epoch": loop.last_epoch, "late": loop.late,
            **_membrane_state(loop.model),
        },
    })


def _membrane_state(model: torch.nn.Module) -> dict[str, dict[str, int]]:
    """``{"membrane": {module: U}}``: the U each neuron with a learnable Û ran at last (held
    with hysteresis, so the next batch depends on it); empty where no layer learns U."""
    held = {name: m.membrane_bits for name, m in model.named_modules() if getattr(m, "membrane_param", None) is not None}
    return {"membrane": held} if held else {}


def train_step(loop: SupernetLoop, evaluator: Any, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[float, Any]:
    """One optimizer step on the batch (x, y) of L = CE + λ_w|W̄ − W_t| + λ_s|S̄ − S_t| +
    λ_T|T̄ − T_t| (+ λ_U|Ū − U_t| with a membrane target) (:meth:`models.Supernet.budget_loss`,
    exact averages), the step sizes kept positive by the guard and the bit parameters clamped
    to their range after it; returns the cross-entropy and the averages (W̄, S̄, T̄, and Ū where
    the space searches U) of the forward."""
    device, fmt = evaluator.device, evaluator.finetune_settings
    x, y = batch_format(x.to(device, non_blocking=True), fmt), y.to(device, non_blocking=True)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=fmt.amp):
        ce = F.cross_entropy(loop.model(x), y)
    penalty, avg = loop.net.budget_loss(loop.run.target, loop.run.lambdas)
    loss = ce + penalty
    ce_value = check_loss(float(ce.detach()), epoch + 1, loop.step + 1, what="the supernet loss", hint="lower --supernet-lr")
    loop.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    loop.guard.before_step()
    loop.optimizer.step()
    loop.guard.after_step()
    loop.scheduler.step()
    loop.net.clamp_()
    loop.step += 1
    return ce_value, avg


def record_step(loop: SupernetLoop, epoch: int, avg: Any, ce_value: float) -> None:
    """After a step: keep the rounded config (in the last epoch, for the snap; in the late
    window, for ``late_changes``) and add the step's averages and loss to the history."""
    step = loop.step
    late_step = loop.late_from <= step <= loop.learn_end
    if epoch == loop.n_epochs - 1 or late_step:
        rounded = loop.net.rounded()
        if epoch == loop.n_epochs - 1:
            loop.last_epoch.append(rounded)
        if late_step:
            loop.late.append(rounded)
    point = {"step": step, "epoch": step / len(loop.loader), "w_bits": avg[0], "s_bits": avg[1], "timesteps": avg[2]}
    if len(avg) > 3:
        point["u_bits"] = avg[3]
    point["loss"] = ce_value
    loop.run.history.append(point)


def switch_off_renewal(loop: SupernetLoop, avg: Any, switch_off: float) -> None:
    """Switch-off rule (seed paper's code, signed): from step ``min_step`` on, renewal of a kind
    stops for good at the first step where avg − target < switch_off·(start − target)."""
    if loop.step < loop.min_step:
        return
    for kind, index in (("weights", 0), ("spikes", 1)):
        if loop.renew[kind] and avg[index] - loop.targets[index] < switch_off * loop.gaps[kind]:
            loop.renew[kind] = False
            loop.run.renewal_off_step[kind] = loop.step
            loop.net.set_renewal(**loop.renew)


def train_epoch(loop: SupernetLoop, evaluator: Any, settings: DifferentiableOptions, epoch: int) -> tuple[float, Any]:
    """One epoch (Gumbel: τ = τ₀·(τ₁/τ₀)^(epoch / (E − 1)) first), the evaluator's ``stop``
    checked after each batch; returns the last batch's cross-entropy and averages."""
    if loop.temperature is not None:
        tau0, tau1 = loop.temperature
        frac = epoch / max(loop.n_epochs - 1, 1)
        loop.net.set_temperature(tau0 * (tau1 / tau0) ** frac)
    stop = evaluator.stop  # a StopRequest: checked after each batch
    loop.model.train()
    for x, y in loop.loader:
        ce_value, avg = train_step(loop, evaluator, x, y, epoch)
        record_step(loop, epoch, avg, ce_value)
        switch_off_renewal(loop, avg, settings.switch_off)
        if stop is not None:
            stop.check(f"supernet {loop.run.target} epoch {epoch + 1}")
    loop.run.layer_history.append({"epoch": epoch + 1, "layers": loop.net.rounded()})
    return ce_value, avg


def run_epochs(
    loop: SupernetLoop, evaluator: Any, settings: DifferentiableOptions, checkpoint: Path | None, done: int,
    progress: Progress | None,
) -> None:
    """The epochs after the ``done`` ones, with a partial checkpoint after each but the last
    and a line to the evaluator's ``log`` after each."""
    target, n_epochs = loop.run.target, loop.n_epochs
    log = evaluator.log
    epochs = range(done, n_epochs)
    if progress is not None:
        epochs = progress(epochs, f"supernet {target}", n_epochs - done)
    for epoch in epochs:
        epoch_start = time.perf_counter()
        ce_value, avg = train_epoch(loop, evaluator, settings, epoch)
        if checkpoint is not None and epoch + 1 < n_epochs:
            save_loop(loop, checkpoint, epoch + 1, evaluator.device)
        if log is not None:
            u = f", Ū {avg[3]:.2f}" if len(avg) > 3 else ""
            log(f"supernet {target} epoch {epoch + 1}/{n_epochs}: loss {ce_value:.4f}, W̄/S̄/T̄ {avg[0]:.2f}/{avg[1]:.2f}/{avg[2]:.2f}{u}, "
                f"{time.perf_counter() - epoch_start:.1f} s")


def finish_run(loop: SupernetLoop, evaluator: Any, started: float) -> SupernetRun:
    """Snap the learned values (the rounded values averaged over the last epoch), fix the
    network there, recompute its BatchNorm statistics on the training data and score it on the
    validation split (the test split is only reported); returns the finished record."""
    run, net = loop.run, loop.net
    run.learned = net.learned()
    run.config = net.snap(_mean_values(loop.last_epoch) if loop.last_epoch else None)
    run.late_changes = {"steps": len(loop.late) - 1, "changes": count_changes(loop.late)}
    run.renewals = net.renewals()
    net.fix(run.config)
    recompute_batchnorm(loop.model, evaluator.data.train, device=evaluator.device)
    run.supernet_accuracy = accuracy(loop.model, evaluator.data.val, device=evaluator.device)
    run.wall_time_s = time.perf_counter() - started
    run.supernet = net
    return run


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
    Where the space searches U, a target without a membrane target gets the default one
    (:func:`search.supernet_targets.with_membrane_target`), and Û learns beside B̂ and T̂.

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
    started = time.perf_counter()
    log = evaluator.log
    target = with_membrane_target(target, evaluator.space)
    loop = start_loop(evaluator, target, settings, init_config, seed=seed, gumbel=gumbel)
    checkpoint = supernet_checkpoint(
        evaluator, loop.model, target, settings, seed=seed, gumbel=gumbel, start=loop.start_config, epochs=loop.n_epochs
    )
    description = f"supernet {target}"
    done = 0
    saved = read_partial(checkpoint, "supernet", checkpoint.stem if checkpoint else None, log, description) if resume else None
    if saved is not None:
        try:
            done = resume_loop(loop, saved, evaluator.device)
        except Exception as err:  # noqa: BLE001 - it did not fit: start over from the start
            if log is not None:
                log(f"{description}: ignoring the partial checkpoint {checkpoint} ({type(err).__name__}: {err}); starting over")
            return train_supernet(
                evaluator, target, settings, seed=seed, gumbel=gumbel, progress=progress, init_config=init_config, resume=False
            )
        if log is not None:
            log(f"{description}: resuming from {checkpoint} after epoch {done}/{loop.n_epochs}")
    try:
        run_epochs(loop, evaluator, settings, checkpoint, done, progress)
    except TrainingError:  # diverged: the run is over (a FAIL trial), its checkpoint would only diverge again
        remove_checkpoint(checkpoint)
        raise
    run = finish_run(loop, evaluator, started)
    remove_checkpoint(checkpoint)
    return run
