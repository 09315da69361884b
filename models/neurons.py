"""Spiking neurons. Each takes a constant input current and returns T spike maps.

Shapes: the input current is ``[B, ...]``; the output is ``[T, B, ...]``.

Every neuron is a :class:`Neuron`, whose docstring states the lifecycle they share.
Each neuron owns a firing module (``neuron.firing``, :mod:`models.hooked`): in eval mode,
while a module hook watches it, the neuron runs its T steps as T calls of it (the same
numbers), so the hook sees every step's spikes and membrane.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor, nn

from spikebits.models.hooked import Firing, LIFFiring, RefinedFiring, tag_levels
from spikebits.models.quantizers import (
    held_bits,
    init_spike_step,
    membrane_fire,
    quantize_membrane,
    quantize_unsigned,
    renewal_step,
    unsigned_levels,
)


#: An inclusive (lowest, highest) range of a learnable B_s or T; None: not learnable.
_Range = tuple[int, int] | None
#: The starting value of a learnable B̂_s or T̂, or an existing parameter to share (tied layers).
_Start = float | nn.Parameter | None
#: The values a learnable B_s or T may take when not every integer in its range (None: all).
_Options = tuple[int, ...] | None


def _shared_or_new(init: float | nn.Parameter, shape: tuple[int, ...]) -> nn.Parameter:
    """``init`` itself when it is a parameter (shared by tied layers), else a new one filled with it."""
    return init if isinstance(init, nn.Parameter) else nn.Parameter(torch.full(shape, float(init)))


class Neuron(nn.Module, ABC):
    """The contract of every spiking neuron: T spike maps of S bits from a constant input
    current (as spikingjelly's ``BaseNode`` writes charge → fire → reset once).

    Lifecycle, in the order a network drives it:

    1. :meth:`configure` ``(bits, timesteps)`` sets the spike bit width S (``None``: full
       precision; a binary neuron ignores it) and the number of time steps T, and drops any
       learnable B̂_s and T̂ (:meth:`models.SpikingLayer.configure` calls it).
    2. :meth:`learn` (optional: the supernet) makes T, and B_s,t of each step where spikes
       have more than one bit, learnable within ranges; it returns the parameters (B̂_s, T̂)
       for tied layers to share. While T̂ is learnable each forward first sets
       T = round(clip(T̂)) (:func:`models.quantizers.held_bits`, with ``hysteresis``).
    3. :meth:`forward` ``(x)``: the input current x ``[B, ...]`` is the same x_t at every step
       (temporal squeezing hands each layer the mean of the previous layer's output). From
       v_0 = s_0 = 0, each step t = 1 … T

           charge:        v_t = charge(v_{t−1}, x_t, s_{t−1})    (:meth:`charge`)
           fire:          s_t = f(v_t)

       where the reset by the last spike s_{t−1} is part of the charge (a soft reset
       subtracts it, a hard reset zeroes v); the output is the stack ``[T, B, ...]``.
       :meth:`_run` writes that loop once; a subclass may run it fused (the same numbers).
    4. Watched (:mod:`models.hooked`): in eval mode, while a module hook is registered on
       ``firing`` (the neuron's firing function of one step, f), the T steps run as T calls
       of it and the spikes come back tagged with their integer levels.

    :attr:`spike_bits` is the S of the spikes the neuron emits (None: full precision).
    Subclasses implement :attr:`spike_bits`, :meth:`charge` and :meth:`_fire_steps`, and
    override :meth:`_configure_bits` / :meth:`_learn_bits` when their spikes have a bit width.
    """

    def __init__(self, firing: Firing) -> None:
        super().__init__()
        self.register_parameter("timesteps_param", None)
        self.timesteps = 1
        self.timestep_range = (1, 1)
        #: The values T may take within its range when not every integer (None: all).
        self.timestep_options: tuple[int, ...] | None = None
        #: How far B̂_s,t and T̂ must pass a rounding threshold before B_s,t or T changes
        #: (:func:`models.quantizers.held_bits`).
        self.hysteresis = 0.0
        #: s_t = f(v_t) of one step, called once per step while watched (lifecycle, 4).
        self.firing = firing
        #: U, the bits of the stored membrane (``docs/membrane_bits.md``); None: unquantized.
        self.membrane_bits: int | None = None
        self.register_parameter("membrane_param", None)
        self.membrane_range = (2, 32)
        #: The values U may take within its range when not every integer (None: all).
        self.membrane_options: tuple[int, ...] | None = None

    @property
    @abstractmethod
    def spike_bits(self) -> int | None:
        """S, the bit width of the spikes (None: full precision)."""

    @abstractmethod
    def charge(self, v: Tensor, x: Tensor, s: Tensor) -> Tensor:
        """v_t from v_{t−1}, the input x_t and the last spikes s_{t−1} (reset included)."""

    @abstractmethod
    def _fire_steps(self, x: Tensor) -> Tensor:
        """The ``[T, B, ...]`` spikes of ``x`` at the current S and T (lifecycle, 3 and 4)."""

    def configure(self, bits: int | None, timesteps: int, membrane_bits: int | None = None) -> None:
        """Run at S = ``bits`` (None: full precision) for T = ``timesteps`` steps with a
        ``membrane_bits`` U-bit membrane (None: unquantized; a full-precision neuron ignores
        it); drops B̂_s, T̂ and Û."""
        if timesteps < 1:
            raise ValueError("timesteps must be >= 1")
        self._configure_bits(bits, timesteps)
        self.timesteps = timesteps
        self.timesteps_param = None
        self.membrane_bits = None if membrane_bits is None else int(membrane_bits)
        self.membrane_param = None

    def learn_membrane(
        self, membrane_range: tuple[int, int], *, init: float | nn.Parameter | None = None, options: tuple[int, ...] | None = None
    ) -> nn.Parameter:
        """Make U learnable within the inclusive ``membrane_range`` (only at ``options`` when
        given): each forward runs U = round(clip(Û)) (:func:`models.quantizers.held_bits`).
        ``init`` is a starting value or an existing Û to share (tied layers; default: the
        configured U, else the top of the range). Returns Û."""
        self.membrane_range = (int(membrane_range[0]), int(membrane_range[1]))
        self.membrane_options = tuple(options) if options is not None else None
        if self.membrane_bits is None:
            self.membrane_bits = self.membrane_range[1]
        self.membrane_param = _shared_or_new(self.membrane_bits if init is None else init, ())
        return self.membrane_param

    def _current_membrane_bits(self) -> int | None:
        """U of this forward: round(clip(Û)) while Û is learnable, else the configured U."""
        if self.membrane_param is not None:
            self.membrane_bits = held_bits(
                self.membrane_param, *self.membrane_range, self.membrane_options, self.membrane_bits, self.hysteresis
            )
        return self.membrane_bits

    def _configure_bits(self, bits: int | None, timesteps: int) -> None:
        """Set S (``timesteps`` is the new T; ``self.timesteps`` still the old). Binary
        spikes have no bit width to set."""

    def learn(
        self,
        bit_range: tuple[int, int] | None,
        timestep_range: tuple[int, int] | None,
        *,
        bits_init: float | nn.Parameter | None = None,
        timesteps_init: float | nn.Parameter | None = None,
        bit_options: tuple[int, ...] | None = None,
        timestep_options: tuple[int, ...] | None = None,
    ) -> tuple[nn.Parameter | None, nn.Parameter | None]:
        """Make B_s,t (per step) and/or T learnable within the given inclusive ranges (only
        at ``*_options`` when given: the allowed values when not every integer).

        ``*_init`` is a starting value or an existing parameter to share (tied layers).
        Returns (B̂_s, T̂), None where not learnable (B̂_s always, for binary spikes)."""
        t_max = timestep_range[1] if timestep_range else self.timesteps
        bits_param = self._learn_bits(bit_range, t_max, bits_init, bit_options)
        if timestep_range is not None:
            self.timestep_range = (int(timestep_range[0]), int(timestep_range[1]))
            self.timestep_options = tuple(timestep_options) if timestep_options is not None else None
            self.timesteps_param = _shared_or_new(self.timesteps if timesteps_init is None else timesteps_init, ())
        return bits_param, self.timesteps_param

    def _learn_bits(self, bit_range: _Range, t_max: int, bits_init: _Start, bit_options: _Options) -> nn.Parameter | None:
        """Make B_s,t learnable for up to ``t_max`` steps (:meth:`learn`); returns B̂_s.
        Binary spikes have none: None."""
        return None

    def forward(self, x: Tensor) -> Tensor:
        if self.timesteps_param is not None:
            self.timesteps = held_bits(self.timesteps_param, *self.timestep_range, self.timestep_options, self.timesteps, self.hysteresis)
        return self._fire_steps(x)

    def _watched(self) -> bool:
        """Whether this forward runs step by step through ``firing`` (lifecycle, 4)."""
        return not self.training and self.firing.watched

    def _run(self, x: Tensor, fire: Callable[[int, Tensor], Tensor], store: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """The T steps from v_0 = s_0 = 0: v_t = charge(v_{t−1}, x, s_{t−1}) (then
        ``store`` (v_t), a U-bit membrane, when given), s_t = fire(t, v_t); returns the stack
        ``[T, B, ...]``."""
        v = torch.zeros_like(x)
        s = torch.zeros_like(x)
        out = []
        for t in range(self.timesteps):
            v = self.charge(v, x, s)
            if store is not None:
                v = store(v)
            s = fire(t, v)
            out.append(s)
        return torch.stack(out)


class _RefinedSpikes(torch.autograd.Function):
    """The refined neuron's T steps at a fixed spike bit width, as one autograd node.

    Forward, the same arithmetic as T calls of :func:`models.quantizers.quantize_unsigned`
    (bit-identical levels): v_t = v_{t−1}/τ + x − s_{t−1}, u_t = v_t/γ_t,
    s_t = γ_t·clip(⌊u_t + 0.5⌋, 0, Q), written straight into the ``[T, B, ...]`` output.
    Backward, the chain rule through time by hand, with the quantizer's straight-through
    estimator (mask 0 < u_t < Q) and LSQ's step gradient:

        ∂L/∂s_t (total) = G_t − ∂L/∂v_{t+1}
        ∂L/∂v_t = ∂L/∂s_t·[0 < u_t < Q] + ∂L/∂v_{t+1}/τ
        ∂L/∂x = Σ_t ∂L/∂v_t
        ∂L/∂γ_t = g·(Σ ∂L/∂s_t·level_t − Σ ∂L/∂s_t·[0 < u_t < Q]·u_t),  g = 1/sqrt(N·Q)

    One node and in-place updates instead of ~6 autograd nodes per step: the membrane
    update, the stack of the outputs and the gradient accumulations no longer make passes of
    their own.
    """

    @staticmethod
    def forward(ctx, x: Tensor, gamma: Tensor, bits: int, timesteps: int, tau: float) -> Tensor:  # type: ignore[override]
        q = float(unsigned_levels(bits))
        out = x.new_empty((timesteps, *x.shape))
        v = torch.zeros_like(x)
        saved = []
        for t in range(timesteps):
            if tau != 1.0:
                v.div_(tau)
            v.add_(x)
            if t:
                v.sub_(out[t - 1])
            step = gamma[t]
            u = v / step
            level = torch.add(u, 0.5).floor_().clamp_(0.0, q)
            torch.mul(level, step, out=out[t])
            saved += [u, level]
        ctx.save_for_backward(gamma, *saved)
        ctx.q, ctx.tau, ctx.timesteps = q, tau, timesteps
        ctx.g = 1.0 / math.sqrt(x.numel() * q)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        gamma, *saved = ctx.saved_tensors
        q, tau, g = ctx.q, ctx.tau, ctx.g
        need_gamma = ctx.needs_input_grad[1]
        grad_gamma = torch.zeros_like(gamma) if need_gamma else None
        grad_x = None
        dv_next = None
        for t in reversed(range(ctx.timesteps)):
            u, level = saved[2 * t], saved[2 * t + 1]
            ds = grad[t] if dv_next is None else grad[t] - dv_next
            dv = torch.ops.aten.hardtanh_backward(ds, u, 0.0, q)
            if need_gamma:
                total = torch.dot(ds.reshape(-1), level.reshape(-1)) - torch.dot(dv.reshape(-1), u.reshape(-1))
                grad_gamma[t] = total * g
            if dv_next is not None:
                dv.add_(dv_next, alpha=1.0 / tau)
            # grad_x starts as the last step's dv, which is not needed once ds and dv of the
            # step before have read it.
            grad_x = dv if grad_x is None else grad_x.add_(dv)
            dv_next = dv
        return grad_x, grad_gamma, None, None, None


def refined_spikes(x: Tensor, gamma: Tensor, bits: int, timesteps: int, tau: float = 1.0) -> Tensor:
    """The refined neuron's ``[T, B, ...]`` spikes at a fixed bit width (see :class:`RefinedNeuron`)."""
    return _RefinedSpikes.apply(x, gamma, bits, timesteps, tau)


class RefinedNeuron(Neuron):
    """Refined multi-bit spiking neuron (soft reset, rounding threshold), Yao et al.

        v_t = v_{t−1}/τ + x_t − s_{t−1}
        s_t = γ_t·clip(⌊v_t/γ_t + 0.5⌋, 0, 2^(B_s,t) − 1)

    with v_0 = s_0 = 0 and τ = 1 by default. Each time step t has its own step size γ_t.
    With T = 1 it is an unsigned activation quantizer. ``bits=None`` is the full-precision
    limit (B_s → ∞): s_t = max(v_t, 0). The input current x_t is the same for every step
    (temporal squeezing hands each layer the mean of the previous layer's output).

    Learnable (:meth:`learn`): each step t has its own B̂_s,t and the neuron runs
    T = round(clip(T̂)) steps; B_s,t = round(clip(B̂_s,t)) with the clipping-boundary
    gradient. When B_s,t changes, γ_t is kept or, with ``renew=True``, re-picked from the
    current membrane potentials v_t by :func:`models.quantizers.renewal_step`.
    γ and B̂_s are sized for the largest T. At a fixed bit width the T steps run fused
    (:func:`refined_spikes`, the same numbers).
    """

    def __init__(self, tau: float = 1.0) -> None:
        if tau < 1.0:
            raise ValueError("tau must be >= 1 (v_t = v_{t-1}/tau + x_t - s_{t-1})")
        super().__init__(RefinedFiring())
        self.tau = tau
        self.gamma = nn.Parameter(torch.ones(1))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_parameter("bits_param", None)
        self.bits: int | None = None
        self.bit_range = (1, 16)
        #: The values B_s,t may take within its range when not every integer (None: all).
        self.bit_options: tuple[int, ...] | None = None
        self.step_bits: list[int] = []
        self.renew = False
        self.renewal_grid = 50
        self.renewals = 0

    @property
    def spike_bits(self) -> int | None:
        return self.bits

    def _configure_bits(self, bits: int | None, timesteps: int) -> None:
        if (bits, timesteps) != (self.bits, self.timesteps):
            self.initialized.fill_(False)
            if timesteps != self.gamma.numel():
                self.gamma = nn.Parameter(self.gamma.detach()[:1].repeat(timesteps))
        self.bits = bits
        self.bits_param = None

    def _learn_bits(self, bit_range: _Range, t_max: int, bits_init: _Start, bit_options: _Options) -> nn.Parameter | None:
        if self.bits is None:
            raise ValueError("configure a bit width before making it learnable")
        if self.gamma.numel() < t_max:
            self.gamma = nn.Parameter(torch.cat([self.gamma.detach(), self.gamma.detach()[-1:].repeat(t_max - self.gamma.numel())]))
        if bit_range is not None:
            self.bit_range = (int(bit_range[0]), int(bit_range[1]))
            self.bits_param = _shared_or_new(self.bits if bits_init is None else bits_init, (t_max,))
            self.bit_options = tuple(bit_options) if bit_options is not None else None
            self.step_bits = [self.bits] * t_max
        return self.bits_param

    def _step_bits(self, t: int, v: Tensor) -> int:
        """B_s,t of a learnable neuron; renews γ_t from v_t when it changed."""
        bits = held_bits(self.bits_param[t], *self.bit_range, self.bit_options, self.step_bits[t], self.hysteresis)
        if bits != self.step_bits[t]:
            self.step_bits[t] = bits
            if self.renew:
                # Through .data: earlier steps of this forward saved views of γ for backward,
                # and γ_t (a different element) must change without invalidating them.
                self.gamma.data[t] = renewal_step(v, bits, "unsigned", grid=self.renewal_grid)
                self.renewals += 1
        return bits

    def charge(self, v: Tensor, x: Tensor, s: Tensor) -> Tensor:
        """v_t = v_{t−1}/τ + x_t − s_{t−1} (soft reset)."""
        return (v if self.tau == 1.0 else v / self.tau) + x - s

    def _fire_steps(self, x: Tensor) -> Tensor:
        if self.bits is not None and not bool(self.initialized):
            with torch.no_grad():
                self.gamma.fill_(init_spike_step(x, self.bits))
                self.initialized.fill_(True)
        learn_bits = self.bits_param is not None
        membrane_bits = self._current_membrane_bits() if self.bits is not None else None
        if membrane_bits is not None:
            return self._stored_steps(x, learn_bits, membrane_bits)
        if self._watched():
            return self._watched_steps(x, learn_bits)
        if self.bits is not None and not learn_bits:
            return refined_spikes(x, self.gamma, self.bits, self.timesteps, self.tau)
        if self.bits is None:
            return self._run(x, lambda t, v: torch.relu(v))
        return self._run(x, lambda t, v: quantize_unsigned(v, self.gamma[t], self._step_bits(t, v), self.bits_param[t]))

    def _watched_steps(self, x: Tensor, learn_bits: bool) -> Tensor:
        """The T steps as T calls of ``self.firing`` (v_t = v_{t−1}/τ + x − s_{t−1}, s_t = firing(v_t)),
        the spikes tagged with their integer levels and γ_t (:func:`models.hooked.tag_levels`)."""
        firing = self.firing
        firing.start(x)
        levels = []

        def fire(t: int, v: Tensor) -> Tensor:
            bits = self._step_bits(t, v) if learn_bits else self.bits
            s = firing(v, self.gamma[t], bits)
            levels.append(firing.level)
            return s

        spikes = self._run(x, fire)
        if self.bits is None:
            return spikes
        return tag_levels(spikes, torch.stack(levels), self.gamma.detach()[: self.timesteps])

    def _stored_steps(self, x: Tensor, learn_bits: bool, membrane_bits: int) -> Tensor:
        """The T steps with a U-bit membrane (``docs/membrane_bits.md``): from v_0 = s_0 = 0,
        v'_t = v_{t−1}/τ + x − s_{t−1}, then v_t (the stored membrane) and s_t fired from its
        code (:func:`models.quantizers.membrane_fire`, straight-through gradients). Watched,
        each step is a call of ``self.firing`` with U, and the spikes are tagged with their
        levels."""
        watched = self._watched()
        if watched:
            self.firing.start(x)
        v = torch.zeros_like(x)
        s = torch.zeros_like(x)
        out, levels = [], []
        for t in range(self.timesteps):
            v = self.charge(v, x, s)
            bits = self._step_bits(t, v) if learn_bits else self.bits
            if watched:
                s = self.firing(v, self.gamma[t], bits, membrane_bits)
                v, level = self.firing.stored, self.firing.level
            else:
                bits_param = self.bits_param[t] if learn_bits else None
                v, s, level = membrane_fire(v, self.gamma[t], membrane_bits, bits, bits_param, self.membrane_param)
            out.append(s)
            levels.append(level)
        spikes = torch.stack(out)
        return tag_levels(spikes, torch.stack(levels), self.gamma.detach()[: self.timesteps]) if watched else spikes

    def extra_repr(self) -> str:
        u = "" if self.membrane_bits is None else f", membrane_bits={self.membrane_bits}"
        return f"bits={self.bits}, timesteps={self.timesteps}, tau={self.tau}{u}"


def refined_step(
    v_prev: Tensor, x: Tensor, s_prev: Tensor, gamma: Tensor, spike_bits: int, *, tau: float = 1.0, membrane_bits: int | None = None
) -> tuple[Tensor, Tensor]:
    """One step of the refined neuron, (v_t, s_t) from (v_{t−1}, x_t, s_{t−1}), with the
    membrane stored in ``membrane_bits`` U (None: unquantized, as :class:`RefinedNeuron` runs
    today; ``docs/membrane_bits.md``):

        v'_t = v_{t−1}/τ + x_t − s_{t−1}
        u_t  = v'_t/γ,  or with U: c_t·2^(−F) (:func:`models.quantizers.quantize_membrane`)
        v_t  = γ·u_t  (with U; else v'_t)
        s_t  = γ·clip(⌊u_t + ½⌋, 0, 2^S − 1)

    The forward reference the neuron's fused and watched paths will follow once U is wired in
    (v_t carries the membrane quantizer's straight-through gradient, s_t none); the
    unquantized step gives today's spikes (tested against :class:`RefinedNeuron`)."""
    v = v_prev / tau + x - s_prev
    if membrane_bits is None:
        u = v / gamma
    else:
        u = quantize_membrane(v, gamma, membrane_bits, spike_bits)
        v = gamma.detach() * u
    level = torch.floor(u.detach() + 0.5).clamp_(0.0, float(unsigned_levels(spike_bits)))
    return v, gamma * level


class _FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; surrogate gradient 1/(1 + k|u|)² backward (SuperSpike)."""

    @staticmethod
    def forward(ctx, u: Tensor, slope: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike_fn(u: Tensor, slope: float = 5.0) -> Tensor:
    """H(u) with the fast-sigmoid surrogate gradient."""
    return _FastSigmoidSpike.apply(u, slope)


class LIFNeuron(Neuron):
    """Plain leaky integrate-and-fire neuron with binary spikes (simplified LIF, Lui & Neftci).

        v_t = β·v_{t−1}·(1 − s_{t−1}) + x_t
        s_t = H(v_t − θ)

    Hard reset, leak β, threshold θ; H has the fast-sigmoid surrogate gradient. Spikes are
    1-bit, so a layer fed by this neuron has S = 1 whatever its config says, and only T can
    be learned (:meth:`learn` returns no B̂_s).
    """

    def __init__(self, beta: float = 0.9, threshold: float = 1.0, slope: float = 5.0) -> None:
        super().__init__(LIFFiring())
        self.beta, self.threshold, self.slope = beta, threshold, slope

    @property
    def spike_bits(self) -> int:
        return 1

    def charge(self, v: Tensor, x: Tensor, s: Tensor) -> Tensor:
        """v_t = β·v_{t−1}·(1 − s_{t−1}) + x_t (hard reset)."""
        return self.beta * v * (1.0 - s) + x

    def _fire_steps(self, x: Tensor) -> Tensor:
        membrane_bits = self._current_membrane_bits()
        store = None if membrane_bits is None else (lambda v: self.store(v, membrane_bits))
        if not self._watched():
            return self._run(x, lambda t, v: spike_fn(v - self.threshold, self.slope), store)
        self.firing.start(x)
        spikes = self._run(x, lambda t, v: self.firing(v, self.threshold), store)
        return tag_levels(spikes, spikes, torch.ones(self.timesteps, device=x.device, dtype=x.dtype))

    def store(self, v: Tensor, membrane_bits: int) -> Tensor:
        """The membrane ``v`` stored in U = ``membrane_bits`` bits with its step tied to the
        threshold θ as a binary neuron's spike step (S = 1: δ = θ·2^(−F), F = ⌈(U − 3)/2⌉,
        :func:`models.quantizers.quantize_membrane`); straight-through gradient."""
        theta = torch.tensor(float(self.threshold), dtype=v.dtype, device=v.device)
        return quantize_membrane(v, theta, membrane_bits, 1) * theta

    def extra_repr(self) -> str:
        u = "" if self.membrane_bits is None else f", membrane_bits={self.membrane_bits}"
        return f"beta={self.beta}, threshold={self.threshold}, timesteps={self.timesteps}{u}"


NEURONS: dict[str, type[Neuron]] = {"refined": RefinedNeuron, "lif": LIFNeuron}
