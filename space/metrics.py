"""The metric vocabulary: every metric is one declaration, here (:class:`Metric`), with its
direction, label, scale, worst value, whether it needs data, and — for a data-free metric —
its formula. Every list of metric names, every plot label, every worst value, every
reachability check and every row of the integer program is derived from these declarations,
so adding a data-free cost metric is one :func:`register_metric` call.

Two kinds:

* **Trial metrics** (:func:`metric_table`): what an evaluator reports for a config and what
  objectives and budgets name. Data-free ones (*cost metrics*) are exact functions of the
  config and the layer shapes, so a strategy can hold a budget on them before training
  anything (the integer program, the supernet's fit step); the others need a trained model
  and data.
* **Sensitivity metrics** (:data:`SENSITIVITY_TABLE`): per-layer measures that guide an
  allocation (HAWQ's Hessian Ω, the output error, the weights' kurtosis). ``per_choice`` ones
  give a value for every (layer, choice), which an integer program can minimise; the others
  give one value per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from spikebits.space.config import Config, LayerChoice
from spikebits.space.errors import BudgetError, ConfigError

DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")


class LayerShape(Protocol):
    """What a data-free formula reads of one synaptic layer (:class:`models.LayerSpec`
    provides it): N_w (``n_weights``), N_a (``n_inputs``), MACs, any self-attention's
    spike-spike products, whether the layer's own input neuron fires (``owns_neuron``: False
    for a ResNet 1×1 shortcut that reads another layer's spikes) and the neurons that fire its
    output at its S and T (``output_neurons``: a self-attention's Q, K, V; 0 elsewhere)."""

    name: str
    n_weights: int
    n_inputs: int
    macs: int
    attention_products: int
    output_neurons: int

    @property
    def owns_neuron(self) -> bool: ...

    def attention_map_bits(self, s_bits: int) -> int: ...


@dataclass(frozen=True)
class CostContext:
    """What a data-free formula may read besides the layers and the config:
    ``free_layers`` — the space's unpinned layers (None: every layer), over which the bit
    budget averages; ``layer_energy`` — the dense energy of one layer at one choice under the
    run's energy model; ``membrane_bits`` — the width an unquantized membrane (a choice with
    ``u_bits`` None) is costed at: the run's energy model's ``membrane_bits`` (16 in the 45 nm
    presets, 24 in ``loihi``). :func:`evaluators.cost.cost_context` builds it."""

    free_layers: tuple[str, ...] | None = None
    layer_energy: Callable[[LayerShape, LayerChoice], float] | None = None
    membrane_bits: int = 16
    #: (cores used, most weight + state bits on one core) of a config placed on the run's chip
    #: (``evaluators.chips.chip_usage``: the space's chip, else the generic ``ideal`` one).
    chip_usage: Callable[[Sequence[LayerShape], Config], tuple[int, int]] | None = None


LayerTerm = Callable[[LayerShape, LayerChoice, CostContext], float]
Total = Callable[[Sequence[LayerShape], Config, CostContext], float]


@dataclass(frozen=True)
class Metric:
    """One trial metric, declared once.

    ``direction``: ``"maximize"`` or ``"minimize"``. ``label``: the axis and table label.
    ``large``: its values span orders of magnitude (log axes, scientific notation in tables).
    ``percent``: a fraction 0–1 shown in percent.
    ``needs_data``: computing it needs a trained model and data; else it is a *cost metric*
    and carries its formula, either

    * ``layer_term`` — a sum over layers: value = Σ_l term(l, choice_l) / ``per(layers)``
      (``per`` defaults to 1). Its least (largest) value over a space takes each decision's
      cheapest (dearest) choice, and the integer program gets one linear row of these terms
      (integer coefficients, exact, when ``integral``); or
    * ``total`` — any other function of the layers and the config, which must be
      non-decreasing in every layer's W, S and T (the smallest config then attains its least
      value).

    A data metric declares ``worst`` — the value no config can be worse than (accuracy 0) —
    or ``bounded_by``, a cost metric that bounds it for every config (event-driven S-ACE ≤
    dense S-ACE): what a never-trained config counts as, and the hypervolume reference.
    ``reported``: read once, to report (the test split); never an objective or a budget.
    """

    name: str
    direction: str
    description: str
    label: str
    needs_data: bool = False
    large: bool = False
    percent: bool = False
    worst: float | None = None
    bounded_by: str = ""
    reported: bool = False
    layer_term: LayerTerm | None = None
    total: Total | None = None
    per: Callable[[Sequence[LayerShape]], float] | None = None
    integral: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigError(f"metric name {self.name!r} is not an identifier; use letters, digits and _")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"metric {self.name}: direction {self.direction!r} is unknown; use one of {', '.join(DIRECTIONS)}")
        formulas = (self.layer_term is not None) + (self.total is not None)
        if self.needs_data and (formulas or self.per is not None):
            raise ConfigError(f"metric {self.name} needs data, so it has no data-free formula; drop layer_term/total/per")
        if not self.needs_data and formulas != 1:
            raise ConfigError(f"data-free metric {self.name} needs exactly one formula: layer_term (a sum over layers) or total")
        if self.per is not None and self.layer_term is None:
            raise ConfigError(f"metric {self.name}: per divides a sum over layers; give layer_term")
        if self.needs_data and not self.reported and (self.worst is None) == (not self.bounded_by):
            raise ConfigError(f"data metric {self.name} needs exactly one of worst and bounded_by")

    @property
    def is_sum(self) -> bool:
        """Whether the metric is a sum over layers (``layer_term``)."""
        return self.layer_term is not None

    def value(self, specs: Sequence[LayerShape], config: Config, context: CostContext = CostContext()) -> float:
        """The metric of ``config`` (a cost metric; the config must name exactly ``specs``)."""
        if self.total is not None:
            return float(self.total(specs, config, context))
        if self.layer_term is None:
            raise ConfigError(f"{self.name} needs a trained model and data; it has no data-free value")
        config.check_layers(s.name for s in specs)
        summed = sum(self.layer_term(s, config[s.name], context) for s in specs)
        return float(summed) / self.per(specs) if self.per is not None else float(summed)


@dataclass(frozen=True)
class SensitivityMetric:
    """One sensitivity metric: ``per_choice`` — a value for every (layer, choice) rather than
    one per layer; ``jump`` — how SensiBoost/KurtBoost compare consecutive layers
    (``"ratio"`` m_l/m_{l−1} or ``"difference"`` m_l − m_{l−1})."""

    name: str
    per_choice: bool
    jump: str
    description: str


# ---------------------------------------------------------------------------- formulas
def attention_bit_products(spec: LayerShape, choice: LayerChoice) -> int:
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


def s_ace_term(spec: LayerShape, choice: LayerChoice, context: CostContext | None = None) -> int:
    """Layer l's S-ACE: MACs_l · B_w,l · B_s,l · T_l (+ :func:`attention_bit_products`)."""
    return spec.macs * choice.w_bits * choice.s_bits * choice.timesteps + attention_bit_products(spec, choice)


def size_term(spec: LayerShape, choice: LayerChoice, context: CostContext | None = None) -> int:
    """Layer l's stored weight bits: N_w,l · B_w,l (biases and BatchNorm not counted)."""
    return spec.n_weights * choice.w_bits


def neuron_count(spec: LayerShape) -> int:
    """The neurons that run at layer l's choice (S, T and U): its input neuron's N_a,l
    when the layer owns it (not a ResNet 1×1 shortcut, which reads another layer's neuron),
    plus its ``output_neurons`` (a self-attention's Q, K, V)."""
    return (spec.n_inputs if spec.owns_neuron else 0) + spec.output_neurons


def membrane_width(choice: LayerChoice, unquantized_bits: int) -> int:
    """U_l, the membrane width a cost counts for ``choice``: its ``u_bits``, or for an
    unquantized membrane (U None) ``unquantized_bits`` (the energy model's ``membrane_bits``)."""
    return int(unquantized_bits) if choice.u_bits is None else int(choice.u_bits)


def state_term(spec: LayerShape, choice: LayerChoice, context: CostContext | None = None) -> int:
    """Layer l's neuron state bits: (N_a,l·[l owns its neuron] + N_out,l) · U_l, one U-bit
    membrane per neuron (:func:`neuron_count`; U None counts ``context.membrane_bits``)."""
    return neuron_count(spec) * membrane_width(choice, (context or CostContext()).membrane_bits)


def energy_term(spec: LayerShape, choice: LayerChoice, context: CostContext) -> float:
    """Layer l's dense energy estimate under the run's energy model (:mod:`evaluators.energy`)."""
    if context.layer_energy is None:
        raise ConfigError("energy_pj needs an energy model; build the context with evaluators.cost.cost_context")
    return context.layer_energy(spec, choice)


def bit_sums(spec: LayerShape, choice: LayerChoice) -> tuple[int, int, int]:
    """Layer l's terms of the bit budget's averages at ``choice``:
    (N_w,l·B_w,l, N_a,l·B_s,l, N_a,l·T_l), the numerators of W̄, S̄ and T̄ (whose
    denominators are Σ N_w and Σ N_a). The first is the layer's ``size_bits`` term."""
    return size_term(spec, choice), spec.n_inputs * choice.s_bits, spec.n_inputs * choice.timesteps


def bit_averages(specs: Sequence[LayerShape], config: Config, layers: Iterable[str] | None = None) -> tuple[float, float, float]:
    """(W̄, S̄, T̄) over ``layers`` (default: all), weighted by N_w (weights) and N_a (inputs):

        W̄ = Σ B_w,l N_w,l / Σ N_w,l
        S̄ = Σ mean_t(B_s,l,t) N_a,l / Σ N_a,l
        T̄ = Σ T_l N_a,l / Σ N_a,l
    """
    config.check_layers(s.name for s in specs)
    keep = set(layers) if layers is not None else {s.name for s in specs}
    chosen = [s for s in specs if s.name in keep]
    if not chosen:
        raise ConfigError("bit budget needs at least one unpinned layer; unpin a layer in the space")
    n_w = sum(s.n_weights for s in chosen)
    n_a = sum(s.n_inputs for s in chosen)
    terms = [bit_sums(s, config[s.name]) for s in chosen]
    return sum(w for w, _, _ in terms) / n_w, sum(s for _, s, _ in terms) / n_a, sum(t for _, _, t in terms) / n_a


def bit_budget_total(specs: Sequence[LayerShape], config: Config, context: CostContext) -> float:
    """Bit budget BB = W̄·S̄·T̄ (Shen et al. 2024) over the space's unpinned layers."""
    w, s, t = bit_averages(specs, config, context.free_layers)
    return w * s * t


def weight_count(specs: Sequence[LayerShape]) -> int:
    """Σ_l N_w,l over every layer."""
    return sum(s.n_weights for s in specs)


# ---------------------------------------------------------------------------- declarations
ACCURACY = Metric("accuracy", "maximize", "validation accuracy after fine-tuning, fraction 0-1", "validation accuracy",
                  needs_data=True, percent=True, worst=0.0)
TEST_ACCURACY = Metric("test_accuracy", "maximize", "test accuracy of the same fine-tuned model, reported only", "test accuracy",
                       needs_data=True, percent=True, reported=True)
BIT_BUDGET = Metric("bit_budget", "minimize", "W̄·S̄·T̄ over the unpinned layers", "bit budget (W̄·S̄·T̄)", total=bit_budget_total)
S_ACE = Metric("s_ace", "minimize", "Σ_l MACs_l·B_w,l·Σ_t B_s,l,t (dense)", "S-ACE (bit-ops)", large=True,
               layer_term=s_ace_term, integral=True)
ENERGY_PJ = Metric("energy_pj", "minimize", "dense energy estimate per inference, pJ", "energy (pJ, estimate)", large=True,
                   layer_term=energy_term)
SIZE_BITS = Metric("size_bits", "minimize", "stored weight bits", "model size (bits)", large=True, layer_term=size_term, integral=True)
STATE_BITS = Metric("state_bits", "minimize", "stored membrane bits, Σ_l neurons_l·U_l", "neuron state (bits)", large=True,
                    layer_term=state_term, integral=True)


def _usage(context: CostContext) -> Callable[[Sequence[LayerShape], Config], tuple[int, int]]:
    if context.chip_usage is None:
        raise ConfigError("cores_used and core_memory_bits need a chip; build the context with evaluators.cost.cost_context")
    return context.chip_usage


def cores_total(specs: Sequence[LayerShape], config: Config, context: CostContext) -> float:
    """Cores the config takes on the run's chip, placed first-fit (``evaluators.chips``; a
    config the chip cannot take counts one core more than the chip has)."""
    return float(_usage(context)(specs, config)[0])


def core_memory_total(specs: Sequence[LayerShape], config: Config, context: CostContext) -> float:
    """The most weight + neuron-state bits one core holds in that placement."""
    return float(_usage(context)(specs, config)[1])


FIRING_RATE = Metric("firing_rate", "minimize", "mean fraction of non-zero spikes", "firing rate (spikes per neuron per step)",
                     needs_data=True, worst=1.0)
EFFECTIVE_RESOLUTION = Metric("effective_resolution", "minimize", "stored weight bits per weight", "effective resolution (bits per weight)",
                              layer_term=size_term, per=weight_count, integral=True)
S_ACE_ACTIVE = Metric("s_ace_active", "minimize", "S-ACE with each layer scaled by its measured spike rate", "S-ACE, event-driven (bit-ops)",
                      needs_data=True, large=True, bounded_by=S_ACE.name)
ENERGY_PJ_ACTIVE = Metric("energy_pj_active", "minimize", "event-driven energy estimate per inference, pJ",
                          "energy, event-driven (pJ, estimate)", needs_data=True, large=True, bounded_by=ENERGY_PJ.name)

#: Every metric, by name, in declaration order (the order of record files' columns).
_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to the vocabulary (a one-line :class:`ConfigError` if its name is taken
    or a ``bounded_by`` names no cost metric); returns it. Everything that lists metrics —
    evaluators, budgets, strategies, the integer program, plots, reports — sees it."""
    if metric.name in _REGISTRY:
        raise ConfigError(f"metric {metric.name!r} is already declared; choose another name")
    if metric.bounded_by and (metric.bounded_by not in _REGISTRY or _REGISTRY[metric.bounded_by].needs_data):
        raise ConfigError(f"metric {metric.name}: bounded_by={metric.bounded_by!r} is not a declared cost metric")
    _REGISTRY[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a metric added by :func:`register_metric` (a built-in one cannot be removed)."""
    if name in _BUILT_IN:
        raise ConfigError(f"metric {name!r} is built in; it cannot be removed")
    _REGISTRY.pop(name, None)


CORES_USED = Metric("cores_used", "minimize", "cores of the chip (--chip; default the generic ideal one) the config takes, first-fit",
                    "chip cores used", total=cores_total)
CORE_MEMORY_BITS = Metric("core_memory_bits", "minimize", "most weight + neuron-state bits on one chip core", "largest core memory (bits)",
                          large=True, total=core_memory_total)
for _metric in (ACCURACY, TEST_ACCURACY, BIT_BUDGET, S_ACE, ENERGY_PJ, SIZE_BITS, STATE_BITS, FIRING_RATE, EFFECTIVE_RESOLUTION, S_ACE_ACTIVE,
                ENERGY_PJ_ACTIVE, CORES_USED, CORE_MEMORY_BITS):
    register_metric(_metric)
_BUILT_IN = frozenset(_REGISTRY)


def metric_table() -> tuple[Metric, ...]:
    """Every declared metric, in declaration order."""
    return tuple(_REGISTRY.values())


def get_metric(name: str) -> Metric:
    """The declaration of ``name`` (reported ones included); unknown: a one-line :class:`BudgetError`."""
    if name not in _REGISTRY:
        raise BudgetError(f"unknown metric {name!r}; use one of {', '.join(METRICS)}")
    return _REGISTRY[name]


class _Names(Sequence[str]):
    """A live tuple of the declared metric names that pass ``keep`` (it follows
    :func:`register_metric`); compares equal to a tuple of the same names."""

    def __init__(self, keep: Callable[[Metric], bool]) -> None:
        self._keep = keep

    def _names(self) -> tuple[str, ...]:
        return tuple(m.name for m in _REGISTRY.values() if self._keep(m))

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's signature
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __eq__(self, other: object) -> bool:
        return self._names() == (tuple(other) if isinstance(other, (tuple, list, _Names)) else other)

    def __hash__(self) -> int:
        return hash(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


class _Directions(Mapping[str, str]):
    """A live mapping name → direction of the declared metrics that pass ``keep``."""

    def __init__(self, names: _Names) -> None:
        self._names = names

    def __getitem__(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(name)
        return _REGISTRY[name].direction

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


#: metric name → direction (``"maximize"`` / ``"minimize"``) of every objective or budget metric.
METRICS: Mapping[str, str] = _Directions(_Names(lambda m: not m.reported))
#: Data-free metrics: computed from the config and layer shapes alone, so they can be budgeted
#: exactly before any training (integer program, supernet fit step, reachability checks).
COST_METRICS: Sequence[str] = _Names(lambda m: not m.needs_data)
#: Metrics that need a trained model and data.
DATA_METRICS: Sequence[str] = _Names(lambda m: m.needs_data and not m.reported)
DEFAULT_OBJECTIVES: tuple[str, ...] = (ACCURACY.name, BIT_BUDGET.name, S_ACE.name)
#: Report-only metrics: never an objective or a budget.
REPORTED_METRICS: Sequence[str] = _Names(lambda m: m.reported)
#: Every metric a trial record may carry, name → direction, in declaration order (each
#: reported metric right after the metric it reports on the test split).
RECORD_METRICS: Mapping[str, str] = _Directions(_Names(lambda m: True))


def cost_metric_table() -> tuple[Metric, ...]:
    """The declared data-free metrics."""
    return tuple(m for m in _REGISTRY.values() if not m.needs_data)


def metric_label(name: str) -> str:
    """The axis label of ``name`` (the name itself for a key that is not a metric)."""
    return _REGISTRY[name].label if name in _REGISTRY else name


def is_large(name: str) -> bool:
    """Whether ``name``'s values span orders of magnitude (log axes, scientific notation)."""
    return name in _REGISTRY and _REGISTRY[name].large


def is_percent(name: str) -> bool:
    """Whether ``name`` is a fraction 0–1 shown in percent (the accuracies)."""
    return name in _REGISTRY and _REGISTRY[name].percent


def worst_values(costs: Mapping[str, float]) -> dict[str, float]:
    """The worst value of every data metric, given the worst ``costs`` of the cost metrics:
    its declared ``worst``, or the worst value of the cost metric that bounds it."""
    out = {}
    for m in _REGISTRY.values():
        if m.needs_data and not m.reported:
            bound = costs.get(m.bounded_by, math.nan) if m.bounded_by else m.worst
            if bound is not None and not math.isnan(bound):
                out[m.name] = float(bound)
    return out


SENSITIVITY_TABLE: tuple[SensitivityMetric, ...] = (
    SensitivityMetric("hessian", True, "ratio", "Hutchinson trace of the layer's Hessian; HAWQ Ω per choice"),
    SensitivityMetric("output", True, "ratio", "output error with only this layer quantized to the choice"),
    SensitivityMetric("kurtosis", False, "difference", "Pearson kurtosis of the layer's weights"),
)

#: Every sensitivity metric (SensiBoost/KurtBoost, sensitivity-guided starts).
SENSITIVITY_METRICS: tuple[str, ...] = tuple(m.name for m in SENSITIVITY_TABLE)
#: Sensitivity metrics with a value per (layer, choice): what an integer program minimises.
ALLOCATION_METRICS: tuple[str, ...] = tuple(m.name for m in SENSITIVITY_TABLE if m.per_choice)
#: The network a Hessian trace is taken on (``measure_sensitivity(network=...)``, the strategies'
#: ``--hessian-network``): the pretrained full-precision one, or the same weights quantized at
#: the space's largest config over its time steps (Lui & Neftci).
HESSIAN_NETWORKS: tuple[str, ...] = ("full", "quantized")
#: SensiBoost/KurtBoost jump kind of each sensitivity metric.
JUMP_KIND: dict[str, str] = {m.name: m.jump for m in SENSITIVITY_TABLE}


def direction(metric: str) -> str:
    """``"maximize"`` or ``"minimize"`` for an objective or budget metric; a report-only or
    unknown name is a one-line :class:`BudgetError`."""
    declared = get_metric(metric)
    if declared.reported:
        raise BudgetError(f"{metric} is read once, to report; objectives and budgets use accuracy (validation accuracy)")
    return declared.direction


def check_sensitivity_metric(metric: str, allowed: tuple[str, ...] = SENSITIVITY_METRICS, *, what: str = "sensitivity metric") -> str:
    """``metric`` if it is one of ``allowed``; else a one-line :class:`ConfigError`."""
    if metric not in allowed:
        raise ConfigError(f"{what} {metric!r} is unknown; use one of {', '.join(allowed)}")
    return metric
