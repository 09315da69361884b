"""Cost metrics: pure functions of the layer structure (``LayerSpec`` s) and a ``Config``.

They need no data and no training. Every function takes the per-layer structure from
:func:`models.layer_specs` (which depends only on the architecture and the input shape).

Every linear cost metric is a sum over layers of one per-layer term, :func:`layer_cost`
(S-ACE, size, dense energy), and the bit budget's averages are ratios of sums of
:func:`bit_sums`. The totals here and the integer program's constraint rows
(:mod:`search.ilp`) are both built from these two functions, so they cannot drift apart.

Reachability (what the integer program and the budget checks need): :func:`metric_value`
(one cost metric of a config), :func:`smallest_reachable` (its least value over a space),
:func:`energy_minimal_config` and :func:`check_limits` (are the user's limits on cost
metrics reachable at all).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from spikebits.evaluators.energy import EnergyModel, choice_energy, energy_pj, load_energy_model
from spikebits.models import LayerSpec
from spikebits.space import COST_METRICS, Budget, BudgetError, Config, ConfigError, LayerChoice, SearchSpace


# ---------------------------------------------------------------------------- per layer
def layer_cost(spec: LayerSpec, choice: LayerChoice, metric: str, energy_model: EnergyModel | str | None = None) -> float:
    """Layer l's term of a cost metric that is a sum over layers, at ``choice`` (dense):

        s_ace:      MACs_l · B_w,l · B_s,l · T_l (+ :func:`attention_bit_products`)
        size_bits:  N_w,l · B_w,l
        energy_pj:  the layer's dense energy estimate (:func:`evaluators.energy.layer_energy`,
                    under ``energy_model``, default horowitz45nm)

    S-ACE and size are exact integer counts (returned as ``int``). :func:`s_ace`,
    :func:`size_bits` and the integer program's rows sum these terms.
    """
    if metric == "s_ace":
        return spec.macs * choice.w_bits * choice.s_bits * choice.timesteps + attention_bit_products(spec, choice)
    if metric == "size_bits":
        return spec.n_weights * choice.w_bits
    if metric == "energy_pj":
        return choice_energy(load_energy_model(energy_model), spec, choice)
    raise ConfigError(f"{metric!r} is not a sum over layers; a layer cost exists for s_ace, size_bits and energy_pj")


def attention_bit_products(spec: LayerSpec, choice: LayerChoice) -> int:
    """S-ACE of the spike-spike products of a spiking self-attention whose Q, K and V run at
    ``choice``'s S and T (``spec`` is the layer that governs them; 0 for any other layer).

    A product of an a-bit and a b-bit operand counts a·b bit operations, as a weight times a
    spike counts W·S in S-ACE (a bit-serial AND-accumulate of every pair of set bits). Per
    step, Q·Kᵀ takes P = heads·N²·d products of two S-bit spike levels; (Q·Kᵀ)·V takes P
    products of an entry of Q·Kᵀ, B_A = ⌈log₂(d·(2^S − 1)² + 1)⌉ bits
    (:meth:`models.LayerSpec.attention_map_bits`), and an S-bit V level:

        T · P · (S·S + B_A·S)

    Binary spikes (S = 1) give T·P·(1 + ⌈log₂(d + 1)⌉): the AND of two spikes, then d-bounded
    counts times one-bit spikes.
    """
    if not spec.attention_products:
        return 0
    s = choice.s_bits
    return choice.timesteps * spec.attention_products * (s * s + spec.attention_map_bits(s) * s)


def bit_sums(spec: LayerSpec, choice: LayerChoice) -> tuple[int, int, int]:
    """Layer l's terms of the bit budget's averages at ``choice``:
    (N_w,l·B_w,l, N_a,l·B_s,l, N_a,l·T_l), the numerators of W̄, S̄ and T̄ (whose
    denominators are Σ N_w and Σ N_a). The first is the layer's ``size_bits`` term."""
    return layer_cost(spec, choice, "size_bits"), spec.n_inputs * choice.s_bits, spec.n_inputs * choice.timesteps


# ---------------------------------------------------------------------------- totals
def bit_budget(specs: Sequence[LayerSpec], config: Config, layers: Iterable[str] | None = None) -> float:
    """Bit budget BB = W̄·S̄·T̄ (Shen et al. 2024) over ``layers`` (default: all).

        W̄ = Σ B_w,l N_w,l / Σ N_w,l
        S̄ = Σ mean_t(B_s,l,t) N_a,l / Σ N_a,l
        T̄ = Σ T_l N_a,l / Σ N_a,l

    Pass the space's unpinned layers (``SearchSpace.free_layers``) to leave pinned ones out.
    """
    w, s, t = bit_averages(specs, config, layers)
    return w * s * t


def bit_averages(
    specs: Sequence[LayerSpec], config: Config, layers: Iterable[str] | None = None
) -> tuple[float, float, float]:
    """(W̄, S̄, T̄) as weighted by N_w (weights) and N_a (input activations)."""
    config.check_layers(s.name for s in specs)
    keep = set(layers) if layers is not None else {s.name for s in specs}
    chosen = [s for s in specs if s.name in keep]
    if not chosen:
        raise ConfigError("bit budget needs at least one unpinned layer; unpin a layer in the space")
    n_w = sum(s.n_weights for s in chosen)
    n_a = sum(s.n_inputs for s in chosen)
    terms = [bit_sums(s, config[s.name]) for s in chosen]
    w_bar = sum(w for w, _, _ in terms) / n_w
    s_bar = sum(s for _, s, _ in terms) / n_a
    t_bar = sum(t for _, _, t in terms) / n_a
    return w_bar, s_bar, t_bar


def s_ace(specs: Sequence[LayerSpec], config: Config, rates: Mapping[str, float] | None = None) -> float:
    """S-ACE = Σ_l MACs_l · B_w,l · Σ_{t=1..T_l} B_s,l,t over every synaptic layer (pinned ones
    at their own bits), plus the spike-spike products of any self-attention
    (:func:`attention_bit_products`). Dense: every input counts. With ``rates`` (layer ->
    measured fraction of non-zero input spikes) each layer's synaptic term is multiplied by
    its rate: the activity-aware variant (the attention's products stay dense: the firing
    rates of Q, K and V are not measured)."""
    config.check_layers(s.name for s in specs)
    total = 0.0
    for s in specs:
        choice = config[s.name]
        rate = 1.0 if rates is None else float(rates[s.name])
        attention = attention_bit_products(s, choice)
        total += (layer_cost(s, choice, "s_ace") - attention) * rate + attention
    return float(total)


def size_bits(specs: Sequence[LayerSpec], config: Config) -> int:
    """Stored synaptic weight bits: Σ_l N_w,l · B_w,l (biases and BatchNorm not counted)."""
    config.check_layers(s.name for s in specs)
    return int(sum(layer_cost(s, config[s.name], "size_bits") for s in specs))


def effective_resolution(specs: Sequence[LayerSpec], config: Config) -> float:
    """Stored weight bits per weight (SpikeHQ): size_bits / Σ N_w. Compression vs FP32 = 32 / this."""
    return size_bits(specs, config) / sum(s.n_weights for s in specs)


def cost_metrics(specs: Sequence[LayerSpec], config: Config, space: SearchSpace, energy_model=None) -> dict[str, float]:
    """The data-free metric keys: ``bit_budget`` (unpinned layers), ``s_ace``, ``size_bits``,
    ``effective_resolution`` and ``energy_pj`` (dense estimate, :mod:`evaluators.energy`;
    ``energy_model`` is a preset name, a file or an ``EnergyModel``, default horowitz45nm)."""
    return {
        "bit_budget": bit_budget(specs, config, space.free_layers),
        "s_ace": s_ace(specs, config),
        "size_bits": float(size_bits(specs, config)),
        "effective_resolution": effective_resolution(specs, config),
        "energy_pj": energy_pj(specs, config, energy_model),
    }


# ---------------------------------------------------------------------------- reachability
def metric_value(
    space: SearchSpace, specs: Sequence[LayerSpec], config: Config, metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """``metric`` of ``config`` exactly as :func:`cost_metrics` computes it (``energy_pj``
    under ``energy_model``, default horowitz45nm, as the evaluator's)."""
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
    names = ", ".join(COST_METRICS[:-1]) + f" or {COST_METRICS[-1]}"
    return BudgetError(f"the ilp strategy cannot budget {metric!r}; budget {names}")


def check_specs(space: SearchSpace, specs: Sequence[LayerSpec]) -> dict[str, LayerSpec]:
    """``specs`` by layer name, after checking that they name exactly the layers of
    ``space`` (else a one-line :class:`space.ConfigError`)."""
    by_name = {s.name: s for s in specs}
    if set(by_name) != set(space.names):
        missing = [n for n in space.names if n not in by_name]
        extra = [n for n in by_name if n not in space.layers]
        what = f"no spec for layer(s) {', '.join(missing)}" if missing else f"specs for unknown layer(s) {', '.join(extra)}"
        raise ConfigError(f"the layer specs do not match the space ({what}); use the specs of the space's model")
    return by_name


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
    The value is computed with the functions of this module, so it is bit-for-bit what an
    evaluator reports for that config.
    """
    if metric not in COST_METRICS:
        raise _unbudgetable(metric)
    check_specs(space, specs)
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
    by_name = check_specs(space, specs)
    pick = max if largest else min
    choices = {}
    for d in space.decisions:
        members = [by_name[m] for m in space.group_of(d)]
        choices[d] = pick(space.layers[d].choices(), key=lambda c: sum(layer_cost(m, c, "energy_pj", model) for m in members))
    return space.expand(choices)


def check_limits(
    space: SearchSpace, specs: Sequence[LayerSpec], limits: Mapping[str, float] | Budget, energy_model: EnergyModel | str | None = None
) -> dict[str, float]:
    """Validate ``limits`` (metric -> upper limit) and return them as floats.

    Raises :class:`BudgetError` (one line) for a metric that cannot be budgeted without data
    (one not in :data:`space.COST_METRICS`), and for limits below the smallest reachable value
    of their metric, naming that value. Since one config
    (:meth:`space.SearchSpace.smallest_config`) attains the minimum of every metric but energy
    at once, limits that pass this check can all be met together unless an energy limit is
    among them (then the integer program says so if they cannot).
    """
    if isinstance(limits, Budget):
        limits = limits.to_dict()
    clean: dict[str, float] = {}
    for metric, limit in dict(limits).items():
        if metric not in COST_METRICS:
            raise _unbudgetable(metric)
        limit = float(limit)
        if math.isnan(limit):
            raise BudgetError(f"budget {metric} has no valid limit; write for example {metric}<=2.5")
        clean[metric] = limit
    if not clean:
        return clean
    check_specs(space, specs)
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
