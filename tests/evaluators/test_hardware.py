"""The bit-serial hardware simulator: hand counts, the dense limit, and exactness on digits_cnn."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikebits.evaluators import Evaluator
from spikebits.evaluators.activity import integer_levels, neurobench_counts, probe_synapses, source_layer, spike_bits, spike_steps
from spikebits.evaluators.energy import energy_report
from spikebits.evaluators.hardware import integer_synapse, integer_weights, simulate
from spikebits.models import SpikingLayer, apply_config, build, layer_specs
from spikebits.space import Config, ConfigError, LayerChoice
from toy_snn import X, toy




def test_hand_counts_on_a_toy():
    # fc1 (S2, T1, 2 outputs): k = [0, 1, 3] (popcounts 0, 1, 2).
    #   events = 2 non-zero inputs × fan-out 2 = 4; bit cycles = 4·2 = 8;
    #   adds = (1 + 2) set bits × 2 = 6; weight bits = 4·3 = 12; updates = 3 inputs × 1 = 3;
    #   spikes = 2; cycles = 8 + 3 = 11 (lanes 2: ⌈11/2⌉ = 6).
    #   acc = w_int·k = [−2 + 9, 1] = [7, 1]; out = 0.5·0.25·[7, 1] = [0.875, 0.125].
    # fc2 (S2, T2): k1 = [3, 1], k2 = [2, 0].
    #   events = (2 + 1)·2 = 6; bit cycles = 12; adds = (2 + 1 + 1)·2 = 8; weight bits = 6·2 = 12;
    #   updates = 2·2 = 4; spikes = 3; cycles = 12 + 4 = 16 (lanes 2: 8).
    #   acc1 = [3 − 1, 1] = [2, 1], acc2 = [2, 0]; out = (0.25·[2, 1] + 0.5·[2, 0])·0.5/2 = [0.375, 0.0625].
    report = simulate(toy(), X, labels=torch.tensor([0]))
    fc1, fc2 = report.layers
    assert (fc1.events, fc1.bit_cycles, fc1.adds, fc1.weight_bits_read, fc1.neuron_updates, fc1.spikes, fc1.cycles) == (
        4, 8, 6, 12, 3, 2, 11)
    assert (fc2.events, fc2.bit_cycles, fc2.adds, fc2.weight_bits_read, fc2.neuron_updates, fc2.spikes, fc2.cycles) == (
        6, 12, 8, 12, 4, 3, 16)
    assert report.cycles == 27
    assert report.logits.tolist() == [[0.375, 0.0625]]
    assert report.accuracy == 1.0
    assert fc1.max_abs_error == 0 and fc2.max_abs_error == 0
    # Energy (bitserial45nm): fc1 A = 3 + 2 + ⌈log₂ 3⌉ = 7: 6·7·0.00375 = 0.1575; 3 updates·2·16·0.00375
    # = 0.36; weights 12/64·10 = 1.875; membranes 2·3·16/64·10 = 15.  fc2 A = 2 + 2 + 1 = 5:
    # 8·5·0.00375 = 0.15; 4·0.12 = 0.48; 12/64·10 = 1.875; 2·4·16/64·10 = 20.
    assert (fc1.accumulator_bits, fc2.accumulator_bits) == (7, 5)
    assert fc1.total_pj == pytest.approx(0.1575 + 0.36 + 1.875 + 15)
    assert fc2.total_pj == pytest.approx(0.15 + 0.48 + 1.875 + 20)
    assert report.energy_pj == pytest.approx(39.8975)
    d = report.to_dict()
    assert d["basis"] == "estimate" and d["cycles"] == 27 and d["accuracy"] == 1.0
    assert d["breakdown_pj"] == pytest.approx({"compute": 1.1475, "weight_memory": 3.75, "membrane_memory": 35.0})
    assert "fc2" in report.format() and "estimate" in report.format()
    two = simulate(toy(), X, lanes=2)
    assert [x.cycles for x in two.layers] == [6, 8] and two.cycles == 14


def test_lanes_round_up_per_sample():
    # Two samples: X and a silent input. Silent: fc1 3 updates → ⌈3/2⌉ = 2 cycles; fc2 4 updates
    # → 2 cycles. Mean with X's (6, 8): (4, 5) per inference.
    report = simulate(toy(), torch.cat([X, torch.zeros(1, 3)]), lanes=2)
    assert [x.cycles for x in report.layers] == [4, 5]
    assert [x.events for x in report.layers] == [2, 3]


def test_integer_weights_by_scheme():
    layer = SpikingLayer(nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.tensor([[1.0, -0.5, 0.26, 0.01]]))
    cases = [
        (LayerChoice(3, 2, 1, "pow2"), [4, -2, 1, 0], 0.25),  # α·{1, 2^-1, 2^-2, 0}, E = 2: scale α/4
        (LayerChoice(3, 2, 1, "uniform"), [3, -2, 1, 0], 1 / 3),  # α·round(w/α), Q_p = 3
        (LayerChoice(1, 2, 1, "uniform"), [1, -1, 1, 1], 1.0),  # ±α, zero → +α
    ]
    for choice, expected, scale in cases:
        layer.configure(choice)
        with torch.no_grad():
            layer.weight_quantizer.alpha.fill_(scale * (4 if choice.scheme == "pow2" else 1))
        layer.weight_quantizer.initialized.fill_(True)
        w_int, s = integer_weights(layer)
        assert w_int.flatten().tolist() == expected
        assert s == pytest.approx(scale)
    layer.configure(None)
    with pytest.raises(ConfigError, match="full-precision weights"):
        integer_weights(layer)


def _digits(config_bits=((8, 8, 1, "uniform"), (3, 2, 2, "pow2"), (2, 4, 1, "uniform"), (4, 1, 3, "pow2"))):
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25)
    config = Config({n: LayerChoice(*c) for n, c in zip(model.layer_names, config_bits)})
    apply_config(model, config)
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        model.eval()(x)
    return model, config, x


def test_dense_limit_equals_energy_report():
    model, config, x = _digits()
    report = simulate(model, x, force_levels="max")
    dense = energy_report(layer_specs(model), config, "bitserial45nm")
    assert report.activity == "max"
    for sim, est in zip(report.layers, dense.layers, strict=True):
        assert sim.name == est.name
        s = config[sim.name].s_bits
        assert sim.events == est.synaptic_ops
        assert sim.adds == est.adds == sim.events * s
        assert sim.bit_cycles == sim.events * s
        assert sim.weight_bits_read == est.weight_bits_read
        assert sim.neuron_updates == est.neuron_updates and sim.spikes == est.spikes
        assert sim.accumulator_bits == est.accumulator_bits
        assert sim.compute_pj == pytest.approx(est.compute_pj, rel=1e-9)
        assert sim.weight_memory_pj == pytest.approx(est.weight_memory_pj, rel=1e-9)
        assert sim.membrane_memory_pj == pytest.approx(est.membrane_memory_pj, rel=1e-9)
        assert sim.max_abs_error is None
    assert report.energy_pj == pytest.approx(dense.total_pj, rel=1e-9)
    # conv2: 67712 connections per step (padding excluded) × T = 2.
    assert report.layers[1].events == 67712 * 2
    # Loihi prices every spike bit as a synaptic op (23.6 pJ) and every spike as a hop; a
    # multiply-datapath preset is priced bit-serially too.
    loihi = simulate(model, x, force_levels="max", energy_model="loihi")
    assert loihi.energy_pj == pytest.approx(energy_report(layer_specs(model), config, "loihi").total_pj, rel=1e-9)
    horowitz = simulate(model, x, force_levels="max", energy_model="horowitz45nm")
    assert horowitz.energy_pj == pytest.approx(dense.total_pj, rel=1e-9)
    assert horowitz.energy_pj != pytest.approx(energy_report(layer_specs(model), config, "horowitz45nm").total_pj)


def test_integer_synapse_matches_fake_quantized_output_on_every_layer():
    model, config, x = _digits()
    checked = []

    def check(name, layer, spikes):
        neuron = source_layer(model, name).neuron
        bits, gamma = spike_bits(neuron, spikes.shape[0]), spike_steps(neuron, spikes.shape[0])
        out, counts = integer_synapse(layer, integer_levels(model, name, spikes), gamma, bits)
        reference = type(layer).synapse_forward(layer, spikes)
        assert torch.allclose(out.float(), reference, rtol=1e-5, atol=1e-6)
        assert torch.all(counts["adds"] <= counts["bit_cycles"])
        checked.append(name)

    with torch.no_grad(), probe_synapses(model, check):
        model(x)
    assert checked == ["conv1", "conv2", "conv3", "fc"]


def test_resnet_shortcut_reads_conv1_spikes_and_owns_no_neuron():
    torch.manual_seed(0)
    model = build("resnet20", widths=(4, 8, 16), blocks=1, image_size=8)
    config = Config({n: LayerChoice(8, 8, 1) if i == 0 else LayerChoice(3, 2, 2, "pow2" if i % 2 else "uniform")
                     for i, n in enumerate(model.layer_names)})
    apply_config(model, config)
    x = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        model.eval()(x)
    report = simulate(model, x)
    rows = {r.name: r for r in report.layers}
    shortcut, conv1 = rows["layer2.0.shortcut"], rows["layer2.0.conv1"]
    assert shortcut.neuron_updates == 0 and shortcut.spikes == 0 and shortcut.membrane_memory_pj == 0
    assert conv1.neuron_updates == 4 * 8 * 8 * 2  # 4 channels of 8×8, T = 2
    for row in report.layers:
        assert row.max_abs_error <= 1e-5 * row.max_abs_reference
    dense = energy_report(layer_specs(model, (3, 8, 8)), config, "bitserial45nm")
    full = simulate(model, x, force_levels="max")
    for sim, est in zip(full.layers, dense.layers, strict=True):
        assert (sim.events, sim.adds, sim.neuron_updates) == (est.synaptic_ops, est.adds, est.neuron_updates)
    assert full.energy_pj == pytest.approx(dense.total_pj, rel=1e-9)


def test_lif_spikes_take_one_cycle_each():
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25, neuron="lif")
    apply_config(model, Config({n: LayerChoice(4, 8 if i == 0 else 1, 2 if i else 1) for i, n in enumerate(model.layer_names)}))
    x = torch.rand(8, 1, 16, 16)
    report = simulate(model, x)
    for row in report.layers[1:]:  # LIF neurons: binary spikes, S = 1
        assert row.s_bits == 1 and row.adds == row.events == row.bit_cycles
        assert row.max_abs_error <= 1e-5 * max(row.max_abs_reference, 1.0)
    assert report.layers[0].s_bits == 8


def test_simulator_errors():
    model, _, x = _digits()
    with pytest.raises(ConfigError, match="lanes"):
        simulate(model, x, lanes=0)
    with pytest.raises(ConfigError, match="force_levels"):
        simulate(model, x, force_levels="min")
    fp = build("digits_cnn", width=0.25)
    with pytest.raises(ConfigError, match="configure every layer"):
        simulate(fp, x)
    assert "synapse_forward" not in fp.conv1.__dict__


def test_digits_cnn_simulation_matches_model(tmp_path):
    ev = Evaluator("digits_cnn", "digits", epochs=0, pretrain_epochs=1, cache_dir=tmp_path)
    config = Config({
        "conv1": LayerChoice(8, 8, 1, "uniform"),
        "conv2": LayerChoice(4, 2, 2, "pow2"),
        "conv3": LayerChoice(3, 1, 2, "uniform"),
        "fc": LayerChoice(4, 4, 1, "pow2"),
    })
    model = ev.finetune(config, epochs=0).eval()
    images, labels = ev.data.test.tensors
    x, y = images[:128], labels[:128]
    report = simulate(model, x, labels=y)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(report.logits, logits, rtol=1e-5, atol=1e-5)
    assert torch.equal(report.logits.argmax(1), logits.argmax(1))
    assert report.accuracy == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    for row in report.layers:
        assert row.max_abs_error <= 1e-5 * row.max_abs_reference
    dense = energy_report(ev.specs, config, "bitserial45nm")
    for sim, est in zip(report.layers, dense.layers, strict=True):
        assert 0 < sim.adds <= est.adds
        assert 0 < sim.events <= est.synaptic_ops
        assert sim.adds <= sim.bit_cycles
    assert 0 < report.energy_pj < dense.total_pj
    nb = neurobench_counts(model, ev.data.test, max_samples=128)
    assert nb["Dense"] == pytest.approx(sum(s.synapses * config[s.name].timesteps for s in ev.specs))
    assert nb["Effective_ACs"] + nb["Effective_MACs"] <= report.counts()["events"]
    # conv3 reads 1-bit spikes: accumulates as integers, multiply-accumulates as real values γ·k.
    assert nb["layers"]["conv3"]["effective_acs"] > 0 and nb["layers"]["conv3"]["effective_macs"] == 0
    real = neurobench_counts(model, ev.data.test, integer_spikes=False, max_samples=128)
    assert real["layers"]["conv3"]["effective_acs"] == 0
    assert real["layers"]["conv3"]["effective_macs"] == pytest.approx(nb["layers"]["conv3"]["effective_acs"])


# ---------------------------------------------------------------------------- membrane bits U (issue 30)
def test_u_bit_membranes_on_the_toy_by_hand():
    # fc1 at U = 4 (S2: F = 0, codes −8…7): c = round(x/0.5) = [0, 1, 4], levels [0, 1, 3] as without U.
    # fc2 at U = 5 (S2: F = 1, δ_t = γ_t/2): step 1 c = [7, 1] → u = [3.5, 0.5] → levels [3, 1];
    #   step 2 v' = [0.875 + 0.875 − 0.75, 0.125 + 0.125 − 0.25] = [1, 0], δ = 0.25 → c = [4, 0]
    #   → levels [2, 0]: the spikes, counts and logits of test_hand_counts_on_a_toy.
    # Energy (bitserial45nm): fc1 3 updates·2·4·0.00375 = 0.09, membranes 2·3·4 = 24 bits: 3.75;
    #   fc2 4 updates·2·5·0.00375 = 0.15, membranes 2·4·5 = 40 bits: 6.25.
    model = toy()
    model.fc1.configure(LayerChoice(3, 2, 1, "uniform", 4))
    model.fc2.configure(LayerChoice(2, 2, 2, "uniform", 5))
    report = simulate(model, X)
    fc1, fc2 = report.layers
    assert (fc1.membrane_width, fc2.membrane_width) == (4, 5)
    assert (fc1.events, fc1.adds, fc1.neuron_updates, fc1.spikes) == (4, 6, 3, 2)
    assert (fc2.events, fc2.adds, fc2.neuron_updates, fc2.spikes) == (6, 8, 4, 3)
    assert report.logits.tolist() == [[0.375, 0.0625]]
    assert fc1.total_pj == pytest.approx(0.1575 + 0.09 + 1.875 + 3.75)
    assert fc2.total_pj == pytest.approx(0.15 + 0.15 + 1.875 + 6.25)
    assert report.energy_pj == pytest.approx(14.2975)
    assert report.to_dict()["layers"][1]["membrane_width"] == 5
    assert simulate(toy(), X).layers[0].membrane_width == 16  # no U: the preset's membrane_bits


U_BITS = ((8, 8, 1, "uniform", 10), (3, 2, 2, "pow2", 4), (2, 4, 1, "uniform", 6), (4, 1, 3, "pow2", 3))


def test_u_bit_simulation_follows_the_model_and_its_dense_limit_the_estimate():
    # Narrow membranes change what the model fires (saturation at S + 2 bits or less, rounding
    # with F ≥ 1); the simulator's integer synapses read those spikes and give the model's logits.
    model, config, x = _digits(U_BITS)
    plain, _, _ = _digits()
    with torch.no_grad():
        ours, unquantized = model(x), plain(x)
    assert not torch.equal(ours, unquantized)
    report = simulate(model, x)
    assert torch.allclose(report.logits, ours, rtol=1e-5, atol=1e-5)
    for row in report.layers:
        assert row.max_abs_error <= 1e-5 * max(row.max_abs_reference, 1.0)
    assert [row.membrane_width for row in report.layers] == [10, 4, 6, 3]
    dense = energy_report(layer_specs(model), config, "bitserial45nm")
    full = simulate(model, x, force_levels="max")
    for sim, est in zip(full.layers, dense.layers, strict=True):
        assert sim.membrane_width == est.membrane_width
        assert sim.compute_pj == pytest.approx(est.compute_pj, rel=1e-9)
        assert sim.membrane_memory_pj == pytest.approx(est.membrane_memory_pj, rel=1e-9)
    assert full.energy_pj == pytest.approx(dense.total_pj, rel=1e-9)
    assert full.energy_pj < simulate(plain, x, force_levels="max").energy_pj  # every U below 16


def test_u_bit_lif_network_follows_the_model():
    torch.manual_seed(0)
    model = build("digits_cnn", width=0.25, neuron="lif")
    config = Config({n: LayerChoice(4, 8 if i == 0 else 1, 2 if i else 1, "uniform", 12 if i == 0 else 3 + i)
                     for i, n in enumerate(model.layer_names)})
    apply_config(model, config)
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        logits = model.eval()(x)
    report = simulate(model, x)
    assert torch.allclose(report.logits, logits, rtol=1e-5, atol=1e-5)
    assert [row.membrane_width for row in report.layers] == [12, 4, 5, 6]
