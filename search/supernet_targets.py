"""The bit targets W̄/S̄/T̄ (and Ū) of the supernet strategies' runs: which targets a search
trains towards (``--targets``, the split of a ``bit_budget`` budget, or the defaults), the
membrane target of a space that searches U, and the budget-loss coefficients the seed paper's
released code gives each target."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from spikebits.models import DEFAULT_LAMBDAS
from spikebits.models.supernet import DEFAULT_MEMBRANE_LAMBDA
from spikebits.space import BitTargets, Budget, BudgetError, SearchSpace
from spikebits.space.metrics import BIT_BUDGET

#: Targets used when neither --targets nor a bit_budget budget is given.
DEFAULT_TARGETS = "1/1/1,2/2/1,4/4/1"
#: The released code's budget-loss coefficients (λ_w, λ_s, λ_T): its default for targets
#: below 3 bits, and the gentler set it notes as good for targets of 3 bits or more.
PAPER_LAMBDAS_LOW: tuple[float, float, float] = DEFAULT_LAMBDAS
PAPER_LAMBDAS_HIGH: tuple[float, float, float] = (0.01, 0.02, 0.01)
#: A bit target at or above this takes the gentler coefficient (per W and S).
GENTLE_FROM_BITS = 3.0
#: The default membrane target is S_t plus this: one sign bit and S + 1 integer bits, the
#: narrowest membrane that holds every spike level and its threshold (docs/membrane_bits.md).
MEMBRANE_ABOVE_SPIKES = 2


def paper_lambdas(target: BitTargets) -> tuple[float, ...]:
    """The released code's (λ_w, λ_s, λ_T) for ``target``: per kind, the gentler coefficient
    of :data:`PAPER_LAMBDAS_HIGH` when its target is 3 bits or more, else
    :data:`PAPER_LAMBDAS_LOW`; λ_T is 0.01 either way. A target with a membrane target Ū
    (which the paper does not have) adds λ_U = :data:`models.supernet.DEFAULT_MEMBRANE_LAMBDA`."""
    lambdas = (
        PAPER_LAMBDAS_HIGH[0] if target.w_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[0],
        PAPER_LAMBDAS_HIGH[1] if target.s_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[1],
        PAPER_LAMBDAS_LOW[2],
    )
    return lambdas if target.u_bits is None else lambdas + (DEFAULT_MEMBRANE_LAMBDA,)


def membrane_range(space: SearchSpace) -> tuple[int, int] | None:
    """(smallest, largest) U option over the unpinned decisions that search U; None: none does."""
    searching = [space.layers[r] for r in space.decisions if space.layers[r].searches_membrane]
    if not searching:
        return None
    return min(min(o.u_bits) for o in searching), max(max(o.u_bits) for o in searching)


def with_membrane_target(target: BitTargets, space: SearchSpace) -> BitTargets:
    """``target`` with its membrane target Ū where the space searches U.

    A target that gives none gets Ū_t = S_t + 2 (:data:`MEMBRANE_ABOVE_SPIKES`), held within
    the U options' range (:func:`membrane_range`): one sign bit and S + 1 integer bits, the
    narrowest membrane that keeps every spike level and threshold (no fraction bits:
    docs/membrane_bits.md). At T = 1 it fires exactly as the unquantized membrane; with more
    steps the dropped fraction bits cost accuracy, and the cross-entropy's gradient on Û (from
    the saturated membranes) weighs against the penalty. Ū weighs each layer by N_a, so this
    is a target on the state memory Σ neurons × U per neuron. A space that searches no U
    keeps ``target`` as it is, and a membrane target there is a one-line
    :class:`space.BudgetError`."""
    bounds = membrane_range(space)
    if bounds is None:
        if target.u_bits is not None:
            raise BudgetError(
                f"target {target} has a membrane target U but the space searches no membrane widths; "
                "add --membrane-bits (u_bits in the space file) or write the target as W/S/T"
            )
        return target
    if target.u_bits is not None:
        return target
    return dataclasses.replace(target, u_bits=float(min(max(target.s_bits + MEMBRANE_ABOVE_SPIKES, bounds[0]), bounds[1])))


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
    """``--targets`` if given; else the split of a ``bit_budget`` budget; else the defaults.
    Where the space searches U, each target without a membrane target gets the default one
    (:func:`with_membrane_target`)."""
    if targets:
        found = BitTargets.parse_list(targets) if isinstance(targets, str) else tuple(targets)
    elif BIT_BUDGET.name in budget.to_dict():
        found = (split_bit_budget(budget.to_dict()[BIT_BUDGET.name], space),)
    else:
        found = BitTargets.parse_list(DEFAULT_TARGETS)
    resolved = tuple(with_membrane_target(t, space) for t in found)
    twice = next((t for i, t in enumerate(resolved) if t in resolved[:i]), None)
    if twice is not None:
        raise BudgetError(
            f"target {twice} is given twice once the default membrane target is filled in (each target is a whole supernet run); "
            "give each once"
        )
    return resolved


def exact_targets(targets: Sequence[BitTargets]) -> str:
    """``targets`` as ``--targets`` text that parses back to the same floats (``repr``)."""
    return ",".join(f"{t.w_bits!r}/{t.s_bits!r}/{t.timesteps!r}" + ("" if t.u_bits is None else f"/{t.u_bits!r}") for t in targets)
