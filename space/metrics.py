"""The metric vocabulary: every metric is declared once, here, with its direction and whether
it needs data; every list of metric names in the code is derived from these declarations.

Two kinds:

* **Trial metrics** (:data:`METRIC_TABLE`): what an evaluator reports for a config and what
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

from dataclasses import dataclass

from spikebits.space.errors import BudgetError, ConfigError


@dataclass(frozen=True)
class Metric:
    """One trial metric: ``direction`` is ``"maximize"`` or ``"minimize"``; ``needs_data``
    says whether computing it needs a trained model and data (else it is a cost metric)."""

    name: str
    direction: str
    needs_data: bool
    description: str


@dataclass(frozen=True)
class SensitivityMetric:
    """One sensitivity metric: ``per_choice`` — a value for every (layer, choice) rather than
    one per layer; ``jump`` — how SensiBoost/KurtBoost compare consecutive layers
    (``"ratio"`` m_l/m_{l−1} or ``"difference"`` m_l − m_{l−1})."""

    name: str
    per_choice: bool
    jump: str
    description: str


METRIC_TABLE: tuple[Metric, ...] = (
    Metric("accuracy", "maximize", True, "validation accuracy after fine-tuning, fraction 0-1"),
    Metric("bit_budget", "minimize", False, "W̄·S̄·T̄ over the unpinned layers"),
    Metric("s_ace", "minimize", False, "Σ_l MACs_l·B_w,l·Σ_t B_s,l,t (dense)"),
    Metric("energy_pj", "minimize", False, "dense energy estimate per inference, pJ"),
    Metric("size_bits", "minimize", False, "stored weight bits"),
    Metric("firing_rate", "minimize", True, "mean fraction of non-zero spikes"),
    Metric("effective_resolution", "minimize", False, "stored weight bits per weight"),
    Metric("s_ace_active", "minimize", True, "S-ACE with each layer scaled by its measured spike rate"),
    Metric("energy_pj_active", "minimize", True, "event-driven energy estimate per inference, pJ"),
)

#: Metrics a trial records to report and that nothing may decide on: the test split is read
#: once, to report (strategies, snapping, early stopping use training and validation data).
REPORTED_TABLE: tuple[Metric, ...] = (
    Metric("test_accuracy", "maximize", True, "test accuracy of the same fine-tuned model, reported only"),
)

SENSITIVITY_TABLE: tuple[SensitivityMetric, ...] = (
    SensitivityMetric("hessian", True, "ratio", "Hutchinson trace of the layer's Hessian; HAWQ Ω per choice"),
    SensitivityMetric("output", True, "ratio", "output error with only this layer quantized to the choice"),
    SensitivityMetric("kurtosis", False, "difference", "Pearson kurtosis of the layer's weights"),
)

#: metric name → direction (``"maximize"`` / ``"minimize"``), in declaration order.
METRICS: dict[str, str] = {m.name: m.direction for m in METRIC_TABLE}
#: Data-free metrics: computed from the config and layer shapes alone, so they can be budgeted
#: exactly before any training (integer program, supernet fit step, reachability checks).
COST_METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if not m.needs_data)
#: Metrics that need a trained model and data.
DATA_METRICS: tuple[str, ...] = tuple(m.name for m in METRIC_TABLE if m.needs_data)
DEFAULT_OBJECTIVES: tuple[str, ...] = ("accuracy", "bit_budget", "s_ace")
#: Report-only metrics (:data:`REPORTED_TABLE`): never an objective or a budget.
REPORTED_METRICS: tuple[str, ...] = tuple(m.name for m in REPORTED_TABLE)
#: Every metric a trial record may carry, name → direction: each reported metric right after
#: the metric it reports on the test split (``accuracy``, ``test_accuracy``, ``bit_budget``, …).
RECORD_METRICS: dict[str, str] = {"accuracy": "maximize", "test_accuracy": "maximize", **METRICS}

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
    if metric in REPORTED_METRICS:
        raise BudgetError(f"{metric} is read once, to report; objectives and budgets use accuracy (validation accuracy)")
    if metric not in METRICS:
        raise BudgetError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return METRICS[metric]


def check_sensitivity_metric(metric: str, allowed: tuple[str, ...] = SENSITIVITY_METRICS, *, what: str = "sensitivity metric") -> str:
    """``metric`` if it is one of ``allowed``; else a one-line :class:`ConfigError`."""
    if metric not in allowed:
        raise ConfigError(f"{what} {metric!r} is unknown; use one of {', '.join(allowed)}")
    return metric
