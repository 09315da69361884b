"""``ilp``: sensitivity-weighted bit allocation by integer programming (HAWQ-V3 style).

The integer program (DESIGN.md): one binary x[d, c] per decision d (an unpinned layer, or a
tied group decided by its first layer) and choice c of its options, with Σ_c x[d, c] = 1,

    minimise   Σ_d Σ_c x[d, c] · Ω(d, c),   Ω(d, c) = Σ_{l in group(d)} cost_of(l, c)

subject to the budgets the user sets on ``bit_budget``, ``s_ace``, ``size_bits``,
``effective_resolution`` and ``energy_pj``. Pinned layers are fixed: they cost nothing in the
objective and add constants to S-ACE, size and energy. Solved with ``scipy.optimize.milp``
(HiGHS).

S-ACE = Σ_l MACs_l·W_l·S_l·T_l, size = Σ_l N_w,l·W_l, effective resolution = size / Σ N_w
and the dense energy estimate (a sum of per-layer energies, :mod:`evaluators.energy`) are
linear in x. The bit budget BB = W̄·S̄·T̄ is a product of three linear averages; it is
handled exactly by enumerating the values S̄ and T̄ can take (see :class:`AllocationProblem`).

:func:`solve_allocation` is the pure solver; :class:`IlpStrategy` (registered as ``"ilp"``)
solves it on a ladder of budget levels and proposes each distinct optimum once.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from spikebits.evaluators.cost import bit_budget, effective_resolution, s_ace, size_bits
from spikebits.evaluators.energy import EnergyModel, energy_pj, layer_energy, load_energy_model
from spikebits.models import LayerSpec
from spikebits.results import TrialRecord
from spikebits.search.base import Proposal, Strategy, register_strategy
from spikebits.space import Budget, BudgetError, Config, ConfigError, LayerChoice, SearchSpace

#: Metrics the integer program can budget (all data-free and computed by ``evaluators.cost``).
BUDGETABLE_METRICS: tuple[str, ...] = ("bit_budget", "s_ace", "size_bits", "effective_resolution", "energy_pj")
#: Sensitivity metrics the strategy can minimise.
SENSITIVITY_METRICS: tuple[str, ...] = ("hessian", "output")
#: Relative slack on every budget's right-hand side, so that a budget met with equality is
#: feasible despite rounding; every answer is re-checked with the exact cost functions.
RELATIVE_TOLERANCE = 1e-9
#: Default cap on the number of levels of S̄ (and of T̄) enumerated for the bit budget.
MAX_LEVELS = 400
#: The objective is shifted and scaled so that the widest per-decision spread is this many
#: units; HiGHS's absolute optimality gap (1e-6) is then 1e-10 of that spread.
_OBJECTIVE_SCALE = 1e4
#: Bitsets of the subset-sum DP above this many bits fall back to an evenly spaced grid.
_MAX_DP_BITS = 1 << 27
#: No-good cuts tried on one (S̄, T̄) pair whose answer fails the exact re-check (rounding).
_MAX_CUTS = 50

CostFunction = Callable[[str, LayerChoice], float]


def metric_value(
    space: SearchSpace, specs: Sequence[LayerSpec], config: Config, metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """``metric`` of ``config`` exactly as :func:`evaluators.cost.cost_metrics` computes it
    (``energy_pj`` under ``energy_model``, default horowitz45nm, as the evaluator's)."""
    if metric == "energy_pj":
        return energy_pj(specs, config, energy_model)
    if metric == "bit_budget":
        return bit_budget(specs, config, space.free_layers)
    if metric == "s_ace":
        return s_ace(specs, config)
    if metric == "size_bits":
        return float(size_bits(specs, config))
    if metric == "effective_resolution":
        return effective_resolution(specs, config)
    raise _unbudgetable(metric)


def _unbudgetable(metric: str) -> BudgetError:
    return BudgetError(
        f"the ilp strategy cannot budget {metric!r}; budget bit_budget, s_ace, size_bits, effective_resolution or energy_pj"
    )


def smallest_reachable(
    space: SearchSpace, specs: Sequence[LayerSpec], metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """The smallest value of ``metric`` over every config of ``space`` (pinned layers fixed).

    Exact. Bit budget, S-ACE, size and effective resolution are attained by
    :meth:`space.SearchSpace.smallest_config`: they are non-decreasing in each layer's W, S
    and T (all coefficients N_w, N_a, MACs are ≥ 0 and the scheme does not enter), and the
    options of a layer are a full product, so one choice has the smallest W, S and T at once.
    For the linear metrics (S-ACE, size, effective resolution) the integer program
    min Σ x·cost subject to one choice per decision separates by decision, and each
    decision's minimum is that smallest choice; for the bit budget W̄, S̄ and T̄ are each at
    their minimum there, and all are positive, so their product is the minimum too. Energy is
    a sum over layers too, but the scheme enters it (power-of-two weights need no
    multiplier), so each decision takes its own cheapest choice (:func:`energy_minimal_config`).
    The value is computed with the :mod:`evaluators.cost` functions, so it is bit-for-bit
    what an evaluator reports for that config.
    """
    if metric not in BUDGETABLE_METRICS:
        raise _unbudgetable(metric)
    _check_specs(space, specs)
    if metric == "energy_pj":
        return metric_value(space, specs, energy_minimal_config(space, specs, energy_model), metric, energy_model)
    return metric_value(space, specs, space.smallest_config(), metric)


def energy_minimal_config(
    space: SearchSpace, specs: Sequence[LayerSpec], energy_model: EnergyModel | str | None = None, *, largest: bool = False
) -> Config:
    """The config of least (``largest``: most) dense energy: each decision (a tied group's
    members summed) takes its cheapest (dearest) choice, the first in options order among
    equals; pinned layers stay."""
    model = load_energy_model(energy_model)
    by_name = _check_specs(space, specs)
    pick = max if largest else min
    choices = {}
    for d in space.decisions:
        members = [by_name[m] for m in space.group_of(d)]
        choices[d] = pick(space.layers[d].choices(), key=lambda c: sum(layer_energy(model, m, c).total_pj for m in members))
    return space.expand(choices)


def _check_specs(space: SearchSpace, specs: Sequence[LayerSpec]) -> dict[str, LayerSpec]:
    by_name = {s.name: s for s in specs}
    if set(by_name) != set(space.names):
        missing = [n for n in space.names if n not in by_name]
        extra = [n for n in by_name if n not in space.layers]
        what = f"no spec for layer(s) {', '.join(missing)}" if missing else f"specs for unknown layer(s) {', '.join(extra)}"
        raise ConfigError(f"the layer specs do not match the space ({what}); use the specs of the space's model")
    return by_name


def check_limits(
    space: SearchSpace, specs: Sequence[LayerSpec], limits: Mapping[str, float] | Budget, energy_model: EnergyModel | str | None = None
) -> dict[str, float]:
    """Validate ``limits`` (metric -> upper limit) and return them as floats.

    Raises :class:`BudgetError` (one line) for a metric the program cannot budget, and for
    limits below the smallest reachable value of their metric, naming that value. Since one
    config (:meth:`space.SearchSpace.smallest_config`) attains the minimum of every metric
    but energy at once, limits that pass this check can all be met together unless an energy
    limit is among them (then :meth:`AllocationProblem.solve` says so if they cannot).
    """
    if isinstance(limits, Budget):
        limits = limits.to_dict()
    clean: dict[str, float] = {}
    for metric, limit in dict(limits).items():
        if metric not in BUDGETABLE_METRICS:
            raise _unbudgetable(metric)
        limit = float(limit)
        if math.isnan(limit):
            raise BudgetError(f"budget {metric} has no valid limit; write for example {metric}<=2.5")
        clean[metric] = limit
    if not clean:
        return clean
    _check_specs(space, specs)
    if not space.decisions and "bit_budget" in clean:
        raise BudgetError("bit_budget needs at least one unpinned layer; unpin a layer in the space or drop the budget")
    low = {m: smallest_reachable(space, specs, m, energy_model) for m in clean}
    violated = [m for m in clean if not low[m] <= clean[m]]
    if violated:
        budget = ", ".join(f"{m}<={clean[m]:g}" for m in violated)
        reach = " and ".join(
            f"the smallest reachable {m}{' in this space' if k == 0 else ''} is {_format(low[m])}" for k, m in enumerate(violated)
        )
        raise BudgetError(f"budget {budget} cannot be met: {reach}; loosen the budget")
    return clean


def _format(value: float) -> str:
    return f"{value:.6g}"


def _int_rhs(real: float) -> int:
    """Largest integer right-hand side for an integer-valued row ``lhs <= real``, with the
    relative slack :data:`RELATIVE_TOLERANCE`."""
    return math.floor(real + RELATIVE_TOLERANCE * abs(real))


@dataclass(frozen=True)
class Allocation:
    """What :meth:`AllocationProblem.solve` found: the config, its objective Σ Ω (over the
    unpinned layers), its exact budget metrics, and how many integer programs were solved."""

    config: Config
    objective: float
    metrics: dict[str, float]
    programs: int = 0


@dataclass
class _Box:
    """A rectangle of (S̄, T̄) level indices, inclusive."""

    s_lo: int
    s_hi: int
    t_lo: int
    t_hi: int

    @property
    def leaf(self) -> bool:
        return self.s_lo == self.s_hi and self.t_lo == self.t_hi


@dataclass
class _Search:
    limits: dict[str, float]
    best: tuple | None = None  # (objective, tie-break key, assignment)
    programs: int = 0
    checked: dict[tuple[int, ...], bool] = field(default_factory=dict)


class AllocationProblem:
    """The integer program of one space, its layer specs and a sensitivity ``cost_of``; solve
    it for any number of budgets with :meth:`solve` (the costs are tabulated once).

    **Bit budget.** BB = W̄·S̄·T̄ over the unpinned layers, with W̄ = Σ N_w·W / Σ N_w and
    S̄, T̄ weighted by N_a. The product is not linear, so it is handled exactly as follows.
    S̄ can take only finitely many values: Σ_d A_d·S_d / Σ N_a with A_d the N_a of decision
    d's layers; a subset-sum DP over the decisions (a bitset over the integer sums, divided
    by their greatest common divisor) lists every achievable value, and likewise for T̄. For
    each pair of levels (s*, t*) with s*·t*·W̄_min ≤ limit, the program with the linear
    constraints S̄ ≤ s*, T̄ ≤ t*, W̄ ≤ limit/(s*·t*) (plus the other budgets) has only
    feasible solutions (W̄·S̄·T̄ ≤ W̄·s*·t* ≤ limit), and the optimum is feasible for the
    pair of its own S̄ and T̄, which are among the levels; the best answer over all pairs is
    therefore the optimum. The pairs are not solved one by one: a rectangle of pairs
    [s_lo, s_hi] × [t_lo, t_hi] is relaxed to S̄ ≤ s_hi, T̄ ≤ t_hi, W̄ ≤ limit/(s_lo·t_lo),
    whose feasible set contains that of every pair in it. A rectangle is dropped when its
    relaxation is infeasible or its optimum is no better than the best answer so far, closed
    when its optimum already meets the budget exactly (it is then the best of the rectangle),
    and otherwise halved (best first), down to single pairs. If one average has more than
    ``max_levels`` distinct values, that many evenly spaced quantiles of them are used (the
    smallest and largest included); every answer is still feasible, but it is then optimal
    only up to that grid, not exactly. (Above 2^27 distinct integer sums the DP itself is
    skipped and the grid is evenly spaced between the smallest and largest sum.)

    **Exactness.** Every row of the program but energy's has integer coefficients (N_w·W,
    N_a·S, N_a·T, MACs·W·S·T), so each right-hand side is rounded down to an integer after a
    relative slack of 1e-9 (a budget met with equality stays feasible); the energy row (the
    dense pJ of each layer and choice under ``energy_model``) gets the same relative slack. Every candidate is re-checked with the
    :mod:`evaluators.cost` functions, which decide feasibility everywhere else in spikebits;
    a single pair's answer that fails the re-check (a rounding corner) is excluded by a
    no-good cut and the pair solved again. The objective is optimal up to HiGHS's gap
    (``mip_rel_gap`` = 0, absolute gap 1e-6 on a scale where the widest per-decision spread
    of Ω is 1e4).

    **Reductions.** A choice whose W, S and T are all ≤ another's and whose Ω and energy are
    ≤ too dominates it (every other budgeted metric is non-decreasing in W, S, T), so
    dominated choices are left out of the program.

    **Ties.** Among equal objectives, the answer of one program is HiGHS's (deterministic)
    pick; across programs the candidate with the smaller budgeted metrics (in the order of
    ``limits``), then the smaller ``Config.short()`` string, is kept. Results are therefore
    deterministic for a given input.
    """

    def __init__(
        self,
        space: SearchSpace,
        specs: Sequence[LayerSpec],
        cost_of: CostFunction,
        *,
        max_levels: int = MAX_LEVELS,
        energy_model: EnergyModel | str | None = None,
    ) -> None:
        if max_levels < 1:
            raise ConfigError(f"max_levels={max_levels} must be at least 1")
        self.energy_model = load_energy_model(energy_model)
        self.space = space
        self.specs = list(specs)
        self.max_levels = int(max_levels)
        by_name = _check_specs(space, specs)
        self.decisions = space.decisions
        self.groups = {d: space.group_of(d) for d in self.decisions}

        # Choices kept per decision, their objective and their integer row coefficients.
        self.choices: list[list[LayerChoice]] = []
        self.omega: list[np.ndarray] = []
        self._omega_all: list[dict[LayerChoice, float]] = []
        w_rows, s_rows, t_rows, ace_rows, energy_rows = [], [], [], [], []
        for d in self.decisions:
            members = [by_name[m] for m in self.groups[d]]
            table = []
            energy = {}
            for c in space.layers[d].choices():
                value = 0.0
                for m in members:
                    v = float(cost_of(m.name, c))
                    if not math.isfinite(v):
                        raise ConfigError(f"the sensitivity of layer {m.name!r} at {c.short()} is {v}; recompute the sensitivities")
                    value += v
                table.append((c, value))
                energy[c] = sum(layer_energy(self.energy_model, m, c).total_pj for m in members)
            self._omega_all.append(dict(table))
            kept = _undominated(table, energy)
            self.choices.append([c for c, _ in kept])
            self.omega.append(np.array([v for _, v in kept], dtype=float))
            energy_rows.extend(energy[c] for c, _ in kept)
            n_w = sum(m.n_weights for m in members)
            n_a = sum(m.n_inputs for m in members)
            macs = sum(m.macs for m in members)
            w_rows.append([n_w * c.w_bits for c, _ in kept])
            s_rows.append([n_a * c.s_bits for c, _ in kept])
            t_rows.append([n_a * c.timesteps for c, _ in kept])
            ace_rows.append([macs * c.w_bits * c.s_bits * c.timesteps for c, _ in kept])
        self.offsets = [0] + list(np.cumsum([len(c) for c in self.choices]))
        self.n_vars = int(self.offsets[-1])
        self.row_w, self.row_s, self.row_t, self.row_ace = (_flat(rows) for rows in (w_rows, s_rows, t_rows, ace_rows))
        self.row_energy = np.array(energy_rows, dtype=float)

        # Constants: pinned layers and the weights of the averages.
        free = [by_name[n] for n in space.free_layers]
        self.n_w_free = sum(s.n_weights for s in free)
        self.n_a_free = sum(s.n_inputs for s in free)
        self.n_w_all = sum(s.n_weights for s in self.specs)
        pinned = [(by_name[n], c) for n, c in space.pinned.items()]
        self.ace_pinned = sum(s.macs * c.w_bits * c.s_bits * c.timesteps for s, c in pinned)
        self.size_pinned = sum(s.n_weights * c.w_bits for s, c in pinned)
        self.energy_pinned = sum(layer_energy(self.energy_model, s, c).total_pj for s, c in pinned)

        # Objective: shift each decision to a minimum of 0 and scale the widest spread to 1e4.
        self.omega_min = [float(o.min()) for o in self.omega]
        spread = max((float(o.max()) - m for o, m in zip(self.omega, self.omega_min)), default=0.0)
        self.scale = _OBJECTIVE_SCALE / spread if spread > 0 else 1.0
        self.objective_coefs = np.concatenate([(o - m) * self.scale for o, m in zip(self.omega, self.omega_min)]) if self.n_vars else np.zeros(0)
        rows = [i for i, cs in enumerate(self.choices) for _ in cs]
        self.a_eq = csr_matrix((np.ones(self.n_vars), (rows, np.arange(self.n_vars))), shape=(len(self.decisions), self.n_vars))

        # Levels of S̄ and T̄ (as integer sums Σ N_a·S, Σ N_a·T over the unpinned layers).
        self.s_sums, self.s_exact = self._levels(self.row_s)
        self.t_sums, self.t_exact = self._levels(self.row_t)
        self.w_min_sum = sum(int(self.row_w[self.offsets[i] : self.offsets[i + 1]].min()) for i in range(len(self.decisions)))

    # ------------------------------------------------------------------ public
    @property
    def levels_exact(self) -> bool:
        """Whether every achievable S̄ and T̄ is a level (the bit budget is then solved exactly)."""
        return self.s_exact and self.t_exact

    def objective(self, config: Config) -> float:
        """Σ Ω of ``config`` over the unpinned layers (tied groups counted per member)."""
        return float(sum(self._omega_all[i][config[d]] for i, d in enumerate(self.decisions)))

    def smallest(self, metric: str) -> float:
        """:func:`smallest_reachable` of ``metric``."""
        return smallest_reachable(self.space, self.specs, metric, self.energy_model)

    def check_reachable(self, limits: Mapping[str, float] | Budget) -> dict[str, float]:
        """:func:`check_limits` on this problem's space and specs."""
        return check_limits(self.space, self.specs, limits, self.energy_model)

    def metric(self, config: Config, metric: str) -> float:
        """:func:`metric_value` under this problem's energy model."""
        return metric_value(self.space, self.specs, config, metric, self.energy_model)

    def solve(self, limits: Mapping[str, float] | Budget, *, incumbent: Config | None = None) -> Allocation:
        """The config of least Σ Ω that meets every limit (metric -> upper limit).

        ``incumbent``: a config known to meet the limits (for example the answer at a tighter
        level of a ladder); it only speeds the search up, by pruning from the start."""
        clean = self.check_reachable(limits)
        search = _Search(clean)
        if incumbent is not None:
            seed = self._assignment(incumbent)
            if seed is not None:
                self._consider(search, seed)
        if not self.decisions:
            self._consider(search, ())
        elif "bit_budget" in clean and math.isfinite(clean["bit_budget"]):
            self._search_boxes(search)
        else:
            self._solve_leaf(search, None)
        if search.best is None:  # only with an energy limit: the smallest config meets every other reachable limit
            budget = ", ".join(f"{m}<={v:g}" for m, v in clean.items())
            raise BudgetError(f"budget {budget} cannot be met by any config of this space; loosen the budget")
        objective, _, assignment = search.best
        config = self._config(assignment)
        metrics = {m: self.metric(config, m) for m in clean}
        for m, v in metrics.items():  # the final, exact re-check
            if not v <= clean[m]:
                raise RuntimeError(f"internal error: the ilp answer breaks {m}<={clean[m]:g} ({v:g})")
        return Allocation(config, objective, metrics, search.programs)

    # ------------------------------------------------------------------ levels
    def _levels(self, row: np.ndarray) -> tuple[list[int], bool]:
        values = [sorted({int(v) for v in row[self.offsets[i] : self.offsets[i + 1]]}) for i in range(len(self.decisions))]
        sums, exact = _achievable_sums(values, self.max_levels)
        return sums, exact

    # ------------------------------------------------------------------ search over (S̄, T̄)
    def _w_rhs(self, limit: float, s_sum: int, t_sum: int) -> int:
        """Integer bound on Σ N_w·W from W̄ ≤ limit / (S̄·T̄)."""
        real = limit * self.n_w_free * (self.n_a_free / s_sum) * (self.n_a_free / t_sum)
        return _int_rhs(real)

    def _trim(self, box: _Box, limit: float) -> _Box | None:
        """Drop the pairs of ``box`` whose s*·t*·W̄_min already exceeds the limit."""
        if self._w_rhs(limit, self.s_sums[box.s_lo], self.t_sums[box.t_lo]) < self.w_min_sum:
            return None
        s_hi = box.s_hi
        while self._w_rhs(limit, self.s_sums[s_hi], self.t_sums[box.t_lo]) < self.w_min_sum:
            s_hi -= 1
        t_hi = box.t_hi
        while self._w_rhs(limit, self.s_sums[box.s_lo], self.t_sums[t_hi]) < self.w_min_sum:
            t_hi -= 1
        return _Box(box.s_lo, s_hi, box.t_lo, t_hi)

    def _plane_cuts(self, box: _Box, limit: float) -> list[tuple[np.ndarray, float]]:
        """Valid cuts W̄ + b·S̄ + c·T̄ ≤ d for every pair (s*, t*) of ``box``.

        With f(s, t) = limit/(s·t), a pair's solutions have S̄ ≤ s*, T̄ ≤ t*, W̄ ≤ f(s*, t*),
        so for b, c ≥ 0 the left side is at most g(s*, t*) = f(s*, t*) + b·s* + c·t*; g is
        convex, so its maximum over the rectangle is at one of its four corners: d. The two
        planes through three corners each of the surface W = f(S, T) cut off the relaxation's
        answers with a large W̄ and a large S̄ or T̄ at once."""
        if box.leaf:
            return []
        s = (self.s_sums[box.s_lo] / self.n_a_free, self.s_sums[box.s_hi] / self.n_a_free)
        t = (self.t_sums[box.t_lo] / self.n_a_free, self.t_sums[box.t_hi] / self.n_a_free)

        def f(i: int, j: int) -> float:
            return limit / (s[i] * t[j])

        planes = []
        for anchor in (0, 1):  # plane through the corners (lo, lo), (hi, lo), (lo, hi); then the other three
            b = (f(0, anchor) - f(1, anchor)) / (s[1] - s[0]) if s[1] > s[0] else 0.0
            c = (f(anchor, 0) - f(anchor, 1)) / (t[1] - t[0]) if t[1] > t[0] else 0.0
            d = max(f(i, j) + b * s[i] + c * t[j] for i in (0, 1) for j in (0, 1))
            coefs = self.row_w / self.n_w_free + b * self.row_s / self.n_a_free + c * self.row_t / self.n_a_free
            planes.append((coefs, d + RELATIVE_TOLERANCE * abs(d)))
        return planes

    def _search_boxes(self, search: _Search) -> None:
        limit = search.limits["bit_budget"]
        root = self._trim(_Box(0, len(self.s_sums) - 1, 0, len(self.t_sums) - 1), limit)
        heap: list[tuple[float, int, _Box]] = []
        if root is not None:
            heap.append((-math.inf, 0, root))
        counter = 1
        while heap:
            bound, _, box = heapq.heappop(heap)
            if search.best is not None and bound >= search.best[0]:
                break  # best first: every remaining rectangle is bounded at least as high
            if box.leaf:
                self._solve_leaf(search, box)
                continue
            result = self._milp(search, box, [])
            if result is None:
                continue
            value, assignment = result
            if search.best is not None and value >= search.best[0]:
                continue
            if self._consider(search, assignment):
                continue  # the relaxation's optimum meets the budget: best of the rectangle
            for child in _halves(box):
                child = self._trim(child, limit)
                if child is not None:
                    heapq.heappush(heap, (value, counter, child))
                    counter += 1

    def _solve_leaf(self, search: _Search, box: _Box | None) -> None:
        """One (S̄, T̄) pair (or the whole space without a bit budget), with no-good cuts for
        answers that fail the exact re-check."""
        cuts: list[tuple[int, ...]] = []
        for _ in range(_MAX_CUTS):
            result = self._milp(search, box, cuts)
            if result is None:
                return
            value, assignment = result
            if search.best is not None and value >= search.best[0]:
                return
            if self._consider(search, assignment):
                return
            cuts.append(assignment)

    # ------------------------------------------------------------------ one program
    def _milp(self, search: _Search, box: _Box | None, cuts: list[tuple[int, ...]]) -> tuple[float, tuple[int, ...]] | None:
        """Solve the program of ``box`` (None: no bit budget rows); None if infeasible, else
        (objective in Ω units, chosen index per decision)."""
        rows: list[np.ndarray] = []
        upper: list[float] = []

        def add(coefs: np.ndarray, rhs: int) -> bool:
            """Add the integer row coefs·x ≤ rhs; False if it can never hold."""
            top = sum(int(coefs[self.offsets[i] : self.offsets[i + 1]].max()) for i in range(len(self.decisions)))
            if top <= rhs:
                return True  # never binding
            low = sum(int(coefs[self.offsets[i] : self.offsets[i + 1]].min()) for i in range(len(self.decisions)))
            if low > rhs:
                return False
            g = int(np.gcd.reduce(np.abs(coefs[coefs != 0]))) if np.any(coefs != 0) else 1
            rows.append(coefs / g)
            upper.append(rhs // g + 0.5)  # integer lhs: the 0.5 keeps HiGHS's tolerances out of it
            return True

        limits = search.limits
        ok = True
        if "s_ace" in limits and math.isfinite(limits["s_ace"]):
            ok &= add(self.row_ace, _int_rhs(limits["s_ace"] - self.ace_pinned))
        size_rhs = []
        if "size_bits" in limits and math.isfinite(limits["size_bits"]):
            size_rhs.append(_int_rhs(limits["size_bits"] - self.size_pinned))
        if "effective_resolution" in limits and math.isfinite(limits["effective_resolution"]):
            size_rhs.append(_int_rhs(limits["effective_resolution"] * self.n_w_all - self.size_pinned))
        if size_rhs:
            ok &= add(self.row_w, min(size_rhs))
        if "energy_pj" in limits and math.isfinite(limits["energy_pj"]):
            # Real coefficients (pJ): the slack is relative, and the exact re-check decides.
            rhs = limits["energy_pj"] - self.energy_pinned
            rhs += RELATIVE_TOLERANCE * abs(limits["energy_pj"])
            low = sum(float(self.row_energy[self.offsets[i] : self.offsets[i + 1]].min()) for i in range(len(self.decisions)))
            if low > rhs:
                return None
            rows.append(self.row_energy)
            upper.append(rhs)
        if box is not None:
            ok &= add(self.row_s, self.s_sums[box.s_hi])
            ok &= add(self.row_t, self.t_sums[box.t_hi])
            ok &= add(self.row_w, self._w_rhs(limits["bit_budget"], self.s_sums[box.s_lo], self.t_sums[box.t_lo]))
            for coefs, rhs in self._plane_cuts(box, limits["bit_budget"]):
                rows.append(coefs)
                upper.append(rhs)
        if not ok:
            return None
        for cut in cuts:
            coefs = np.zeros(self.n_vars, dtype=np.int64)
            coefs[[self.offsets[i] + k for i, k in enumerate(cut)]] = 1
            rows.append(coefs.astype(float))
            upper.append(len(cut) - 0.5)
        constraints = [LinearConstraint(self.a_eq, 1.0, 1.0)]
        if rows:
            constraints.append(LinearConstraint(np.vstack(rows), -np.inf, np.array(upper)))
        search.programs += 1
        with _quiet_stdout():
            res = milp(
                self.objective_coefs,
                integrality=np.ones(self.n_vars),
                bounds=Bounds(0.0, 1.0),
                constraints=constraints,
                options={"mip_rel_gap": 0.0},
            )
        if res.status == 2:
            return None
        if res.status != 0 or res.x is None:
            raise RuntimeError(f"HiGHS could not solve the allocation program: {res.message}")
        assignment = tuple(int(np.argmax(res.x[self.offsets[i] : self.offsets[i + 1]])) for i in range(len(self.decisions)))
        value = float(res.fun) / self.scale + sum(self.omega_min)
        return value, assignment

    # ------------------------------------------------------------------ candidates
    def _config(self, assignment: tuple[int, ...]) -> Config:
        return self.space.expand({d: self.choices[i][k] for i, (d, k) in enumerate(zip(self.decisions, assignment))})

    def _assignment(self, config: Config) -> tuple[int, ...] | None:
        """Indices of ``config``'s choices among the kept ones; None if one is not kept."""
        try:
            return tuple(self.choices[i].index(config[d]) for i, d in enumerate(self.decisions))
        except (KeyError, ValueError):
            return None

    def _consider(self, search: _Search, assignment: tuple[int, ...]) -> bool:
        """Re-check ``assignment`` exactly; if it meets every limit, keep it if it beats the
        best so far. Returns whether it meets every limit."""
        feasible = search.checked.get(assignment)
        config = self._config(assignment)
        metrics = [self.metric(config, m) for m in search.limits]
        if feasible is None:
            feasible = all(v <= search.limits[m] for m, v in zip(search.limits, metrics))
            search.checked[assignment] = feasible
        if not feasible:
            return False
        objective = float(sum(self.omega[i][k] for i, k in enumerate(assignment)))
        key = (objective, (tuple(metrics), config.short()), assignment)
        if search.best is None or key[:2] < search.best[:2]:
            search.best = key
        return True


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 while HiGHS runs: the HiGHS bundled with scipy prints a
    stray debug line ("HighsMipSolverData::transformNewIntegerFeasibleSolution
    tmpSolver.run();", ERGO-Code/HiGHS#2783) from C++, which Python's own redirection cannot
    catch, and library code does not print."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _undominated(table: list[tuple[LayerChoice, float]], energy: Mapping[LayerChoice, float] | None = None) -> list[tuple[LayerChoice, float]]:
    """Drop choices dominated by another with W, S, T all ≤, Ω ≤ and energy ≤ (ties: the
    earlier choice in options order at equal bits, the one with fewer bits otherwise)."""
    kept = []
    for i, (c, v) in enumerate(table):
        dominated = False
        for j, (o, u) in enumerate(table):
            if j == i or o.w_bits > c.w_bits or o.s_bits > c.s_bits or o.timesteps > c.timesteps or u > v:
                continue
            if energy is not None and energy[o] > energy[c]:
                continue
            same_bits = (o.w_bits, o.s_bits, o.timesteps) == (c.w_bits, c.s_bits, c.timesteps)
            if u < v or not same_bits or j < i:
                dominated = True
                break
        if not dominated:
            kept.append((c, v))
    return kept


def _flat(rows: list[list[int]]) -> np.ndarray:
    return np.array([v for row in rows for v in row], dtype=np.int64)


def _halves(box: _Box) -> list[_Box]:
    """Split the longer side of ``box`` in two."""
    if box.s_hi - box.s_lo >= box.t_hi - box.t_lo:
        mid = (box.s_lo + box.s_hi) // 2
        return [_Box(box.s_lo, mid, box.t_lo, box.t_hi), _Box(mid + 1, box.s_hi, box.t_lo, box.t_hi)]
    mid = (box.t_lo + box.t_hi) // 2
    return [_Box(box.s_lo, box.s_hi, box.t_lo, mid), _Box(box.s_lo, box.s_hi, mid + 1, box.t_hi)]


def _achievable_sums(values: Sequence[Sequence[int]], max_levels: int) -> tuple[list[int], bool]:
    """Sorted distinct sums Σ_d v_d with v_d from ``values[d]`` (non-negative integers), and
    whether the list is complete. Subset-sum DP on a bitset (a Python int) over
    (sum − smallest sum) / gcd. More than ``max_levels`` sums: evenly spaced quantiles of
    them (smallest and largest kept), flagged as not exact."""
    base = sum(min(v) for v in values)
    deltas = [[x - min(v) for x in v] for v in values]
    nonzero = [x for row in deltas for x in row if x]
    if not nonzero:
        return [base], True
    g = math.gcd(*nonzero)
    span = sum(max(row) for row in deltas) // g
    if span + 1 > _MAX_DP_BITS:
        grid = np.unique(np.round(np.linspace(0, span, max_levels)).astype(np.int64))
        return [base + g * int(k) for k in grid], False
    reach = 1
    for row in deltas:
        new = 0
        for x in row:
            new |= reach << (x // g)
        reach = new
    raw = reach.to_bytes((reach.bit_length() + 7) // 8, "little")
    ks = np.flatnonzero(np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little"))
    exact = len(ks) <= max_levels
    if not exact:
        ks = ks[np.unique(np.round(np.linspace(0, len(ks) - 1, max_levels)).astype(np.int64))]
    return [base + g * int(k) for k in ks], exact


def solve_allocation(
    space: SearchSpace,
    specs: Sequence[LayerSpec],
    cost_of: CostFunction,
    limits: Mapping[str, float] | Budget,
    *,
    max_levels: int = MAX_LEVELS,
    energy_model: EnergyModel | str | None = None,
) -> Config:
    """The config of ``space`` that minimises Σ over unpinned layers of ``cost_of(layer,
    choice)`` while meeting ``limits`` (metric -> upper limit on ``bit_budget``, ``s_ace``,
    ``size_bits``, ``effective_resolution``, ``energy_pj`` under ``energy_model``). Tied layers share one choice; pinned layers keep
    their pin. How the bit budget's product W̄·S̄·T̄ is solved exactly, and how ties are
    broken: :class:`AllocationProblem`.

    Raises :class:`space.BudgetError` (one line) for a metric the program cannot budget and
    for a limit below the smallest reachable value of its metric.
    """
    return AllocationProblem(space, specs, cost_of, max_levels=max_levels, energy_model=energy_model).solve(limits).config


# ---------------------------------------------------------------------------- strategy
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
    max_levels: int = MAX_LEVELS,
    progress: Any = None,
    energy_model: EnergyModel | str | None = None,
) -> list[LadderStep]:
    """Optimal allocations at ``count`` limits on ``primary``, spaced geometrically from its
    smallest reachable value to the user's limit on it (or, without one or above it, to the
    cost of the space's largest config), each keeping the user's other budgets. ``report``
    has ``cost(metric, layer, choice)``. A config found again at a looser level is marked
    ``duplicate``."""
    user = check_limits(space, specs, budget, energy_model)
    problem = AllocationProblem(
        space, specs, lambda layer, choice: float(report.cost(metric, layer, choice)), max_levels=max_levels, energy_model=energy_model
    )
    low = problem.smallest(primary)
    high = problem.metric(space.largest_config(), primary)
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
        found = problem.solve(limits, incumbent=previous)  # a tighter level's answer fits here too
        previous = found.config
        ladder.append(LadderStep(level, found.objective, found.config, found.config in seen))
        seen.add(found.config)
    return ladder


@register_strategy
class IlpStrategy(Strategy):
    """Sensitivity-weighted allocation (HAWQ-V3 style): one integer program per budget level.

    The sensitivity Ω(l, c) of every layer and choice (``metric``: ``"hessian"``, the HAWQ
    Tr(H)/N_w·‖Q(W) − W‖², or ``"output"``, the output error under quantization) is minimised
    by :class:`AllocationProblem` under a ladder of budgets: the primary cost metric is the
    first objective among ``bit_budget``, ``s_ace``, ``size_bits``, ``effective_resolution``,
    ``energy_pj`` (default ``bit_budget``; energy under the evaluator's energy model); ``levels`` limits on it are spaced geometrically from its
    smallest reachable value to the user's limit on it (or, without one or above it, to the
    cost of the space's largest config), and every level also keeps the user's other budgets.
    Each distinct optimum is proposed once (``info``: ``level``, ``objective``) and scored by
    the shared evaluator.

    Options: ``metric`` (default ``"hessian"``), ``levels`` (default ``n_trials``, else 24),
    ``sensitivity`` (a report with ``cost(metric, layer, choice)``; default: measured in
    :meth:`start` with ``evaluators.sensitivity.measure_sensitivity``), ``progress`` (a
    tqdm-like wrapper), ``max_levels`` (cap on enumerated S̄ and T̄ levels, default 400).
    The whole ladder is solved in :meth:`start`; an unreachable budget raises
    :class:`space.BudgetError` there.
    """

    name = "ilp"

    def __init__(self, space, evaluator, budget, objectives, *, seed: int = 0, **options: Any) -> None:
        super().__init__(space, evaluator, budget, objectives, seed=seed, **options)
        self.metric = options.get("metric") or "hessian"
        if self.metric not in SENSITIVITY_METRICS:
            raise ConfigError(f"sensitivity metric {self.metric!r} is unknown; use one of {', '.join(SENSITIVITY_METRICS)}")
        levels = options.get("levels") or options.get("n_trials") or 24
        try:
            self.levels = int(levels)
        except (TypeError, ValueError):
            raise ConfigError(f"levels={levels!r} must be a whole number of at least 1") from None
        if self.levels != float(levels) or self.levels < 1:
            raise ConfigError(f"levels={levels!r} must be a whole number of at least 1")
        self.max_levels = int(options.get("max_levels") or MAX_LEVELS)
        self.primary = next((m for m in self.objectives if m in BUDGETABLE_METRICS), "bit_budget")
        self.progress = options.get("progress")
        self.ladder: list[LadderStep] = []
        self._queue: list[Proposal] | None = None
        self._records: list[TrialRecord] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        energy_model = getattr(self.evaluator, "energy_model", None)
        check_limits(self.space, self.evaluator.specs, self.budget, energy_model)  # before the (slow) sensitivities
        report = self.options.get("sensitivity")
        if report is None:
            from spikebits.evaluators.sensitivity import measure_sensitivity  # heavy: only when needed

            report = measure_sensitivity(self.evaluator, progress=self.progress)
        self.ladder = solve_ladder(
            self.space, self.evaluator.specs, report, self.metric, self.budget, self.primary, self.levels,
            max_levels=self.max_levels, progress=self.progress, energy_model=energy_model,
        )
        self._queue = [
            Proposal(step.config, info={"level": step.level, "objective": step.objective}) for step in self.ladder if not step.duplicate
        ]

    def remaining(self, n_trials: int) -> int:
        if self._queue is None:  # before start(): at most one trial per level
            return self.levels - self._told
        return len(self._queue)

    def ask(self) -> Proposal | None:
        if not self._queue:
            return None
        return self._queue.pop(0)

    def tell(self, proposal: Proposal, record: TrialRecord) -> None:
        self._records.append(record)

    def records(self) -> list[TrialRecord]:
        return list(self._records)

    def describe(self) -> dict[str, Any]:
        info = super().describe()  # the report and progress wrapper are not JSON: left out by the base
        info.update(
            metric=self.metric,
            levels=self.levels,
            primary=self.primary,
            ladder=[step.to_dict() for step in self.ladder],
        )
        return info
