"""The supernet of the differentiable search: learnable W, S, T per layer (Yao et al.) and the
Gumbel-softmax choice of (scheme, W) per layer (SpikeHQ / EdMIPS).

:class:`Supernet` turns the existing quantizers of a configured :class:`SpikingNetwork` into
learnable ones (no second copy of any quantizer): per decision of a :class:`SearchSpace`

* B̂_w — :meth:`models.quantizers.WeightQuantizer.learn_bits` (or, with ``gumbel=True``, a
  :class:`MixedWeightQuantizer` over the layer's (scheme, W) options),
* B̂_s,t per time step and T̂ — :meth:`models.neurons.RefinedNeuron.learn`,

bounded by the smallest and largest option of the layer. Tied layers share one parameter
object; pinned layers stay at their pin. It also computes the averages W̄, S̄, T̄ of the bit
budget with straight-through rounding (for the budget loss) and snaps the learned values to
the allowed options.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import LayerSpec, SpikingNetwork
from spikebits.models.neurons import RefinedNeuron
from spikebits.models.quantizers import init_weight_step, quantize_weight, round_bits
from spikebits.space import BitTargets, Config, LayerChoice, SearchSpace, nearest_option

#: Seed-paper coefficients of the budget loss: (λ_w, λ_s, λ_T).
DEFAULT_LAMBDAS: tuple[float, float, float] = (0.04, 0.04, 0.01)


def ste_round(x: Tensor, low: float, high: float) -> Tensor:
    """round(clip(x, low, high)) forward, identity gradient (straight through)."""
    return x + (torch.round(x.detach().clamp(low, high)) - x.detach())


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
    config; every unpinned decision whose options span more than one value becomes learnable,
    starting from its configured value. ``gumbel=True`` replaces each decision's weight
    quantizer by a :class:`MixedWeightQuantizer` over its (scheme, W) options instead of a
    learnable B̂_w. ``specs`` (:func:`models.layer_specs`) give N_w and N_a for the averages.
    """

    def __init__(
        self,
        model: SpikingNetwork,
        space: SearchSpace,
        specs: Sequence[LayerSpec],
        *,
        gumbel: bool = False,
        renewal_grid: int = 50,
    ) -> None:
        self.model = model
        self.space = space
        self.gumbel = gumbel
        self.specs = {s.name: s for s in specs}
        self.layers: dict[str, SpikingLayer] = model.spiking_layers()
        self.arch_params: list[nn.Parameter] = []
        self.ranges: dict[str, dict[str, tuple[int, int]]] = {}
        for rep in space.decisions:
            options = space.layers[rep]
            group = [self.layers[n] for n in space.group_of(rep)]
            ranges = {
                "w_bits": (min(options.w_bits), max(options.w_bits)),
                "s_bits": (min(options.s_bits), max(options.s_bits)),
                "timesteps": (min(options.timesteps), max(options.timesteps)),
            }
            self.ranges[rep] = ranges
            if gumbel:
                candidates = [(scheme, bits) for scheme in options.schemes for bits in options.w_bits]
                logits = nn.Parameter(torch.zeros(len(candidates), device=group[0].synapse.weight.device))
                self.arch_params.append(logits)
                for layer in group:
                    layer.weight_quantizer = MixedWeightQuantizer(candidates, logits).to(layer.synapse.weight.device)
            elif ranges["w_bits"][0] < ranges["w_bits"][1]:
                shared = None
                for layer in group:
                    shared = layer.weight_quantizer.learn_bits(*ranges["w_bits"], shared if shared is not None else layer.weight_quantizer.bits)
                self.arch_params.append(shared)
            learn_s = isinstance(group[0].neuron, RefinedNeuron) and ranges["s_bits"][0] < ranges["s_bits"][1]
            learn_t = ranges["timesteps"][0] < ranges["timesteps"][1]
            if learn_s or learn_t:
                bits_p = steps_p = None
                for layer in group:
                    bits_p, steps_p = layer.neuron.learn(
                        ranges["s_bits"] if learn_s else None,
                        ranges["timesteps"] if learn_t else None,
                        bits_init=bits_p,
                        timesteps_init=steps_p,
                    )
                self.arch_params.extend(p for p in (bits_p, steps_p) if p is not None)
        device = next(model.parameters()).device
        for p in self.arch_params:
            p.data = p.data.to(device)
        for layer in self.layers.values():
            layer.weight_quantizer.renewal_grid = renewal_grid
            if hasattr(layer.neuron, "renewal_grid"):
                layer.neuron.renewal_grid = renewal_grid

    # ------------------------------------------------------------------ parameters
    def model_parameters(self) -> list[nn.Parameter]:
        """Weights, BatchNorm and step sizes: everything but the bit parameters."""
        arch = {id(p) for p in self.arch_params}
        return [p for p in self.model.parameters() if p.requires_grad and id(p) not in arch]

    def clamp_(self) -> None:
        """Keep every B̂ and T̂ within half a step of its range (so round(clip(·)) and the
        straight-through gradient stay meaningful); θ is left free."""
        with torch.no_grad():
            for rep in self.space.decisions:
                layer, ranges = self.layers[rep], self.ranges[rep]
                for param, key in (
                    (getattr(layer.weight_quantizer, "bits_param", None), "w_bits"),
                    (getattr(layer.neuron, "bits_param", None), "s_bits"),
                    (getattr(layer.neuron, "timesteps_param", None), "timesteps"),
                ):
                    if param is not None:
                        lo, hi = ranges[key]
                        param.clamp_(lo - 0.49, hi + 0.49)

    def set_renewal(self, *, weights: bool, spikes: bool) -> None:
        """Switch step-size renewal on or off for weight and spike quantizers."""
        for layer in self.layers.values():
            layer.weight_quantizer.renew = weights
            if isinstance(layer.neuron, RefinedNeuron):
                layer.neuron.renew = spikes

    def set_temperature(self, tau: float) -> None:
        for layer in self.layers.values():
            if isinstance(layer.weight_quantizer, MixedWeightQuantizer):
                layer.weight_quantizer.temperature = tau

    def renewals(self) -> dict[str, int]:
        """How many step-size renewals happened so far, for weights and for spikes."""
        w = sum(getattr(layer.weight_quantizer, "renewals", 0) for layer in self.layers.values())
        s = sum(getattr(layer.neuron, "renewals", 0) for layer in self.layers.values())
        return {"weights": w, "spikes": s}

    # ------------------------------------------------------------------ per-layer values
    def _w_value(self, name: str) -> Tensor:
        q = self.layers[name].weight_quantizer
        if isinstance(q, MixedWeightQuantizer):
            return q.expected_bits()
        if q.bits_param is not None:
            return ste_round(q.bits_param, *q.bit_range)
        return torch.tensor(float(q.bits))

    def _t_value(self, name: str) -> Tensor:
        neuron = self.layers[name].neuron
        if getattr(neuron, "timesteps_param", None) is not None:
            return ste_round(neuron.timesteps_param, *neuron.timestep_range)
        return torch.tensor(float(neuron.timesteps))

    def _timesteps(self, name: str) -> int:
        neuron = self.layers[name].neuron
        if getattr(neuron, "timesteps_param", None) is not None:
            return round_bits(neuron.timesteps_param, *neuron.timestep_range)
        return int(neuron.timesteps)

    def _s_value(self, name: str) -> Tensor:
        """mean_t B_s,t over the T steps the neuron runs."""
        neuron = self.layers[name].neuron
        if getattr(neuron, "bits_param", None) is not None:
            t = self._timesteps(name)
            return ste_round(neuron.bits_param[:t], *neuron.bit_range).mean()
        return torch.tensor(float(neuron.spike_bits))

    def averages(self, layers: Iterable[str] | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(W̄, S̄, T̄) over the unpinned layers, as in the bit budget, with straight-through
        rounding so the budget loss reaches B̂ and T̂ (W̄ weighted by N_w, S̄ and T̄ by N_a)."""
        names = list(layers) if layers is not None else self.space.free_layers
        n_w = sum(self.specs[n].n_weights for n in names)
        n_a = sum(self.specs[n].n_inputs for n in names)
        device = next(self.model.parameters()).device
        w = sum(self._w_value(n).to(device) * (self.specs[n].n_weights / n_w) for n in names)
        s = sum(self._s_value(n).to(device) * (self.specs[n].n_inputs / n_a) for n in names)
        t = sum(self._t_value(n).to(device) * (self.specs[n].n_inputs / n_a) for n in names)
        return w, s, t  # type: ignore[return-value]

    def budget_loss(self, targets: BitTargets, lambdas: Sequence[float] = DEFAULT_LAMBDAS) -> tuple[Tensor, tuple[float, float, float]]:
        """λ_w|W̄ − W_target| + λ_s|S̄ − S_target| + λ_T|T̄ − T_target| and the averages."""
        w, s, t = self.averages()
        lw, ls, lt = lambdas
        loss = lw * (w - targets.w_bits).abs() + ls * (s - targets.s_bits).abs() + lt * (t - targets.timesteps).abs()
        return loss, (float(w.detach()), float(s.detach()), float(t.detach()))

    def learned(self) -> dict[str, dict]:
        """Per decision: the unrounded learned values (JSON-able) — B̂_w, B̂_s,t of the steps
        in use, T̂ — or the candidate probabilities of a Gumbel choice."""
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
            t_param = getattr(neuron, "timesteps_param", None)
            entry["timesteps"] = float(t_param.detach()) if t_param is not None else neuron.timesteps
            out[rep] = entry
        return out

    def rounded(self) -> dict[str, dict]:
        """Per decision: the integers the supernet runs with now (S as the mean over steps)."""
        out = {}
        for rep in self.space.decisions:
            w = float(self._w_value(rep).detach()) if not isinstance(self.layers[rep].weight_quantizer, MixedWeightQuantizer) else self.layers[rep].weight_quantizer.bits
            out[rep] = {
                "w_bits": int(round(w)),
                "s_bits": float(self._s_value(rep).detach()),
                "timesteps": self._timesteps(rep),
                "scheme": self.layers[rep].weight_quantizer.scheme,
            }
        return out

    def snap(self, values: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
        """The learned values snapped to each layer's allowed options (nearest option, ties to
        the smaller one); S is the mean of the per-step bits. Pinned layers keep their pin.

        ``values`` (per decision ``w_bits``, ``s_bits``, ``timesteps``, ``scheme``) replaces
        :meth:`rounded`, e.g. the rounded values averaged over the last epoch."""
        choices = {}
        for rep, values in (values or self.rounded()).items():
            options = self.space.layers[rep]
            scheme = values["scheme"] if values["scheme"] in options.schemes else options.schemes[0]
            choices[rep] = LayerChoice(
                nearest_option(values["w_bits"], options.w_bits),
                nearest_option(values["s_bits"], options.s_bits),
                nearest_option(values["timesteps"], options.timesteps),
                scheme,
            )
        return self.space.expand(choices)

