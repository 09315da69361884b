"""Cost metrics: pure functions of the layer structure (``LayerSpec`` s) and a ``Config``.

They need no data and no training. Every function takes the per-layer structure from
:func:`models.layer_specs` (which depends only on the architecture and the input shape).

Each cost metric is declared once, with its formula, in :mod:`space.metrics`
(:class:`space.Metric`); this module evaluates the declarations. A metric that is a sum over
layers (S-ACE, size, neuron state, dense energy, effective resolution) has one per-layer term,
:func:`layer_cost`, and the integer program's rows (:mod:`search.ilp`) hold the very terms
the totals here sum, so they cannot drift apart.

Reachability (what the integer program and the budget checks need): :func:`metric_value`
(one cost metric of a config), :func:`smallest_reachable` (its least value over a space),
:func:`extreme_config` (the config of least or largest value) and :func:`check_limits` (are
the user's limits on cost metrics reachable at all: the one check a run makes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from spikebits.evaluators.chips import ChipProfile, chip_usage, load_profile
from spikebits.evaluators.energy import EnergyModel, choice_energy, load_energy_model
from spikebits.models import LayerSpec
from spikebits.space import (
    COST_METRICS,
    Budget,
    BudgetError,
    Config,
    ConfigError,
    CostContext,
    LayerChoice,
    SearchSpace,
    cost_metric_table,
    get_metric,
)
from spikebits.space.metrics import (
    BIT_BUDGET,
    EFFECTIVE_RESOLUTION,
    ENERGY_PJ,
    S_ACE,
    SIZE_BITS,
    STATE_BITS,
    attention_bit_products,
    bit_averages,
    bit_sums,
)

__all__ = [
    "attention_bit_products",
    "bit_averages",
    "bit_budget",
    "bit_sums",
    "check_limits",
    "check_specs",
    "cost_context",
    "cost_metrics",
    "effective_resolution",
    "energy_minimal_config",
    "extreme_config",
    "layer_cost",
    "metric_value",
    "s_ace",
    "size_bits",
    "state_bits",
    "largest_reachable",
    "smallest_reachable",
]


def cost_context(space: SearchSpace | None = None, energy_model: EnergyModel | str | None = None) -> CostContext:
    """What the declared formulas read besides layers and config: ``space``'s unpinned
    layers (None: every layer), the per-layer dense energy under ``energy_model`` (a preset
    name, a file or an ``EnergyModel``; default horowitz45nm), that model's
    ``membrane_bits``, the width ``state_bits`` counts an unquantized membrane (U None) at,
    and the placement on ``space``'s chip (the generic ``ideal`` one when it names none),
    which ``cores_used`` and ``core_memory_bits`` read."""
    model = load_energy_model(energy_model)
    chip = space.chip if space is not None and space.chip is not None else "ideal"
    return CostContext(
        free_layers=tuple(space.free_layers) if space is not None else None,
        layer_energy=functools.partial(choice_energy, model),
        membrane_bits=int(model.membrane_bits),
        chip_usage=_last_usage(functools.partial(chip_usage, _profile(chip), formats=space is not None and space.chip is not None)),
    )


def _last_usage(usage: Callable[[Sequence[LayerSpec], Config], tuple[int, int]]) -> Callable[[Sequence[LayerSpec], Config], tuple[int, int]]:
    """``usage`` that remembers its last answer: ``cores_used`` and ``core_memory_bits`` read
    the same placement, which is placed once."""
    last: list = [None, None, None]

    def remembered(specs: Sequence[LayerSpec], config: Config) -> tuple[int, int]:
        if last[0] is not specs or last[1] != config:
            last[:] = [specs, config, usage(specs, config)]
        return last[2]

    return remembered


@functools.lru_cache(maxsize=16)
def _profile(reference: str) -> ChipProfile:
    """The chip profile ``reference`` names, read once per process."""
    return load_profile(reference)


# ---------------------------------------------------------------------------- per layer
def layer_cost(spec: LayerSpec, choice: LayerChoice, metric: str, energy_model: EnergyModel | str | None = None) -> float:
    """Layer l's term of a cost metric that is a sum over layers, at ``choice`` (dense): the
    declared ``layer_term`` (:class:`space.Metric`), for example

        s_ace:      MACs_l · B_w,l · B_s,l · T_l (+ :func:`attention_bit_products`)
        size_bits:  N_w,l · B_w,l
        state_bits: (N_a,l·[l owns its neuron] + N_out,l) · U_l  (U None: the energy
                    model's ``membrane_bits``)
        energy_pj:  the layer's dense energy estimate (:func:`evaluators.energy.layer_energy`,
                    under ``energy_model``, default horowitz45nm)

    S-ACE, size and state bits are exact integer counts (returned as ``int``)."""
    declared = get_metric(metric)
    if not declared.is_sum:
        sums = ", ".join(m.name for m in cost_metric_table() if m.is_sum)
        raise ConfigError(f"{metric!r} is not a sum over layers; a layer cost exists for {sums}")
    return declared.layer_term(spec, choice, cost_context(None, energy_model))


# ---------------------------------------------------------------------------- totals
def bit_budget(specs: Sequence[LayerSpec], config: Config, layers: Iterable[str] | None = None) -> float:
    """Bit budget BB = W̄·S̄·T̄ (Shen et al. 2024) over ``layers`` (default: all); see
    :func:`space.metrics.bit_averages`. Pass the space's unpinned layers
    (``SearchSpace.free_layers``) to leave pinned ones out."""
    return BIT_BUDGET.value(specs, config, CostContext(free_layers=tuple(layers) if layers is not None else None))


def s_ace(specs: Sequence[LayerSpec], config: Config, rates: Mapping[str, float] | None = None) -> float:
    """S-ACE = Σ_l MACs_l · B_w,l · Σ_{t=1..T_l} B_s,l,t over every synaptic layer (pinned ones
    at their own bits), plus the spike-spike products of any self-attention
    (:func:`attention_bit_products`). Dense: every input counts. With ``rates`` (layer ->
    measured fraction of non-zero input spikes) each layer's synaptic term is multiplied by
    its rate: the activity-aware variant (the attention's products stay dense: the firing
    rates of Q, K and V are not measured)."""
    if rates is None:
        return S_ACE.value(specs, config)
    config.check_layers(s.name for s in specs)
    total = 0.0
    for s in specs:
        choice = config[s.name]
        attention = attention_bit_products(s, choice)
        total += (S_ACE.layer_term(s, choice, CostContext()) - attention) * float(rates[s.name]) + attention
    return float(total)


def size_bits(specs: Sequence[LayerSpec], config: Config) -> int:
    """Stored synaptic weight bits: Σ_l N_w,l · B_w,l (biases and BatchNorm not counted)."""
    return int(SIZE_BITS.value(specs, config))


def state_bits(specs: Sequence[LayerSpec], config: Config, energy_model: EnergyModel | str | None = None) -> int:
    """Stored neuron state bits: Σ_l (N_a,l·[l owns its neuron] + N_out,l) · U_l, one membrane
    of U_l bits per neuron that runs at layer l's choice (:func:`space.metrics.state_term`);
    an unquantized membrane (U None) counts ``energy_model``'s ``membrane_bits`` (default
    horowitz45nm: 16)."""
    return int(STATE_BITS.value(specs, config, cost_context(None, energy_model)))


def effective_resolution(specs: Sequence[LayerSpec], config: Config) -> float:
    """Stored weight bits per weight (SpikeHQ): size_bits / Σ N_w. Compression vs FP32 = 32 / this."""
    return EFFECTIVE_RESOLUTION.value(specs, config)


def cost_metrics(specs: Sequence[LayerSpec], config: Config, space: SearchSpace, energy_model=None) -> dict[str, float]:
    """Every declared data-free metric of ``config`` (:func:`space.cost_metric_table`):
    ``bit_budget`` (unpinned layers), ``s_ace``, ``energy_pj`` (dense estimate under
    ``energy_model``, a preset name, a file or an ``EnergyModel``, default horowitz45nm),
    ``size_bits``, ``state_bits`` (U None at ``energy_model``'s ``membrane_bits``),
    ``effective_resolution``, and any metric added with
    :func:`space.register_metric`."""
    context = cost_context(space, energy_model)
    return {m.name: m.value(specs, config, context) for m in cost_metric_table()}


# ---------------------------------------------------------------------------- reachability
def metric_value(
    space: SearchSpace, specs: Sequence[LayerSpec], config: Config, metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """``metric`` of ``config`` exactly as :func:`cost_metrics` computes it (``energy_pj``
    under ``energy_model``, default horowitz45nm, as the evaluator's)."""
    return _cost_metric(metric).value(specs, config, cost_context(space, energy_model))


def _cost_metric(metric: str, who: str = ""):  # noqa: ANN202 - a space.Metric
    if metric not in COST_METRICS:
        names = ", ".join(COST_METRICS[:-1]) + f" or {COST_METRICS[-1]}"
        if who:
            raise BudgetError(f"{who} cannot budget {metric!r}; budget {names}")
        raise BudgetError(f"{metric!r} needs a trained model and data, so it has no data-free value; use one of {names}")
    return get_metric(metric)


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


def extreme_config(
    space: SearchSpace, specs: Sequence[LayerSpec], metric: str, energy_model: EnergyModel | str | None = None, *, largest: bool = False
) -> Config:
    """The config of least (``largest``: most) ``metric`` over ``space`` (pinned layers fixed).

    Exact. A metric that is a sum over layers (``layer_term``) separates by decision: each
    decision (a tied group's members summed) takes its cheapest (dearest) choice, the first
    in options order among equals; the scheme may enter the term (power-of-two weights need
    no multiplier in the energy model). Any other data-free metric is declared
    non-decreasing in each layer's W, S and T, and the options of a layer are a full
    product, so :meth:`space.SearchSpace.smallest_config` (``largest_config``) attains it: for
    the bit budget W̄, S̄ and T̄ are each at their minimum there, all positive, so their
    product is the minimum too."""
    declared = _cost_metric(metric)
    by_name = check_specs(space, specs)
    if not declared.is_sum:
        return space.largest_config() if largest else space.smallest_config()
    context = cost_context(space, energy_model)
    pick = max if largest else min
    choices = {}
    for d in space.decisions:
        members = [by_name[m] for m in space.group_of(d)]
        choices[d] = pick(space.layers[d].choices(), key=lambda c: sum(declared.layer_term(m, c, context) for m in members))
    return space.expand(choices)


def energy_minimal_config(
    space: SearchSpace, specs: Sequence[LayerSpec], energy_model: EnergyModel | str | None = None, *, largest: bool = False
) -> Config:
    """The config of least (``largest``: most) dense energy (:func:`extreme_config`)."""
    return extreme_config(space, specs, ENERGY_PJ.name, energy_model, largest=largest)


def smallest_reachable(
    space: SearchSpace, specs: Sequence[LayerSpec], metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """The smallest value of ``metric`` over every config of ``space`` (pinned layers fixed):
    its value at :func:`extreme_config`, computed with the same declared formula, so it is
    bit-for-bit what an evaluator reports for that config."""
    return metric_value(space, specs, extreme_config(space, specs, metric, energy_model), metric, energy_model)


def largest_reachable(
    space: SearchSpace, specs: Sequence[LayerSpec], metric: str, energy_model: EnergyModel | str | None = None
) -> float:
    """The largest value of ``metric`` over every config of ``space`` (the hypervolume's
    default reference point)."""
    return metric_value(space, specs, extreme_config(space, specs, metric, energy_model, largest=True), metric, energy_model)


def check_limits(
    space: SearchSpace,
    specs: Sequence[LayerSpec],
    limits: Mapping[str, float] | Budget,
    energy_model: EnergyModel | str | None = None,
    *,
    who: str = "a data-free budget check",
) -> dict[str, float]:
    """Validate ``limits`` (metric -> upper limit) and return them as floats: the one
    reachability check of a run.

    Raises :class:`BudgetError` (one line) for a metric that cannot be budgeted without data
    (one not in :data:`space.COST_METRICS`; the message names ``who`` asked), and for limits below the smallest reachable value
    of their metric, naming that value. Since one config
    (:meth:`space.SearchSpace.smallest_config`) attains the minimum of every metric that is
    not scheme-dependent at once, limits that pass this check can usually all be met
    together; the strategies say so when they cannot.
    """
    if isinstance(limits, Budget):
        limits = limits.to_dict()
    clean: dict[str, float] = {}
    for metric, limit in dict(limits).items():
        _cost_metric(metric, who)
        limit = float(limit)
        if math.isnan(limit):
            raise BudgetError(f"budget {metric} has no valid limit; write for example {metric}<=2.5")
        clean[metric] = limit
    if not clean:
        return clean
    check_specs(space, specs)
    if not space.decisions and BIT_BUDGET.name in clean:
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
