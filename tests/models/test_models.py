"""models: resnet20 structure (MACs by hand), ties, default space, apply_config, forward/backward
on small digits_cnn and resnet20 models, activity recording, and layer_specs leaving the model alone."""

from __future__ import annotations

import pytest
import torch

from spikebits.models import (
    apply_config,
    available,
    build,
    current_config,
    default_space,
    layer_specs,
    record_activity,
    set_full_precision,
)
from spikebits.space import Config, ConfigError, LayerChoice, LayerOptions, UnknownNameError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def resnet():
    return build("resnet20")


@pytest.fixture(scope="module")
def resnet_specs(resnet):
    return {s.name: s for s in layer_specs(resnet)}


def test_registry():
    assert {"digits_cnn", "resnet20"} <= set(available())
    with pytest.raises(UnknownNameError) as err:
        build("resnet21")
    assert "resnet21" in str(err.value) and "\n" not in str(err.value)
    m = build("digits_cnn", width=0.125)
    assert m.arch == ("digits_cnn", {"width": 0.125})


def test_resnet20_macs_by_hand(resnet_specs):
    s = resnet_specs
    # input 3×32×32, widths 128/256/512
    expect = {
        # stem 3→128 at 32×32: 32·32·9·3·128
        "conv1": 32 * 32 * 9 * 3 * 128,  # 3538944
        # stage 1, 128→128 at 32×32: 32·32·9·128·128
        "layer1.0.conv1": 32 * 32 * 9 * 128 * 128,  # 150994944
        "layer1.2.conv2": 32 * 32 * 9 * 128 * 128,
        # stride 2: 128→256, out 16×16: 16·16·9·128·256
        "layer2.0.conv1": 16 * 16 * 9 * 128 * 256,  # 75497472
        "layer2.0.conv2": 16 * 16 * 9 * 256 * 256,  # 150994944
        # 1×1 shortcut, stride 2: 16·16·1·128·256
        "layer2.0.shortcut": 16 * 16 * 128 * 256,  # 8388608
        # 256→512, out 8×8: 8·8·9·256·512
        "layer3.0.conv1": 8 * 8 * 9 * 256 * 512,  # 75497472
        "layer3.0.shortcut": 8 * 8 * 256 * 512,  # 8388608
        "layer3.2.conv2": 8 * 8 * 9 * 512 * 512,  # 150994944
        "fc": 512 * 10,  # 5120
    }
    assert expect["conv1"] == 3538944 and expect["layer2.0.shortcut"] == 8388608
    for name, macs in expect.items():
        assert s[name].macs == macs, name
    # shapes and counts of a few layers
    assert s["conv1"].n_inputs == 3 * 32 * 32 and s["conv1"].n_weights == 3 * 128 * 9
    assert s["layer2.0.conv1"].input_shape == (128, 32, 32)
    assert s["layer2.0.conv1"].output_shape == (256, 16, 16)
    assert s["layer2.0.shortcut"].n_weights == 128 * 256
    assert s["layer2.0.shortcut"].n_inputs == s["layer2.0.conv1"].n_inputs == 128 * 32 * 32
    assert s["layer3.2.conv2"].n_inputs == 512 * 8 * 8
    assert s["fc"].n_inputs == 512 and s["fc"].kind == "linear"
    # total: stem + 6 stage-1 convs + (2.0.conv1 + 5 convs at 256²·16²·9) + shortcut + same for stage 3 + fc
    total = (
        3538944
        + 6 * 150994944
        + 75497472
        + 5 * 150994944
        + 8388608
        + 75497472
        + 5 * 150994944
        + 8388608
        + 5120
    )
    assert sum(x.macs for x in s.values()) == total


def test_resnet20_layers_and_ties(resnet, resnet_specs):
    names = resnet.layer_names
    assert len(names) == 22
    assert list(resnet_specs) == names
    assert names[0] == "conv1" and names[-1] == "fc"
    assert sum(n.endswith("shortcut") for n in names) == 2
    assert resnet.ties == (("layer2.0.conv1", "layer2.0.shortcut"), ("layer3.0.conv1", "layer3.0.shortcut"))


def test_resnet20_default_space(resnet):
    sp = default_space(resnet)
    assert sp.model == "resnet20"
    assert sp.pinned == {"conv1": LayerChoice(8, 8, 1)}
    assert len(sp.free_layers) == 21
    # 22 layers − 1 pinned − 2 tied followers = 19 decisions
    assert len(sp.decisions) == 19
    assert "layer2.0.shortcut" not in sp.decisions and "layer3.0.shortcut" not in sp.decisions
    assert "layer2.0.conv1" in sp.decisions
    assert sp.ties == resnet.ties
    assert len(default_space(resnet, pin_first=False).decisions) == 20


def test_lif_network_space_allows_binary_spikes_only():
    sp = default_space(build("digits_cnn", width=0.125, neuron="lif"))
    assert all(sp.layers[n].s_bits == (1,) for n in sp.free_layers)
    assert default_space(build("digits_cnn", width=0.125)).layers["conv2"] == LayerOptions()


def test_apply_config_sets_every_layer(resnet):
    sp = default_space(resnet)
    choices = [LayerChoice(4, 2, 2), LayerChoice(2, 1, 1, "pow2"), LayerChoice(3, 4, 4)]
    cfg = sp.expand({n: choices[i % 3] for i, n in enumerate(sp.decisions)})
    apply_config(resnet, cfg)
    for name, layer in resnet.spiking_layers().items():
        c = cfg[name]
        assert layer.choice == c
        assert layer.weight_quantizer.bits == c.w_bits
        assert layer.weight_quantizer.scheme == c.scheme
        assert layer.neuron.bits == c.s_bits
        assert layer.timesteps == c.timesteps
        assert layer.neuron.gamma.numel() == c.timesteps
    assert current_config(resnet) == cfg
    # the tied shortcut got its conv1's choice
    assert resnet.layer2[0].shortcut.choice == resnet.layer2[0].conv1.choice


def test_apply_config_rejects_unknown_and_missing(resnet):
    sp = default_space(resnet)
    cfg = sp.uniform(LayerChoice(4, 2, 1))
    with pytest.raises(ConfigError) as err:
        apply_config(resnet, cfg.replace(**{"layer4.0.conv1": LayerChoice(4, 2, 1)}))
    assert "layer4.0.conv1" in str(err.value) and "\n" not in str(err.value)
    missing = Config({k: v for k, v in cfg.items() if k != "layer3.1.conv2"})
    with pytest.raises(ConfigError) as err:
        apply_config(resnet, missing)
    assert "layer3.1.conv2" in str(err.value)


def test_set_full_precision():
    m = build("digits_cnn", width=0.125)
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    set_full_precision(m)
    assert current_config(m) is None
    for layer in m.spiking_layers().values():
        assert layer.weight_quantizer.bits is None and layer.neuron.bits is None and layer.timesteps == 1


def test_digits_cnn_forward_logits_shape():
    torch.manual_seed(0)
    m = build("digits_cnn")
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    m.eval()
    with torch.no_grad():
        out = m(torch.rand(3, 1, 16, 16))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


def test_mnist_cnn_is_digits_cnn_with_a_flattening_head():
    from spikebits.models import layer_specs
    from spikebits.space import ConfigError

    m = build("mnist_cnn")
    specs = {s.name: s for s in layer_specs(m, (1, 28, 28))}
    # c = 8: conv1 1→8 at 28×28, conv2 8→16 at 14×14, conv3 16→32 at 7×7, fc reads the whole
    # 32×7×7 map (1,568 inputs) instead of its 32 channel means.
    assert m.fc.synapse.in_features == 32 * 7 * 7 == 1568
    assert specs["conv1"].macs == 28 * 28 * 9 * 1 * 8 and specs["conv2"].macs == 14 * 14 * 9 * 8 * 16
    assert specs["conv3"].macs == 7 * 7 * 9 * 16 * 32 and specs["fc"].macs == 1568 * 10
    # parameters: convolutions (no bias), BatchNorm γ/β, fc with bias
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) - sum(
        p.numel() for n, p in m.named_parameters() if n.endswith(("alpha", "gamma", "bits_param", "timesteps_param"))
    ) == 9 * 8 + 9 * 8 * 16 + 9 * 16 * 32 + 2 * (8 + 16 + 32) + 1568 * 10 + 10
    assert build("digits_cnn").fc.synapse.in_features == 128  # digits keeps its global average
    assert build("digits_cnn", head="flatten").fc.synapse.in_features == 128 * 4 * 4
    with pytest.raises(ConfigError, match="head 'max' is not one of pool, flatten"):
        build("digits_cnn", head="max")


def test_quantized_weights_take_at_most_2b_minus_1_values():
    # after a forward (α initialized), a W2 uniform layer's weights take ≤ 3 values, W3 pow2 ≤ 7
    torch.manual_seed(0)
    m = build("digits_cnn", width=0.125)
    sp = default_space(m)
    cfg = sp.expand({"conv2": LayerChoice(2, 2, 1), "conv3": LayerChoice(3, 2, 1, "pow2"), "fc": LayerChoice(4, 2, 1)})
    apply_config(m, cfg)
    m(torch.rand(2, 1, 16, 16))
    with torch.no_grad():
        assert len(torch.unique(m.conv2.quantized_weight())) <= 3
        assert len(torch.unique(m.conv3.quantized_weight())) <= 7
        assert len(torch.unique(m.fc.quantized_weight())) <= 15
        assert len(torch.unique(m.conv1.quantized_weight())) <= 255


def test_digits_cnn_backward_reaches_every_alpha_and_gamma():
    torch.manual_seed(0)
    m = build("digits_cnn", width=0.25)
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    m.train()
    x = torch.rand(4, 1, 16, 16)
    loss = torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, layer in m.spiking_layers().items():
        a, g = layer.weight_quantizer.alpha.grad, layer.neuron.gamma.grad
        assert a is not None and a.abs().item() > 0, name
        assert g is not None and g.abs().sum().item() > 0, name
        assert layer.synapse.weight.grad is not None and layer.synapse.weight.grad.abs().sum() > 0, name
    assert m.conv2.neuron.gamma.grad.shape == (2,)  # one γ per step


def test_small_resnet20_forward_backward():
    torch.manual_seed(0)
    m = build("resnet20", widths=(8, 16, 32))
    sp = default_space(m)
    cfg = sp.expand({n: LayerChoice(4, 2, 1 + i % 2) for i, n in enumerate(sp.decisions)})
    apply_config(m, cfg)
    m.train()
    out = m(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    for name, layer in m.spiking_layers().items():
        assert layer.weight_quantizer.alpha.grad is not None and layer.weight_quantizer.alpha.grad != 0, name
        if name.endswith("shortcut"):
            # the 1×1 shortcut reads its block conv1's spikes; its own neuron never runs
            assert layer.neuron.gamma.grad is None, name
        else:
            assert layer.neuron.gamma.grad is not None and layer.neuron.gamma.grad.abs().sum() > 0, name
    # layer_specs of the small network: layer2.0.conv1 = 16·16·9·8·16
    specs = {s.name: s for s in layer_specs(m)}
    assert specs["layer2.0.conv1"].macs == 16 * 16 * 9 * 8 * 16
    assert specs["fc"].macs == 32 * 10


def test_record_activity_counts_spikes():
    torch.manual_seed(0)
    m = build("digits_cnn", width=0.125)  # c = 4
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    m.eval()
    # image: left half 0, right half 1. conv1's neuron (S8, T1): mean|x| = 0.5,
    # γ = 2·0.5/sqrt(255) = 0.0626; pixel 1 -> ⌊1/γ + 0.5⌋ = ⌊15.97 + 0.5⌋ = 16 (non-zero), pixel 0 -> 0
    x = torch.zeros(2, 1, 16, 16)
    x[..., 8:] = 1.0
    with record_activity(m) as stats:
        with torch.no_grad():
            m(x)
    assert list(stats) == ["conv1", "conv2", "conv3", "fc"]
    gamma = 1 / 255**0.5
    assert stats["conv1"].total == 2 * 256 * 1  # B·N_a·T
    assert stats["conv1"].nonzero == 2 * 128
    assert stats["conv1"].rate == 0.5
    assert stats["conv1"].spike_sum == pytest.approx(2 * 128 * 16 * gamma, rel=1e-5)
    # later layers: totals are B·N_a·T with T = 2
    assert stats["conv2"].total == 2 * (4 * 16 * 16) * 2
    assert stats["conv3"].total == 2 * (8 * 8 * 8) * 2
    assert stats["fc"].total == 2 * 16 * 2
    for a in stats.values():
        assert 0 <= a.nonzero <= a.total
    # the counters are detached afterwards and keep counting nothing
    assert all(layer.activity is None for layer in m.spiking_layers().values())
    before = stats["conv1"].total
    with torch.no_grad():
        m(x)
    assert stats["conv1"].total == before


def test_record_activity_rate_matches_spike_count():
    # every spike the conv2 neuron emits is counted: compare with the neuron's own output
    torch.manual_seed(1)
    m = build("digits_cnn", width=0.125)
    apply_config(m, default_space(m).uniform(LayerChoice(2, 1, 3)))
    m.eval()
    x = torch.rand(2, 1, 16, 16)
    seen = {}
    h = m.conv2.neuron.register_forward_hook(lambda mod, inp, out: seen.setdefault("s", out.detach().clone()))
    with record_activity(m) as stats, torch.no_grad():
        m(x)
    h.remove()
    s = seen["s"]
    assert stats["conv2"].nonzero == float((s != 0).sum())
    assert stats["conv2"].total == float(s.numel()) == 3 * 2 * 4 * 16 * 16
    assert stats["conv2"].spike_sum == pytest.approx(float(s.sum()), rel=1e-5)


def test_layer_specs_leaves_model_untouched():
    torch.manual_seed(0)
    m = build("digits_cnn", width=0.125)
    cfg = default_space(m).uniform(LayerChoice(3, 2, 2, "pow2"))
    apply_config(m, cfg)
    m(torch.rand(2, 1, 16, 16))  # initializes α and γ, updates BN statistics
    before = {k: v.clone() for k, v in m.state_dict().items()}
    training = m.training
    specs = layer_specs(m)
    assert len(specs) == 4
    after = m.state_dict()
    assert list(after) == list(before)
    for k, v in before.items():
        assert after[k].device == v.device
        assert torch.equal(after[k], v), k
    assert m.training == training
    assert current_config(m) == cfg
    for layer in m.spiking_layers().values():
        assert "synapse_forward" not in vars(layer)  # no patched method left on the real model
        assert layer.activity is None
    # and the model still runs
    assert m(torch.rand(1, 1, 16, 16)).shape == (1, 10)


def test_record_activity_counts_shortcut_spikes():
    # the shortcut reads the same spikes as its block's conv1, so it records the same counts
    # (not an empty Activity with rate 0, which would drop it from an activity-aware S-ACE)
    torch.manual_seed(0)
    m = build("resnet20", widths=(8, 16, 32))
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    m.eval()
    with record_activity(m) as stats, torch.no_grad():
        m(torch.rand(2, 3, 32, 32))
    for block in ("layer2.0", "layer3.0"):
        conv1, short = stats[f"{block}.conv1"], stats[f"{block}.shortcut"]
        assert short.total == conv1.total > 0
        assert short.nonzero == conv1.nonzero
        assert short.spike_sum == conv1.spike_sum
    # layer2.0.conv1 reads 8×32×32 inputs, 2 samples, T = 2
    assert stats["layer2.0.shortcut"].total == 2 * 8 * 32 * 32 * 2
    assert all(a.total > 0 for a in stats.values())
