"""The supernet searches the membrane width U (issue 30): one learnable Û per decision that
searches U, shared by tied layers, in the budget loss as λ_U|Ū − U_t| with Ū weighted by N_a,
snapped to the options and carried into the fixed and released network; a space without U
makes no Û and computes what it did before."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from spikebits.models import Supernet, apply_config, build, default_space, layer_specs
from spikebits.models.supernet import DEFAULT_MEMBRANE_LAMBDA
from spikebits.space import BitTargets, LayerChoice
from spikebits.space.budget import membrane_average

U_OPTIONS = (4, 6, 8, 16)


def _digits(u_options=U_OPTIONS, start: LayerChoice = LayerChoice(4, 2, 1, "uniform", 16)):
    torch.manual_seed(0)
    model = build("digits_cnn")
    space = default_space(model).searching_membrane(u_options)
    specs = layer_specs(model)
    apply_config(model, space.uniform(start))
    return model, space, specs


def test_tied_layers_share_one_membrane_parameter_and_pinned_layers_have_none():
    model = build("resnet20", widths=(4, 8, 8), num_classes=10)
    space = default_space(model).searching_membrane(U_OPTIONS)
    apply_config(model, space.nearest_config(4, 2, 2))  # U: the largest option, 16
    net = Supernet(model, space, layer_specs(model))
    layers = model.spiking_layers()
    a, b = layers["layer2.0.conv1"], layers["layer2.0.shortcut"]
    assert a.neuron.membrane_param is not None and a.neuron.membrane_param is b.neuron.membrane_param
    assert float(a.neuron.membrane_param.detach()) == 16.0
    assert layers["conv1"].neuron.membrane_param is None and layers["conv1"].neuron.membrane_bits is None
    # One Û per decision beside B̂_w, B̂_s and T̂, each counted once, learning at the bits' rate.
    assert len(net.membrane_params) == len(space.decisions)
    assert len(net.arch_params) == 4 * len(space.decisions)
    assert len({id(p) for p in net.arch_params}) == len(net.arch_params)
    assert not {id(p) for p in net.membrane_params} & {id(p) for p in net.timestep_params}
    assert net.ranges["layer2.0.conv1"]["u_bits"] == (4, 16)
    assert net.allowed["layer2.0.conv1"]["u_bits"] == U_OPTIONS
    assert float(net.membrane_average().detach()) == 16.0
    assert net.snap() == space.nearest_config(4, 2, 2)


def test_a_space_without_u_makes_no_membrane_parameter():
    model = build("digits_cnn")
    space = default_space(model)
    apply_config(model, space.uniform(LayerChoice(4, 2, 1, "uniform")))
    net = Supernet(model, space, layer_specs(model))
    assert net.membrane_params == [] and len(net.arch_params) == 3 * len(space.decisions)
    assert all(layer.neuron.membrane_param is None for layer in model.spiking_layers().values())
    assert net.membrane_average() is None
    loss, averages = net.budget_loss(BitTargets(2, 1, 1))
    assert len(averages) == 3 and float(loss.detach()) == pytest.approx(0.12)
    assert all("u_bits" not in entry for entry in net.learned().values())
    assert all("u_bits" not in entry for entry in net.rounded().values())
    assert all(choice.u_bits is None for choice in net.snap().values())
    with pytest.raises(ValueError, match="membrane target but no layer searches U"):
        net.budget_loss(BitTargets(2, 1, 1, 4))


def test_membrane_penalty_value_and_gradient_by_hand():
    model, space, specs = _digits()
    net = Supernet(model, space, specs)
    # W̄ = 4, S̄ = 2, T̄ = 1, Ū = 16 with targets 2/1/1/4:
    # L = 0.04·2 + 0.04·1 + 0.01·0 + λ_U·12 (λ_U = 0.01 by default).
    loss, averages = net.budget_loss(BitTargets(2, 1, 1, 4))
    assert averages == pytest.approx((4.0, 2.0, 1.0, 16.0))
    assert float(loss.detach()) == pytest.approx(0.12 + DEFAULT_MEMBRANE_LAMBDA * 12)
    loss.backward()
    by_name = {s.name: s for s in specs}
    n_a = sum(by_name[n].n_inputs for n in space.free_layers)
    conv3 = model.spiking_layers()["conv3"]
    # ∂L/∂Û(conv3) = λ_U·sign(Ū − U_t)·N_a(conv3)/ΣN_a (straight through the rounding).
    assert float(conv3.neuron.membrane_param.grad) == pytest.approx(DEFAULT_MEMBRANE_LAMBDA * by_name["conv3"].n_inputs / n_a)
    # A fourth coefficient is λ_U; without a membrane target there is no membrane term (Ū still reported).
    loss, _ = net.budget_loss(BitTargets(2, 1, 1, 4), (0.04, 0.04, 0.01, 0.5))
    assert float(loss.detach()) == pytest.approx(0.12 + 0.5 * 12)
    loss, averages = net.budget_loss(BitTargets(2, 1, 1))
    assert float(loss.detach()) == pytest.approx(0.12) and averages[3] == 16.0


def test_membrane_average_is_exact_and_its_penalty_gradient_is_zero_at_the_target():
    model, space, specs = _digits()
    net = Supernet(model, space, specs)
    layers = model.spiking_layers()
    with torch.no_grad():
        layers["conv2"].neuron.membrane_param.fill_(6.3)  # U 6
        layers["fc"].neuron.membrane_param.fill_(4.2)  # U 4
    by_name = {s.name: s for s in specs}
    n_a = {n: by_name[n].n_inputs for n in ("conv2", "conv3", "fc")}
    exact = Fraction(6 * n_a["conv2"] + 16 * n_a["conv3"] + 4 * n_a["fc"], sum(n_a.values()))
    u = net.membrane_average()
    assert u.dtype == torch.float64 and float(u.detach()) == float(exact)
    # The same Ū as the data-free formula of the rounded config.
    assert float(u.detach()) == membrane_average(specs, net.snap(), space.free_layers)
    loss, _ = net.budget_loss(BitTargets(4, 2, 1, float(exact)))
    loss.backward()
    assert all(bool((p.grad == 0).all()) for p in net.arch_params)


def test_membrane_width_moves_down_under_the_penalty():
    """A few steps of CE + λ_U|Ū − 4| on a digits_cnn: every Û falls from 16 and the rounded
    U (what the neurons run at) with it; W, S and T held at their targets stay put."""
    model, space, specs = _digits()
    net = Supernet(model, space, specs, hysteresis=0.1)
    optimizer = torch.optim.Adam(net.arch_params, lr=0.2)
    x = torch.randn(16, 1, 16, 16)
    y = torch.randint(0, 10, (16,))
    model.train()
    start = float(net.membrane_average().detach())
    for _ in range(60):  # Adam moves Û about lr = 0.2 a step
        loss = torch.nn.functional.cross_entropy(model(x), y) + net.budget_loss(BitTargets(4, 2, 1, 4), (0.04, 0.04, 0.01, 0.05))[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        net.clamp_()
    model(x)
    assert start == 16.0 and float(net.membrane_average().detach()) < 8.0
    for rep in space.decisions:
        neuron = model.spiking_layers()[rep].neuron
        assert float(neuron.membrane_param.detach()) < 8.0 and neuron.membrane_bits in U_OPTIONS and neuron.membrane_bits < 16
        assert net.rounded()[rep]["u_bits"] == neuron.membrane_bits
        assert net.learned()[rep]["u_bits"] == pytest.approx(float(neuron.membrane_param.detach()))


def test_snap_fix_and_release_carry_the_chosen_u():
    model, space, specs = _digits()
    net = Supernet(model, space, specs)
    layers = model.spiking_layers()
    with torch.no_grad():
        layers["conv2"].neuron.membrane_param.fill_(7.2)  # nearest option 8
        layers["conv3"].neuron.membrane_param.fill_(5.0)  # a tie between 4 and 6: the cheaper 4
    x = torch.randn(8, 1, 16, 16)
    model.eval()
    model(x)
    assert layers["conv2"].neuron.membrane_bits == 8 and layers["conv3"].neuron.membrane_bits == 4
    config = net.snap()
    assert [config[n].u_bits for n in ("conv1", "conv2", "conv3", "fc")] == [None, 8, 4, 16]
    assert space.complete(config, strict=True) == config  # within the options
    # Snapping averaged values (as after the last epoch) picks the option nearest the mean.
    values = net.rounded()
    values["conv2"]["u_bits"] = 11.5
    assert net.snap(values)["conv2"].u_bits == 8
    # Fixed at another U, the network runs there; released, it is a plain network at the config.
    fixed = config.replace(conv2=LayerChoice(4, 2, 1, "uniform", 6))
    net.fix(fixed)
    model(x)
    assert layers["conv2"].neuron.membrane_bits == 6 and net.snap() == fixed
    expected = model(x)
    assert net.release(fixed) == []
    assert all(layer.neuron.membrane_param is None for layer in layers.values())
    assert [layers[n].neuron.membrane_bits for n in ("conv1", "conv2", "conv3", "fc")] == [None, 6, 4, 16]
    fresh = build("digits_cnn")
    apply_config(fresh, fixed)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    assert torch.equal(fresh(x), expected) and torch.equal(model(x), expected)


def test_a_single_u_option_is_run_and_snapped_without_a_parameter():
    model, space, specs = _digits(u_options=(8,), start=LayerChoice(4, 2, 1, "uniform"))  # a start without U
    net = Supernet(model, space, specs)
    assert net.membrane_params == []
    assert all(model.spiking_layers()[r].neuron.membrane_bits == 8 for r in space.decisions)
    assert float(net.membrane_average().detach()) == 8.0
    assert all(net.snap()[r].u_bits == 8 for r in space.decisions)


def test_a_layers_output_neurons_share_its_membrane_parameter():
    torch.manual_seed(0)
    model = build("spikformer", image_size=16, embed_dim=16, depth=1, heads=2, mlp_ratio=2.0, num_classes=5)
    space = default_space(model).searching_membrane(U_OPTIONS)
    apply_config(model, space.nearest_config(4, 2, 1))
    net = Supernet(model, space, layer_specs(model))
    attn = model.blocks[0].attn
    for layer in (attn.q, attn.k, attn.v):
        assert layer.neuron.membrane_param is not None and layer.output_neuron.membrane_param is layer.neuron.membrane_param
    config = net.snap().replace(**{n: LayerChoice(4, 2, 1, "uniform", 6) for n in space.group_of("blocks.0.attn.q")})
    net.fix(config)
    with torch.no_grad():
        model(torch.rand(2, 3, 16, 16))
    assert attn.q.output_neuron.membrane_bits == 6 and attn.q.neuron.membrane_bits == 6
    net.release(config)
    assert attn.q.output_neuron.membrane_param is None and attn.q.output_neuron.membrane_bits == 6
