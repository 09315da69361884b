"""The integer program behind the ``ilp`` strategy (HAWQ-V3 style), solved with
``scipy.optimize.milp`` (HiGHS). Its one public function is :func:`solve_allocation`.

The program (DESIGN.md): one binary x[d, c] per decision d (an unpinned layer, or a tied group
decided by its first layer) and choice c of its options, with Σ_c x[d, c] = 1,

    minimise   Σ_d Σ_c x[d, c] · Ω(d, c),   Ω(d, c) = Σ_{l in group(d)} cost_of(l, c)

subject to the budgets the user sets on data-free metrics. Pinned layers are fixed: they
cost nothing in the objective and add constants to the sums.

Every cost metric declared as a sum over layers (:class:`space.Metric` ``layer_term``:
S-ACE = Σ_l MACs_l·W_l·S_l·T_l, size = Σ_l N_w,l·W_l, effective resolution = size / Σ N_w,
the dense energy estimate, the membrane state bits, and any metric added with
:func:`space.register_metric`; a choice's term may read its membrane bits U) is
linear in x: its row holds the declared per-layer terms, the very terms the evaluators'
totals sum. The bit budget BB = W̄·S̄·T̄ is a product of three
linear averages (rows from :func:`evaluators.cost.bit_sums`); it is handled exactly by
enumerating the values S̄ and T̄ can take (see :class:`AllocationProblem`).
"""

from __future__ import annotations

import heapq
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from spikebits.evaluators.cost import bit_sums, check_limits, check_specs, cost_context, metric_value
from spikebits.evaluators.energy import EnergyModel, load_energy_model
from spikebits.models import LayerSpec
from spikebits.space import Budget, BudgetError, Config, ConfigError, LayerChoice, SearchSpace, cost_metric_table
from spikebits.space.metrics import BIT_BUDGET

#: Relative slack on every budget's right-hand side, so that a budget met with equality is
#: feasible despite rounding; every answer is re-checked with the exact cost functions.
_RELATIVE_TOLERANCE = 1e-9
#: Default cap on the number of levels of S̄ (and of T̄) enumerated for the bit budget.
_MAX_LEVELS = 400
#: The objective is shifted and scaled so that the widest per-decision spread is this many
#: units; HiGHS's absolute optimality gap (1e-6) is then 1e-10 of that spread.
_OBJECTIVE_SCALE = 1e4
#: Bitsets of the subset-sum DP above this many bits fall back to an evenly spaced grid.
_MAX_DP_BITS = 1 << 27
#: No-good cuts tried on one (S̄, T̄) pair whose answer fails the exact re-check (rounding).
_MAX_CUTS = 50

CostFunction = Callable[[str, LayerChoice], float]


def _int_rhs(real: float) -> int:
    """Largest integer right-hand side for an integer-valued row ``lhs <= real``, with the
    relative slack :data:`_RELATIVE_TOLERANCE`."""
    return math.floor(real + _RELATIVE_TOLERANCE * abs(real))


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

    **Reductions.** A choice dominates another when its W, S, T and U are all ≤ the other's
    and its Ω and every sum metric's term are ≤ too (the bit budget, the one budgeted metric
    that is not a sum, is non-decreasing in W, S, T); dominated choices are left out of the
    program (:func:`_undominated`).

    **Membrane bits U.** Where a layer searches U (:attr:`space.LayerOptions.u_bits`), its
    choices are every (scheme, W, S, T, U) of :meth:`space.LayerOptions.choices`; a sum
    metric's row holds each choice's term at its U (``state_bits`` = neurons·U, energy's
    membrane term), so a budget on it is held exactly like any other. The bit budget's
    averages W̄, S̄, T̄ do not read U: choices that differ only in U share their levels.

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
        max_levels: int | None = None,
        energy_model: EnergyModel | str | None = None,
    ) -> None:
        if max_levels is None:
            max_levels = _MAX_LEVELS
        if max_levels < 1:
            raise ConfigError(f"max_levels={max_levels} must be at least 1")
        self.energy_model = load_energy_model(energy_model)
        self.space = space
        self.specs = list(specs)
        self.max_levels = int(max_levels)
        by_name = check_specs(space, specs)
        self.decisions = space.decisions
        self.groups = {d: space.group_of(d) for d in self.decisions}

        # Choices kept per decision, their objective and the rows of every cost metric that is
        # a sum over layers (space.Metric.layer_term), plus the bit budget's three averages.
        context = cost_context(space, self.energy_model)
        self.sums = [m for m in cost_metric_table() if m.is_sum]
        self.choices: list[list[LayerChoice]] = []
        self.omega: list[np.ndarray] = []
        self._omega_all: list[dict[LayerChoice, float]] = []
        w_rows, s_rows, t_rows = [], [], []
        sum_rows: dict[str, list[list[float]]] = {m.name: [] for m in self.sums}
        for d in self.decisions:
            members = [by_name[m] for m in self.groups[d]]
            table = [(c, self._omega(members, c, cost_of)) for c in space.layers[d].choices()]
            terms = {c: tuple(sum(m.layer_term(x, c, context) for x in members) for m in self.sums) for c, _ in table}
            self._omega_all.append(dict(table))
            kept = _undominated(table, terms)
            self.choices.append([c for c, _ in kept])
            self.omega.append(np.array([v for _, v in kept], dtype=float))
            for k, m in enumerate(self.sums):
                sum_rows[m.name].append([terms[c][k] for c, _ in kept])
            sums = [[bit_sums(m, c) for m in members] for c, _ in kept]
            w_rows.append([sum(w for w, _, _ in terms) for terms in sums])
            s_rows.append([sum(s for _, s, _ in terms) for terms in sums])
            t_rows.append([sum(t for _, _, t in terms) for terms in sums])
        self.offsets = [0] + list(np.cumsum([len(c) for c in self.choices]))
        self.n_vars = int(self.offsets[-1])
        self.row_w, self.row_s, self.row_t = (_flat(rows) for rows in (w_rows, s_rows, t_rows))
        self.rows = {m.name: _flat(sum_rows[m.name], integral=m.integral) for m in self.sums}

        # Constants: pinned layers, each sum's divisor and the weights of the averages.
        free = [by_name[n] for n in space.free_layers]
        self.n_w_free = sum(s.n_weights for s in free)
        self.n_a_free = sum(s.n_inputs for s in free)
        pinned = [(by_name[n], c) for n, c in space.pinned.items()]
        self.pinned = {m.name: sum(m.layer_term(s, c, context) for s, c in pinned) for m in self.sums}
        self.per = {m.name: m.per(self.specs) if m.per is not None else 1 for m in self.sums}

        # Objective: shift each decision to a minimum of 0 and scale the widest spread to 1e4.
        self.omega_min = [float(o.min()) for o in self.omega]
        spread = max((float(o.max()) - m for o, m in zip(self.omega, self.omega_min)), default=0.0)
        self.scale = _OBJECTIVE_SCALE / spread if spread > 0 else 1.0
        self.objective_coefs = np.concatenate([(o - m) * self.scale for o, m in zip(self.omega, self.omega_min)]) if self.n_vars else np.zeros(0)
        rows = [i for i, cs in enumerate(self.choices) for _ in cs]
        from scipy.sparse import csr_matrix  # scipy.optimize and .sparse: imported where solved

        self.a_eq = csr_matrix((np.ones(self.n_vars), (rows, np.arange(self.n_vars))), shape=(len(self.decisions), self.n_vars))

        # Levels of S̄ and T̄ (as integer sums Σ N_a·S, Σ N_a·T over the unpinned layers).
        self.s_sums, self.s_exact = self._levels(self.row_s)
        self.t_sums, self.t_exact = self._levels(self.row_t)
        self.w_min_sum = sum(int(self.row_w[self.offsets[i] : self.offsets[i + 1]].min()) for i in range(len(self.decisions)))

    @staticmethod
    def _omega(members: Sequence[LayerSpec], choice: LayerChoice, cost_of: CostFunction) -> float:
        """Ω(d, c): the sensitivity cost of a decision's members at ``choice``."""
        value = 0.0
        for m in members:
            v = float(cost_of(m.name, choice))
            if not math.isfinite(v):
                raise ConfigError(f"the sensitivity of layer {m.name!r} at {choice.short()} is {v}; recompute the sensitivities")
            value += v
        return value

    # ------------------------------------------------------------------ public
    @property
    def levels_exact(self) -> bool:
        """Whether every achievable S̄ and T̄ is a level (the bit budget is then solved exactly)."""
        return self.s_exact and self.t_exact

    def objective(self, config: Config) -> float:
        """Σ Ω of ``config`` over the unpinned layers (tied groups counted per member)."""
        return float(sum(self._omega_all[i][config[d]] for i, d in enumerate(self.decisions)))

    def metric(self, config: Config, metric: str) -> float:
        """:func:`evaluators.cost.metric_value` under this problem's energy model."""
        return metric_value(self.space, self.specs, config, metric, self.energy_model)

    def solve(self, limits: Mapping[str, float] | Budget, *, incumbent: Config | None = None) -> Allocation:
        """The config of least Σ Ω that meets every limit (metric -> upper limit).

        ``incumbent``: a config known to meet the limits (for example the answer at a tighter
        level of a ladder); it only speeds the search up, by pruning from the start."""
        clean = check_limits(self.space, self.specs, limits, self.energy_model, who="the ilp strategy")
        for m in clean:
            if m != BIT_BUDGET.name and m not in self.rows:
                raise BudgetError(f"the ilp strategy cannot budget {m!r}: it is neither a sum over layers nor the bit budget; use another strategy")
        search = _Search(clean)
        if incumbent is not None:
            seed = self._assignment(incumbent)
            if seed is not None:
                self._consider(search, seed)
        if not self.decisions:
            self._consider(search, ())
        elif BIT_BUDGET.name in clean and math.isfinite(clean[BIT_BUDGET.name]):
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
            planes.append((coefs, d + _RELATIVE_TOLERANCE * abs(d)))
        return planes

    def _search_boxes(self, search: _Search) -> None:
        limit = search.limits[BIT_BUDGET.name]
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
        for name, limit in limits.items():
            if name == BIT_BUDGET.name or not math.isfinite(limit):
                continue
            real = limit * self.per[name] - self.pinned[name]
            if self.rows[name].dtype.kind == "i":
                ok &= add(self.rows[name], _int_rhs(real))
                continue
            # Real coefficients (pJ): the slack is relative, and the exact re-check decides.
            rhs = real + _RELATIVE_TOLERANCE * abs(limit * self.per[name])
            low = sum(float(self.rows[name][self.offsets[i] : self.offsets[i + 1]].min()) for i in range(len(self.decisions)))
            if low > rhs:
                return None
            rows.append(self.rows[name])
            upper.append(rhs)
        if box is not None:
            ok &= add(self.row_s, self.s_sums[box.s_hi])
            ok &= add(self.row_t, self.t_sums[box.t_hi])
            bit_budget = limits[BIT_BUDGET.name]
            ok &= add(self.row_w, self._w_rhs(bit_budget, self.s_sums[box.s_lo], self.t_sums[box.t_lo]))
            for coefs, rhs in self._plane_cuts(box, bit_budget):
                rows.append(coefs)
                upper.append(rhs)
        if not ok:
            return None
        for cut in cuts:
            coefs = np.zeros(self.n_vars, dtype=np.int64)
            coefs[[self.offsets[i] + k for i, k in enumerate(cut)]] = 1
            rows.append(coefs.astype(float))
            upper.append(len(cut) - 0.5)
        from scipy.optimize import Bounds, LinearConstraint, milp

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


def _widths(choice: LayerChoice) -> tuple[float, float, float, float]:
    """(W, S, T, U) of ``choice``, the widths a cheaper choice has no more of; an unquantized
    membrane (U None) counts as wider than any U."""
    return choice.w_bits, choice.s_bits, choice.timesteps, math.inf if choice.u_bits is None else choice.u_bits


def _undominated(table: list[tuple[LayerChoice, float]], terms: Mapping[LayerChoice, tuple[float, ...]]) -> list[tuple[LayerChoice, float]]:
    """Drop choices dominated by another with W, S, T and U all ≤, Ω ≤ and every sum
    metric's term ≤ (``terms``; the bit budget is non-decreasing in W, S, T and does not read
    U). U is a width like the others: a larger U costs more (``state_bits`` and energy read it
    through ``terms``) and may be worth more (a smaller Ω), so a choice with a larger U is
    dropped only where its Ω and terms are no better. Ties: the earlier choice in options
    order at equal widths, the one with fewer bits otherwise."""
    kept = []
    for i, (c, omega_c) in enumerate(table):
        dominated = False
        widths_c = _widths(c)
        for j, (o, omega_o) in enumerate(table):
            widths_o = _widths(o)
            if j == i or omega_o > omega_c or any(a > b for a, b in zip(widths_o, widths_c)):
                continue
            if any(a > b for a, b in zip(terms[o], terms[c])):
                continue
            if omega_o < omega_c or widths_o != widths_c or j < i:
                dominated = True
                break
        if not dominated:
            kept.append((c, omega_c))
    return kept


def _flat(rows: list[list[float]], *, integral: bool = True) -> np.ndarray:
    values = [v for row in rows for v in row]
    if integral and any(float(v) != int(v) for v in values):
        raise ConfigError("a metric declared integral has a layer term that is not an integer; declare it with integral=False")
    return np.array(values, dtype=np.int64 if integral else float)


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
    max_levels: int | None = None,
    energy_model: EnergyModel | str | None = None,
    incumbent: Config | None = None,
) -> Config:
    """The config of ``space`` that minimises Σ over unpinned layers of ``cost_of(layer,
    choice)`` while meeting ``limits`` (metric -> upper limit on the bit budget or on any cost
    metric that is a sum over layers; energy under ``energy_model``). Tied layers share one choice; pinned layers keep
    their pin. How the bit budget's product W̄·S̄·T̄ is solved exactly, and how ties are
    broken: :class:`AllocationProblem`.

    ``max_levels``: cap on the enumerated levels of S̄ and of T̄ (default 400; above it the
    answer is optimal only up to an evenly spaced grid of levels). ``incumbent``: a config
    known to meet ``limits`` (for example the answer at a tighter level of a ladder); it only
    speeds the search up, by pruning from the start.

    Raises :class:`space.BudgetError` (one line) for a metric the program cannot budget and
    for a limit below the smallest reachable value of its metric.
    """
    problem = AllocationProblem(space, specs, cost_of, max_levels=max_levels, energy_model=energy_model)
    return problem.solve(limits, incumbent=incumbent).config
