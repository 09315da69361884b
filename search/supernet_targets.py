"""The bit targets W̄/S̄/T̄ of the supernet strategies' runs: which targets a search trains
towards (``--targets``, the split of a ``bit_budget`` budget, or the defaults) and the
budget-loss coefficients the seed paper's released code gives each target."""

from __future__ import annotations

import math
from collections.abc import Sequence

from spikebits.models import DEFAULT_LAMBDAS
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


def paper_lambdas(target: BitTargets) -> tuple[float, float, float]:
    """The released code's (λ_w, λ_s, λ_T) for ``target``: per kind, the gentler coefficient
    of :data:`PAPER_LAMBDAS_HIGH` when its target is 3 bits or more, else
    :data:`PAPER_LAMBDAS_LOW`; λ_T is 0.01 either way."""
    return (
        PAPER_LAMBDAS_HIGH[0] if target.w_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[0],
        PAPER_LAMBDAS_HIGH[1] if target.s_bits >= GENTLE_FROM_BITS else PAPER_LAMBDAS_LOW[1],
        PAPER_LAMBDAS_LOW[2],
    )


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
    if BIT_BUDGET.name in limits:
        return (split_bit_budget(limits[BIT_BUDGET.name], space),)
    return BitTargets.parse_list(DEFAULT_TARGETS)


def exact_targets(targets: Sequence[BitTargets]) -> str:
    """``targets`` as ``--targets`` text that parses back to the same floats (``repr``)."""
    return ",".join(f"{t.w_bits!r}/{t.s_bits!r}/{t.timesteps!r}" for t in targets)
