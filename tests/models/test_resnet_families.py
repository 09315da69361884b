"""models: the seed papers' residual families — resnet19 (TDBN/TET) and SEW-ResNet-18/34.

Parameter counts and MACs of the full-size models by hand (built on the meta device), ties,
forward/backward of small models under a mixed config, SEW's spike accumulation, the CLI
(`space`, `evaluate --cost-only`). Every strategy runs on each family in
tests/search/test_every_family.py."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import spikebits.models.resnet19  # noqa: F401  (registers "resnet19")
import spikebits.models.sew_resnet  # noqa: F401  (registers "sew_resnet18", "sew_resnet34")
from spikebits.models import apply_config, build, default_space, layer_specs, set_full_precision
from spikebits.space import Config, LayerChoice

torch.set_num_threads(1)

FAMILIES = ("resnet19", "sew_resnet18", "sew_resnet34")

#: Reduced widths/depths that keep every structural feature (stride-2 stages with tied shortcuts).
SMALL = {
    "resnet19": {"widths": (8, 16, 16), "blocks": (2, 1, 1), "head_width": 12},
    "sew_resnet18": {"widths": (8, 8, 16, 16), "blocks": (2, 1, 1, 1), "stem": "cifar"},
    "sew_resnet34": {"widths": (8, 8, 16, 16), "blocks": (2, 2, 1, 1)},  # ImageNet stem
}
TIES = {
    "resnet19": (("layer2.0.conv1", "layer2.0.shortcut"), ("layer3.0.conv1", "layer3.0.shortcut")),
    "sew_resnet18": tuple((f"layer{i}.0.conv1", f"layer{i}.0.shortcut") for i in (2, 3, 4)),
    "sew_resnet34": tuple((f"layer{i}.0.conv1", f"layer{i}.0.shortcut") for i in (2, 3, 4)),
}


def meta_build(name: str, **kwargs):
    with torch.device("meta"):
        return build(name, **kwargs)


def synapse_and_bn_params(model: nn.Module) -> int:
    """Weights and biases of the convolutions, linear layers and BatchNorms (what torchvision counts)."""
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
    return sum(p.numel() for m in model.modules() if isinstance(m, kinds) for p in m.parameters(recurse=False))


# ----------------------------------------------------------------------------- parameter counts
def test_resnet19_parameters_by_hand():
    model = meta_build("resnet19", num_classes=10)
    conv = (
        9 * 3 * 128  # stem 3→128: 3456
        + 6 * 9 * 128 * 128  # stage 1: 3 blocks × 2 convs 128→128: 6·147456 = 884736
        + 9 * 128 * 256 + 5 * 9 * 256 * 256 + 128 * 256  # stage 2: 294912 + 5·589824 + 1×1 32768 = 3276800
        + 9 * 256 * 512 + 3 * 9 * 512 * 512 + 256 * 512  # stage 3: 1179648 + 3·2359296 + 1×1 131072 = 8388608
    )
    bn = 2 * 128 + 6 * 2 * 128 + 7 * 2 * 256 + 5 * 2 * 512  # stem 256 + stage 1 1536 + stage 2 3584 + stage 3 5120
    fc = 512 * 256 + 256 + 256 * 10 + 10  # 131328 + 2570
    assert conv == 3456 + 884736 + 3276800 + 8388608 == 12553600
    assert bn == 10496 and fc == 133898
    assert synapse_and_bn_params(model) == conv + bn + fc == 12697994
    # Each synaptic layer adds its weight step α and one spike step γ (T = 1): 21 layers.
    assert len(model.layer_names) == 21
    assert sum(p.numel() for p in model.parameters()) == 12697994 + 2 * 21


def test_sew_resnet34_parameters_match_torchvision_resnet34():
    model = meta_build("sew_resnet34", num_classes=1000)
    conv = (
        49 * 3 * 64  # 7×7 stem: 9408; sum 9408 + 221184 + 1114112 + 6815744 + 13107200
        + 6 * 9 * 64 * 64  # layer1: 3 blocks × 2: 221184
        + 9 * 64 * 128 + 7 * 9 * 128 * 128 + 64 * 128  # layer2: 73728 + 1032192 + 8192
        + 9 * 128 * 256 + 11 * 9 * 256 * 256 + 128 * 256  # layer3: 294912 + 6488064 + 32768
        + 9 * 256 * 512 + 5 * 9 * 512 * 512 + 256 * 512  # layer4: 1179648 + 11796480 + 131072
    )
    # BN (γ, β) after the stem, after every block conv and on every downsample shortcut.
    bn = 2 * 64 + 6 * 2 * 64 + 9 * 2 * 128 + 13 * 2 * 256 + 7 * 2 * 512  # 128 + 768 + 2304 + 6656 + 7168
    fc = 512 * 1000 + 1000
    assert conv == 21_267_648 and bn == 17_024 and fc == 513_000
    # torchvision.models.resnet34(): 21,797,672 parameters (same convolutions, BNs and fc).
    assert synapse_and_bn_params(model) == conv + bn + fc == 21_797_672
    # Plus α and γ of each of the 37 synaptic layers (stem, 32 block convs, 3 shortcuts, fc).
    assert len(model.layer_names) == 37
    assert sum(p.numel() for p in model.parameters()) == 21_797_672 + 2 * 37


def test_sew_resnet18_parameters_match_torchvision_resnet18():
    model = meta_build("sew_resnet18", num_classes=1000)
    conv = (
        49 * 3 * 64
        + 4 * 9 * 64 * 64
        + 9 * 64 * 128 + 3 * 9 * 128 * 128 + 64 * 128
        + 9 * 128 * 256 + 3 * 9 * 256 * 256 + 128 * 256
        + 9 * 256 * 512 + 3 * 9 * 512 * 512 + 256 * 512
    )
    bn = 2 * 64 + 4 * 2 * 64 + 5 * 2 * 128 + 5 * 2 * 256 + 5 * 2 * 512
    # torchvision.models.resnet18(): 11,689,512 parameters.
    assert synapse_and_bn_params(model) == conv + bn + 512 * 1000 + 1000 == 11_689_512
    assert len(model.layer_names) == 21


# ----------------------------------------------------------------------------- MACs
def test_sew_resnet34_macs_match_resnet34_at_224():
    specs = {s.name: s for s in layer_specs(meta_build("sew_resnet34", num_classes=1000), (3, 224, 224))}
    c3 = 56 * 56 * 9 * 64 * 64  # a 3×3 conv with C_in·C_out = 64², at 56×56: 115605504; every stage's
    # same-width convs cost the same (H, W halve as C doubles), and so do the stride-2 conv1s and shortcuts.
    expect = {
        "conv1": 112 * 112 * 49 * 3 * 64,  # 7×7 stride 2: 118013952
        "layer1.0.conv1": c3,
        "layer2.0.conv1": 28 * 28 * 9 * 64 * 128,  # 57802752
        "layer2.0.shortcut": 28 * 28 * 64 * 128,  # 6422528
        "layer3.5.conv2": 14 * 14 * 9 * 256 * 256,  # = c3
        "layer4.0.shortcut": 7 * 7 * 256 * 512,  # 6422528
        "layer4.2.conv2": 7 * 7 * 9 * 512 * 512,  # = c3
        "fc": 512 * 1000,
    }
    for name, macs in expect.items():
        assert specs[name].macs == macs, name
    assert specs["layer2.0.shortcut"].spike_source == "layer2.0.conv1"
    assert specs["layer1.0.conv1"].input_shape == (64, 56, 56)  # after the stride-2 max-pool
    # same-width 3×3 convs: layer1 3·2, layer2 4·2 − 1, layer3 6·2 − 1, layer4 3·2 − 1 (the stride-2
    # conv1s are counted apart), then 3 stride-2 conv1s and 3 shortcuts.
    same_width = 6 + 7 + 11 + 5
    total = 118013952 + same_width * c3 + 3 * 57802752 + 3 * 6422528 + 512 * 1000
    assert total == 3_663_761_408  # ≈ 3.6 G, torchvision ResNet-34's 3.6 GMACs
    assert sum(s.macs for s in specs.values()) == total


def test_resnet19_macs_at_32():
    specs = {s.name: s for s in layer_specs(meta_build("resnet19", num_classes=10), (3, 32, 32))}
    c3 = 32 * 32 * 9 * 128 * 128  # 150994944: every same-width 3×3 conv
    total = (
        32 * 32 * 9 * 3 * 128  # stem: 3538944
        + (6 + 5 + 3) * c3  # same-width convs of the three stages
        + 2 * 16 * 16 * 9 * 128 * 256  # the two stride-2 conv1s: 75497472 each
        + 2 * 16 * 16 * 128 * 256  # the two 1×1 shortcuts: 8388608 each
        + 512 * 256 + 256 * 10  # fc1, fc2
    )
    assert specs["fc1"].macs == 512 * 256 and specs["fc2"].n_inputs == 256
    assert sum(s.macs for s in specs.values()) == total == 2_285_373_952


# ----------------------------------------------------------------------------- structure, forward, backward
@pytest.mark.parametrize("name", FAMILIES)
def test_ties_declared_and_shortcuts_read_conv1_spikes(name):
    model = meta_build(name, num_classes=10)
    assert default_space(model).ties == TIES[name]
    layers = model.spiking_layers()
    for conv1, shortcut in TIES[name]:
        assert layers[shortcut].spike_source == conv1
        assert layers[conv1].spike_source is None


def mixed_config(model) -> Config:
    """Neighbouring decisions alternate T (1, 2, 4, 2, ...), W and S; one in four is pow2."""
    space = default_space(model)
    cycle = [
        LayerChoice(4, 2, 1, "uniform"),
        LayerChoice(2, 4, 2, "pow2"),
        LayerChoice(3, 1, 4, "uniform"),
        LayerChoice(8, 2, 2, "uniform"),
    ]
    return space.expand({n: cycle[i % 4] for i, n in enumerate(space.decisions)})


@pytest.mark.parametrize("name", FAMILIES)
def test_small_models_train_step_under_mixed_config(name):
    torch.manual_seed(0)
    model = build(name, num_classes=5, in_channels=3, image_size=32, **SMALL[name])
    config = mixed_config(model)
    timesteps = [config[n].timesteps for n in model.layer_names[1:]]
    assert len(set(timesteps)) == 3 and any(a != b for a, b in zip(timesteps, timesteps[1:]))
    assert {config[n].scheme for n in model.layer_names} == {"uniform", "pow2"}
    apply_config(model, config)
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 5)
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2])).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # every conv and fc weight receives a gradient
    for lname, layer in model.spiking_layers().items():
        assert layer.synapse.weight.grad is not None, lname
    # the layer structure on the data's shape
    assert len(layer_specs(model)) == len(model.layer_names)


def test_sew_add_accumulates_spikes_along_identity_shortcuts():
    """O_k = A_k + O_(k−1): within a stage every identity block's conv1 reads its predecessor's
    input spikes plus non-negative residual spikes (all layers at T = 1, so no squeezing)."""
    torch.manual_seed(0)
    model = build("sew_resnet18", num_classes=4, widths=(6, 6, 8, 8), blocks=(3, 1, 1, 1), stem="cifar", image_size=16)
    model.eval()
    set_full_precision(model)
    read: dict[str, torch.Tensor] = {}
    for lname, layer in model.spiking_layers().items():
        original = layer.synapse_forward

        def probe(spikes, _original=original, _name=lname):
            read[_name] = spikes.detach()
            return _original(spikes)

        layer.synapse_forward = probe  # type: ignore[method-assign]
    with torch.no_grad():
        model(torch.rand(2, 3, 16, 16))
    first, second, third = (read[f"layer1.{b}.conv1"] for b in range(3))
    residual = second - first  # A_1 = SN(BN2(conv2(...))) of block 0
    assert (residual >= -1e-6).all() and residual.abs().sum() > 0
    assert (third - second >= -1e-6).all()
    # the downsampling block's shortcut reads exactly what its conv1 reads
    assert torch.equal(read["layer2.0.conv1"], read["layer2.0.shortcut"])


# ----------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("name", FAMILIES)
def test_cli_space_lists_ties(name, capsys):
    from spikebits.search.cli import main

    assert main(["space", "--model", name]) == 0
    space = json.loads(capsys.readouterr().out)
    assert [tuple(g) for g in space["ties"]] == list(TIES[name])
    assert space["model"] == name


@pytest.mark.parametrize("name", FAMILIES)
def test_cli_evaluate_cost_only(name, capsys, tmp_path):
    from spikebits.search.cli import main

    args = ["evaluate", "--model", name, "--dataset", "cifar10", "--uniform", "4/4/1", "--cost-only"]
    assert main(args + ["--cache-dir", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["bit_budget"] == pytest.approx(16.0) and metrics["s_ace"] > 0
