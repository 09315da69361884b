"""models.quantizers: levels, hand-computed values, straight-through and LSQ gradients, inits."""

from __future__ import annotations

import math

import pytest
import torch

from spikebits.models.quantizers import (
    WeightQuantizer,
    init_spike_step,
    init_weight_step,
    quantize_pow2,
    quantize_signed,
    quantize_unsigned,
    quantize_weight,
)

torch.set_num_threads(1)


def ramp(limit: float, n: int = 20001) -> torch.Tensor:
    return torch.linspace(-limit, limit, n)


# ----------------------------------------------------------------------------- levels


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("alpha", [0.5, 0.25, 0.3])
def test_signed_uniform_levels(bits, alpha):
    # Q_p = 2^(b−1) − 1; levels α·k, |k| ≤ Q_p: 2·Q_p + 1 = 2^b − 1 of them.
    qp = 2 ** (bits - 1) - 1
    w = ramp(2 * alpha * (qp + 1))  # wider than the clipping range, dense enough to hit every level
    q = quantize_signed(w, torch.tensor(alpha), bits)
    levels = torch.unique(q)
    assert len(levels) <= 2**bits - 1
    assert len(levels) == 2**bits - 1  # the ramp covers every level
    k = levels.double() / alpha
    assert torch.allclose(k, k.round(), atol=1e-4)  # α·k with integer k
    assert sorted(int(v) for v in k.round()) == list(range(-qp, qp + 1))


def test_signed_uniform_levels_exact_for_dyadic_alpha():
    # α = 0.25, b = 3: levels exactly {−0.75, −0.5, −0.25, 0, 0.25, 0.5, 0.75}
    q = quantize_signed(ramp(2.0), torch.tensor(0.25), 3)
    assert torch.unique(q).tolist() == [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]


def test_signed_one_bit_is_alpha_sign():
    alpha = torch.tensor(0.5)
    w = ramp(3.0, 2001)
    q = quantize_signed(w, alpha, 1)
    assert torch.unique(q).tolist() == [-0.5, 0.5]
    # zero (and −0) map to +α; tiny negatives to −α; large values to ±α
    x = torch.tensor([0.0, -0.0, 1e-9, -1e-9, 5.0, -5.0])
    assert quantize_signed(x, alpha, 1).tolist() == [0.5, 0.5, 0.5, -0.5, 0.5, -0.5]
    # pow2 with b = 1 is the same α·sign(w)
    assert quantize_pow2(x, alpha, 1).tolist() == [0.5, 0.5, 0.5, -0.5, 0.5, -0.5]


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_unsigned_spike_levels(bits):
    # Q = 2^b − 1; levels γ·{0, 1, …, Q}; negatives go to 0.
    gamma = 0.25
    q_max = 2**bits - 1
    x = torch.linspace(-1.0, 2 * gamma * (q_max + 1), 20001)
    s = quantize_unsigned(x, torch.tensor(gamma), bits)
    assert torch.unique(s).tolist() == [gamma * k for k in range(q_max + 1)]


def test_pow2_levels_b2_b3_b4():
    alpha = torch.tensor(1.0)
    w = ramp(2.0, 40001)
    # b = 2: k_max = 2^(1) − 2 = 0 -> {0, ±1}
    assert torch.unique(quantize_pow2(w, alpha, 2)).tolist() == [-1.0, 0.0, 1.0]
    # b = 3: k_max = 2 -> {0, ±1, ±1/2, ±1/4}
    assert torch.unique(quantize_pow2(w, alpha, 3)).tolist() == [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    # b = 4: k_max = 6 -> {0, ±2^0 … ±2^−6}
    expected = sorted([0.0] + [s * 2.0**-k for k in range(7) for s in (1, -1)])
    assert torch.unique(quantize_pow2(w, alpha, 4)).tolist() == expected


def test_pow2_levels_scale_with_alpha():
    # α = 0.5, b = 3: {0, ±0.5, ±0.25, ±0.125}
    q = quantize_pow2(ramp(1.0, 40001), torch.tensor(0.5), 3)
    assert torch.unique(q).tolist() == [-0.5, -0.25, -0.125, 0.0, 0.125, 0.25, 0.5]


# ----------------------------------------------------------------------------- single values


def test_signed_hand_values():
    alpha = torch.tensor(0.5)
    # b = 3, Q_p = 3:
    #   0.8 -> 0.5·clip(round(1.6), −3, 3) = 0.5·2 = 1.0
    #   0.2 -> 0.5·round(0.4) = 0
    #  −0.6 -> 0.5·round(−1.2) = −0.5
    #   5.0 -> 0.5·clip(10, −3, 3) = 1.5
    #  −9.0 -> −1.5
    #   1.3 -> 0.5·round(2.6) = 1.5
    w = torch.tensor([0.8, 0.2, -0.6, 5.0, -9.0, 1.3])
    assert quantize_signed(w, alpha, 3).tolist() == [1.0, 0.0, -0.5, 1.5, -1.5, 1.5]
    # b = 2, Q_p = 1: 0.8 -> 0.5·clip(2, −1, 1) = 0.5; 0.2 -> 0
    assert quantize_signed(torch.tensor([0.8, 0.2, -0.8]), alpha, 2).tolist() == [0.5, 0.0, -0.5]
    # b = 8, Q_p = 127, α = 0.01: 0.123 -> 0.01·round(12.3) = 0.12
    assert quantize_signed(torch.tensor([0.123]), torch.tensor(0.01), 8).item() == pytest.approx(0.12, rel=1e-6)
    # dispatch
    assert quantize_weight(w, alpha, 3, "uniform").tolist() == [1.0, 0.0, -0.5, 1.5, -1.5, 1.5]
    with pytest.raises(ValueError):
        quantize_weight(w, alpha, 3, "log")


def test_pow2_hand_values():
    alpha = torch.tensor(1.0)
    # b = 3, k_max = 2:
    #   0.3:  log2 0.3 = −1.74 -> round −2 -> 2^−2 = 0.25
    #   0.1:  log2 0.1 = −3.32 -> round −3 < −2 -> 0
    #  −0.3: −0.25
    #   0.7:  log2 0.7 = −0.515 -> round −1 -> 0.5
    #   0.71: log2 0.71 = −0.494 -> round 0 -> 1.0
    #   4.0:  clipped to α -> 1.0
    #   0.0:  0
    #   0.16: log2 0.16 = −2.64 -> round −3 -> 0
    #   0.18: log2 0.18 = −2.47 -> round −2 -> 0.25
    w = torch.tensor([0.3, 0.1, -0.3, 0.7, 0.71, 4.0, 0.0, 0.16, 0.18])
    assert quantize_pow2(w, alpha, 3).tolist() == [0.25, 0.0, -0.25, 0.5, 1.0, 1.0, 0.0, 0.0, 0.25]
    assert quantize_weight(w, alpha, 3, "pow2").tolist() == [0.25, 0.0, -0.25, 0.5, 1.0, 1.0, 0.0, 0.0, 0.25]
    # α = 2, b = 2 (k_max = 0): 1.5 -> log2(0.75) = −0.415 -> round 0 -> 2; 1.0 -> log2 0.5 = −1 -> 0
    assert quantize_pow2(torch.tensor([1.5, 1.0, -1.5]), torch.tensor(2.0), 2).tolist() == [2.0, 0.0, -2.0]


def test_unsigned_hand_values():
    gamma = torch.tensor(0.5)
    # b = 2, Q = 3: s = 0.5·clip(⌊x/0.5 + 0.5⌋, 0, 3)
    #   0.7 -> ⌊1.9⌋ = 1 -> 0.5;  0.9 -> ⌊2.3⌋ = 2 -> 1.0;  0.75 -> ⌊2.0⌋ = 2 -> 1.0 (half rounds up)
    #   0.2 -> ⌊0.9⌋ = 0;  −1 -> 0;  3.0 -> clip(6) = 3 -> 1.5
    x = torch.tensor([0.7, 0.9, 0.75, 0.2, -1.0, 3.0])
    assert quantize_unsigned(x, gamma, 2).tolist() == [0.5, 1.0, 1.0, 0.0, 0.0, 1.5]
    # exact halves round up, unlike round-half-to-even:
    #   0.25 -> x/γ = 0.5 -> ⌊1.0⌋ = 1 -> 0.5 (round() would give 0);  1.25 -> 2.5 -> ⌊3.0⌋ = 3 -> 1.5 (round(): 2)
    assert quantize_unsigned(torch.tensor([0.25, 1.25]), gamma, 2).tolist() == [0.5, 1.5]


# ----------------------------------------------------------------------------- gradients


def _grads(fn, w_values, alpha_value, bits):
    w = torch.tensor(w_values, requires_grad=True)
    alpha = torch.tensor(alpha_value, requires_grad=True)
    fn(w, alpha, bits).sum().backward()
    return w.grad, alpha.grad


@pytest.mark.parametrize("fn", [quantize_signed, quantize_pow2, quantize_unsigned])
def test_gradients_reach_step_size(fn):
    torch.manual_seed(0)
    w = torch.randn(64).abs() if fn is quantize_unsigned else torch.randn(64)
    w.requires_grad_(True)
    alpha = torch.tensor(0.3, requires_grad=True)
    (fn(w, alpha, 3) * torch.linspace(-1, 1, 64)).sum().backward()
    assert alpha.grad is not None and alpha.grad.item() != 0.0
    assert w.grad is not None and w.grad.abs().sum().item() > 0


def test_signed_straight_through_gradient_to_w():
    # α = 0.5, b = 3: clipping range [−1.5, 1.5]. Gradient 1 inside, 0 outside.
    gw, _ = _grads(quantize_signed, [0.8, -0.3, 0.0, 1.4, 2.0, -7.0], 0.5, 3)
    assert gw.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_pow2_straight_through_gradient_to_w():
    # α = 1: range [−1, 1]; 0.1 rounds to 0 but still passes the gradient
    gw, _ = _grads(quantize_pow2, [0.3, 0.1, -0.7, 1.5, -3.0], 1.0, 3)
    assert gw.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0, 0.0])


def test_unsigned_straight_through_gradient_to_x():
    # γ = 0.5, b = 2: range [0, 1.5]
    gx, _ = _grads(quantize_unsigned, [0.7, 0.2, 1.4, -0.5, 2.0], 0.5, 2)
    assert gx.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "w,expected",
    [
        # α = 0.5, b = 3: Q_p = 3, N = 1, g = 1/sqrt(1·3)
        # inside: (−w/α + round(w/α))·g
        (0.8, (-1.6 + 2.0) / math.sqrt(3)),  # w/α = 1.6 -> round 2
        (0.6, (-1.2 + 1.0) / math.sqrt(3)),  # w/α = 1.2 -> round 1
        (-0.6, (1.2 - 1.0) / math.sqrt(3)),  # w/α = −1.2 -> round −1
        (0.1, (-0.2 + 0.0) / math.sqrt(3)),  # w/α = 0.2 -> round 0
        # outside: ±Q_p·g = ±3/sqrt(3)
        (2.0, 3 / math.sqrt(3)),
        (-5.0, -3 / math.sqrt(3)),
    ],
)
def test_lsq_alpha_gradient_single_element(w, expected):
    _, ga = _grads(quantize_signed, [w], 0.5, 3)
    assert ga.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_element_on_clipping_boundary_counts_as_clipped():
    # α = 0.5, b = 3: w = 1.5 gives w/α = 3 = Q_p exactly. LSQ's outside case: ∂/∂α = Q_p·g = 3/sqrt(3),
    # no gradient to w. (The inside formula would give round(3) − 3 = 0, so the two cases differ here.)
    gw, ga = _grads(quantize_signed, [1.5], 0.5, 3)
    assert gw.item() == 0.0
    assert ga.item() == pytest.approx(3 / math.sqrt(3), rel=1e-5)


def test_lsq_alpha_gradient_scale_uses_element_count():
    # N = 4 elements, all at w = 2.0 (outside, each contributes Q_p·g), α = 0.5, b = 3:
    # g = 1/sqrt(4·3); d/dα Σ w_q = 4·3·g = 12/sqrt(12) = sqrt(12)
    _, ga = _grads(quantize_signed, [2.0, 2.0, 2.0, 2.0], 0.5, 3)
    assert ga.item() == pytest.approx(math.sqrt(12), rel=1e-5)
    # b = 4, Q_p = 7, one element w = 0.8, α = 0.5: w/α = 1.6 -> 0.4/sqrt(7)
    _, ga = _grads(quantize_signed, [0.8], 0.5, 4)
    assert ga.item() == pytest.approx(0.4 / math.sqrt(7), rel=1e-5)


def test_unsigned_gamma_gradient_single_element():
    # γ = 0.5, b = 2, Q = 3, N = 1, g = 1/sqrt(3)
    # x = 0.7: x/γ = 1.4 -> ⌊1.9⌋ = 1 -> (−1.4 + 1)·g;  x = 5: clipped -> Q·g = 3/sqrt(3);  x = −1: 0
    for x, expected in [(0.7, -0.4 / math.sqrt(3)), (5.0, 3 / math.sqrt(3)), (-1.0, 0.0)]:
        _, gg = _grads(quantize_unsigned, [x], 0.5, 2)
        assert gg.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_pow2_alpha_gradient_single_element():
    # α = 1, b = 3, Q_p = 3, N = 1, g = 1/sqrt(3)
    # inside w = 0.3: w_q/α − w/α = 0.25 − 0.3 = −0.05 -> −0.05·g;  outside w = 2: +1·g;  w = −2: −1·g
    for w, expected in [(0.3, -0.05 / math.sqrt(3)), (2.0, 1 / math.sqrt(3)), (-2.0, -1 / math.sqrt(3))]:
        _, ga = _grads(quantize_pow2, [w], 1.0, 3)
        assert ga.item() == pytest.approx(expected, rel=1e-4, abs=1e-7)


# ----------------------------------------------------------------------------- initial step sizes


def test_init_weight_step_uniform():
    w = torch.tensor([0.1, -0.3, 0.5, -0.7])
    # mean|w| = 1.6/4 = 0.4
    # b = 3: Q_p = 3 -> α₀ = 2·0.4/sqrt(3);  b = 4: Q_p = 7 -> 0.8/sqrt(7);  b = 2: Q_p = 1 -> 0.8
    assert init_weight_step(w, 3, "uniform") == pytest.approx(0.8 / math.sqrt(3), rel=1e-6)
    assert init_weight_step(w, 4, "uniform") == pytest.approx(0.8 / math.sqrt(7), rel=1e-6)
    assert init_weight_step(w, 2, "uniform") == pytest.approx(0.8, rel=1e-6)
    # b = 1: mean|w| (L2-optimal scale of α·sign(w))
    assert init_weight_step(w, 1, "uniform") == pytest.approx(0.4, rel=1e-6)


def test_init_weight_step_pow2_is_within_range():
    torch.manual_seed(0)
    w = torch.randn(256)
    a = init_weight_step(w, 3, "pow2")
    assert 0 < a <= float(w.abs().max()) + 1e-6


def test_init_spike_step():
    x = torch.tensor([0.0, 1.0, 2.0, 5.0])
    # mean|x| = 2; b = 2: Q = 3 -> γ₀ = 4/sqrt(3);  b = 1: Q = 1 -> 4;  b = 4: Q = 15 -> 4/sqrt(15)
    assert init_spike_step(x, 2) == pytest.approx(4 / math.sqrt(3), rel=1e-6)
    assert init_spike_step(x, 1) == pytest.approx(4.0, rel=1e-6)
    assert init_spike_step(x, 4) == pytest.approx(4 / math.sqrt(15), rel=1e-6)


# ----------------------------------------------------------------------------- WeightQuantizer


def test_weight_quantizer_full_precision_passes_through():
    wq = WeightQuantizer()
    w = torch.randn(3, 4, requires_grad=True)
    assert wq.bits is None
    out = wq(w)
    assert out is w or torch.equal(out, w)
    assert not bool(wq.initialized)


def test_weight_quantizer_initializes_alpha_and_quantizes():
    wq = WeightQuantizer()
    wq.configure(3, "uniform")
    w = torch.tensor([0.1, -0.3, 0.5, -0.7])
    out = wq(w)
    alpha = 0.8 / math.sqrt(3)  # 2·mean|w|/sqrt(Q_p) = 0.4619
    assert wq.alpha.item() == pytest.approx(alpha, rel=1e-6)
    assert bool(wq.initialized)
    # w/α = [0.2165, −0.6495, 1.0825, −1.5155] -> round [0, −1, 1, −2]
    assert out.tolist() == pytest.approx([0.0, -alpha, alpha, -2 * alpha], rel=1e-5)
    # a new bit width re-initializes α on the next forward
    wq.alpha.data.fill_(123.0)
    wq.configure(3, "uniform")
    assert bool(wq.initialized)  # unchanged config keeps α
    wq.configure(4, "uniform")
    assert not bool(wq.initialized)
    wq(w)
    assert wq.alpha.item() == pytest.approx(0.8 / math.sqrt(7), rel=1e-6)
    with pytest.raises(ValueError):
        wq.configure(4, "log")


def pow2_project_plain(u, bits):
    """sign(u)·2^(clip(round(log2|u|), −k_max, 0)), zero below the grid and at u = 0, written plainly."""
    k_max = 2 ** (bits - 1) - 2
    mag = u.abs()
    exponent = torch.round(torch.log2(mag.clamp_min(torch.finfo(u.dtype).tiny)))
    level = torch.pow(2.0, exponent.clamp(-k_max, 0))
    level = torch.where((exponent < -k_max) | (mag == 0), torch.zeros_like(level), level)
    return torch.sign(u) * level


@pytest.mark.parametrize("bits", range(2, 17))
def test_pow2_projection_bit_identical_to_the_plain_formula(bits):
    # The five-pass projection against the formula written plainly (pow, where, masks), on
    # random values at several scales and on the edges: ±0, exact powers of two, the
    # geometric midpoints 2^(−k−1/2) between levels, the smallest normal and a subnormal.
    from spikebits.models.quantizers import pow2_project

    torch.manual_seed(bits)
    tiny = torch.finfo(torch.float32).tiny
    k_max = 2 ** (bits - 1) - 2
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, tiny, -tiny, 1e-45, 2.0 ** (-k_max), 2.0 ** (-k_max - 0.5), 2.0 ** (-0.5), 2.0 ** (-1.5)]
    u = torch.cat([torch.rand(20000) * 2 - 1, torch.tensor(edges)])
    u = torch.cat([u * scale for scale in (1.0, 1e-3, 1e-10, 1e-30)])
    fast, plain = pow2_project(u, bits), pow2_project_plain(u, bits)
    assert torch.equal(fast, plain)
    assert torch.equal(torch.signbit(fast), torch.signbit(plain))
