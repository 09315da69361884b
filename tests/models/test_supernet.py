"""Learnable bit widths and time steps: gradients against hand computations, step-size
renewal against the seed paper's theorem, the budget loss on real digits training, and the
snap-and-fit rule on a tiny space."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize
from torch import nn

from spikebits.models import (
    SpikingLayer,
    Supernet,
    WeightQuantizer,
    apply_config,
    build,
    default_space,
    layer_specs,
    quantize_unsigned,
    renewal_step,
    ste_round,
)
from spikebits.models.neurons import RefinedNeuron
from spikebits.space import BitTargets, Budget, BudgetError, Config, LayerChoice, LayerOptions, SearchSpace, nearest_option

LN2 = math.log(2.0)


# ----------------------------------------------------------------------------- gradients
def test_weight_bits_gradient_is_the_clipping_boundary_formula():
    # w = [0.4, −2.5, 3.0], α = 0.5, B = 3 → Q_p = 3; u = w/α = [0.8, −5, 6]: the last two
    # are clipped to ∓3. L = Σ c·w_q with c = [1, 2, 1]:
    # ∂L/∂B = Σ_clipped c·sign(u)·α·ln2·(Q_p + 1) = (2·(−1) + 1·(+1))·0.5·ln2·4 = −2 ln2.
    q = WeightQuantizer()
    q.configure(3, "uniform")
    q.initialized.fill_(True)
    with torch.no_grad():
        q.alpha.fill_(0.5)
    b_hat = q.learn_bits(1, 8, 3.2)  # rounds to 3
    w = torch.tensor([0.4, -2.5, 3.0])
    out = q(w)
    assert out.tolist() == pytest.approx([0.5, -1.5, 1.5])
    (out * torch.tensor([1.0, 2.0, 1.0])).sum().backward()
    assert float(b_hat.grad) == pytest.approx(-2 * LN2)
    # A positive clipped weight alone: more bits raise w_q, so ∂L/∂B > 0 for L = Σ w_q.
    b_hat.grad = None
    q(torch.tensor([0.1, 3.0])).sum().backward()
    assert float(b_hat.grad) == pytest.approx(0.5 * LN2 * 4)


def test_one_bit_weight_gradient_uses_q_plus_one_equal_one():
    # B = 1: w_q = α·sign(w), Q_p = 0, ∂w_q/∂B = sign·α·ln2 for |w| ≥ α.
    q = WeightQuantizer()
    q.configure(1, "uniform")
    q.initialized.fill_(True)
    with torch.no_grad():
        q.alpha.fill_(1.0)
    b_hat = q.learn_bits(1, 4, 1.0)
    q(torch.tensor([2.0, -3.0, -4.0, 0.2])).sum().backward()
    assert float(b_hat.grad) == pytest.approx((1 - 1 - 1) * LN2)


def test_spike_bits_gradient_counts_only_the_top_clip():
    # Unsigned, γ = 1, B = 2 → Q = 3. x = [−1, 0.7, 5, 9]: −1 is clipped at 0 (no B
    # dependence), 5 and 9 at the top. ∂L/∂B = (c₃ + c₄)·γ·ln2·(Q + 1) with c = [1, 1, 2, 0.5].
    gamma = torch.tensor(1.0)
    b_hat = torch.tensor(2.3, requires_grad=True)
    x = torch.tensor([-1.0, 0.7, 5.0, 9.0])
    out = quantize_unsigned(x, gamma, 2, b_hat)
    assert out.tolist() == [0.0, 1.0, 3.0, 3.0]
    (out * torch.tensor([1.0, 1.0, 2.0, 0.5])).sum().backward()
    assert float(b_hat.grad) == pytest.approx(2.5 * LN2 * 4)


def test_one_bit_spike_gradient_is_the_released_codes_gamma_ln2():
    # Unsigned, γ = 0.5, B = 1 → Q = 1, levels {0, 0.5}. x = [2, 0.2, 0.9, −1]: 2 and 0.9 clip
    # at the top (u = 4, 1.8 > 1). Released code: factor Q + 1[B > 1] = 1, so
    # ∂L/∂B = (c₁ + c₃)·γ·ln2·1 = (3 + 0.25)·0.5·ln2 (not twice that, as ∂(2^B − 1)/∂B gives).
    gamma = torch.tensor(0.5)
    b_hat = torch.tensor(1.2, requires_grad=True)
    out = quantize_unsigned(torch.tensor([2.0, 0.2, 0.9, -1.0]), gamma, 1, b_hat)
    assert out.tolist() == [0.5, 0.0, 0.5, 0.0]
    (out * torch.tensor([3.0, 7.0, 0.25, 5.0])).sum().backward()
    assert float(b_hat.grad) == pytest.approx(3.25 * 0.5 * LN2)
    # At B = 2 the factor is Q + 1 = 4: x = 2 → u = 4 > Q = 3 clips, x = 0.9 → u = 1.8 does not.
    b_hat = torch.tensor(2.2, requires_grad=True)
    out = quantize_unsigned(torch.tensor([2.0, 0.2, 0.9, -1.0]), gamma, 2, b_hat)
    (out * torch.tensor([3.0, 7.0, 0.25, 5.0])).sum().backward()
    assert float(b_hat.grad) == pytest.approx(3.0 * 0.5 * LN2 * 4)


def test_timestep_gradient_through_temporal_squeezing():
    # A refined neuron, γ = 1, B_s = 2, T̂ = 2.2 → T = 2, constant current x = 1.3:
    # t=1: v = 1.3 → s = ⌊1.8⌋ = 1; t=2: v = 1.3 + 1.3 − 1 = 1.6 → s = ⌊2.1⌋ = 2.
    # Synapse: full-precision weight 0.5. Output = 0.5·(1 + 2)/2 = 0.75 and
    # ∂out/∂T̂ = −0.5·(1 + 2)/T² = −0.375 (DESIGN: Σ_t s_t / (T + T̂ − stopgrad T̂)).
    layer = SpikingLayer(nn.Linear(1, 1, bias=False))
    layer.configure(LayerChoice(8, 2, 2, "uniform"))
    layer.weight_quantizer.configure(None)
    with torch.no_grad():
        layer.synapse.weight.fill_(0.5)
        layer.neuron.gamma.fill_(1.0)
    layer.neuron.initialized.fill_(True)
    _, t_hat = layer.neuron.learn(None, (1, 4), timesteps_init=2.2)
    out = layer(torch.tensor([[1.3]]))
    assert float(out.detach()) == pytest.approx(0.75)
    out.sum().backward()
    assert float(t_hat.grad) == pytest.approx(-0.375)
    # T̂ = 2.6 rounds to 3: t=3: v = 1.6 + 1.3 − 2 = 0.9 → s = ⌊1.4⌋ = 1; Σ s = 4.
    t_hat.grad = None
    with torch.no_grad():
        t_hat.fill_(2.6)
    out = layer(torch.tensor([[1.3]]))
    assert layer.neuron.timesteps == 3
    out.sum().backward()
    assert float(out.detach()) == pytest.approx(0.5 * 4 / 3)
    assert float(t_hat.grad) == pytest.approx(-0.5 * 4 / 9)


def test_per_step_spike_bits_each_get_their_own_gradient():
    neuron = RefinedNeuron()
    neuron.configure(2, 2)
    neuron.initialized.fill_(True)
    with torch.no_grad():
        neuron.gamma.fill_(1.0)
    b_hat, _ = neuron.learn((1, 4), None, bits_init=2.0)
    # x = 5: t=1 v = 5 → clipped at 3; t=2 v = 5 + 5 − 3 = 7 → clipped at 3.
    s = neuron(torch.tensor([5.0]))
    assert s.flatten().tolist() == [3.0, 3.0]
    (s[0].sum() + 2 * s[1].sum()).backward()
    assert b_hat.grad.tolist() == pytest.approx([LN2 * 4, 2 * LN2 * 4])


def test_straight_through_round_and_nearest_option():
    x = torch.tensor([0.2, 2.4, 2.6, 9.0], requires_grad=True)
    y = ste_round(x, 1, 8)
    assert y.tolist() == [1.0, 2.0, 3.0, 8.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert nearest_option(5.0, (1, 2, 3, 4, 8)) == 4
    assert nearest_option(6.0, (1, 2, 3, 4, 8)) == 4  # tie: the cheaper option
    assert nearest_option(6.5, (1, 2, 3, 4, 8)) == 8
    assert nearest_option(1.5, (1, 2, 4)) == 1


# ----------------------------------------------------------------------------- renewal
def _half_normal(n: int = 200_000, sigma: float = 1.0) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(0)).abs() * sigma


def test_renewal_step_matches_the_theorem_for_a_half_normal_at_four_bits():
    # Seed paper, theorem 1: for half-normal inputs the optimal step is 3σ/(2^b − 1).
    sigma = 0.7
    x = _half_normal(sigma=sigma)
    step = renewal_step(x, 4, "unsigned", grid=100)
    assert step == pytest.approx(3 * sigma / 15, rel=0.05)


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_renewal_step_is_the_lp_optimum_computed_by_integration(bits):
    # The grid search minimises mean|Q(x) − x|^2.4. For a half-normal (σ = 1) the optimum
    # of E|Q(x) − x|^2.4 = ∫ |Q(x) − x|^2.4 · 2φ(x) dx is found here by quadrature.
    q = 2**bits - 1

    def expected_error(step: float) -> float:
        def piece(k: int) -> float:
            lo, hi = (k - 0.5) * step, (k + 0.5) * step
            lo = max(lo, 0.0)
            hi = math.inf if k == q else hi
            f = lambda x: abs(k * step - x) ** 2.4 * 2 * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
            return integrate.quad(f, lo, hi)[0]

        return sum(piece(k) for k in range(q + 1))

    best = optimize.minimize_scalar(expected_error, bounds=(0.2 / q, 8.0 / q), method="bounded").x
    step = renewal_step(_half_normal(), bits, "unsigned", grid=100)
    assert step == pytest.approx(best, rel=0.03)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_keeping_the_old_step_after_dropping_a_bit_clips_more_than_13_percent(bits):
    # With step 3σ/(2^b − 1) and one bit fewer, the clipping range is (2^(b−1) − 1)·3σ/(2^b − 1)
    # ≤ 1.5σ, and P(|x| > 1.5σ) = 0.1336 > 0.13 for a half-normal (theorem 1's argument).
    x = _half_normal()
    step = 3.0 / (2**bits - 1)
    clip = (2 ** (bits - 1) - 1) * step
    p = float((x > clip).float().mean())
    assert p > 0.13
    assert 1 - (1 - p) ** 4 > 0.43  # over T = 4 steps


def test_weight_renewal_happens_only_when_asked_and_when_bits_change():
    torch.manual_seed(0)
    w = torch.randn(4000) * 0.1
    q = WeightQuantizer()
    q.configure(4, "uniform")
    q(w)
    alpha_4 = float(q.alpha.detach())
    b_hat = q.learn_bits(1, 8, 4.0)
    with torch.no_grad():
        b_hat.fill_(2.0)
    q(w)  # bits 4 → 2, renewal off: α kept
    assert q.bits == 2 and float(q.alpha.detach()) == alpha_4 and q.renewals == 0
    q.renew = True
    with torch.no_grad():
        b_hat.fill_(3.0)
    q(w)
    assert q.renewals == 1
    assert float(q.alpha.detach()) == pytest.approx(renewal_step(w, 3, "uniform"))
    q(w)  # no change, no renewal
    assert q.renewals == 1


# ----------------------------------------------------------------------------- supernet
def test_tied_layers_share_their_bit_parameters_and_pinned_layers_stay():
    model = build("resnet20", widths=(4, 8, 8), num_classes=10)
    space = default_space(model)
    apply_config(model, space.uniform(LayerChoice(4, 2, 2, "uniform")))
    net = Supernet(model, space, layer_specs(model))
    layers = model.spiking_layers()
    a, b = layers["layer2.0.conv1"], layers["layer2.0.shortcut"]
    assert a.weight_quantizer.bits_param is b.weight_quantizer.bits_param
    assert a.neuron.bits_param is b.neuron.bits_param
    assert a.neuron.timesteps_param is b.neuron.timesteps_param
    assert layers["conv1"].weight_quantizer.bits_param is None
    assert layers["conv1"].neuron.timesteps_param is None
    # 19 decisions × (B̂_w, B̂_s, T̂), each counted once.
    assert len(net.arch_params) == 3 * len(space.decisions)
    assert len({id(p) for p in net.arch_params}) == len(net.arch_params)
    w, s, t = net.averages()
    assert (float(w.detach()), float(s.detach()), float(t.detach())) == pytest.approx((4.0, 2.0, 2.0))
    assert net.snap() == space.uniform(LayerChoice(4, 2, 2, "uniform"))


def test_budget_loss_value_and_gradient_by_hand():
    model = build("digits_cnn")
    space = default_space(model)
    specs = layer_specs(model)
    apply_config(model, space.uniform(LayerChoice(4, 2, 1, "uniform")))
    net = Supernet(model, space, specs)
    # W̄ = 4, S̄ = 2, T̄ = 1 with targets 2/1/1: L = 0.04·2 + 0.04·1 + 0.01·0 = 0.12.
    loss, averages = net.budget_loss(BitTargets(2, 1, 1))
    assert averages == pytest.approx((4.0, 2.0, 1.0))
    assert float(loss.detach()) == pytest.approx(0.12)
    loss.backward()
    by_name = {s.name: s for s in specs}
    n_w = sum(by_name[n].n_weights for n in space.free_layers)
    conv3 = model.spiking_layers()["conv3"]
    # ∂L/∂B̂_w(conv3) = λ_w·sign(W̄ − W_t)·N_w(conv3)/ΣN_w (straight through the rounding).
    assert float(conv3.weight_quantizer.bits_param.grad) == pytest.approx(0.04 * by_name["conv3"].n_weights / n_w)
    n_a = sum(by_name[n].n_inputs for n in space.free_layers)
    assert float(conv3.neuron.bits_param.grad[0]) == pytest.approx(0.04 * by_name["conv3"].n_inputs / n_a)


@pytest.mark.parametrize("model_name", ["digits_cnn", "resnet20"])
@pytest.mark.parametrize("choice", [LayerChoice(1, 1, 1, "uniform"), LayerChoice(2, 2, 1, "uniform"), LayerChoice(4, 4, 1, "uniform")])
def test_budget_penalty_gradient_is_exactly_zero_at_the_target(model_name, choice):
    # Summed in float32, T̄ with every layer at T = 1 came out as 1 − 6·10⁻⁸ (digits_cnn) or
    # 1 − 1.8·10⁻⁷ (resnet20), and ∂λ_T|T̄ − 1|/∂T̂ was −λ_T·share, pushing T̂ up.
    model = build(model_name)
    space = default_space(model)
    apply_config(model, space.uniform(choice))
    net = Supernet(model, space, layer_specs(model))
    loss, averages = net.budget_loss(BitTargets(choice.w_bits, choice.s_bits, choice.timesteps))
    assert averages == (choice.w_bits, choice.s_bits, choice.timesteps) and float(loss.detach()) == 0.0
    loss.backward()
    assert net.arch_params and all(p.grad is not None and bool((p.grad == 0).all()) for p in net.arch_params)


def test_averages_are_exact_fractions_of_a_mixed_config():
    # conv2 W3/S1 at T = 2 with per-step S [1, 2] (mean 1.5), conv3 W1/S2/T1, fc W2/S4/T1:
    # W̄ = ΣB_w·N_w/ΣN_w and S̄ = Σ mean_t(B_s,t)·N_a/ΣN_a as exact fractions, correctly rounded.
    from fractions import Fraction

    model = build("digits_cnn")
    space = default_space(model)
    specs = {s.name: s for s in layer_specs(model)}
    apply_config(model, space.expand({"conv2": LayerChoice(3, 1, 2, "uniform"), "conv3": LayerChoice(1, 2, 1, "uniform"),
                                      "fc": LayerChoice(2, 4, 1, "uniform")}))
    net = Supernet(model, space, list(specs.values()))
    with torch.no_grad():
        model.spiking_layers()["conv2"].neuron.bits_param[1] = 2.0
    n_w = {n: specs[n].n_weights for n in ("conv2", "conv3", "fc")}
    n_a = {n: specs[n].n_inputs for n in ("conv2", "conv3", "fc")}
    w = Fraction(3 * n_w["conv2"] + 1 * n_w["conv3"] + 2 * n_w["fc"], sum(n_w.values()))
    s = (Fraction(3, 2) * n_a["conv2"] + 2 * n_a["conv3"] + 4 * n_a["fc"]) / sum(n_a.values())
    t = Fraction(2 * n_a["conv2"] + n_a["conv3"] + n_a["fc"], sum(n_a.values()))
    averages = net.averages()
    assert [a.dtype for a in averages] == [torch.float64] * 3
    assert [float(a.detach()) for a in averages] == [float(w), float(s), float(t)]
    # At exactly these (non-integer) targets the penalty's gradient is 0 too.
    loss, _ = net.budget_loss(BitTargets(float(w), float(s), float(t)))
    loss.backward()
    assert all(bool((p.grad == 0).all()) for p in net.arch_params)


def test_paper_bounds_snap_within_them_and_fix_runs_the_snapped_config():
    model = build("digits_cnn")
    space = default_space(model)  # W {1,2,3,4,8}, S {1,2,4}, T {1,2,4}
    apply_config(model, space.uniform(LayerChoice(4, 4, 2, "uniform")))
    net = Supernet(model, space, layer_specs(model), bits_above=2, timesteps_above=1)
    # B̂ in [1, min(8, 4 + 2)] = [1, 6], S in [1, 4], T̂ in [1, min(4, 2 + 1)] = [1, 3]; each then
    # narrowed to the options inside it: W 1..4, S {1, 2, 4}, T 1..2.
    assert net.ranges["conv2"] == {"w_bits": (1, 4), "s_bits": (1, 4), "timesteps": (1, 2)}
    assert net.allowed["conv2"] == {"w_bits": None, "s_bits": (1, 2, 4), "timesteps": None}
    conv2 = model.spiking_layers()["conv2"]
    with torch.no_grad():
        conv2.weight_quantizer.bits_param.fill_(4.4)  # clamped to the range: W 4
        conv2.neuron.timesteps_param.fill_(2.4)  # T 2
        conv2.neuron.bits_param.fill_(3.0)  # S 3 is no option: a tie between 2 and 4, to the cheaper 2
    x = torch.randn(8, 1, 16, 16)
    model.eval()
    model(x)
    # The supernet runs at S 2, not 3: the value it trains at is the value the snap returns.
    assert conv2.neuron.step_bits == [2, 2] and conv2.neuron.timesteps == 2 and conv2.weight_quantizer.bits == 4
    assert net.rounded()["conv2"] == {"w_bits": 4, "s_bits": 2.0, "timesteps": 2, "scheme": "uniform"}
    config = net.snap()
    assert config["conv2"] == LayerChoice(4, 2, 2, "uniform")
    net.set_renewal(weights=False, spikes=False)
    fixed = space.expand({**{r: config[r] for r in space.decisions}, "conv2": LayerChoice(2, 1, 1, "uniform")})
    net.fix(fixed)
    model(x)  # the widths that changed (W 4 -> 2, S 2 -> 1) get their step sizes renewed
    assert net.rounded()["conv2"] == {"w_bits": 2, "s_bits": 1.0, "timesteps": 1, "scheme": "uniform"}
    assert conv2.weight_quantizer.bits == 2 and conv2.neuron.timesteps == 1
    assert net.renewals()["weights"] >= 1 and net.renewals()["spikes"] >= 1


def test_the_supernet_never_trains_at_a_value_the_snap_cannot_return():
    """Whatever B̂ and T̂ hold, every value the forward runs at is an option of the layer, and
    the snap of the rounded config is that config itself (nothing is moved to an untrained value)."""
    model = build("digits_cnn")
    space = default_space(model)  # S {1,2,4}, T {1,2,4}: not contiguous
    apply_config(model, space.uniform(LayerChoice(4, 4, 2, "uniform")))
    net = Supernet(model, space, layer_specs(model), bits_above=2, timesteps_above=2)
    x = torch.randn(4, 1, 16, 16)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        with torch.no_grad():
            for p in net.arch_params:
                p.copy_(torch.rand(p.shape, generator=gen) * 5 + 0.5)
        net.clamp_()
        model(x)
        rounded = net.rounded()
        for rep, values in rounded.items():
            layer, options = model.spiking_layers()[rep], space.layers[rep]
            assert values["w_bits"] in options.w_bits and values["timesteps"] in options.timesteps
            assert set(layer.neuron.step_bits[: values["timesteps"]]) <= set(options.s_bits)
            assert layer.neuron.timesteps == values["timesteps"] and layer.weight_quantizer.bits == values["w_bits"]
        snapped = net.snap()
        assert all(
            (snapped[r].w_bits, snapped[r].timesteps) == (rounded[r]["w_bits"], rounded[r]["timesteps"]) for r in rounded
        )
        uniform_s = [r for r in rounded if len(set(model.spiking_layers()[r].neuron.step_bits[: rounded[r]["timesteps"]])) == 1]
        assert all(snapped[r].s_bits == rounded[r]["s_bits"] for r in uniform_s)


def test_gumbel_mixture_is_the_weighted_sum_of_candidates():
    torch.manual_seed(0)
    model = build("digits_cnn")
    space = default_space(model)
    apply_config(model, space.uniform(LayerChoice(4, 2, 1, "uniform")))
    net = Supernet(model, space, layer_specs(model), gumbel=True)
    q = model.spiking_layers()["conv2"].weight_quantizer
    assert len(q.candidates) == 10  # (uniform, pow2) × (1, 2, 3, 4, 8)
    w = model.conv2.synapse.weight.detach()
    torch.manual_seed(1)
    out = q(w)
    torch.manual_seed(1)
    m = q.mixture()
    from spikebits.models import quantize_weight

    expected = sum(m[i] * quantize_weight(w, q.alphas[i], b, s) for i, (s, b) in enumerate(q.candidates))
    assert torch.allclose(out, expected, atol=1e-6)
    assert float(q.expected_bits().detach()) == pytest.approx(float(sum(m[i].detach() * b for i, (_, b) in enumerate(q.candidates))), rel=1e-5)
    with torch.no_grad():
        q.logits[7] = 5.0  # pow2, 3 bits
    assert (q.scheme, q.bits) == ("pow2", 3)
    assert net.snap()["conv2"].scheme == "pow2" and net.snap()["conv2"].w_bits == 3


@pytest.mark.slow
def test_short_digits_run_moves_the_averages_to_the_target(digits_evaluator):
    from spikebits.search.differentiable import DifferentiableOptions, train_supernet

    run = train_supernet(digits_evaluator, BitTargets(2, 2, 1), DifferentiableOptions(supernet_epochs=4))
    first = run.history[0]
    assert (first["w_bits"], first["s_bits"], first["timesteps"]) == (4.0, 4.0, 2.0)  # the default start, 4/4/2
    last = run.history[-1]
    # A rounded config changes W̄ (S̄) in steps of one layer's share of the weights (inputs), so
    # a target between two such values is met to within the largest share of one bit.
    specs = {s.name: s for s in digits_evaluator.specs}
    free = digits_evaluator.space.free_layers
    w_step = max(specs[n].n_weights for n in free) / sum(specs[n].n_weights for n in free)
    s_step = max(specs[n].n_inputs for n in free) / sum(specs[n].n_inputs for n in free)
    assert abs(last["w_bits"] - 2.0) <= w_step and abs(last["s_bits"] - 2.0) <= s_step, last
    # T̄ reaches its target exactly; the penalty's gradient is then 0 and it stays there.
    assert [h["timesteps"] for h in run.history[-30:]] == [1.0] * 30
    # B̂ and T̂ are frozen for the last 20% of the steps: nothing changes in the last 10%.
    total_steps = 4 * math.ceil(len(digits_evaluator.data.train) / digits_evaluator.finetune_settings.batch_size)
    assert run.late_changes == {"steps": math.ceil(0.1 * total_steps), "changes": 0}
    assert run.renewals["spikes"] > 0 and run.renewals["weights"] == 0
    assert run.supernet_accuracy > 0.9
    assert digits_evaluator.space.complete(run.config, strict=True) == run.config


def test_count_changes_by_hand():
    from spikebits.search.differentiable import count_changes

    a, b = {"conv2": {"w_bits": 2}}, {"conv2": {"w_bits": 3}}
    assert count_changes([a, a, b, b, a]) == 2
    assert count_changes([a]) == 0 and count_changes([]) == 0


# ----------------------------------------------------------------------------- fit rule
OPTIONS = LayerOptions(w_bits=(1, 2, 4), s_bits=(1, 2), timesteps=(1, 2), schemes=("uniform",))
SPACE = SearchSpace.default(["first", "a", "b"], options=OPTIONS)


def _measure(config: Config) -> dict[str, float]:
    # Equal-sized layers a and b: averages are plain means; bit_budget = W̄·S̄·T̄.
    a, b = config["a"], config["b"]
    w, s, t = (a.w_bits + b.w_bits) / 2, (a.s_bits + b.s_bits) / 2, (a.timesteps + b.timesteps) / 2
    return {"bit_budget": w * s * t, "avg_w_bits": w, "avg_s_bits": s, "avg_timesteps": t}


def test_fit_lowers_the_layer_whose_learned_value_is_closest_to_the_lower_option():
    from spikebits.search.fitting import fit_config

    start = SPACE.expand({"a": LayerChoice(4, 2, 1), "b": LayerChoice(4, 2, 1)})  # BB = 4·2·1 = 8
    learned = {"a": {"w_bits": 3.9, "s_bits": [1.6], "timesteps": 1.0}, "b": {"w_bits": 2.7, "s_bits": [2.0], "timesteps": 1.0}}
    # Moves that cut the excess over BB ≤ 6 (excess 8/6 − 1 = 1/3):
    #   a.w 4→2 → BB 6, gain 1/3, regret |3.9 − 2| = 1.9 → 5.7;  b.w 4→2 → gain 1/3, regret 0.7 → 2.1;
    #   a.s 2→1 → BB 6, gain 1/3, regret |1.6 − 1| = 0.6 → 1.8 (the winner);
    #   b.s 2→1 → regret 1.0 → 3.
    config, moves = fit_config(start, SPACE, _measure, {"bit_budget": 6.0}, learned=learned)
    assert moves == ["a.s_bits 2->1"]
    assert _measure(config)["bit_budget"] == pytest.approx(6.0)


def test_fit_raises_towards_the_target_without_breaking_the_budget():
    from spikebits.search.fitting import fit_config

    start = SPACE.uniform(LayerChoice(1, 1, 1))
    # Target W̄ = 4: deviation 3 − 0.25. Raising W costs BB; with BB ≤ 2 only W̄ ≤ 2 is allowed.
    config, moves = fit_config(start, SPACE, _measure, {"bit_budget": 2.0}, target=BitTargets(4, 1, 1), tolerance=0.25)
    assert _measure(config)["bit_budget"] <= 2.0
    assert _measure(config)["avg_w_bits"] == pytest.approx(2.0)
    assert all("w_bits" in m for m in moves)


def test_fit_reports_an_unreachable_budget_in_one_line():
    from spikebits.search.fitting import fit_config

    start = SPACE.uniform(LayerChoice(1, 1, 1))
    with pytest.raises(BudgetError, match=r"bit_budget 1 > 0.5.*loosen the budget") as err:
        fit_config(start, SPACE, _measure, {"bit_budget": 0.5})
    assert "\n" not in str(err.value)


def test_a_lone_bit_budget_is_split_into_targets():
    from spikebits.search.differentiable import resolve_targets, split_bit_budget

    space = SearchSpace.default(["first", "a", "b"])  # W (1,2,3,4,8), S (1,2,4), T (1,2,4)
    t = split_bit_budget(3.0, space)
    assert (t.w_bits, t.s_bits, t.timesteps) == pytest.approx((math.sqrt(3), math.sqrt(3), 1.0))
    # S saturates at 4: BB 64 → W = S = 8 would exceed S's largest option; S = 4, W = 16 → 8.
    t = split_bit_budget(64.0, space)
    assert (t.w_bits, t.s_bits, t.timesteps) == pytest.approx((8.0, 4.0, 1.0))
    assert resolve_targets(None, Budget.parse("bit_budget<=3"), space) == (split_bit_budget(3.0, space),)
    assert [str(x) for x in resolve_targets("1/1/1, 2/2/1", Budget(), space)] == ["1/1/1", "2/2/1"]
    assert len(resolve_targets(None, Budget(), space)) == 3


@pytest.mark.parametrize("text", ["2/2", "a/b/c", "0.5/1/1", ""])
def test_bad_targets_are_one_line_errors(text):
    with pytest.raises(BudgetError, match="W/S/T|target|no targets"):
        BitTargets.parse_list(text)


def test_half_normal_theorem_numbers_by_numpy():
    # The constant behind "exceeds 0.13": P(|z| > 1.5) for a standard normal.
    from scipy.stats import norm

    assert 2 * norm.sf(1.5) == pytest.approx(0.1336, abs=1e-4)
    assert np.isclose(2 * norm.sf(3.0), 0.0027, atol=1e-4)


def test_learned_value_of_a_gumbel_choice_is_the_expected_bits():
    from spikebits.search.fitting import learned_value

    # pow2 candidates: "pow23" is 3 bits of the pow2 scheme, not 23 bits.
    learned = {"w_candidates": {"uniform1": 0.25, "uniform8": 0.25, "pow23": 0.5}, "s_bits": [1.0, 3.0], "timesteps": 1.4}
    assert learned_value(learned, "w_bits") == pytest.approx(0.25 * 1 + 0.25 * 8 + 0.5 * 3)
    assert learned_value(learned, "s_bits") == pytest.approx(2.0)
    assert learned_value(learned, "timesteps") == pytest.approx(1.4)
