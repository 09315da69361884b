"""Membrane bits U (issue 30; docs/membrane_bits.md): the U-bit membrane quantizer and one step
of the refined neuron with it, against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from spikebits.space import Config, LayerChoice

from spikebits.models.neurons import RefinedNeuron, refined_step
from spikebits.models.quantizers import membrane_fraction_bits, quantize_membrane

torch.set_num_threads(1)


def steps(x: float, gamma: float, spike_bits: int, membrane_bits: int | None, n: int) -> tuple[list[float], list[float]]:
    """(v_1 … v_n, s_1 … s_n) of a constant input ``x``, from v_0 = s_0 = 0."""
    v = torch.zeros(1)
    s = torch.zeros(1)
    g = torch.tensor([gamma])
    vs, ss = [], []
    for _ in range(n):
        v, s = refined_step(v, torch.tensor([x]), s, g, spike_bits, membrane_bits=membrane_bits)
        vs.append(v.item())
        ss.append(s.item())
    return vs, ss


def test_the_bits_beyond_s_plus_2_go_half_to_the_fraction():
    # ⌈(U − S − 2)/2⌉: 16-bit beside 2-bit spikes is 1 sign, 9 integer and 6 fraction bits
    assert [membrane_fraction_bits(u, s) for u, s in ((16, 2), (17, 2), (4, 2), (3, 1), (8, 2))] == [6, 7, 0, 0, 2]
    # below S + 2 there is no fraction
    assert [membrane_fraction_bits(u, s) for u, s in ((3, 2), (2, 2), (2, 4))] == [0, 0, 0]


def test_a_membrane_narrower_than_s_plus_2_caps_the_levels_it_can_reach():
    # γ = 1, S = 2, U = 3: F = 0, codes −4 … 3: level 3 is still reached (code 3);
    # U = 2: codes −2 … 1, so the neuron fires level 1 at most, however strong its input.
    assert steps(5.0, 1.0, 2, 3, 2) == ([3.0, 3.0], [3.0, 3.0])
    assert steps(5.0, 1.0, 2, 2, 2) == ([1.0, 1.0], [1.0, 1.0])


def test_rounding_at_the_threshold():
    # γ = 1, S = 2, U = 8: F = 2, δ = 0.25.
    #   x = 1.3:   1.3/0.25 = 5.2 -> ⌊5.7⌋ = 5 -> v = 1.25 -> ⌊1.75⌋ = 1 -> s = 1
    #   x = 1.375: 5.5 -> ⌊6.0⌋ = 6 -> v = 1.5, on the threshold 1½ -> ⌊2.0⌋ = 2 -> s = 2,
    #   where the unquantized neuron has v = 1.375 -> ⌊1.875⌋ = 1 -> s = 1.
    assert steps(1.3, 1.0, 2, 8, 1) == ([1.25], [1.0])
    assert steps(1.375, 1.0, 2, 8, 1) == ([1.5], [2.0])
    assert steps(1.375, 1.0, 2, None, 1) == ([1.375], [1.0])


def test_saturation_holds_the_code_at_its_ends():
    # γ = 1, S = 2, U = 4: F = 0, codes −8 … 7.
    #   x = 20: t1 v' = 20 -> 7 -> s = clip(⌊7.5⌋, 0, 3) = 3; t2 v' = 7 + 20 − 3 = 24 -> 7 -> s = 3
    #   x = −20: v' = −20 -> −8 -> s = 0; t2 v' = −8 − 20 = −28 -> −8
    assert steps(20.0, 1.0, 2, 4, 2) == ([7.0, 7.0], [3.0, 3.0])
    assert steps(-20.0, 1.0, 2, 4, 2) == ([-8.0, -8.0], [0.0, 0.0])
    # the unquantized neuron integrates without bound: 20, 20 + 20 − 3 = 37
    assert steps(20.0, 1.0, 2, None, 2) == ([20.0, 37.0], [3.0, 3.0])


def test_the_soft_reset_subtracts_the_emitted_value():
    # γ = 0.5, S = 1 (levels 0, 1), U = 5: F = 1, δ = 0.25; x = 0.8 each step:
    #   t1: v' = 0.8 -> 3.2 -> ⌊3.7⌋ = 3 -> v = 0.75; u = 1.5 -> ⌊2⌋ = 2 -> clip 1 -> s = 0.5
    #   t2: v' = 0.75 + 0.8 − 0.5 = 1.05 -> 4.2 -> 4 -> v = 1.0; u = 2 -> clip 1 -> s = 0.5
    #   t3: v' = 1.0 + 0.8 − 0.5 = 1.3 -> 5.2 -> 5 -> v = 1.25; s = 0.5
    # unquantized: v = 0.8, 1.1, 1.4 (same spikes).
    assert steps(0.8, 0.5, 1, 5, 3) == ([0.75, 1.0, 1.25], [0.5, 0.5, 0.5])
    v, s = steps(0.8, 0.5, 1, None, 3)
    assert v == pytest.approx([0.8, 1.1, 1.4], abs=1e-6) and s == [0.5, 0.5, 0.5]


def test_the_firing_decision_on_the_stored_code_is_exact():
    # With a γ that is no power of two, u = c·2^(−F) is still exact, and the level is the
    # integer rounding of the code: ⌊(c + 2^(F−1)) / 2^F⌋, computed here in integers.
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(4096, generator=gen) * 3
    gamma = torch.tensor(0.3)
    for membrane_bits, spike_bits in ((6, 2), (8, 3), (5, 1)):
        fraction = membrane_fraction_bits(membrane_bits, spike_bits)
        u = quantize_membrane(v, gamma, membrane_bits, spike_bits)
        codes = (u * 2**fraction).to(torch.int64)
        assert torch.equal(codes.double(), u.double() * 2**fraction)  # whole codes, no rounding error
        assert codes.min() >= -(2 ** (membrane_bits - 1)) and codes.max() <= 2 ** (membrane_bits - 1) - 1
        expected = torch.div(codes + (1 << fraction >> 1), 1 << fraction, rounding_mode="floor") if fraction else codes
        assert torch.equal(torch.floor(u + 0.5).to(torch.int64), expected)


def test_straight_through_inside_the_range_and_no_gradient_when_saturated():
    v = torch.tensor([0.3, -0.2, 50.0, -50.0], requires_grad=True)
    gamma = torch.tensor(0.5, requires_grad=True)
    u = quantize_membrane(v, gamma, 5, 1)  # F = 1, δ = 0.25, codes −16 … 15: ±50/0.25 saturates
    # 0.3/0.25 = 1.2 -> ⌊1.7⌋ = 1 -> u = 0.5; −0.8 -> ⌊−0.3⌋ = −1 -> −0.5; 200 -> 15 -> 7.5; −200 -> −16 -> −8
    assert u.tolist() == [0.5, -0.5, 7.5, -8.0]
    u.sum().backward()
    assert v.grad.tolist() == [2.0, 2.0, 0.0, 0.0]  # ∂u/∂v = 1/γ inside, 0 saturated
    assert gamma.grad is None  # no gradient into γ through δ


def test_without_u_the_step_is_todays_refined_neuron_bit_for_bit():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(512, generator=gen) * 2
    gammas = [0.4, 0.25, 0.7]
    neuron = RefinedNeuron()
    neuron.configure(2, 3)
    with torch.no_grad():
        neuron.gamma.copy_(torch.tensor(gammas))
    neuron.initialized.fill_(True)
    expected = neuron(x)
    v, s = torch.zeros_like(x), torch.zeros_like(x)
    for t, gamma in enumerate(gammas):
        v, s = refined_step(v, x, s, torch.tensor(gamma), 2)
        assert torch.equal(s, expected[t]), t


def test_a_large_u_changes_no_spike_on_random_currents():
    # U = 64 beside S = 2: F = 30, codes to ±2^63 (no saturation: |u| < 2^33); |v − v'| ≤ γ·2^(−31),
    # below float32's resolution wherever |u| ≥ 2^(−7): what is left is the rounding of γ·(v'/γ).
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(20000, generator=gen) * 2
    gamma = torch.tensor(0.37)
    v0, s0 = torch.zeros_like(x), torch.zeros_like(x)
    v1, s1 = torch.zeros_like(x), torch.zeros_like(x)
    for _ in range(4):
        v0, s0 = refined_step(v0, x, s0, gamma, 2)
        v1, s1 = refined_step(v1, x, s1, gamma, 2, membrane_bits=64)
        assert torch.equal(s0, s1)
        assert ((v0 - v1).abs() <= 4 * torch.finfo(torch.float32).eps * (v0.abs() + gamma)).all()


# ---------------------------------------------------------------- the neuron with U
def configured(neuron: RefinedNeuron, gammas: list[float], spike_bits: int, membrane_bits: int | None) -> RefinedNeuron:
    neuron.configure(spike_bits, len(gammas), membrane_bits)
    with torch.no_grad():
        neuron.gamma.copy_(torch.tensor(gammas))
    neuron.initialized.fill_(True)
    return neuron


def test_the_neuron_with_u_follows_the_reference_step():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3000, generator=gen) * 2
    gammas = [0.4, 0.25, 0.7, 0.5]
    for membrane_bits in (4, 6, 9, 16):
        spikes = configured(RefinedNeuron(), gammas, 2, membrane_bits)(x)
        v, s = torch.zeros_like(x), torch.zeros_like(x)
        for t, gamma in enumerate(gammas):
            v, s = refined_step(v, x, s, torch.tensor(gamma), 2, membrane_bits=membrane_bits)
            assert torch.equal(s, spikes[t]), (membrane_bits, t)


def test_the_hand_cases_through_the_neuron():
    # rounding at the threshold (x = 1.375, γ = 1, S = 2, U = 8 stores 1.5 and fires level 2)
    # and saturation (U = 4: codes −8 … 7, x = 20 holds at 7 and fires 3, 3)
    neuron = configured(RefinedNeuron(), [1.0], 2, 8)
    assert neuron(torch.tensor([1.3, 1.375])).tolist() == [[1.0, 2.0]]
    neuron = configured(RefinedNeuron(), [1.0, 1.0], 2, 4)
    assert neuron(torch.tensor([20.0, -20.0])).tolist() == [[3.0, 0.0], [3.0, 0.0]]


def test_watched_the_neuron_with_u_fires_the_same_spikes_and_tags_its_levels():
    from spikebits.models.hooked import tagged_levels

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(500, generator=gen) * 2
    neuron = configured(RefinedNeuron(), [0.3, 0.6], 2, 6).eval()
    plain = neuron(x)
    seen = []
    handle = neuron.firing.register_forward_hook(lambda module, args, out: seen.append((args[3], out)))
    try:
        watched = neuron(x)
    finally:
        handle.remove()
    assert torch.equal(plain, watched)
    assert [u for u, _ in seen] == [6, 6]  # every step was a call of the firing module, with U
    levels, steps_ = tagged_levels(watched)
    assert torch.equal(levels * steps_.reshape(-1, 1), watched)
    assert set(levels.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_membrane_fire_trains_like_the_spike_quantizer_on_the_grid_and_stops_when_saturated():
    from spikebits.models.quantizers import membrane_fire, quantize_unsigned

    # γ = 0.5, S = 2, U = 8: F = 2, δ = 0.125; every v' below lies on the grid, so the stored
    # membrane is v' itself and the spikes, their v' gradient and their γ gradient are the
    # spike quantizer's; v' = 40 saturates (codes to 127: 15.875), its gradient is 0.
    v = torch.tensor([0.125, 0.375, 0.875, 1.25, -0.5, 40.0], requires_grad=True)
    gamma = torch.tensor(0.5, requires_grad=True)
    stored, spikes, levels = membrane_fire(v, gamma, 8, 2)
    assert stored.tolist() == [0.125, 0.375, 0.875, 1.25, -0.5, 15.875]
    assert levels.tolist() == [0.0, 1.0, 2.0, 3.0, 0.0, 3.0]
    assert spikes.tolist() == [0.0, 0.5, 1.0, 1.5, 0.0, 1.5]
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    (spikes * weights).sum().backward()
    v2 = v.detach()[:5].clone().requires_grad_(True)
    gamma2 = torch.tensor(0.5, requires_grad=True)
    # the same numel, so that the LSQ scale 1/sqrt(N·Q) is the same
    reference = quantize_unsigned(torch.cat([v2, torch.tensor([40.0])]), gamma2, 2)
    (reference * weights).sum().backward()
    assert v.grad[:5].tolist() == v2.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 0.0]  # u = 2.5 is inside (0, 3)
    assert v.grad[5].item() == 0.0
    assert gamma.grad.item() == pytest.approx(gamma2.grad.item())
    # the stored membrane passes its gradient straight through where not saturated
    v.grad = None
    stored, _, _ = membrane_fire(v, gamma, 8, 2)
    stored.sum().backward()
    assert v.grad.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_a_learnable_u_gets_a_gradient_only_from_saturated_membranes():
    from spikebits.models.quantizers import membrane_fire

    # Û's gradient is Σ_saturated ∂L/∂v·v·ln2/2: one saturated element, v = 15.875
    u_hat = torch.tensor(8.0, requires_grad=True)
    v = torch.tensor([0.375, 40.0])
    stored, _, _ = membrane_fire(v, torch.tensor(0.5), 8, 2, membrane_param=u_hat)
    stored.sum().backward()
    assert u_hat.grad.item() == pytest.approx(15.875 * math.log(2.0) / 2)


def test_the_lif_neuron_stores_its_membrane_in_units_of_its_threshold():
    from spikebits.models.neurons import LIFNeuron

    # θ = 1, U = 4 beside binary spikes: F = ⌈(4 − 3)/2⌉ = 1, δ = 0.5, codes −8 … 7.
    #   x = 0.8: t1 v' = 0.8 -> ⌊1.6 + ½⌋ = 2 -> v = 1.0 ≥ θ: a spike (the unquantized neuron: 0.8, none)
    #   t2: v' = 0.9·1.0·(1 − 1) + 0.8 = 0.8 -> 1.0 -> a spike
    #   x = 0.7: 1.4 -> ⌊1.9⌋ = 1 -> v = 0.5, no spike; t2: 0.9·0.5 + 0.7 = 1.15 -> ⌊2.8⌋ = 2 -> 1.0, a spike
    # unquantized: t2 v = 0.9·0.8 + 0.8 = 1.52 and 0.9·0.7 + 0.7 = 1.33, both spike at t2 only
    neuron = LIFNeuron(beta=0.9, threshold=1.0)
    neuron.configure(None, 2, 4)
    assert neuron(torch.tensor([0.8, 0.7])).tolist() == [[1.0, 0.0], [1.0, 1.0]]
    neuron.configure(None, 2)
    assert neuron(torch.tensor([0.8, 0.7])).tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_a_network_with_a_wide_membrane_predicts_as_the_unquantized_one():
    # Not bit for bit in floating point (docs/membrane_bits.md): a stored membrane moves by at
    # most γ·2^(−F−1) (F = 11 for the 8-bit image layer at U = 32), so a spike within that of a
    # threshold moves; every image still gets the same class, and the logits come closer as U grows.
    from spikebits.models import apply_config, build, default_space

    torch.manual_seed(5)
    model = build("digits_cnn").eval()
    space = default_space(model)
    base = space.uniform(space.layers[space.decisions[0]].largest())
    x = torch.rand(64, *model.input_shape)
    gaps = []
    with torch.no_grad():
        apply_config(model, base)
        model(x)  # initializes every γ
        plain = model(x)
        for membrane_bits in (16, 32):
            wide = {n: LayerChoice(c.w_bits, c.s_bits, c.timesteps, c.scheme, membrane_bits) for n, c in base.items()}
            apply_config(model, Config(wide))
            stored = model(x)
            assert torch.equal(plain.argmax(1), stored.argmax(1))
            gaps.append(float((plain - stored).abs().max()))
        apply_config(model, base)
        assert torch.equal(model(x), plain)  # and without U, today's numbers again
    assert gaps[1] < gaps[0] <= 0.05 * float(plain.abs().max())
