"""evaluators.cost on a 3-layer toy network whose structure and costs are worked out by hand."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
import torch
from torch import nn

from spikebits.evaluators.cost import (
    bit_averages,
    bit_budget,
    bit_sums,
    cost_metrics,
    effective_resolution,
    layer_cost,
    s_ace,
    size_bits,
    smallest_reachable,
)
from spikebits.models import SpikingLayer, SpikingNetwork, build, default_space, layer_specs, register
from spikebits.space import BudgetError, Config, ConfigError, LayerChoice

torch.set_num_threads(1)


class Toy3(SpikingNetwork):
    """conv1 (1→2, 3×3, pad 1) on 4×4 → BN → conv2 (2→4, 3×3, stride 2, pad 1) → BN → pool → fc (4→3)."""

    input_shape = (1, 4, 4)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = SpikingLayer(nn.Conv2d(1, 2, 3, 1, 1, bias=False), encoder=True)
        self.bn1 = nn.BatchNorm2d(2)
        self.conv2 = SpikingLayer(nn.Conv2d(2, 4, 3, 2, 1, bias=False))
        self.bn2 = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = SpikingLayer(nn.Linear(4, 3))

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        x = self.bn2(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


@register("_test_cost_toy3")
def _toy3(**kwargs) -> Toy3:
    return Toy3(**kwargs)


# Hand structure, one sample, one time step:
#   conv1: N_w = 1·2·9 = 18, N_a = 1·4·4 = 16, out 2×4×4 = 32, MACs = 4·4·9·1·2 = 288
#   conv2: N_w = 2·4·9 = 72, N_a = 2·4·4 = 32, out 4×2×2 = 16 (stride 2), MACs = 2·2·9·2·4 = 288
#   fc:    N_w = 4·3 = 12,   N_a = 4,           out 3,                    MACs = 4·3 = 12
HAND = {
    "conv1": dict(n_weights=18, n_inputs=16, n_outputs=32, macs=288, input_shape=(1, 4, 4), output_shape=(2, 4, 4)),
    "conv2": dict(n_weights=72, n_inputs=32, n_outputs=16, macs=288, input_shape=(2, 4, 4), output_shape=(4, 2, 2)),
    "fc": dict(n_weights=12, n_inputs=4, n_outputs=3, macs=12, input_shape=(4,), output_shape=(3,)),
}

CONFIG = Config(
    {
        "conv1": LayerChoice(8, 8, 1),  # pinned
        "conv2": LayerChoice(4, 2, 2, "pow2"),
        "fc": LayerChoice(2, 4, 3),
    }
)


@pytest.fixture(scope="module")
def toy():
    return build("_test_cost_toy3")


@pytest.fixture(scope="module")
def specs(toy):
    return layer_specs(toy)


def test_toy_layer_specs_match_hand(specs):
    assert [s.name for s in specs] == ["conv1", "conv2", "fc"]
    assert [s.kind for s in specs] == ["conv", "conv", "linear"]
    for s in specs:
        for key, value in HAND[s.name].items():
            assert getattr(s, key) == value, (s.name, key)


def test_bit_budget_over_unpinned_layers(toy, specs):
    space = default_space(toy)
    assert space.free_layers == ["conv2", "fc"]
    # W̄ = (4·72 + 2·12)/(72 + 12) = 312/84 = 26/7
    # S̄ = (2·32 + 4·4)/(32 + 4)   = 80/36  = 20/9
    # T̄ = (2·32 + 3·4)/(32 + 4)   = 76/36  = 19/9
    # BB = 26/7 · 20/9 · 19/9 = 9880/567 ≈ 17.425
    w, s, t = bit_averages(specs, CONFIG, space.free_layers)
    assert w == pytest.approx(float(F(26, 7)), rel=1e-12)
    assert s == pytest.approx(float(F(20, 9)), rel=1e-12)
    assert t == pytest.approx(float(F(19, 9)), rel=1e-12)
    assert bit_budget(specs, CONFIG, space.free_layers) == pytest.approx(float(F(9880, 567)), rel=1e-12)


def test_bit_budget_over_all_layers(specs):
    # With conv1 included:
    # W̄ = (8·18 + 4·72 + 2·12)/102 = 456/102 = 76/17
    # S̄ = (8·16 + 2·32 + 4·4)/52  = 208/52 = 4
    # T̄ = (1·16 + 2·32 + 3·4)/52  = 92/52  = 23/13
    # BB = 76/17 · 4 · 23/13 = 6992/221 ≈ 31.638
    assert bit_averages(specs, CONFIG) == pytest.approx((float(F(76, 17)), 4.0, float(F(23, 13))), rel=1e-12)
    assert bit_budget(specs, CONFIG) == pytest.approx(float(F(6992, 221)), rel=1e-12)
    with pytest.raises(ConfigError):
        bit_budget(specs, CONFIG, [])


def test_s_ace_dense_counts_every_layer(specs):
    # S-ACE = Σ MACs·W·S·T
    #   conv1: 288·8·8·1 = 18432
    #   conv2: 288·4·2·2 = 4608
    #   fc:    12·2·4·3  = 288
    #   total 23328
    assert s_ace(specs, CONFIG) == 23328.0


def test_s_ace_activity_aware(specs):
    # rates 1/2, 1/4, 1/8: 18432/2 + 4608/4 + 288/8 = 9216 + 1152 + 36 = 10404
    rates = {"conv1": 0.5, "conv2": 0.25, "fc": 0.125}
    assert s_ace(specs, CONFIG, rates) == 10404.0
    # all-zero activity costs nothing; all-one is the dense figure
    assert s_ace(specs, CONFIG, dict.fromkeys(rates, 0.0)) == 0.0
    assert s_ace(specs, CONFIG, dict.fromkeys(rates, 1.0)) == 23328.0


def test_size_bits_and_effective_resolution(specs):
    # size = 18·8 + 72·4 + 12·2 = 144 + 288 + 24 = 456 bits
    # effective resolution = 456/102 = 76/17 ≈ 4.47 bits per weight (compression 32·17/76 ≈ 7.16)
    assert size_bits(specs, CONFIG) == 456
    assert effective_resolution(specs, CONFIG) == pytest.approx(float(F(76, 17)), rel=1e-12)
    assert 32 / effective_resolution(specs, CONFIG) == pytest.approx(float(F(32 * 17, 76)), rel=1e-12)


def test_cost_metrics_keys_and_values(toy, specs):
    m = cost_metrics(specs, CONFIG, default_space(toy))
    assert set(m) == {"bit_budget", "s_ace", "size_bits", "state_bits", "effective_resolution", "energy_pj", "cores_used", "core_memory_bits"}
    assert m["bit_budget"] == pytest.approx(float(F(9880, 567)), rel=1e-12)
    assert m["s_ace"] == 23328.0
    assert m["size_bits"] == 456.0
    assert m["state_bits"] == (16 + 32 + 4) * 16  # no U: every membrane at horowitz45nm's 16 bits
    assert m["effective_resolution"] == pytest.approx(float(F(76, 17)), rel=1e-12)
    # no --chip: placed on the generic ideal chip (cores of 4096 neurons, 1 Mibit of weights,
    # 128 Kibit of state, W and U bits packed): 52 neurons, 456 weight bits and 832 state bits
    # fit one core, which holds 456 + 832 = 1288 bits
    assert (m["cores_used"], m["core_memory_bits"]) == (1.0, 1288.0)
    # unpinning conv1 makes bit_budget run over every layer
    m_all = cost_metrics(specs, CONFIG, default_space(toy, pin_first=False))
    assert m_all["bit_budget"] == pytest.approx(float(F(6992, 221)), rel=1e-12)


def test_layer_cost_by_hand_and_the_totals_sum_it(toy, specs):
    # Per-layer terms of CONFIG (structure by hand above):
    #   s_ace      MACs·W·S·T: conv1 288·8·8·1 = 18432, conv2 288·4·2·2 = 4608, fc 12·2·4·3 = 288
    #   size_bits  N_w·W:      conv1 18·8 = 144,        conv2 72·4 = 288,      fc 12·2 = 24
    #   bit sums (N_w·W, N_a·S, N_a·T): conv1 (144, 16·8, 16·1), conv2 (288, 32·2, 32·2), fc (24, 4·4, 4·3)
    #   energy_pj  conv2 (horowitz45nm, worked out in test_energy_pj_by_hand): 594.18
    by = {s.name: s for s in specs}
    assert [layer_cost(by[n], CONFIG[n], "s_ace") for n in by] == [18432, 4608, 288]
    assert [layer_cost(by[n], CONFIG[n], "size_bits") for n in by] == [144, 288, 24]
    assert [bit_sums(by[n], CONFIG[n]) for n in by] == [(144, 128, 16), (288, 64, 64), (24, 16, 12)]
    assert layer_cost(by["conv2"], CONFIG["conv2"], "energy_pj") == pytest.approx(594.18, rel=1e-12)
    # The totals are sums of these terms, bit for bit (the integer program's rows sum them too).
    m = cost_metrics(specs, CONFIG, default_space(toy))
    assert m["s_ace"] == sum(layer_cost(s, CONFIG[s.name], "s_ace") for s in specs)
    assert m["size_bits"] == sum(layer_cost(s, CONFIG[s.name], "size_bits") for s in specs)
    assert m["energy_pj"] == sum(layer_cost(s, CONFIG[s.name], "energy_pj") for s in specs)
    with pytest.raises(ConfigError, match="not a sum over layers"):
        layer_cost(by["fc"], CONFIG["fc"], "bit_budget")


def test_cost_changes_with_one_layer(specs):
    # fc W2 -> W4: s_ace += 12·(4−2)·4·3 = 288 -> 23616; size += 12·2 = 24 -> 480
    cfg = CONFIG.replace(fc=LayerChoice(4, 4, 3))
    assert s_ace(specs, cfg) == 23616.0
    assert size_bits(specs, cfg) == 480


def test_cost_rejects_unknown_and_missing_layers(specs):
    with pytest.raises(ConfigError) as err:
        s_ace(specs, CONFIG.replace(conv9=LayerChoice(4, 2, 1)))
    assert "conv9" in str(err.value)
    missing = Config({k: v for k, v in CONFIG.items() if k != "fc"})
    for fn in (s_ace, size_bits, effective_resolution, bit_budget):
        with pytest.raises(ConfigError) as err:
            fn(specs, missing)
        assert "fc" in str(err.value)


def test_digits_cnn_layer_specs():
    specs = {s.name: s for s in layer_specs(build("digits_cnn"))}
    assert list(specs) == ["conv1", "conv2", "conv3", "fc"]
    # c = 32, input 1×16×16
    # conv1: 1→32, 3×3 pad 1: out 32×16×16; MACs = 16·16·9·1·32 = 73728; N_w = 288; N_a = 256
    # conv2: 32→64, stride 2: out 64×8×8;  MACs = 8·8·9·32·64 = 1179648; N_w = 18432; N_a = 32·16·16 = 8192
    # conv3: 64→128, stride 2: out 128×4×4; MACs = 4·4·9·64·128 = 1179648; N_w = 73728; N_a = 64·8·8 = 4096
    # fc: 128→10; MACs = 1280; N_w = 1280; N_a = 128
    expect = {
        "conv1": (73728, 288, 256, 8192),
        "conv2": (1179648, 18432, 8192, 4096),
        "conv3": (1179648, 73728, 4096, 2048),
        "fc": (1280, 1280, 128, 10),
    }
    for name, (macs, nw, na, nout) in expect.items():
        s = specs[name]
        assert (s.macs, s.n_weights, s.n_inputs, s.n_outputs) == (macs, nw, na, nout), name
    assert specs["conv2"].macs == 8 * 8 * 9 * 32 * 64
    # uniform W4/S2/T1 (conv1 pinned W8/S8/T1):
    # s_ace = 73728·64 + (1179648 + 1179648 + 1280)·4·2 = 4718592 + 2360576·8 = 4718592 + 18884608 = 23603200
    space = default_space(build("digits_cnn"))
    cfg = space.uniform(LayerChoice(4, 2, 1))
    assert s_ace(list(specs.values()), cfg) == 23603200.0


def test_synapses_leave_out_padding(specs):
    # Kernel taps inside a 4-wide input, 3-tap kernel, pad 1: stride 1 → 2 + 3 + 3 + 2 = 10 per
    # dimension; stride 2 (outputs at −1.., 1..) → 2 + 3 = 5. conv1: 10·10·1·2 = 200 of 288 MACs;
    # conv2: 5·5·2·4 = 200 of 288; fc: all 12.
    by = {s.name: s for s in specs}
    assert [by[n].synapses for n in ("conv1", "conv2", "fc")] == [200, 200, 12]
    assert [by[n].fan_in for n in ("conv1", "conv2", "fc")] == [9, 18, 4]
    assert all(s.owns_neuron and s.spike_source == s.name for s in specs)


def test_energy_pj_by_hand(toy, specs):
    # horowitz45nm, dense. Per layer: ops = synapses·T, A = W + S + ⌈log2 fan-in⌉,
    # add 0.00375 pJ/bit, mult 0.003125 pJ/bit², neuron update 2 adds·16 bits = 0.12 pJ,
    # every memory here is under 8 KB: 10 pJ per 64 bits.
    #   conv1 W8 S8 T1: 200 ops, A = 20: adds 15 + mults 200·64·0.003125 = 40; 16 updates 1.92;
    #         weights 200·8 bits → 250; membranes 2·16·16 bits → 80             = 386.92
    #   conv2 W4 S2 T2 pow2: 400 ops, A = 11: adds 16.5, no multiplier; 64 updates 7.68;
    #         weights 1600 bits → 250; membranes 2·64·16 bits → 320              = 594.18
    #   fc W2 S4 T3: 36 ops, A = 8: adds 1.08 + mults 36·8·0.003125 = 0.9; 12 updates 1.44;
    #         weights 72 bits → 11.25; membranes 384 bits → 60                    = 74.67
    m = cost_metrics(specs, CONFIG, default_space(toy))
    assert m["energy_pj"] == pytest.approx(386.92 + 594.18 + 74.67, rel=1e-12)
    assert cost_metrics(specs, CONFIG, default_space(toy), "loihi")["energy_pj"] == pytest.approx(
        # loihi: ops·(S bits)·23.6 + updates·(81 + 3.5)
        (200 * 8 + 400 * 2 + 36 * 4) * 23.6 + (16 + 64 + 12) * (81 + 3.5), rel=1e-12
    )


# ---------------------------------------------------------------------------- state_bits (issue 30)
def test_state_bits_by_hand(specs):
    # Neurons (each layer owns its input neuron): conv1 16, conv2 32, fc 4.
    # conv1 U None (the energy model's membrane_bits), conv2 U6, fc U4:
    #   horowitz45nm (16 bits): 16·16 + 32·6 + 4·4 = 256 + 192 + 16 = 464
    #   loihi (24 bits):        16·24 + 192 + 16   = 592
    from spikebits.evaluators.cost import cost_context, state_bits
    from spikebits.space.metrics import STATE_BITS

    config = CONFIG.replace(conv2=LayerChoice(4, 2, 2, "pow2", 6), fc=LayerChoice(2, 4, 3, "uniform", 4))
    assert state_bits(specs, config) == 464
    assert state_bits(specs, config, "loihi") == 592
    assert STATE_BITS.value(specs, config) == 464.0  # the declared default context: 16 bits
    by = {s.name: s for s in specs}
    assert [layer_cost(by[n], config[n], "state_bits") for n in by] == [256, 192, 16]
    assert layer_cost(by["conv1"], config["conv1"], "state_bits", "loihi") == 384
    assert cost_context(None, "loihi").membrane_bits == 24 and cost_context().membrane_bits == 16
    # No U anywhere: 52 neurons at 16 bits; the term is an exact integer (the ILP's rows)
    assert state_bits(specs, CONFIG) == 52 * 16 and isinstance(layer_cost(by["fc"], CONFIG["fc"], "state_bits"), int)
    declared = STATE_BITS
    assert (declared.direction, declared.integral, declared.large, declared.needs_data) == ("minimize", True, True, False)
    assert declared.label == "neuron state (bits)"


def test_state_bits_counts_the_neurons_a_layer_runs():
    # A ResNet 1×1 shortcut reads conv1's spikes: no neuron of its own, 0 state bits whatever U.
    # A self-attention's q layer runs its Q neurons (output_neurons) at its U too: (10 + 6)·5 = 80.
    from spikebits.models import LayerSpec
    from spikebits.space.metrics import state_term

    shortcut = LayerSpec("layer.shortcut", "conv", 8, 10, 20, 80, (10,), (20,), spike_source="layer.conv1")
    q = LayerSpec("q", "linear", 6, 10, 6, 60, (10,), (6,), output_neurons=6)
    assert not shortcut.owns_neuron and state_term(shortcut, LayerChoice(4, 2, 1, "uniform", 8)) == 0
    assert state_term(q, LayerChoice(4, 2, 1, "uniform", 5)) == 80


def test_state_bits_reachability_over_a_space_that_searches_u(toy, specs):
    # conv1 pinned (U None, 16 bits: 256); conv2 and fc search U in (4, 8):
    #   smallest: 256 + 32·4 + 4·4 = 400; largest: 256 + 32·8 + 4·8 = 544.
    from spikebits.evaluators.cost import check_limits, extreme_config, largest_reachable

    space = default_space(toy).searching_membrane((4, 8))
    assert smallest_reachable(space, specs, "state_bits") == 400
    assert largest_reachable(space, specs, "state_bits") == 544
    low = extreme_config(space, specs, "state_bits")
    assert (low["conv1"].u_bits, low["conv2"].u_bits, low["fc"].u_bits) == (None, 4, 4)
    assert check_limits(space, specs, {"state_bits": 400}) == {"state_bits": 400.0}
    with pytest.raises(BudgetError) as err:
        check_limits(space, specs, {"state_bits": 399})
    assert "smallest reachable state_bits in this space is 400" in str(err.value) and "\n" not in str(err.value)
    # U not searched: every config has the same state bits.
    plain = default_space(toy)
    assert smallest_reachable(plain, specs, "state_bits") == largest_reachable(plain, specs, "state_bits") == 52 * 16
