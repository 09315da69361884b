"""``differentiable`` and ``gumbel``: learn each layer's bits during training (Yao et al.;
SpikeHQ), then hand the snapped config to the shared evaluator.

One supernet run per target W̄/S̄/T̄; several targets trace a front. A run:

1. starts from the cached full-precision model set to the initial config (default: every
   unpinned layer at its largest W, S and T) and calibrates the step sizes;
2. trains weights, step sizes and the bit parameters (B̂_w, B̂_s,t, T̂; or the Gumbel logits
   θ over (scheme, W)) with L = CE + λ_w|W̄ − W_t| + λ_s|S̄ − S_t| + λ_T|T̄ − T_t|, with
   step-size renewal when a rounded bit width changes, until the switch-off rule stops it;
3. snaps the learned values (the rounded values averaged over the last epoch) to each
   layer's options and, if the config breaks a budget or an average misses its target by more
   than ``target_tolerance``, moves one option of one layer at a time — first the reduction
   that costs least — until it fits (:func:`fit_config`);
4. proposes that config, which the shared :class:`evaluators.Evaluator` fine-tunes and
   scores like any other strategy's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from spikebits.evaluators.training import Progress, accuracy, calibrate, make_loader
from spikebits.models import DEFAULT_LAMBDAS, Supernet, apply_config
from spikebits.results import TrialRecord, plot_allocation, plot_bit_trajectories
from spikebits.search.base import Proposal, Strategy, register_strategy
from spikebits.space import SCHEMES, BitTargets, Budget, BudgetError, Config, ConfigError, LayerChoice, SearchSpace, direction

RENEWAL_MODES = ("none", "spikes", "weights", "both")
#: ``init`` values that start the supernet from a sensitivity-guided config (search.warm).
INIT_METRICS = ("hessian", "output", "kurtosis")
#: Targets used when neither --targets nor a bit_budget budget is given.
DEFAULT_TARGETS = "1/1/1,2/2/1,4/4/1"
#: Cost metrics the lowering rule can act on (data-free, computed by ``Evaluator.cost``).
COST_METRICS = ("bit_budget", "s_ace", "size_bits", "effective_resolution", "energy_pj")


@dataclass(frozen=True)
class SupernetSettings:
    """Settings of one supernet run (documented defaults).

    ``lr`` trains weights and step sizes, ``bits_lr`` the bit parameters (B̂, T̂, θ); both
    with Adam and one cosine decay over all steps. ``lambdas`` = (λ_w, λ_s, λ_T) of the
    budget loss (seed paper: 0.04, 0.04, 0.01). ``renewal``: which step sizes are renewed
    when a rounded bit width changes (seed paper's best: spikes). Renewal of a kind switches
    off for good at the end of an epoch ≥ ``renewal_min_epochs`` once its average is within
    ``switch_off`` (24%) of the initial gap from the target. ``init``: starting W/S/T of every
    unpinned layer, clipped to its options, or ``"largest"``. ``temperature``: Gumbel τ,
    annealed exponentially from the first to the second value over the epochs.
    """

    epochs: int = 10
    lr: float = 1e-3
    bits_lr: float = 0.05
    batch_size: int = 64
    lambdas: tuple[float, float, float] = DEFAULT_LAMBDAS
    renewal: str = "spikes"
    renewal_grid: int = 50
    renewal_min_epochs: int = 2
    switch_off: float = 0.24
    init: str = "largest"
    temperature: tuple[float, float] = (5.0, 0.5)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.renewal not in RENEWAL_MODES:
            raise ConfigError(f"renewal {self.renewal!r} is unknown; use one of {', '.join(RENEWAL_MODES)}")
        if self.epochs < 1:
            raise ConfigError("supernet epochs must be at least 1")
        if self.renewal_grid < 1:
            raise ConfigError("renewal grid must be at least 1 (the seed paper uses 50 to 100)")
        if len(self.lambdas) != 3 or any(not math.isfinite(x) or x < 0 for x in self.lambdas):
            raise ConfigError("lambdas must be three numbers >= 0, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01")
        if self.init != "largest":
            try:
                BitTargets.parse(self.init)
            except BudgetError:
                raise ConfigError(
                    f"init {self.init!r} is unknown; use largest, W/S/T (for example 4/4/2) or hessian, output, kurtosis"
                ) from None


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
    renewal_off_epoch: dict[str, int | None] = field(default_factory=dict)
    supernet_accuracy: float = float("nan")
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "snapped": self.config.to_dict()["layers"],
            "learned": self.learned,
            "renewals": self.renewals,
            "renewal_off_epoch": self.renewal_off_epoch,
            "supernet_accuracy": self.supernet_accuracy,
            "wall_time_s": self.wall_time_s,
            "history": self.history,
            "layer_history": self.layer_history,
        }


def initial_config(space: SearchSpace, init: str) -> Config:
    """The supernet's starting config: every decision at its largest options, or at
    ``init`` = W/S/T snapped to the options. Scheme: uniform where allowed."""
    choices = {}
    start = None if init == "largest" else BitTargets.parse(init)
    for rep in space.decisions:
        o = space.layers[rep]
        scheme = "uniform" if "uniform" in o.schemes else o.schemes[0]
        if start is None:
            w, s, t = max(o.w_bits), max(o.s_bits), max(o.timesteps)
        else:
            w, s, t = (min(opts, key=lambda v, x=x: (abs(v - x), v)) for opts, x in ((o.w_bits, start.w_bits), (o.s_bits, start.s_bits), (o.timesteps, start.timesteps)))
        choices[rep] = LayerChoice(w, s, t, scheme)
    return space.expand(choices)


def train_supernet(
    evaluator: Any,
    target: BitTargets,
    settings: SupernetSettings,
    *,
    gumbel: bool = False,
    progress: Progress | None = None,
    init_config: Config | None = None,
) -> SupernetRun:
    """One supernet run towards ``target`` on the evaluator's model, data and device;
    ``init_config`` (e.g. a sensitivity-guided allocation) replaces ``settings.init``."""
    start = time.perf_counter()
    device = evaluator.device
    data = evaluator.data
    model = evaluator.full_precision_model()
    start_config = init_config if init_config is not None else initial_config(evaluator.space, settings.init)
    apply_config(model, evaluator.space.complete(start_config, strict=True))
    model.to(device)
    calibrate(model, data.train, device=device)
    torch.manual_seed(settings.seed)
    net = Supernet(model, evaluator.space, evaluator.specs, gumbel=gumbel, renewal_grid=settings.renewal_grid)
    renew = {"weights": settings.renewal in ("weights", "both"), "spikes": settings.renewal in ("spikes", "both")}
    net.set_renewal(**renew)
    loader = make_loader(data.train, settings.batch_size, shuffle=True, seed=settings.seed)
    optimizer = torch.optim.Adam(
        [{"params": net.model_parameters(), "lr": settings.lr}, {"params": net.arch_params, "lr": settings.bits_lr}]
    )
    total_steps = settings.epochs * len(loader)
    # Cosine decay for weights and step sizes; the bit parameters keep a constant rate.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, total_steps) / total_steps)), lambda k: 1.0]
    )
    with torch.no_grad():
        initial = [float(v) for v in net.averages()]
    targets = (target.w_bits, target.s_bits, target.timesteps)
    gaps = {"weights": abs(initial[0] - targets[0]), "spikes": abs(initial[1] - targets[1])}
    run = SupernetRun(target, net.snap(), {})
    run.renewal_off_epoch = {k: (None if on else 0) for k, on in renew.items()}
    run.history.append({"step": 0, "epoch": 0.0, "w_bits": initial[0], "s_bits": initial[1], "timesteps": initial[2]})
    tau0, tau1 = settings.temperature
    epochs = range(settings.epochs)
    if progress is not None:
        epochs = progress(epochs, f"supernet {target}", settings.epochs)
    step = 0
    last_epoch: list[dict[str, dict]] = []
    for epoch in epochs:
        if gumbel:
            frac = epoch / max(settings.epochs - 1, 1)
            net.set_temperature(tau0 * (tau1 / tau0) ** frac)
        model.train()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            ce = F.cross_entropy(model(x), y)
            penalty, avg = net.budget_loss(target, settings.lambdas)
            loss = ce + penalty
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            net.clamp_()
            step += 1
            if epoch == settings.epochs - 1:
                last_epoch.append(net.rounded())
            run.history.append(
                {"step": step, "epoch": step / len(loader), "w_bits": avg[0], "s_bits": avg[1], "timesteps": avg[2], "loss": float(ce.detach())}
            )
        with torch.no_grad():
            now = [float(v) for v in net.averages()]
        run.layer_history.append({"epoch": epoch + 1, "layers": net.rounded()})
        # Switch-off rule: within 24% of the initial gap from the target, after min epochs.
        for kind, index in (("weights", 0), ("spikes", 1)):
            if renew[kind] and epoch + 1 >= settings.renewal_min_epochs and abs(now[index] - targets[index]) <= settings.switch_off * gaps[kind]:
                renew[kind] = False
                run.renewal_off_epoch[kind] = epoch + 1
                net.set_renewal(**renew)
    run.config = net.snap(_mean_values(last_epoch) if last_epoch else None)
    run.learned = net.learned()
    run.renewals = net.renewals()
    run.supernet_accuracy = accuracy(model, data.test, device=device)
    run.wall_time_s = time.perf_counter() - start
    return run


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


# ---------------------------------------------------------------------------- feasibility
def _excess(values: Mapping[str, float], limits: Mapping[str, float]) -> float:
    """Σ max(0, value − limit)/|limit|: total relative excess over every budget limit."""
    return sum(max(0.0, values[m] - lim) / max(abs(lim), 1e-12) for m, lim in limits.items())


#: Averages a target speaks of, and the key of ``measure``'s result that holds each.
TARGET_KEYS = {"w_bits": "avg_w_bits", "s_bits": "avg_s_bits", "timesteps": "avg_timesteps"}


def _deviation(values: Mapping[str, float], target: BitTargets | None, tolerance: float) -> float:
    """Σ_k max(0, |avg_k − target_k| − tolerance): how far the averages miss the target band."""
    if target is None:
        return 0.0
    return sum(max(0.0, abs(values[key] - getattr(target, k)) - tolerance) for k, key in TARGET_KEYS.items())


def _learned_value(learned: Mapping[str, Any], key: str) -> float | None:
    """The supernet's unrounded value of ``key`` (the mean over steps for S; for a Gumbel
    choice of W, the expected bits under softmax θ)."""
    if key == "w_bits" and "w_candidates" in learned:
        # keys are scheme + bits ("uniform3", "pow23"): strip the scheme, not every letter
        total = 0.0
        for name, p in learned["w_candidates"].items():
            scheme = next(s for s in sorted(SCHEMES, key=len, reverse=True) if name.startswith(s))
            total += p * int(name[len(scheme):])
        return total
    value = learned.get(key)
    if isinstance(value, list):
        return sum(value) / len(value) if value else None
    return None if value is None else float(value)


def fit_config(
    config: Config,
    space: SearchSpace,
    measure: Callable[[Config], Mapping[str, float]],
    limits: Mapping[str, float],
    *,
    target: BitTargets | None = None,
    tolerance: float = 0.25,
    learned: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Config, list[str]]:
    """Move one option of one layer at a time until the config keeps every budget limit and
    its averages lie within ``tolerance`` of ``target`` (as far as the options allow).

    Rule (greedy, deterministic): the state is the pair (budget excess, target deviation),
    compared in that order — excess = Σ max(0, v − limit)/limit over the budgeted cost metrics,
    deviation = Σ max(0, |avg − target| − tolerance) over W̄, S̄, T̄. Every step considers each
    decision's W, S and T moved to the neighbouring smaller or larger option and keeps the
    moves that improve the state. Moves that cut the budget excess go first; among them (or,
    once the budget holds, among the moves that cut the deviation) the winner has the
    smallest *regret per unit of improvement*, regret being the distance from the supernet's
    learned (unrounded) value to the new option (the supernet was closest to choosing it);
    ties go to the larger improvement, then to network order. A lowered layer is thus the
    one whose reduction costs least. Returns the config and the moves (``"conv2.w_bits 4->3"``).
    Raises :class:`BudgetError` when the budget still breaks and no move helps.
    """
    learned = learned or {}

    def state(values: Mapping[str, float]) -> tuple[float, float]:
        return _excess(values, limits), _deviation(values, target, tolerance)

    values = measure(config)
    current = state(values)
    moves: list[str] = []
    while current[0] > 0 or current[1] > 0:
        best = None
        for rep in space.decisions:
            options = space.layers[rep]
            choice = config[rep]
            for key, opts in (("w_bits", options.w_bits), ("s_bits", options.s_bits), ("timesteps", options.timesteps)):
                now = getattr(choice, key)
                neighbours = [max((o for o in opts if o < now), default=None), min((o for o in opts if o > now), default=None)]
                for new_value in neighbours:
                    if new_value is None:
                        continue
                    moved = LayerChoice(**{**choice.to_dict(), key: new_value})
                    candidate = space.expand({r: (moved if r == rep else config[r]) for r in space.decisions})
                    new_state = state(measure(candidate))
                    if new_state[0] > current[0] + 1e-12 or new_state >= current:
                        continue
                    cuts_excess = new_state[0] < current[0] - 1e-12
                    gain = (current[0] - new_state[0]) if cuts_excess else (current[1] - new_state[1])
                    if gain <= 1e-12:
                        continue
                    value = _learned_value(learned.get(rep, {}), key)
                    regret = abs((value if value is not None else now) - new_value)
                    rank = (0 if cuts_excess else 1, regret / gain, -gain)
                    if best is None or rank < best[0]:
                        best = (rank, candidate, f"{rep}.{key} {now}->{new_value}")
        if best is None:
            break
        config = best[1]
        moves.append(best[2])
        values = measure(config)
        current = state(values)
    if current[0] > 0:
        over = ", ".join(f"{m} {values[m]:.4g} > {lim:g}" for m, lim in limits.items() if values[m] > lim)
        raise BudgetError(f"cannot change the config further and it still breaks the budget ({over}); loosen the budget")
    return config, moves


# ---------------------------------------------------------------------------- strategy
@register_strategy
class DifferentiableStrategy(Strategy):
    """Learnable W, S, T per layer (Yao et al.): one supernet run per target.

    Options: ``targets`` (``"1/1/1,2/2/1"`` or :class:`space.BitTargets`; default: the split
    of a ``bit_budget`` budget, else ``1/1/1,2/2/1,4/4/1``), ``target_tolerance`` (0.25 bits:
    how far a snapped average may miss its target before a layer is moved), the
    :class:`SupernetSettings` fields (``supernet_epochs``, ``bits_lr``, ``lambdas``,
    ``renewal``, ``renewal_grid``, ``renewal_min_epochs``, ``init``, ``lr``), and
    ``progress`` (a tqdm-like wrapper). ``n_trials`` is ignored: there is one trial per target.
    """

    name = "differentiable"
    gumbel = False

    def __init__(self, space, evaluator, budget, objectives, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, evaluator, budget, objectives, seed=seed, **options)
        lambdas = options.get("lambdas") or DEFAULT_LAMBDAS
        if isinstance(lambdas, str):
            try:
                lambdas = tuple(float(x) for x in lambdas.split("/"))
            except ValueError:
                raise ConfigError(f"lambdas {lambdas!r} is malformed; write λ_w/λ_s/λ_T, for example 0.04/0.04/0.01") from None
        self.settings = SupernetSettings(
            epochs=int(options.get("supernet_epochs") or 10),
            lr=float(options.get("supernet_lr") or 1e-3),
            bits_lr=float(options.get("bits_lr") or 0.05),
            lambdas=tuple(lambdas),  # type: ignore[arg-type]
            renewal=options.get("renewal") or "spikes",
            renewal_grid=int(options.get("renewal_grid") or 50),
            renewal_min_epochs=int(options.get("renewal_min_epochs") or 2),
            init=(options.get("init") or "largest") if options.get("init") not in INIT_METRICS else "largest",
            seed=seed,
        )
        self.init_metric = options.get("init") if options.get("init") in INIT_METRICS else None
        self.initial_configs: list[Config] | None = options.get("initial_configs")
        self.tolerance = float(options.get("target_tolerance", 0.25))
        self.targets = resolve_targets(options.get("targets"), budget, space)
        self.progress = options.get("progress")
        self.runs: list[SupernetRun] = []
        self.moves: list[list[str]] = []
        self._records: list[TrialRecord] = []

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
        if self.init_metric is not None and self.initial_configs is None:
            from spikebits.search.warm import initial_configs

            self.initial_configs = initial_configs(
                self.evaluator, self.init_metric, self.targets, self.budget, report=self.options.get("sensitivity"), progress=self.progress
            )

    def remaining(self, n_trials: int) -> int:
        return len(self.targets) - self._told

    def ask(self) -> Proposal | None:
        i = len(self.runs)
        if i >= len(self.targets):
            return None
        target = self.targets[i]
        init = self.initial_configs[i] if self.initial_configs else None
        run = train_supernet(self.evaluator, target, self.settings, gumbel=self.gumbel, progress=self.progress, init_config=init)
        config, moves = fit_config(
            run.config, self.space, self._measure, self._limits(), target=target, tolerance=self.tolerance, learned=run.learned
        )
        self.runs.append(run)
        self.moves.append(moves)
        averages = self.evaluator.averages(config)
        return Proposal(
            config,
            info={
                "target": str(target),
                "supernet_accuracy": run.supernet_accuracy,
                "moves": ";".join(moves),
                "avg_w_bits": averages[0],
                "avg_s_bits": averages[1],
                "avg_timesteps": averages[2],
            },
        )

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        self._records.append(record)

    def records(self) -> list[TrialRecord]:
        return list(self._records)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        for key in ("progress", "sensitivity", "initial_configs"):
            info.pop(key, None)
        if self.initial_configs:
            info["initial_configs"] = [c.short() for c in self.initial_configs]
        info["targets"] = [t.to_dict() for t in self.targets]
        info["target_tolerance"] = self.tolerance
        info["settings"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.settings.__dict__.items()}
        info["runs"] = [{**run.to_dict(), "moves": moves} for run, moves in zip(self.runs, self.moves)]
        return info

    def write_artifacts(self, out_dir: Path) -> list[Path]:
        """``bit_trajectories.png`` (W̄, S̄, T̄ over training, with the targets) and
        ``allocation.png`` (per-layer bars of each final config), beside ``pareto.png``."""
        if not self.runs:
            return []
        runs = [{"label": f"target {run.target}", "targets": run.target.to_dict(), "history": run.history} for run in self.runs]
        allocations = [
            {"label": f"target {run.target}", "layers": {n: c.to_dict() for n, c in rec.config.layers.items()}}
            for run, rec in zip(self.runs, self._records)
        ]
        paths = [out_dir / "bit_trajectories.png", out_dir / "allocation.png"]
        plot_bit_trajectories(paths[0], runs, title=f"{self.name}: average bits during supernet training")
        plot_allocation(paths[1], allocations, title=f"{self.name}: final per-layer allocation")
        return paths


@register_strategy
class GumbelStrategy(DifferentiableStrategy):
    """Gumbel-softmax choice of (scheme, W) per layer (SpikeHQ, EdMIPS style), with learnable
    S and T as in ``differentiable``.

    Per layer, logits θ over the (scheme × w_bits) options; the weights are the mixture
    Σ_c m_c·Q_c(W), m = softmax((θ + g)/τ), τ annealed from 5 to 0.5; the expected-cost
    penalty is λ_w·|Σ_l Σ_c m_lc·bits_c·N_w,l/ΣN_w − W_t| (the expected W̄ against its target,
    in the same form as the budget loss); at the end each layer takes argmax θ.
    """

    name = "gumbel"
    gumbel = True
