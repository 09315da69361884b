"""Moving a config, one option of one layer at a time, until it keeps a budget (and, for the
supernet, lies near its target): the fit rule of the differentiable strategies and the repair
of the sampling strategies (:mod:`search.optuna_base`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from spikebits.space import SCHEMES, BitTargets, BudgetError, Config, LayerChoice, SearchSpace


def _excess(values: Mapping[str, float], limits: Mapping[str, float]) -> float:
    """Σ max(0, value − limit)/|limit|: total relative excess over every budget limit."""
    return sum(max(0.0, values[m] - lim) / max(abs(lim), 1e-12) for m, lim in limits.items())


#: Averages a target speaks of, and the key of ``measure``'s result that holds each.
TARGET_KEYS = {"w_bits": "avg_w_bits", "s_bits": "avg_s_bits", "timesteps": "avg_timesteps"}
#: The membrane average Ū, where a target has one (``measure`` then gives ``avg_u_bits``).
MEMBRANE_KEY = ("u_bits", "avg_u_bits")


def _deviation(values: Mapping[str, float], target: BitTargets | None, tolerance: float) -> float:
    """Σ_k max(0, |avg_k − target_k| − tolerance) over W̄, S̄, T̄ (and Ū where the target has a
    membrane target): how far the averages miss the target band."""
    if target is None:
        return 0.0
    keys = list(TARGET_KEYS.items()) + ([MEMBRANE_KEY] if target.u_bits is not None else [])
    return sum(max(0.0, abs(values[key] - getattr(target, k)) - tolerance) for k, key in keys)


def learned_value(learned: Mapping[str, Any], key: str) -> float | None:
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
    deviation = Σ max(0, |avg − target| − tolerance) over W̄, S̄, T̄ (and Ū, ``measure``'s
    ``avg_u_bits``, where ``target`` has a membrane target). Every step considers each
    decision's W, S and T — and U where the decision searches it — moved to the neighbouring
    smaller or larger option and keeps the moves that improve the state. Moves that cut the budget excess go first; among them (or,
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
            keys = [("w_bits", options.w_bits), ("s_bits", options.s_bits), ("timesteps", options.timesteps)]
            if options.searches_membrane and choice.u_bits is not None:
                keys.append(("u_bits", options.u_bits))
            for key, opts in keys:
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
                    value = learned_value(learned.get(rep, {}), key)
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
