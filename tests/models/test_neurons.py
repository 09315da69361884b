"""models.neurons: the refined multi-bit neuron and the LIF neuron, step by step by hand."""

from __future__ import annotations

import math

import pytest
import torch

from spikebits.models.neurons import LIFNeuron, RefinedNeuron

torch.set_num_threads(1)


def refined(bits, timesteps, gammas, tau: float = 1.0) -> RefinedNeuron:
    """A refined neuron with γ_t set by hand (initialized, so the forward keeps them)."""
    n = RefinedNeuron(tau=tau)
    n.configure(bits, timesteps)
    with torch.no_grad():
        n.gamma.copy_(torch.tensor(gammas, dtype=torch.float32))
    n.initialized.fill_(True)
    return n


def test_refined_neuron_hand_computation_three_steps():
    # x = 0.7 constant, γ = 0.5, B_s = 2 (clip at 3):
    #   t1: v = 0.7                 -> ⌊1.4 + 0.5⌋ = 1 -> s = 0.5
    #   t2: v = 0.7 + 0.7 − 0.5 = 0.9 -> ⌊1.8 + 0.5⌋ = 2 -> s = 1.0
    #   t3: v = 0.9 + 0.7 − 1.0 = 0.6 -> ⌊1.2 + 0.5⌋ = 1 -> s = 0.5
    n = refined(2, 3, [0.5, 0.5, 0.5])
    out = n(torch.tensor([[0.7]]))
    assert out.shape == (3, 1, 1)
    assert out.flatten().tolist() == pytest.approx([0.5, 1.0, 0.5], abs=1e-6)
    assert n.gamma.tolist() == [0.5, 0.5, 0.5]  # hand-set γ not overwritten


def test_refined_neuron_several_inputs_at_once():
    # γ = 1, B_s = 1 (levels {0, 1}), T = 4
    # x = 0.3: v 0.3 -> 0 ; 0.6 -> ⌊1.1⌋ = 1 ; 0.6−1+0.3 = −0.1 -> 0 ; 0.2 -> 0   => [0, 1, 0, 0]
    # x = 0.6: v 0.6 -> 1 ; 0.6+0.6−1 = 0.2 -> 0 ; 0.8 -> 1 ; 0.8+0.6−1 = 0.4 -> 0 => [1, 0, 1, 0]
    # x = −1 : never fires                                                        => [0, 0, 0, 0]
    # x = 2.5: v 2.5 -> clip 1 ; 2.5+2.5−1 = 4 -> 1 ; 6 -> 1 ; 7.5 -> 1            => [1, 1, 1, 1]
    n = refined(1, 4, [1.0] * 4)
    out = n(torch.tensor([0.3, 0.6, -1.0, 2.5]))
    assert out.T.flatten().tolist() == pytest.approx([0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1], abs=1e-6)


def test_refined_neuron_clips_at_top_level():
    # γ = 0.25, B_s = 2: at most 3 levels above 0 -> s ≤ 0.75 whatever the input
    # x = 10: t1 v = 10 -> clip 3 -> 0.75; t2 v = 10 + 10 − 0.75 = 19.25 -> 0.75
    n = refined(2, 2, [0.25, 0.25])
    out = n(torch.tensor([10.0, 0.3]))
    # x = 0.3: t1 ⌊1.2+0.5⌋ = 1 -> 0.25; t2 v = 0.3+0.3−0.25 = 0.35 -> ⌊1.4+0.5⌋ = 1 -> 0.25
    assert out[:, 0].tolist() == [0.75, 0.75]
    assert out[:, 1].tolist() == pytest.approx([0.25, 0.25], abs=1e-6)
    # B_s = 3 with γ = 0.25: clip at 7 -> 1.75
    assert refined(3, 1, [0.25])(torch.tensor([10.0])).tolist() == [[1.75]]


def test_refined_neuron_uses_per_step_gamma():
    # x = 0.7, B_s = 2, γ = (0.5, 0.2, 1.0):
    #   t1: v = 0.7 -> ⌊1.4+0.5⌋ = 1 -> s = 0.5
    #   t2: v = 0.7 + 0.7 − 0.5 = 0.9 -> γ = 0.2: ⌊4.5 + 0.5⌋ = 5 -> clip 3 -> s = 0.6
    #   t3: v = 0.9 + 0.7 − 0.6 = 1.0 -> γ = 1.0: ⌊1.0 + 0.5⌋ = 1 -> s = 1.0
    n = refined(2, 3, [0.5, 0.2, 1.0])
    out = n(torch.tensor([0.7]))
    assert out.flatten().tolist() == pytest.approx([0.5, 0.6, 1.0], abs=1e-6)
    # the same neuron with one shared γ = 0.5 gives [0.5, 1.0, 0.5]: the per-step γ matters
    assert refined(2, 3, [0.5] * 3)(torch.tensor([0.7])).flatten().tolist() == pytest.approx([0.5, 1.0, 0.5], abs=1e-6)


def test_refined_neuron_leak_tau():
    # τ = 2, γ = 1, B_s = 2, x = 0.8:
    #   t1: v = 0.8 -> ⌊1.3⌋ = 1 -> s = 1
    #   t2: v = 0.8/2 + 0.8 − 1 = 0.2 -> ⌊0.7⌋ = 0 -> s = 0
    #   t3: v = 0.2/2 + 0.8 − 0 = 0.9 -> ⌊1.4⌋ = 1 -> s = 1
    n = refined(2, 3, [1.0] * 3, tau=2.0)
    assert n(torch.tensor([0.8])).flatten().tolist() == pytest.approx([1.0, 0.0, 1.0], abs=1e-6)
    with pytest.raises(ValueError):
        RefinedNeuron(tau=0.5)


def test_refined_full_precision_is_relu_at_t1():
    n = RefinedNeuron()
    n.configure(None, 1)
    x = torch.tensor([[-2.0, -0.1, 0.0, 0.3, 7.5]])
    out = n(x)
    assert out.shape == (1, 1, 5)
    assert torch.equal(out[0], torch.relu(x))
    # full precision at T = 2: t1 s = relu(0.3) = 0.3; t2 v = 0.3 + 0.3 − 0.3 = 0.3
    n.configure(None, 2)
    assert n(torch.tensor([0.3, -1.0])).flatten().tolist() == pytest.approx([0.3, 0.0, 0.3, 0.0])


def test_refined_neuron_initializes_gamma_from_input():
    # x = [0, 1, 2, 5]: mean|x| = 2, B_s = 2, Q = 3 -> γ₀ = 4/sqrt(3) for every step
    n = RefinedNeuron()
    n.configure(2, 3)
    assert n.gamma.numel() == 3
    n(torch.tensor([0.0, 1.0, 2.0, 5.0]))
    assert n.gamma.tolist() == pytest.approx([4 / 3**0.5] * 3, rel=1e-6)
    assert bool(n.initialized)
    n.configure(2, 3)  # same config: kept
    assert bool(n.initialized)
    n.configure(2, 2)  # new T: re-initialize, one γ per step
    assert not bool(n.initialized) and n.gamma.numel() == 2
    with pytest.raises(ValueError):
        n.configure(2, 0)


def test_refined_neuron_gradients_reach_gamma_and_input():
    n = refined(2, 3, [0.5, 0.4, 0.3])
    x = torch.tensor([0.7, 0.2, 1.3, 0.05], requires_grad=True)
    out = n(x)
    (out * torch.arange(1.0, 4.0).view(3, 1)).sum().backward()
    assert n.gamma.grad is not None
    assert n.gamma.grad.shape == (3,)
    assert (n.gamma.grad != 0).all(), n.gamma.grad
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_lif_neuron_hand_computation():
    # β = 0.5, θ = 1, x = 0.6 constant:
    #   t1: v = 0.6              -> s = 0
    #   t2: v = 0.5·0.6 + 0.6 = 0.9  -> s = 0
    #   t3: v = 0.5·0.9 + 0.6 = 1.05 -> s = 1
    #   t4: v = 0.5·1.05·(1−1) + 0.6 = 0.6 -> s = 0 (hard reset)
    #   t5: v = 0.9 -> 0;  t6: v = 1.05 -> 1
    n = LIFNeuron(beta=0.5, threshold=1.0)
    n.configure(4, 6)  # the bit width is ignored: spikes are binary
    assert n.spike_bits == 1
    out = n(torch.tensor([0.6, 1.2, 0.2]))
    assert out.shape == (6, 3)
    assert out[:, 0].tolist() == [0, 0, 1, 0, 0, 1]
    # x = 1.2: fires every step (v = 1.2 after each reset)
    assert out[:, 1].tolist() == [1, 1, 1, 1, 1, 1]
    # x = 0.2: v → 0.2/(1−0.5) = 0.4 < 1, never fires
    assert out[:, 2].tolist() == [0, 0, 0, 0, 0, 0]
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_lif_neuron_threshold_and_leak():
    # β = 0.9, θ = 2, x = 0.8: v = 0.8, 1.52, 2.168 -> spikes [0, 0, 1]
    n = LIFNeuron(beta=0.9, threshold=2.0)
    n.configure(None, 3)
    assert n(torch.tensor([0.8])).flatten().tolist() == [0.0, 0.0, 1.0]


def test_lif_surrogate_gradient_reaches_input():
    n = LIFNeuron(beta=0.5, threshold=1.0, slope=5.0)
    n.configure(1, 1)
    # T = 1: s = H(x − 1); surrogate ∂s/∂x = 1/(1 + 5|x − 1|)²
    # x = 0.8 -> 1/(1 + 1)² = 0.25;  x = 1.5 -> 1/(1 + 2.5)² = 1/12.25
    x = torch.tensor([0.8, 1.5], requires_grad=True)
    n(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([0.25, 1 / 12.25], rel=1e-5)
    # several steps: gradient still non-zero everywhere
    n.configure(1, 4)
    x = torch.tensor([0.3, 0.9, 2.0], requires_grad=True)
    n(x).sum().backward()
    assert (x.grad != 0).all()


# ----------------------------------------------------------------------------- the fused T-step node


def reference_spikes(x, gamma, bits, timesteps, tau=1.0):
    """The refined neuron written step by step with the unsigned quantizer (autograd does the rest)."""
    from spikebits.models.quantizers import quantize_unsigned

    v = torch.zeros_like(x)
    s = torch.zeros_like(x)
    out = []
    for t in range(timesteps):
        v = (v if tau == 1.0 else v / tau) + x - s
        s = quantize_unsigned(v, gamma[t], bits)
        out.append(s)
    return torch.stack(out)


@pytest.mark.parametrize("bits,timesteps,tau", [(1, 1, 1.0), (2, 2, 1.0), (3, 4, 1.0), (4, 3, 1.5), (8, 2, 1.0)])
def test_fused_neuron_levels_bit_identical_and_gradients_match_autograd(bits, timesteps, tau):
    from spikebits.models.neurons import refined_spikes

    torch.manual_seed(bits * 10 + timesteps)
    x = (torch.randn(6, 5, 7, 7) * 0.8).requires_grad_()
    gamma = (torch.rand(timesteps) * 0.4 + 0.1).requires_grad_()
    weights = torch.randn(timesteps, 6, 5, 7, 7)
    fused = refined_spikes(x, gamma, bits, timesteps, tau)
    (fused * weights).sum().backward()
    gx, gg = x.grad.clone(), gamma.grad.clone()
    x.grad = gamma.grad = None
    ref = reference_spikes(x, gamma, bits, timesteps, tau)
    (ref * weights).sum().backward()
    assert torch.equal(fused, ref)  # the integer levels, and so the spikes, are bit-identical
    assert torch.equal(torch.round(fused / gamma.detach().view(-1, 1, 1, 1, 1)), torch.round(ref / gamma.detach().view(-1, 1, 1, 1, 1)))
    torch.testing.assert_close(gx, x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gg, gamma.grad, rtol=1e-5, atol=1e-6)


def test_fused_neuron_gradient_by_hand():
    # x = 0.7, γ = (0.5, 0.5), B_s = 2 (Q = 3), T = 2, L = 1·s_1 + 2·s_2.
    #   t1: v1 = 0.7, u1 = 1.4 (inside), level 1, s1 = 0.5
    #   t2: v2 = 0.7 + 0.7 − 0.5 = 0.9, u2 = 1.8 (inside), level 2, s2 = 1.0
    # ∂L/∂v2 = 2·1 = 2; ∂L/∂s1 (total) = 1 − ∂L/∂v2 = −1; ∂L/∂v1 = −1 + ∂L/∂v2 = 1
    # ∂L/∂x = ∂L/∂v1 + ∂L/∂v2 = 3
    # g = 1/sqrt(N·Q) = 1/sqrt(3)
    # ∂L/∂γ2 = g·(2·2 − 2·1.8) = 0.4·g;  ∂L/∂γ1 = g·(−1·1 − (−1)·1.4) = 0.4·g
    n = refined(2, 2, [0.5, 0.5])
    x = torch.tensor([0.7], requires_grad=True)
    out = n(x)
    assert out.flatten().tolist() == [0.5, 1.0]
    (out.flatten() * torch.tensor([1.0, 2.0])).sum().backward()
    assert x.grad.item() == pytest.approx(3.0)
    assert n.gamma.grad.tolist() == pytest.approx([0.4 / math.sqrt(3), 0.4 / math.sqrt(3)], rel=1e-5)
