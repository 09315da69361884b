"""Quantizers: pure functions with straight-through gradients, plus small parameter holders.

One function per quantizer serves every layer type (conv and linear alike). The modules only
hold the step size and the current bit width; they never know that a search exists.
Symbols follow ``DESIGN.md``: α is the weight step size, γ the spike step size, b the bit width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

SCHEMES = ("uniform", "pow2")
#: Exponent p of the clipping-range grid search (seed paper, step-size renewal).
RENEWAL_EXPONENT = 2.4


def signed_levels(bits: int) -> int:
    """Q_p = 2^(b−1) − 1 for signed weights (0 for b = 1, where w_q = α·sign(w))."""
    return 2 ** (bits - 1) - 1


def unsigned_levels(bits: int) -> int:
    """Q = 2^b − 1 for unsigned spikes."""
    return 2**bits - 1


def pow2_max_shift(bits: int) -> int:
    """k_max = 2^(b−1) − 2: power-of-two levels are α·2^(−k), k = 0 … k_max."""
    return max(2 ** (bits - 1) - 2, 0)


def pow2_project(u: Tensor, bits: int) -> Tensor:
    """Nearest power-of-two level of u ∈ [−1, 1] (no gradient): sign(u)·2^(clip(round(log2|u|), −k_max, 0)),
    zero where round(log2|u|) < −k_max.

    Five passes, no boolean tensors: the exponent is clipped to [−k_max − 1, 0], so a value
    below the grid gets level 2^(−k_max−1), which ``threshold`` (x > limit ? x : 0) sends to 0;
    u = 0 gets sign(u) = 0. ``exp2`` of an integer is exact."""
    k_max = pow2_max_shift(bits)
    exponent = torch.log2(u.abs().clamp_min_(torch.finfo(u.dtype).tiny)).round_().clamp_(-k_max - 1, 0)
    level = torch.threshold(torch.exp2(exponent), 2.0 ** (-k_max - 1), 0.0)
    return level.mul_(torch.sign(u))


def _levels(u: Tensor, mode: str, bits: int) -> tuple[Tensor, float, float]:
    """Integer (or power-of-two) level of u = x/step and the clipping range [lo, hi] of u."""
    if mode == "unsigned":
        q = float(unsigned_levels(bits))
        return torch.add(u, 0.5).floor_().clamp_(0.0, q), 0.0, q
    if bits == 1:  # signed and pow2 alike: ±1, zero maps to +1
        return torch.sign(u).add_(0.5).sign_(), -1.0, 1.0
    if mode == "signed":
        qp = float(signed_levels(bits))
        return torch.round(u).clamp_(-qp, qp), -qp, qp
    return pow2_project(torch.clamp(u, -1.0, 1.0), bits), -1.0, 1.0


class _StepQuantize(torch.autograd.Function):
    """x_q = step·level(x/step), with the straight-through gradient to x inside the clipping
    range and LSQ's gradient to the step: g·Σ ∂L/∂x_q·(level − u·[lo < u < hi]).

    One fused node instead of a chain of elementwise straight-through estimators
    (``(round(x) − x).detach() + x`` and friends), so quantization-aware training stays cheap. The
    mask is hardtanh's backward, the open interval (lo, hi): an element exactly on a boundary
    counts as clipped, as in LSQ's outside case. Boolean tensors are avoided: on the CPU they
    are several times slower than float arithmetic.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: Tensor, step: Tensor, mode: str, bits: int, g: float, bits_param: Tensor | None = None
    ) -> Tensor:
        u = x / step
        level, lo, hi = _levels(u, mode, bits)
        ctx.save_for_backward(u, level, step)
        ctx.lo, ctx.hi, ctx.g = lo, hi, g
        ctx.mode, ctx.bits = mode, bits
        ctx.bits_shape = None if bits_param is None else bits_param.shape
        return level * step

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        u, level, step = ctx.saved_tensors
        grad_inside = torch.ops.aten.hardtanh_backward(grad, u, ctx.lo, ctx.hi)
        grad_step, grad_bits = _step_and_bits_gradients(ctx, grad, grad_inside, u, level, step, ctx.needs_input_grad[1], ctx.needs_input_grad[5])
        return (grad_inside if ctx.needs_input_grad[0] else None), grad_step, None, None, None, grad_bits


def _step_and_bits_gradients(
    ctx, grad: Tensor, grad_inside: Tensor, u: Tensor, level: Tensor, step: Tensor, need_step: bool, need_bits: bool
) -> tuple[Tensor | None, Tensor | None]:
    """LSQ's step gradient g·(Σ grad·level − Σ grad·u·[inside]) and the bit width's
    clipping-boundary gradient (:func:`_bits_gradient`), each None when not needed; as dot
    products, without temporaries."""
    grad_step = grad_bits = None
    flat_level = level.reshape(-1)
    if need_step or need_bits:
        grad_level = torch.dot(grad.reshape(-1), flat_level)
    if need_step:
        total = grad_level - torch.dot(grad_inside.reshape(-1), u.reshape(-1))
        grad_step = (total * ctx.g).reshape(step.shape)
    if need_bits:
        grad_bits = _bits_gradient(ctx, grad_level, grad_inside, flat_level, step).reshape(ctx.bits_shape)
    return grad_step, grad_bits


def _bits_gradient(ctx, grad_level: Tensor, grad_inside: Tensor, level: Tensor, step: Tensor) -> Tensor:
    """∂L/∂B from the clipping boundary: Σ_clipped ∂L/∂x_q · sign(u)·step·ln2·(Q + 1).

    The top clipping level is step·Q with Q = 2^(b−1) − 1 (signed) or 2^b − 1 (unsigned), so
    ∂(step·Q)/∂b = step·ln2·(Q + 1); for b = 1 signed (±step) it is step·ln2. For unsigned
    spikes at b = 1 the seed paper's released code uses step·ln2·Q = step·ln2 (its factor is
    Q + 1[b > 1]), half of the derivative of 2^b − 1, and so do we. Elements clipped
    at the bottom of an unsigned quantizer (level 0) do not depend on b. Power-of-two levels
    top out at α whatever b is, so their boundary gradient is 0. Clipped elements sit exactly on
    level ±hi, hence Σ_clipped grad·sign(u) = (Σ grad·level − Σ grad_inside·level)/hi.
    """
    if ctx.mode == "pow2":
        return torch.zeros((), dtype=step.dtype, device=step.device)
    if ctx.mode == "signed":
        factor = signed_levels(ctx.bits) + 1
    else:
        factor = unsigned_levels(ctx.bits) + (1 if ctx.bits > 1 else 0)
    clipped = (grad_level - torch.dot(grad_inside.reshape(-1), level)) / ctx.hi
    return clipped * step.reshape(()) * (math.log(2.0) * factor)


def quantize_signed(w: Tensor, alpha: Tensor, bits: int, bits_param: Tensor | None = None) -> Tensor:
    """Signed uniform (LSQ) quantizer: w_q = α·clip(round(w/α), −Q_p, Q_p), Q_p = 2^(b−1) − 1.

    b = 1 gives α·sign(w) (zero maps to +α, so exactly two levels). Straight-through
    gradient to w inside the clipping range; the gradient to α is LSQ's (round(w/α) − w/α
    inside, ±Q_p outside) scaled by g = 1/sqrt(N·Q_p). With a learnable bit width, ``bits``
    is B = round(clip(B̂)) and ``bits_param`` is B̂; B̂ receives the clipping-boundary
    gradient ∂w_q/∂B = sign(w/α)·α·ln2·(Q_p + 1) of the clipped elements (straight through
    the rounding).
    """
    g = 1.0 / math.sqrt(w.numel() * max(signed_levels(bits), 1))
    return _StepQuantize.apply(w, alpha, "signed", bits, g, bits_param)


def quantize_unsigned(x: Tensor, gamma: Tensor, bits: int, bits_param: Tensor | None = None) -> Tensor:
    """Unsigned uniform quantizer for spikes: s = γ·clip(⌊x/γ + 0.5⌋, 0, Q), Q = 2^b − 1.

    Straight-through gradient to x inside [0, Q·γ]; LSQ gradient to γ scaled by
    g = 1/sqrt(N·Q). (⌊·+0.5⌋ is the rounding threshold of the refined neuron; it equals
    round() except at exact halves.) ``bits_param`` (B̂, learnable bit width) receives
    Σ_{x ≥ Qγ} ∂L/∂s·γ·ln2·(Q + 1[b > 1]), the gradient of the top clipping level γ·(2^b − 1)
    as in the seed paper's released code (γ·ln2 at b = 1).
    """
    g = 1.0 / math.sqrt(x.numel() * unsigned_levels(bits))
    return _StepQuantize.apply(x, gamma, "unsigned", bits, g, bits_param)


def quantize_pow2(w: Tensor, alpha: Tensor, bits: int, bits_param: Tensor | None = None) -> Tensor:
    """Power-of-two quantizer: levels {0, ±α·2^(−k), k = 0 … 2^(b−1)−2}.

    w_q = α·sign(w)·2^(clip(round(log2(|w|/α)), −(2^(b−1)−2), 0)); values whose rounded
    exponent is below −k_max go to 0. b = 1 has no zero level and gives α·sign(w), like the
    uniform quantizer. Straight-through gradient to w inside [−α, α]; the α gradient has LSQ's
    form (w_q/α − w/α inside, ±1 outside) scaled by g = 1/sqrt(N·Q_p). The top level α does
    not depend on b, so a learnable ``bits_param`` gets no clipping-boundary gradient (0).
    """
    g = 1.0 / math.sqrt(w.numel() * max(signed_levels(bits), 1))
    return _StepQuantize.apply(w, alpha, "pow2", bits, g, bits_param)


def membrane_fraction_bits(membrane_bits: int, spike_bits: int) -> int:
    """F = max(0, ⌈(U − S − 2)/2⌉): the fraction bits of a U-bit signed membrane beside S-bit
    spikes. One sign bit and S + 1 integer bits (in units of γ) hold the top spike level and
    its threshold; the bits beyond S + 2 go half to the fraction, half to headroom, so that
    both the resolution and the range grow with U (``docs/membrane_bits.md``). Below S + 2
    there is no fraction (F = 0) and the range itself is short: the highest code
    2^(U−1) − 1 caps the spike levels the neuron can reach."""
    return max(0, (int(membrane_bits) - int(spike_bits) - 1) // 2)


def membrane_codes(v: Tensor, gamma: Tensor, membrane_bits: int, spike_bits: int) -> tuple[Tensor, Tensor]:
    """(u, inside): the membrane ``v`` stored in a U-bit signed fixed-point code of step
    δ = γ·2^(−F), returned in units of γ, u = c·2^(−F) with
    c = clip(⌊v/δ + ½⌋, −2^(U−1), 2^(U−1) − 1), and a float mask, 1 where c was not
    saturated. No autograd (the callers carry the straight-through gradient)."""
    fraction = membrane_fraction_bits(membrane_bits, spike_bits)
    scale = 2.0**fraction
    code = torch.floor((v / gamma).mul_(scale).add_(0.5))
    low, high = -(2.0 ** (membrane_bits - 1)), 2.0 ** (membrane_bits - 1) - 1
    inside = ((code >= low) & (code <= high)).to(v.dtype)
    return code.clamp_(low, high).div_(scale), inside


def quantize_membrane(v: Tensor, gamma: Tensor, membrane_bits: int, spike_bits: int) -> Tensor:
    """The membrane potential ``v`` stored in a U-bit signed fixed-point code whose step is
    δ = γ·2^(−F) (:func:`membrane_fraction_bits`), returned in units of γ (``docs/membrane_bits.md``):

        c = clip(⌊v/δ + ½⌋, −2^(U−1), 2^(U−1) − 1),    returned: c·2^(−F)  (= v_stored/γ)

    Returned in units of γ so that the firing decision ⌊u + ½⌋ needs no division (c·2^(−F) is
    exact in floating point; the thresholds n + ½ lie on the grid when F ≥ 1). Training:
    straight-through, ∂u/∂v = 1/γ where the code is not saturated, 0 where it is; no gradient
    reaches γ through δ."""
    stored, inside = membrane_codes(v.detach(), gamma.detach(), membrane_bits, spike_bits)
    return _StraightThrough.apply(v / gamma.detach(), stored, inside)


class _StraightThrough(torch.autograd.Function):
    """Forward ``value`` exactly; backward the gradient to ``x`` times ``mask``."""

    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(mask)
        return value.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


class _MembraneFire(torch.autograd.Function):
    """One step of a refined neuron with a U-bit membrane: store the charged membrane v'
    (:func:`membrane_codes`), then fire from the stored code, as one node.

    Forward: u = c·2^(−F) (the stored membrane in units of γ), v = γ·u,
    k = clip(⌊u + ½⌋, 0, Q), s = γ·k. The level is computed from u itself, never from
    (γ·u)/γ, so a membrane stored on a threshold fires there exactly.

    Backward (straight-through, LSQ): with m = [code not saturated] and i = [0 < u < Q],
    ∂L/∂v' = m·(∂L/∂v + i·∂L/∂s); ∂L/∂γ = g·(Σ ∂L/∂s·k − Σ ∂L/∂s·i·u) (the spike quantizer's
    LSQ gradient, :func:`quantize_unsigned`; none through δ); B̂_s: the clipping-boundary
    gradient of :func:`quantize_unsigned`; Û: the saturation boundary, whose range
    2^(U−1−F)·γ grows by about √2 per bit, so ∂v/∂U = v·ln2/2 where saturated.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, v: Tensor, step: Tensor, membrane_bits: int, spike_bits: int, g: float, bits_param: Tensor | None, membrane_param: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        u, inside = membrane_codes(v, step, membrane_bits, spike_bits)
        q = float(unsigned_levels(spike_bits))
        level = torch.add(u, 0.5).floor_().clamp_(0.0, q)
        stored = u * step
        ctx.save_for_backward(u, inside, level, step, stored)
        ctx.q, ctx.g, ctx.bits = q, g, spike_bits
        ctx.bits_shape = None if bits_param is None else bits_param.shape
        ctx.membrane_shape = None if membrane_param is None else membrane_param.shape
        ctx.mode = "unsigned"
        ctx.mark_non_differentiable(level)
        return stored, level * step, level

    @staticmethod
    def backward(ctx, grad_stored: Tensor, grad_spikes: Tensor, _grad_level: Tensor):  # type: ignore[override]
        u, inside, level, step, stored = ctx.saved_tensors
        spike_inside = torch.ops.aten.hardtanh_backward(grad_spikes, u, 0.0, ctx.q)
        grad_v = (grad_stored + spike_inside) * inside
        ctx.hi = ctx.q
        grad_step, grad_bits = _step_and_bits_gradients(
            ctx, grad_spikes, spike_inside, u, level, step, ctx.needs_input_grad[1], ctx.needs_input_grad[5]
        )
        grad_membrane = None
        if ctx.needs_input_grad[6]:
            saturated = (1.0 - inside).mul_(grad_stored).mul_(stored)
            grad_membrane = (saturated.sum() * (math.log(2.0) / 2)).reshape(ctx.membrane_shape)
        return grad_v, grad_step, None, None, None, grad_bits, grad_membrane


def membrane_fire(
    v: Tensor,
    gamma: Tensor,
    membrane_bits: int,
    spike_bits: int,
    bits_param: Tensor | None = None,
    membrane_param: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """(v_t, s_t, k_t) of a refined neuron whose charged membrane is ``v`` (v'_t), stored in
    ``membrane_bits`` U and fired at ``spike_bits`` S with step ``gamma`` (γ_t):

        v_t = γ·c·2^(−F)  (:func:`quantize_membrane`),  k_t = clip(⌊c·2^(−F) + ½⌋, 0, 2^S − 1),  s_t = γ·k_t

    (k_t, the integer levels, carries no gradient.)
    Gradients: :class:`_MembraneFire` (``bits_param`` B̂_s and ``membrane_param`` Û, when
    learnable, get their clipping-boundary gradients)."""
    g = 1.0 / math.sqrt(v.numel() * unsigned_levels(spike_bits))
    return _MembraneFire.apply(v, gamma, int(membrane_bits), int(spike_bits), g, bits_param, membrane_param)


def quantize_weight(w: Tensor, alpha: Tensor, bits: int, scheme: str, bits_param: Tensor | None = None) -> Tensor:
    """Dispatch on ``scheme``: ``"uniform"`` (LSQ) or ``"pow2"``."""
    if scheme == "uniform":
        return quantize_signed(w, alpha, bits, bits_param)
    if scheme == "pow2":
        return quantize_pow2(w, alpha, bits, bits_param)
    raise ValueError(f"unknown scheme {scheme!r}")


def init_weight_step(w: Tensor, bits: int, scheme: str) -> float:
    """Initial α. Uniform: α₀ = 2·mean|w|/sqrt(Q_p) (LSQ); b = 1: α₀ = mean|w| (the
    L2-optimal scale of α·sign(w)). Power-of-two: the grid-searched clipping range
    (:func:`grid_search_step`), since the LSQ rule assumes evenly spaced levels."""
    w = w.detach()
    mean_abs = float(w.abs().mean().clamp_min(1e-8))
    if bits == 1:
        return mean_abs
    if scheme == "pow2":
        return grid_search_step(w, lambda x, a: quantize_pow2(x, a, bits), float(w.abs().max()))
    return 2.0 * mean_abs / math.sqrt(signed_levels(bits))


def init_spike_step(x: Tensor, bits: int) -> float:
    """Initial γ: γ₀ = 2·mean|x|/sqrt(Q), Q = 2^b − 1."""
    return 2.0 * float(x.detach().abs().mean().clamp_min(1e-8)) / math.sqrt(unsigned_levels(bits))


@torch.no_grad()
def grid_search_step(
    x: Tensor,
    quantize,
    max_range: float,
    *,
    levels: int = 1,
    grid: int = 100,
    exponent: float = RENEWAL_EXPONENT,
) -> float:
    """Step size minimising mean|Q(x) − x|^p over ``grid`` clipping ranges in (0, max_range].

    ``quantize(x, step)`` is one of the quantizers above; the candidate step for clipping
    range r is r/levels (levels = Q_p or Q for uniform quantizers, 1 when the step is the
    top level, as for power-of-two). p = 2.4 by default (seed paper, step-size renewal).
    """
    x = x.detach().float()
    best_step, best_err = max_range / levels, math.inf
    for i in range(1, grid + 1):
        step = torch.tensor(max_range * i / grid / levels, dtype=x.dtype, device=x.device)
        err = float((quantize(x, step) - x).abs().pow(exponent).mean())
        if err < best_err:
            best_step, best_err = float(step), err
    return best_step


def round_bits(b_hat: Tensor, low: int, high: int, options: tuple[int, ...] | None = None) -> int:
    """B = round(clip(B̂, low, high)): the integer a learnable bit width (or T̂) stands for;
    with ``options`` (the allowed values in [low, high], when they are not every integer) the
    nearest of them, a tie to the smaller (:func:`snap_to_options`)."""
    clipped = b_hat.detach().clamp(low, high)
    return int(torch.round(clipped) if options is None else snap_to_options(clipped, options))


def held_bits(
    b_hat: Tensor, low: int, high: int, options: tuple[int, ...] | None, current: int | None, margin: float
) -> int:
    """:func:`round_bits` with hysteresis: the value ``current`` is kept until B̂ is nearer to
    another value by more than 2·``margin`` (between neighbours: until B̂ passes their
    rounding threshold by ``margin``). With ``margin`` 0 (or no ``current``) it is
    :func:`round_bits`.

    A budget that binds holds B̂ on a rounding threshold — the penalty pushes it down as soon
    as it rounds up and the loss pushes it back up — so the rounded value flips back and forth
    at a rate that no decay of the learning rate slows (the oscillation's amplitude shrinks
    with the step size, its period does not; cf. the weight oscillations of Nagel et al.,
    ICML 2022). With a margin the flips stop once the amplitude has decayed below 2·margin:
    the config settles while the bits still learn."""
    new = round_bits(b_hat, low, high, options)
    if current is None or margin <= 0 or new == current:
        return new
    x = float(b_hat.detach().clamp(low, high))
    return new if abs(x - current) - abs(x - new) > 2 * margin else int(current)


def snap_to_options(x: Tensor, options: tuple[int, ...]) -> Tensor:
    """Each element of ``x`` replaced by the nearest of the ascending ``options`` (a tie goes to
    the smaller, as :func:`space.nearest_option`), as a tensor of ``x``'s dtype."""
    values = torch.tensor(options, dtype=x.dtype, device=x.device)
    return values[(x.unsqueeze(-1) - values).abs().argmin(-1)]


def renewal_step(x: Tensor, bits: int, mode: str, *, grid: int = 50, max_samples: int = 65536) -> float:
    """Step-size renewal (seed paper): the step minimising mean|Q(x) − x|^p, p = 2.4, over
    ``grid`` clipping ranges r_k = k/K·max|x| (k = 1 … K), step = r/Q.

    ``mode`` is ``"unsigned"`` (spikes, Q = 2^b − 1), ``"uniform"`` (signed weights,
    Q = Q_p, or 1 at b = 1) or ``"pow2"`` (the step is the top level, Q = 1). At most
    ``max_samples`` evenly strided elements of x are used.
    """
    flat = x.detach().reshape(-1)
    if flat.numel() > max_samples:
        flat = flat[:: -(-flat.numel() // max_samples)]
    top = float(flat.abs().max().clamp_min(1e-8))
    if mode == "unsigned":
        return grid_search_step(flat, lambda v, g: quantize_unsigned(v, g, bits), top, levels=unsigned_levels(bits), grid=grid)
    if mode == "uniform":
        return grid_search_step(flat, lambda v, a: quantize_signed(v, a, bits), top, levels=max(signed_levels(bits), 1), grid=grid)
    if mode == "pow2":
        return grid_search_step(flat, lambda v, a: quantize_pow2(v, a, bits), top, levels=1, grid=grid)
    raise ValueError(f"unknown mode {mode!r}")


class WeightQuantizer(nn.Module):
    """Holds α and the bit width for one layer's weights.

    w_q = α·clip(round(w/α), −Q_p, Q_p) (``uniform``) or α·sign(w)·2^(−k) (``pow2``), see
    :func:`quantize_weight`. ``bits=None`` means full precision (w passes through). α is
    initialised from the weights on the first forward after :meth:`configure`.

    Learnable bit width (:meth:`learn_bits`): the forward uses B = round(clip(B̂, low, high))
    and B̂ gets the clipping-boundary gradient. When B changes, α is kept (LSQ adapts it) or,
    with ``renew=True``, re-picked by :func:`renewal_step` (step-size renewal).
    """

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_parameter("bits_param", None)
        self.bits: int | None = None
        self.scheme = "uniform"
        self.bit_range = (1, 16)
        #: The values B may take within ``bit_range`` when they are not every integer (None: all).
        self.bit_options: tuple[int, ...] | None = None
        #: Bits B̂ must pass a rounding threshold by before B changes (:func:`held_bits`).
        self.hysteresis = 0.0
        self.renew = False
        self.renewal_grid = 50
        self.renewals = 0

    def configure(self, bits: int | None, scheme: str = "uniform") -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}")
        if (bits, scheme) != (self.bits, self.scheme):
            self.initialized.fill_(False)
        self.bits, self.scheme = bits, scheme
        self.bits_param = None

    def learn_bits(self, low: int, high: int, init: float | nn.Parameter, options: tuple[int, ...] | None = None) -> nn.Parameter:
        """Make the bit width learnable in [low, high] (only at ``options`` when given),
        starting at ``init`` (or share an existing B̂ parameter, for tied layers). Returns B̂."""
        if self.bits is None:
            raise ValueError("configure a bit width before making it learnable")
        param = init if isinstance(init, nn.Parameter) else nn.Parameter(torch.tensor(float(init)))
        self.bits_param = param
        self.bit_range = (int(low), int(high))
        self.bit_options = tuple(options) if options is not None else None
        return param

    def forward(self, w: Tensor) -> Tensor:
        if self.bits is None:
            return w
        if self.bits_param is not None:
            bits = held_bits(self.bits_param, *self.bit_range, self.bit_options, self.bits, self.hysteresis)
            if bits != self.bits:
                self.bits = bits
                if self.renew and bool(self.initialized):
                    with torch.no_grad():
                        self.alpha.fill_(renewal_step(w, bits, self.scheme, grid=self.renewal_grid))
                    self.renewals += 1
        if not bool(self.initialized):
            with torch.no_grad():
                self.alpha.fill_(init_weight_step(w, self.bits, self.scheme))
                self.initialized.fill_(True)
        return quantize_weight(w, self.alpha, self.bits, self.scheme, self.bits_param)

    def extra_repr(self) -> str:
        learn = "" if self.bits_param is None else f", learnable in {self.bit_range}"
        return f"bits={self.bits}, scheme={self.scheme}{learn}"
