"""The sensitivity report: per-layer numbers measured by
:func:`evaluators.sensitivity.measure_sensitivity` (through :meth:`Evaluator.sensitivity`),
their JSON form (``to_dict``/``from_dict``, the schema of the on-disk cache) and the cost a
search reads from them (:meth:`SensitivityReport.cost`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from spikebits.space import ALLOCATION_METRICS, ConfigError, LayerChoice, SearchSpace

SENSITIVITY_SCHEMA = "spikebits.sensitivity/1"


def weight_key(scheme: str, w_bits: int) -> str:
    """Key of :attr:`LayerSensitivity.omega`: ``"uniform4"``, ``"pow23"``."""
    return f"{scheme}{w_bits}"


def spike_key(s_bits: int, timesteps: int, u_bits: int | None = None) -> str:
    """Key of :attr:`LayerSensitivity.activation_omega`: ``"S2T1"`` (an unquantized membrane),
    ``"S2T1U8"`` (a U-bit membrane), as :meth:`space.LayerChoice.short` writes them."""
    return f"S{s_bits}T{timesteps}" + ("" if u_bits is None else f"U{u_bits}")


@dataclass(frozen=True)
class LayerSensitivity:
    """Sensitivity numbers of one layer.

    ``trace`` = Tr(H_l) of the synapse weights; ``activation_trace`` = Tr(H_a,l) of the input
    current; ``omega[weight_key(scheme, W)]`` = Ω_w; ``activation_omega[spike_key(S, T, U)]`` =
    Ω_a; ``output_error[choice.short()]`` = output MSE (empty when not measured). U enters the
    keys only where the layer searches it (``"S2T1U8"``, ``"W4S2T1U8"``); without it the keys
    are those of a report measured before U existed.
    """

    name: str
    n_weights: int
    n_inputs: int
    trace: float
    activation_trace: float
    kurtosis: float
    omega: dict[str, float] = field(default_factory=dict)
    activation_omega: dict[str, float] = field(default_factory=dict)
    output_error: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerSensitivity:
        return cls(
            name=str(data["name"]),
            n_weights=int(data["n_weights"]),
            n_inputs=int(data["n_inputs"]),
            trace=float(data["trace"]),
            activation_trace=float(data["activation_trace"]),
            kurtosis=float(data["kurtosis"]),
            omega={str(k): float(v) for k, v in data.get("omega", {}).items()},
            activation_omega={str(k): float(v) for k, v in data.get("activation_omega", {}).items()},
            output_error={str(k): float(v) for k, v in data.get("output_error", {}).items()},
        )


@dataclass(frozen=True)
class SensitivityReport:
    """Per-layer sensitivities in network order, with the settings they were measured under.

    ``probes``: Hutchinson probes used for the weight traces; ``activation_probes``: for the
    activation traces.
    """

    layers: dict[str, LayerSensitivity]
    probes: int
    settings: dict[str, Any] = field(default_factory=dict)
    activation_probes: int = 0

    def cost(self, metric: str, layer: str, choice: LayerChoice) -> float:
        """Sensitivity cost of giving ``layer`` the ``choice``; ``metric`` is one of
        :data:`space.ALLOCATION_METRICS` (the per-choice sensitivity metrics).

        ``"hessian"``: Ω_w(scheme, W) + Ω_a(S, T, U) — U, the membrane bits, enters through the
        activation term, the error of the layer's input neuron at (S, T, U)
        (:func:`evaluators.sensitivity.activation_omega`); ``"output"``: the output MSE of the
        whole choice, U included."""
        if metric not in ALLOCATION_METRICS:
            raise ConfigError(f"unknown sensitivity metric {metric!r}; use one of: {', '.join(ALLOCATION_METRICS)}")
        if layer not in self.layers:
            raise ConfigError(f"the sensitivity report has no layer {layer!r}; layers are: {', '.join(self.layers)}")
        entry = self.layers[layer]
        try:
            if metric == "hessian":
                activation = entry.activation_omega[spike_key(choice.s_bits, choice.timesteps, choice.u_bits)]
                return entry.omega[weight_key(choice.scheme, choice.w_bits)] + activation
            return entry.output_error[choice.short()]
        except KeyError:
            what = "output errors" if metric == "output" else "Hessian sensitivities"
            raise ConfigError(
                f"layer {layer!r} has no {what} for {choice.short()}; measure the sensitivity again with that choice in the layer's options"
                + (" and output_error=True" if metric == "output" else "")
            ) from None

    def missing(self, space: SearchSpace, *, output_error: bool = True) -> str | None:
        """The first number a search of ``space`` reads that this report lacks, in words
        (None: it has them all): a layer, an Ω_w of a (scheme, W), an Ω_a of an (S, T, U), or,
        with ``output_error``, the output error of a choice (U included where searched)."""
        for name in space.names:
            entry = self.layers.get(name)
            if entry is None:
                return f"layer {name!r}"
            options = space.layers[name]
            needed = [("omega", entry.omega, weight_key(sc, w)) for sc in options.schemes for w in options.w_bits]
            needed += [
                ("activation_omega", entry.activation_omega, spike_key(s, t, u))
                for s in options.s_bits for t in options.timesteps for u in options.membrane_options
            ]
            if output_error:
                needed += [("output_error", entry.output_error, c.short()) for c in options.choices()]
            for field_name, values, key in needed:
                if key not in values:
                    return f"{field_name}[{key!r}] of layer {name!r}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SENSITIVITY_SCHEMA,
            "probes": self.probes,
            "activation_probes": self.activation_probes,
            "settings": self.settings,
            "layers": {n: s.to_dict() for n, s in self.layers.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivityReport:
        if not isinstance(data, Mapping) or data.get("schema", SENSITIVITY_SCHEMA) != SENSITIVITY_SCHEMA:
            raise ConfigError(f"not a sensitivity report; expected schema {SENSITIVITY_SCHEMA!r}")
        return cls(
            layers={str(n): LayerSensitivity.from_dict(s) for n, s in data["layers"].items()},
            probes=int(data["probes"]),
            settings=dict(data.get("settings", {})),
            activation_probes=int(data.get("activation_probes", 0)),
        )
