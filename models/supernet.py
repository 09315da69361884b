"""The supernet of the differentiable search: learnable W, S, T per layer (Yao et al.) and the
Gumbel-softmax choice of (scheme, W) per layer (SpikeHQ / EdMIPS).

:class:`Supernet` turns the existing quantizers of a configured :class:`SpikingNetwork` into
learnable ones (no second copy of any quantizer): per decision of a :class:`SearchSpace`

* B̂_w — :meth:`models.quantizers.WeightQuantizer.learn_bits` (or, with ``gumbel=True``, a
  :class:`MixedWeightQuantizer` over the layer's (scheme, W) options),
* B̂_s,t per time step and T̂ — :meth:`models.neurons.Neuron.learn`,
* Û, the membrane width U, where the layer searches it (:attr:`space.LayerOptions.u_bits`) —
  :meth:`models.neurons.Neuron.learn_membrane`,

each starting from the layer's configured value and bounded as in the seed paper: B̂ in
[1, B_init + 2], T̂ in [1, T_init + 1], further limited to the layer's smallest and largest
option (Û: in [smallest, largest] U option, from the configured U, by default the largest).
B̂, T̂ and Û stand for the nearest of the layer's options within that range (round(·)
when the options are every integer there), so training runs only at values the final snap
can choose. Tied layers share one
parameter object; pinned layers stay at their pin. It also computes the averages W̄, S̄, T̄ of
the bit budget and the membrane average Ū — exactly, with straight-through gradients (for the
budget loss) — snaps the learned values to the allowed options and fixes the network at the
snapped config. A space that searches no U makes no Û and computes what it did before U existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import torch
from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import LayerSpec, SpikingNetwork
from spikebits.models.neurons import Neuron, RefinedNeuron
from spikebits.models.quantizers import WeightQuantizer, held_bits, init_weight_step, quantize_weight, snap_to_options
from spikebits.space import BitTargets, Config, LayerChoice, LayerOptions, SearchSpace, nearest_option

#: Seed-paper coefficients of the budget loss: (λ_w, λ_s, λ_T).
DEFAULT_LAMBDAS: tuple[float, float, float] = (0.04, 0.04, 0.01)
#: λ_U of the membrane term λ_U|Ū − U_target| when the coefficients give only three: like λ_T,
#: a cost the cross-entropy pushes back on only weakly (Û's gradient comes from the saturated
#: membranes alone).
DEFAULT_MEMBRANE_LAMBDA = 0.01


def ste_round(x: Tensor, low: float, high: float, options: tuple[int, ...] | None = None) -> Tensor:
    """round(clip(x, low, high)) forward — with ``options``, the nearest of them
    (:func:`models.quantizers.snap_to_options`) — and an identity gradient (straight through)."""
    clipped = x.detach().clamp(low, high)
    rounded = torch.round(clipped) if options is None else snap_to_options(clipped, options)
    return x + (rounded - x.detach())


def exact_value(path: Tensor, value: Fraction | float) -> Tensor:
    """A float64 tensor whose value is ``value`` correctly rounded and whose gradient is that of
    ``path``: value + (path − stopgrad(path)).

    The averages of the budget loss are sums of per-layer fractions; summed in float32 they
    miss an integer target by an ulp or so (T̄ = 1 − 6·10⁻⁸ with every layer at T = 1), and the
    gradient of λ|T̄ − 1| is then −λ·share instead of 0. Computed from the rounded integers as
    a :class:`fractions.Fraction`, the value equals the target exactly when the rounded
    config meets it, so |·|'s gradient there is exactly 0.
    """
    path = path.to(torch.float64)
    return torch.tensor(float(value), dtype=torch.float64, device=path.device) + (path - path.detach())


def _start(layer: SpikingLayer, options: LayerOptions) -> dict[str, int]:
    """The configured W, S and T of ``layer``, where a decision's learning starts (S: the
    smallest option when the neuron has no bit width). U has no upper limit above its start."""
    neuron = layer.neuron
    return {
        "w_bits": layer.weight_quantizer.bits,
        "s_bits": getattr(neuron, "bits", None) or min(options.s_bits),
        "timesteps": neuron.timesteps,
    }


def _decision_ranges(
    options: LayerOptions, start: Mapping[str, int], above: Mapping[str, int | None]
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, ...] | None]]:
    """Per key (``w_bits``, ``s_bits``, ``timesteps``, and ``u_bits`` where the layer searches
    U): the range of one decision and the options within it.

    The range is [smallest option, min(largest option, start + above)] (``above`` None or
    absent, as for U: up to the largest option), narrowed to the first and last option inside
    it; B̂, T̂ or Û stands for the nearest of those options (None when every integer in the
    range is one).
    """
    ranges: dict[str, tuple[int, int]] = {}
    allowed: dict[str, tuple[int, ...] | None] = {}
    for key in ("w_bits", "s_bits", "timesteps") + (("u_bits",) if options.searches_membrane else ()):
        lo, hi = min(getattr(options, key)), max(getattr(options, key))
        if above.get(key) is not None:
            hi = max(lo, min(hi, int(start[key]) + above[key]))
        values = tuple(sorted(o for o in getattr(options, key) if lo <= o <= hi))
        ranges[key] = (values[0], values[-1])
        allowed[key] = None if values == tuple(range(values[0], values[-1] + 1)) else values
    return ranges, allowed


class MixedWeightQuantizer(nn.Module):
    """Gumbel-softmax mixture of weight quantizers (SpikeHQ, EdMIPS style):

        m = softmax((θ + g)/τ),   Ŵ = Σ_c m_c·Q_c(W)

    over candidates c = (scheme, bits), with Gumbel noise g and temperature τ; each candidate
    has its own step size α_c (initialised like :class:`WeightQuantizer`) and Q_c is
    :func:`models.quantizers.quantize_weight`. In eval mode the argmax candidate alone is used.
    θ may be shared by tied layers. ``last_weights`` keeps the m of the last forward for the
    expected-cost penalty.
    """

    def __init__(self, candidates: Sequence[tuple[str, int]], logits: nn.Parameter) -> None:
        super().__init__()
        if len(candidates) != logits.numel():
            raise ValueError("one logit per candidate")
        self.candidates = tuple((str(s), int(b)) for s, b in candidates)
        self.logits = logits
        self.alphas = nn.Parameter(torch.ones(len(self.candidates)))
        self.register_buffer("initialized", torch.tensor(False))
        self.temperature = 5.0
        self.last_weights: Tensor | None = None

    def probabilities(self) -> Tensor:
        """softmax(θ) (no noise, τ = 1): the strategy's belief in each candidate."""
        return torch.softmax(self.logits.detach(), dim=0)

    @property
    def best(self) -> tuple[str, int]:
        return self.candidates[int(torch.argmax(self.logits.detach()))]

    @property
    def scheme(self) -> str:
        return self.best[0]

    @property
    def bits(self) -> int:
        return self.best[1]

    def mixture(self) -> Tensor:
        """m = softmax((θ + g)/τ) with fresh Gumbel noise g = −log(−log U)."""
        u = torch.rand_like(self.logits).clamp_(1e-9, 1.0 - 1e-9)
        return torch.softmax((self.logits - torch.log(-torch.log(u))) / self.temperature, dim=0)

    def forward(self, w: Tensor) -> Tensor:
        if not bool(self.initialized):
            with torch.no_grad():
                for i, (scheme, bits) in enumerate(self.candidates):
                    self.alphas[i] = init_weight_step(w, bits, scheme)
                self.initialized.fill_(True)
        if not self.training:
            i = int(torch.argmax(self.logits.detach()))
            self.last_weights = torch.nn.functional.one_hot(torch.tensor(i), len(self.candidates)).to(w.dtype)
            scheme, bits = self.candidates[i]
            return quantize_weight(w, self.alphas[i], bits, scheme)
        m = self.mixture()
        self.last_weights = m
        out = m[0] * quantize_weight(w, self.alphas[0], self.candidates[0][1], self.candidates[0][0])
        for i in range(1, len(self.candidates)):
            scheme, bits = self.candidates[i]
            out = out + m[i] * quantize_weight(w, self.alphas[i], bits, scheme)
        return out

    def expected_bits(self) -> Tensor:
        """Σ_c m_c·bits_c with the m of the last forward (softmax(θ) before any)."""
        m = self.last_weights if self.last_weights is not None else torch.softmax(self.logits, dim=0)
        bits = torch.tensor([float(b) for _, b in self.candidates], dtype=m.dtype, device=m.device)
        return (m * bits).sum()

    def extra_repr(self) -> str:
        return f"candidates={len(self.candidates)}, temperature={self.temperature:g}"


class Supernet:
    """Learnable bit widths and time steps on ``model`` within the options of ``space``.

    ``model`` must already be configured (:func:`models.apply_config`) with the starting
    config; every unpinned decision whose range spans more than one value becomes learnable,
    starting from its configured value. The range of a decision is [smallest option,
    min(largest option, start + ``bits_above``)] for W and S and [smallest option,
    min(largest option, start + ``timesteps_above``)] for T (seed paper: 2 and 1; ``None``:
    up to the largest option), then narrowed to the first and last option inside it; B̂ and
    T̂ stand for the nearest option in the range (:attr:`allowed`), so the supernet trains
    only at values :meth:`snap` can return. Where a layer searches U
    (:attr:`space.LayerOptions.u_bits`), one Û per decision (shared by its tied layers and
    by a layer's output neuron) moves in [smallest, largest] U option, starting from the
    configured U (a start config without U: the largest option); a layer that does not
    search U keeps U None. ``gumbel=True`` replaces each decision's weight quantizer by a
    :class:`MixedWeightQuantizer` over its (scheme, W) options instead of a learnable B̂_w.
    ``specs`` (:func:`models.layer_specs`) give N_w and N_a for the averages.
    """

    def __init__(
        self,
        model: SpikingNetwork,
        space: SearchSpace,
        specs: Sequence[LayerSpec],
        *,
        gumbel: bool = False,
        renewal_grid: int = 50,
        bits_above: int | None = None,
        timesteps_above: int | None = None,
        hysteresis: float = 0.0,
    ) -> None:
        self.model = model
        self.space = space
        self.gumbel = gumbel
        self.specs = {s.name: s for s in specs}
        self.layers: dict[str, SpikingLayer] = model.spiking_layers()
        #: Every bit parameter: B̂_w (or θ), B̂_s and T̂ …
        self.arch_params: list[nn.Parameter] = []
        #: … of which the T̂ (the seed paper gives them their own learning rate) …
        self.timestep_params: list[nn.Parameter] = []
        #: … and the Û (membrane widths; they learn at the bits' rate).
        self.membrane_params: list[nn.Parameter] = []
        self.ranges: dict[str, dict[str, tuple[int, int]]] = {}
        self.allowed: dict[str, dict[str, tuple[int, ...] | None]] = {}
        above = {"w_bits": bits_above, "s_bits": bits_above, "timesteps": timesteps_above}
        for rep in space.decisions:
            options = space.layers[rep]
            group = [self.layers[n] for n in space.group_of(rep)]
            ranges, allowed = _decision_ranges(options, _start(group[0], options), above)
            self.ranges[rep] = ranges
            self.allowed[rep] = allowed
            self._learn_weights(group, options, ranges, allowed)
            self._learn_spikes(group, ranges, allowed)
            self._learn_membrane(group, ranges, allowed)
        device = next(model.parameters()).device
        for p in self.arch_params:
            p.data = p.data.to(device)
        self._set_step_options(renewal_grid, hysteresis)

    def _learn_weights(
        self,
        group: Sequence[SpikingLayer],
        options: LayerOptions,
        ranges: Mapping[str, tuple[int, int]],
        allowed: Mapping[str, tuple[int, ...] | None],
    ) -> None:
        """Make W of one decision (its tied ``group``) learnable: one Gumbel choice θ over the
        (scheme, W) options, or one shared B̂_w where its range spans more than one value."""
        if self.gumbel:
            candidates = [(scheme, bits) for scheme in options.schemes for bits in options.w_bits]
            logits = nn.Parameter(torch.zeros(len(candidates), device=group[0].synapse.weight.device))
            self.arch_params.append(logits)
            for layer in group:
                layer.weight_quantizer = MixedWeightQuantizer(candidates, logits).to(layer.synapse.weight.device)
        elif ranges["w_bits"][0] < ranges["w_bits"][1]:
            shared = None
            for layer in group:
                shared = layer.weight_quantizer.learn_bits(
                    *ranges["w_bits"], shared if shared is not None else layer.weight_quantizer.bits, allowed["w_bits"]
                )
            self.arch_params.append(shared)

    def _learn_spikes(
        self, group: Sequence[SpikingLayer], ranges: Mapping[str, tuple[int, int]], allowed: Mapping[str, tuple[int, ...] | None]
    ) -> None:
        """Make B_s,t (multi-bit spikes only) and T of one decision learnable where their
        ranges span more than one value, one shared B̂_s and T̂ for its tied ``group``."""
        learn_s = isinstance(group[0].neuron, RefinedNeuron) and ranges["s_bits"][0] < ranges["s_bits"][1]
        learn_t = ranges["timesteps"][0] < ranges["timesteps"][1]
        if not (learn_s or learn_t):
            return
        bits_p = steps_p = None
        for layer in group:
            bits_p, steps_p = layer.learn_spikes(
                ranges["s_bits"] if learn_s else None,
                ranges["timesteps"] if learn_t else None,
                bits_init=bits_p,
                timesteps_init=steps_p,
                bit_options=allowed["s_bits"],
                timestep_options=allowed["timesteps"],
            )
        self.arch_params.extend(p for p in (bits_p, steps_p) if p is not None)
        if steps_p is not None:
            self.timestep_params.append(steps_p)

    def _learn_membrane(
        self, group: Sequence[SpikingLayer], ranges: Mapping[str, tuple[int, int]], allowed: Mapping[str, tuple[int, ...] | None]
    ) -> None:
        """Make U of one decision learnable where it searches U over more than one option: one
        Û, shared by every neuron of its tied ``group`` (a layer's output neuron included),
        starting from the configured U. With one option, the group runs at it (where no U
        was configured)."""
        if "u_bits" not in ranges:
            return
        if ranges["u_bits"][0] >= ranges["u_bits"][1]:
            for layer in group:
                for neuron in layer.neurons():
                    if neuron.membrane_bits is None:
                        neuron.membrane_bits = ranges["u_bits"][0]
            return
        shared = None
        for layer in group:
            for neuron in layer.neurons():
                shared = neuron.learn_membrane(ranges["u_bits"], init=shared, options=allowed["u_bits"])
        self.arch_params.append(shared)
        self.membrane_params.append(shared)

    def _set_step_options(self, renewal_grid: int, hysteresis: float) -> None:
        """Give every quantizer and neuron the step-size renewal grid and the hysteresis."""
        for layer in self.layers.values():
            layer.weight_quantizer.renewal_grid = renewal_grid
            layer.weight_quantizer.hysteresis = hysteresis
            for neuron in layer.neurons():
                if isinstance(neuron, RefinedNeuron):
                    neuron.renewal_grid = renewal_grid
                if isinstance(neuron, Neuron):
                    neuron.hysteresis = hysteresis

    # ------------------------------------------------------------------ parameters
    def model_parameters(self) -> list[nn.Parameter]:
        """Weights, BatchNorm and step sizes: everything but the bit parameters."""
        arch = {id(p) for p in self.arch_params}
        return [p for p in self.model.parameters() if p.requires_grad and id(p) not in arch]

    def clamp_(self) -> None:
        """Keep every B̂, T̂ and Û within half a step of its range (so round(clip(·)) and the
        straight-through gradient stay meaningful); θ is left free."""
        with torch.no_grad():
            for rep in self.space.decisions:
                layer, ranges = self.layers[rep], self.ranges[rep]
                for param, key in (
                    (getattr(layer.weight_quantizer, "bits_param", None), "w_bits"),
                    (getattr(layer.neuron, "bits_param", None), "s_bits"),
                    (layer.neuron.timesteps_param, "timesteps"),
                    (layer.neuron.membrane_param, "u_bits"),
                ):
                    if param is not None:
                        lo, hi = ranges[key]
                        param.clamp_(lo - 0.49, hi + 0.49)

    def set_renewal(self, *, weights: bool, spikes: bool) -> None:
        """Switch step-size renewal on or off for weight and spike quantizers."""
        for layer in self.layers.values():
            layer.weight_quantizer.renew = weights
            for neuron in layer.neurons():
                if isinstance(neuron, RefinedNeuron):
                    neuron.renew = spikes

    def set_temperature(self, tau: float) -> None:
        for layer in self.layers.values():
            if isinstance(layer.weight_quantizer, MixedWeightQuantizer):
                layer.weight_quantizer.temperature = tau

    def renewals(self) -> dict[str, int]:
        """How many step-size renewals happened so far, for weights and for spikes."""
        w = sum(getattr(layer.weight_quantizer, "renewals", 0) for layer in self.layers.values())
        s = sum(getattr(neuron, "renewals", 0) for layer in self.layers.values() for neuron in layer.neurons())
        return {"weights": w, "spikes": s}

    # ------------------------------------------------------------------ per-layer values
    def _w_value(self, name: str) -> Tensor:
        q = self.layers[name].weight_quantizer
        if isinstance(q, MixedWeightQuantizer):
            return q.expected_bits()
        if q.bits_param is not None:
            return ste_round(q.bits_param, *q.bit_range, q.bit_options)
        return torch.tensor(float(q.bits))

    def _t_value(self, name: str) -> Tensor:
        neuron = self.layers[name].neuron
        if neuron.timesteps_param is not None:
            return ste_round(neuron.timesteps_param, *neuron.timestep_range, neuron.timestep_options)
        return torch.tensor(float(neuron.timesteps))

    def _timesteps(self, name: str) -> int:
        neuron = self.layers[name].neuron
        if neuron.timesteps_param is not None:
            return held_bits(
                neuron.timesteps_param, *neuron.timestep_range, neuron.timestep_options, neuron.timesteps, neuron.hysteresis
            )
        return int(neuron.timesteps)

    def _s_value(self, name: str) -> Tensor:
        """mean_t B_s,t over the T steps the neuron runs."""
        neuron = self.layers[name].neuron
        if getattr(neuron, "bits_param", None) is not None:
            t = self._timesteps(name)
            return ste_round(neuron.bits_param[:t], *neuron.bit_range, neuron.bit_options).mean()
        return torch.tensor(float(neuron.spike_bits))

    def _u_value(self, name: str) -> Tensor:
        """U of a layer that searches it: round(clip(Û)) straight through, or its fixed U."""
        neuron = self.layers[name].neuron
        if neuron.membrane_param is not None:
            return ste_round(neuron.membrane_param, *neuron.membrane_range, neuron.membrane_options)
        return torch.tensor(float(neuron.membrane_bits))

    def _u_int(self, name: str) -> int:
        """The U a layer that searches it runs at now (held with hysteresis, as B_s and T)."""
        neuron = self.layers[name].neuron
        if neuron.membrane_param is not None:
            return held_bits(
                neuron.membrane_param, *neuron.membrane_range, neuron.membrane_options, neuron.membrane_bits, neuron.hysteresis
            )
        return int(neuron.membrane_bits)

    def membrane_layers(self, layers: Iterable[str] | None = None) -> list[str]:
        """Those of ``layers`` (default: the unpinned ones) that search U."""
        names = list(layers) if layers is not None else self.space.free_layers
        return [n for n in names if n not in self.space.pinned and self.space.layers[n].searches_membrane]

    def _w_int(self, name: str) -> int:
        q = self.layers[name].weight_quantizer
        if getattr(q, "bits_param", None) is not None:
            return held_bits(q.bits_param, *q.bit_range, q.bit_options, q.bits, q.hysteresis)
        return int(q.bits)

    def _s_ints(self, name: str) -> list[int]:
        """B_s,t of the T steps the neuron runs (one value per step)."""
        neuron = self.layers[name].neuron
        t = self._timesteps(name)
        if getattr(neuron, "bits_param", None) is not None:
            return [
                held_bits(b, *neuron.bit_range, neuron.bit_options, neuron.step_bits[i], neuron.hysteresis)
                for i, b in enumerate(neuron.bits_param[:t])
            ]
        return [int(neuron.spike_bits)] * t

    def averages(self, layers: Iterable[str] | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(W̄, S̄, T̄) over the unpinned layers, as in the bit budget (W̄ weighted by N_w, S̄
        and T̄ by N_a), as float64 tensors whose values are exact — computed from the rounded
        integers with :class:`fractions.Fraction` (:func:`exact_value`) — and whose gradients
        reach B̂ and T̂ straight through the rounding. A Gumbel choice's W̄ is the expected
        bits (not an integer average), summed in float64."""
        names = list(layers) if layers is not None else self.space.free_layers
        n_w = sum(self.specs[n].n_weights for n in names)
        n_a = sum(self.specs[n].n_inputs for n in names)
        device = next(self.model.parameters()).device
        f64 = torch.float64

        w_path = sum(self._w_value(n).to(device, f64) * (self.specs[n].n_weights / n_w) for n in names)
        s_path = sum(self._s_value(n).to(device, f64) * (self.specs[n].n_inputs / n_a) for n in names)
        t_path = sum(self._t_value(n).to(device, f64) * (self.specs[n].n_inputs / n_a) for n in names)
        s_exact = sum((Fraction(sum(b), len(b)) * self.specs[n].n_inputs for n in names for b in [self._s_ints(n)]), Fraction(0)) / n_a
        t_exact = Fraction(sum(self._timesteps(n) * self.specs[n].n_inputs for n in names), n_a)
        if self.gumbel:
            w = w_path
        else:
            w = exact_value(w_path, Fraction(sum(self._w_int(n) * self.specs[n].n_weights for n in names), n_w))
        return w, exact_value(s_path, s_exact), exact_value(t_path, t_exact)  # type: ignore[arg-type]

    def membrane_average(self, layers: Iterable[str] | None = None) -> Tensor | None:
        """Ū = Σ U_l N_a,l / Σ N_a,l over those of ``layers`` (default: the unpinned ones) that
        search U (:func:`space.budget.membrane_average` of the rounded config), as a float64
        tensor whose value is exact (:func:`exact_value`) and whose gradient reaches each Û
        straight through the rounding; None when no layer searches U."""
        names = self.membrane_layers(layers)
        if not names:
            return None
        n_a = sum(self.specs[n].n_inputs for n in names)
        device = next(self.model.parameters()).device
        path = sum(self._u_value(n).to(device, torch.float64) * (self.specs[n].n_inputs / n_a) for n in names)
        return exact_value(path, Fraction(sum(self._u_int(n) * self.specs[n].n_inputs for n in names), n_a))  # type: ignore[arg-type]

    def budget_loss(self, targets: BitTargets, lambdas: Sequence[float] = DEFAULT_LAMBDAS) -> tuple[Tensor, tuple[float, ...]]:
        """λ_w|W̄ − W_target| + λ_s|S̄ − S_target| + λ_T|T̄ − T_target| (+ λ_U|Ū − U_target| where
        ``targets`` has a membrane target) and the averages (W̄, S̄, T̄), with Ū fourth where the
        space searches U. ``lambdas`` is (λ_w, λ_s, λ_T) or (λ_w, λ_s, λ_T, λ_U); λ_U defaults
        to :data:`DEFAULT_MEMBRANE_LAMBDA`. A membrane target on a space that searches no U is a
        ValueError."""
        w, s, t = self.averages()
        lw, ls, lt = lambdas[:3]
        loss = lw * (w - targets.w_bits).abs() + ls * (s - targets.s_bits).abs() + lt * (t - targets.timesteps).abs()
        values: tuple[float, ...] = (float(w.detach()), float(s.detach()), float(t.detach()))
        u = self.membrane_average()
        if u is None:
            if targets.u_bits is not None:
                raise ValueError(f"target {targets} has a membrane target but no layer searches U")
            return loss, values
        if targets.u_bits is not None:
            lu = lambdas[3] if len(lambdas) > 3 else DEFAULT_MEMBRANE_LAMBDA
            loss = loss + lu * (u - targets.u_bits).abs()
        return loss, values + (float(u.detach()),)

    def learned(self) -> dict[str, dict]:
        """Per decision: the unrounded learned values (JSON-able) — B̂_w, B̂_s,t of the steps
        in use, T̂, and Û where the layer searches U — or the candidate probabilities of a
        Gumbel choice."""
        out: dict[str, dict] = {}
        for rep in self.space.decisions:
            layer = self.layers[rep]
            q, neuron = layer.weight_quantizer, layer.neuron
            entry: dict = {}
            if isinstance(q, MixedWeightQuantizer):
                probs = q.probabilities().tolist()
                entry["w_candidates"] = {f"{s}{b}": round(p, 6) for (s, b), p in zip(q.candidates, probs)}
                entry["w_bits"] = q.bits
                entry["scheme"] = q.scheme
            else:
                entry["w_bits"] = float(q.bits_param.detach()) if q.bits_param is not None else q.bits
                entry["scheme"] = q.scheme
            t = self._timesteps(rep)
            bits_param = getattr(neuron, "bits_param", None)
            entry["s_bits"] = [float(b) for b in bits_param.detach()[:t]] if bits_param is not None else [neuron.spike_bits] * t
            t_param = neuron.timesteps_param
            entry["timesteps"] = float(t_param.detach()) if t_param is not None else neuron.timesteps
            if self.space.layers[rep].searches_membrane:
                u_param = neuron.membrane_param
                entry["u_bits"] = float(u_param.detach()) if u_param is not None else neuron.membrane_bits
            out[rep] = entry
        return out

    def rounded(self) -> dict[str, dict]:
        """Per decision: the integers the supernet runs with now (S as the mean over steps; U
        where the layer searches it)."""
        out = {}
        for rep in self.space.decisions:
            q = self.layers[rep].weight_quantizer
            s_bits = self._s_ints(rep)
            out[rep] = {
                "w_bits": q.bits if isinstance(q, MixedWeightQuantizer) else self._w_int(rep),
                "s_bits": sum(s_bits) / len(s_bits),
                "timesteps": self._timesteps(rep),
                "scheme": q.scheme,
            }
            if self.space.layers[rep].searches_membrane:
                out[rep]["u_bits"] = self._u_int(rep)
        return out

    def snap(self, values: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
        """The learned values snapped to each layer's allowed options within the decision's
        range (nearest option, ties to the smaller one); S is the mean of the per-step bits.
        Pinned layers keep their pin. A Gumbel choice of W is already an option. A layer that
        searches U gets the option nearest its U; one that does not keeps U None.

        ``values`` (per decision ``w_bits``, ``s_bits``, ``timesteps``, ``scheme``, and
        ``u_bits`` where searched: absent, the U the layer runs at now) replaces
        :meth:`rounded`, e.g. the rounded values averaged over the last epoch."""
        choices = {}
        for rep, values in (values or self.rounded()).items():
            options, ranges = self.space.layers[rep], self.ranges[rep]
            scheme = values["scheme"] if values["scheme"] in options.schemes else options.schemes[0]

            def near(key: str, value: Any) -> int:
                allowed = getattr(options, key)
                if not (key == "w_bits" and self.gumbel):
                    allowed = [o for o in allowed if ranges[key][0] <= o <= ranges[key][1]]
                return nearest_option(value, allowed)

            u = None
            if options.searches_membrane:
                u = near("u_bits", values["u_bits"] if values.get("u_bits") is not None else self._u_int(rep))
            choices[rep] = LayerChoice(
                near("w_bits", values["w_bits"]), near("s_bits", values["s_bits"]), near("timesteps", values["timesteps"]), scheme, u
            )
        return self.space.expand(choices)

    @torch.no_grad()
    def fix(self, config: Config) -> None:
        """Run the network at ``config`` (a :meth:`snap` result) from now on: every B̂, T̂ and Û
        is set to the config's value (within its range, so no parameter changes shape) and
        every Gumbel choice to its candidate (θ one-hot). A bit width that changes here gets
        its step size re-picked (step-size renewal) on the next forward, since the learned
        step belongs to another width. Call :meth:`learned` before: it reads B̂, T̂ and θ."""
        self.set_renewal(weights=True, spikes=True)
        for rep in self.space.decisions:
            choice = config[rep]
            layer = self.layers[rep]
            q, neuron = layer.weight_quantizer, layer.neuron
            if isinstance(q, MixedWeightQuantizer):
                index = q.candidates.index((choice.scheme, choice.w_bits))
                q.logits.fill_(-1e4)
                q.logits[index] = 0.0
            elif getattr(q, "bits_param", None) is not None:
                q.bits_param.fill_(float(choice.w_bits))
            if neuron.timesteps_param is not None:
                neuron.timesteps_param.fill_(float(choice.timesteps))
            if getattr(neuron, "bits_param", None) is not None:
                neuron.bits_param.fill_(float(choice.s_bits))
            if neuron.membrane_param is not None and choice.u_bits is not None:
                neuron.membrane_param.fill_(float(choice.u_bits))

    @torch.no_grad()
    def release(self, config: Config) -> list[str]:
        """Turn the trained supernet into a plain network at ``config``, in place: every
        learnable B̂, T̂ and Û is dropped and each layer is configured as :func:`models.apply_config`
        would set it (U included) — a Gumbel choice becomes a :class:`WeightQuantizer` with its candidate's
        α, each neuron keeps γ_1 … γ_T of the T steps it runs — so that the model's state dict
        loads into a fresh model set to ``config`` and computes the same outputs.

        Call it after :meth:`fix` with ``config`` and at least one forward (e.g. the
        BatchNorm recomputation), which renews the step sizes of the bit widths :meth:`fix`
        changed. Returns the layers whose step sizes are still those of another width or
        scheme (a config :meth:`fix` could not reach, e.g. a scheme moved after training):
        they are initialised afresh on the next forward, so the caller recomputes BatchNorm.
        The supernet is unusable afterwards."""
        config = self.space.complete(config, strict=False)
        stale: list[str] = []
        for name, layer in self.layers.items():
            choice = config[name]
            q = layer.weight_quantizer
            if isinstance(q, MixedWeightQuantizer):
                plain = WeightQuantizer().to(q.alphas.device)
                plain.configure(choice.w_bits, choice.scheme)
                if (choice.scheme, choice.w_bits) in q.candidates and bool(q.initialized):
                    plain.alpha.fill_(float(q.alphas[q.candidates.index((choice.scheme, choice.w_bits))]))
                    plain.initialized.fill_(True)
                else:
                    stale.append(name)
                layer.weight_quantizer = plain
            elif (q.bits, q.scheme) != (choice.w_bits, choice.scheme):
                q.configure(choice.w_bits, choice.scheme)
                stale.append(name)
            else:
                q.bits_param = None
            for neuron in layer.neurons():
                learnable = getattr(neuron, "bits_param", None) is not None or neuron.timesteps_param is not None
                u = choice.u_bits
                if not isinstance(neuron, RefinedNeuron):  # binary spikes: only T (and U) can have been learned
                    if learnable or neuron.membrane_param is not None or neuron.membrane_bits != u:
                        neuron.configure(choice.s_bits, choice.timesteps, u)
                    continue
                t, s = choice.timesteps, choice.s_bits
                if not learnable:
                    if (neuron.bits, neuron.timesteps) != (s, t):
                        neuron.configure(s, t, u)
                        stale.append(name)
                    else:  # U has no step of its own (δ = γ·2^(−F)): γ stays valid
                        neuron.membrane_param = None
                        neuron.membrane_bits = u
                    continue
                runs = neuron.step_bits[:t] if neuron.bits_param is not None else [neuron.bits] * t
                trained = neuron.timesteps == t and runs == [s] * t and neuron.gamma.numel() >= t and bool(neuron.initialized)
                gamma = neuron.gamma.detach()[:t].clone()
                neuron.configure(s, t, u)  # drops B̂_s, T̂ and Û, sizes γ for t steps
                if trained:
                    neuron.gamma = nn.Parameter(gamma)
                    neuron.initialized.fill_(True)
                else:
                    stale.append(name)
                neuron.step_bits = []
            layer.choice = choice
        return sorted(set(stale))

