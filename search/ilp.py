"""``ilp``: sensitivity-weighted bit allocation by integer programming (HAWQ-V3 style).

At every level of a ladder of budgets the strategy solves the integer program of
:mod:`search._ilp`: one choice c_d per decision d (an unpinned layer, or a tied group; a
choice is (scheme, W, S, T) and the membrane bits U where the space searches them),

    minimise   Σ_d Ω(d, c_d),   Ω(d, c) = Σ_{l in group(d)} sensitivity(l, c)

subject to the user's budgets on the cost metrics (how the bit budget's product W̄·S̄·T̄ is
solved exactly, and how ties are broken: :func:`search._ilp.solve_allocation`). Which budgets
are reachable at all is :func:`evaluators.cost.check_limits`'s question.

:func:`budget_ladder` spaces the levels, :func:`solve_ladder` solves them (for the strategy
and for the sensitivity-guided starts of :mod:`search.warm`), and :class:`IlpStrategy`
(registered as ``"ilp"``) proposes each distinct optimum once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spikebits.evaluators.cost import check_limits, metric_value, smallest_reachable
from spikebits.evaluators.energy import EnergyModel, load_energy_model
from spikebits.models import LayerSpec
from spikebits.search._ilp import solve_allocation
from spikebits.search.base import Proposal, Strategy, register_strategy, sensitivity_of
from spikebits.search.options import SensitivityOptions, option
from spikebits.space import ALLOCATION_METRICS, COST_METRICS, Budget, Config, ConfigError, LayerChoice, SearchSpace
from spikebits.space.metrics import BIT_BUDGET


@dataclass(frozen=True)
class LadderStep:
    """One budget level of the ladder: the level, the optimum found there, and whether that
    config was already proposed at an earlier level."""

    level: float
    objective: float
    config: Config
    duplicate: bool

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "objective": self.objective, "config": self.config.short(), "duplicate": self.duplicate}


def budget_ladder(low: float, high: float, count: int) -> list[float]:
    """``count`` levels from ``low`` to ``high`` (both included), geometrically spaced
    (linearly if ``low`` ≤ 0)."""
    if count <= 1 or high <= low:
        return [high]
    if low > 0:
        levels = [low * (high / low) ** (k / (count - 1)) for k in range(count)]
    else:
        levels = [low + (high - low) * k / (count - 1) for k in range(count)]
    levels[0], levels[-1] = low, high
    return levels


def solve_ladder(
    space: SearchSpace,
    specs: Sequence[LayerSpec],
    report: Any,
    metric: str,
    budget: Mapping[str, float] | Budget,
    primary: str,
    count: int,
    *,
    max_levels: int | None = None,
    progress: Any = None,
    energy_model: EnergyModel | str | None = None,
) -> list[LadderStep]:
    """Optimal allocations at ``count`` limits on ``primary``, spaced geometrically from its
    smallest reachable value to the user's limit on it (or, without one or above it, to the
    cost of the space's largest config), each keeping the user's other budgets. ``report``
    has ``cost(metric, layer, choice)``. A config found again at a looser level is marked
    ``duplicate``. ``max_levels``: see :func:`search._ilp.solve_allocation` (default 400)."""
    user = check_limits(space, specs, budget, energy_model, who="the ilp strategy")
    model = load_energy_model(energy_model)

    def cost_of(layer: str, choice: LayerChoice) -> float:
        return float(report.cost(metric, layer, choice))

    low = smallest_reachable(space, specs, primary, model)
    high = metric_value(space, specs, space.largest_config(), primary, model)
    if primary in user:
        high = min(high, user[primary])
    levels = budget_ladder(low, high, count)
    if progress is not None:
        levels = progress(levels, f"ilp {primary} levels", len(levels))
    seen: set[Config] = set()
    ladder: list[LadderStep] = []
    previous = None
    for level in levels:
        limits = dict(user)
        limits[primary] = min(level, user.get(primary, math.inf))
        # A tighter level's answer fits here too: as the incumbent it prunes from the start.
        config = solve_allocation(space, specs, cost_of, limits, max_levels=max_levels, energy_model=model, incumbent=previous)
        previous = config
        ladder.append(LadderStep(level, _objective(space, cost_of, config), config, config in seen))
        seen.add(config)
    return ladder


def _objective(space: SearchSpace, cost_of: Callable[[str, LayerChoice], float], config: Config) -> float:
    """The program's objective Σ_d Ω(d, c_d) of ``config``, summed in the solver's order
    (decision by decision, a tied group's members in group order), so that it is bit for bit
    the value the solver minimised."""
    total = 0.0
    for d in space.decisions:
        value = 0.0
        for m in space.group_of(d):
            value += float(cost_of(m, config[d]))
        total += value
    return total


@dataclass(frozen=True)
class IlpOptions(SensitivityOptions):
    metric: str = option(
        "hessian", "sensitivity the integer program minimises: hessian (HAWQ Ω) or output (output error)", choices=ALLOCATION_METRICS
    )
    levels: int | None = option(None, "budget levels of the ladder, one integer program each (default: the number of trials)")
    max_levels: int | None = option(None, "most S̄ and T̄ values enumerated for a bit budget (default 400)")

    def sensitivity_request(self) -> tuple[int, str]:
        return self.probes, self.hessian_network

    def validate(self) -> None:
        self.require(self.levels is None or self.levels >= 1, "levels", "at least 1")
        self.require(self.max_levels is None or self.max_levels >= 1, "max_levels", "at least 1")
        super().validate()


@register_strategy
class IlpStrategy(Strategy):
    """Integer program (HAWQ-V3): least total sensitivity under each level of a budget ladder.

    The sensitivity Ω(l, c) of every layer and choice (``metric``: ``"hessian"``, the HAWQ
    Tr(H)/N_w·‖Q(W) − W‖² plus the activation term of the layer's input neuron at (S, T, U),
    or ``"output"``, the output error under quantization; where the space searches the
    membrane bits U, every choice carries its U and the budgets may include ``state_bits``,
    see :meth:`evaluators.SensitivityReport.cost`) is minimised
    by :func:`search._ilp.solve_allocation` under a ladder of budgets: the primary cost metric
    is the first objective among the cost metrics (default ``bit_budget``; energy under the
    evaluator's energy model); ``levels`` limits on it are spaced geometrically from its
    smallest reachable value to the user's limit on it (or, without one or above it, to the
    cost of the space's largest config), and every level also keeps the user's other budgets.
    Each distinct optimum is proposed once (``info``: ``level``, ``objective``) and scored by
    the shared evaluator. The whole ladder is solved in :meth:`start`. It holds no budget on a
    data metric (the run's check refuses one, :func:`search.runner.check_run`).
    """

    name = "ilp"
    Options = IlpOptions
    options: IlpOptions
    data_budgets = frozenset()
    trials_note = "one per distinct optimum of the ladder's levels (--levels, default the trials)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.levels = self.options.levels if self.options.levels is not None else self.n_trials
        if self.levels < 1:
            raise ConfigError(f"levels={self.levels!r} must be a whole number of at least 1")
        self.primary = next((m for m in self.objectives if m in COST_METRICS), BIT_BUDGET.name)
        self.ladder: list[LadderStep] = []
        self.queue: list[Proposal] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        energy_model = self.evaluator.energy_model
        report = sensitivity_of(self, *self.options.sensitivity_request())
        self.ladder = solve_ladder(
            self.space, self.evaluator.specs, report, self.options.metric, self.budget, self.primary, self.levels,
            max_levels=self.options.max_levels, progress=self.progress, energy_model=energy_model,
        )
        self.queue = [
            Proposal(step.config, info={"level": step.level, "objective": step.objective}) for step in self.ladder if not step.duplicate
        ]

    def remaining(self, n_trials: int, told: int) -> int:
        """One trial per distinct ladder optimum (``n_trials`` sets the levels only when
        ``levels`` is not given); before :meth:`start`, at most one per level."""
        if self.queue is None:
            return self.levels - told
        return len(self.queue)

    def ask(self) -> Proposal | None:
        if not self.queue:
            return None
        return self.queue.pop(0)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(levels=self.levels, primary=self.primary, ladder=[step.to_dict() for step in self.ladder])
        return info
