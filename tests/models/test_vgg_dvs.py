"""models: vgg_dvs (VGG-11 for event frames) — parameter count and MACs by hand at 48×48 and
128×128, a mixed-precision forward/backward at reduced width, the CLI's ``space`` and cost-only
``evaluate``, and short random and differentiable searches on ``digits_events``."""

from __future__ import annotations

import json

import pytest
import torch

import spikebits.models.vgg  # noqa: F401  (registers "vgg_dvs")
from spikebits.models import apply_config, build, default_space, layer_specs
from spikebits.space import ConfigError, LayerChoice

torch.set_num_threads(1)

NARROW = (4, 8, 8, 8, 8, 8, 8, 8)


@pytest.fixture(scope="module")
def full():
    """Full-width VGG-11 for 2×48×48 frames (one frame, two polarities), 11 classes."""
    return build("vgg_dvs", num_classes=11, in_channels=2, image_size=48)


def test_registered_with_event_defaults():
    from spikebits.evaluators import datasets

    m = build("vgg_dvs")
    assert m.input_shape == (8, 48, 48) == datasets.info("cifar10_dvs").input_shape
    assert m.layer_names == [f"conv{i}" for i in range(1, 9)] + ["fc"]
    assert m.ties == ()
    sp = default_space(m)
    assert sp.pinned == {"conv1": LayerChoice(8, 8, 1)}
    assert list(sp.decisions) == [f"conv{i}" for i in range(2, 9)] + ["fc"]


def test_parameter_count_by_hand(full):
    # 3×3 convolutions without bias: k²·C_in·C_out
    convs = (
        9 * 2 * 64  # conv1: 1152
        + 9 * 64 * 128  # conv2: 73728
        + 9 * 128 * 256  # conv3: 294912
        + 9 * 256 * 256  # conv4: 589824
        + 9 * 256 * 512  # conv5: 1179648
        + 3 * 9 * 512 * 512  # conv6, conv7, conv8: 3 · 2359296 = 7077888
    )
    assert convs == 9217152
    # BatchNorm: weight and bias per channel, 2·C
    norms = 2 * (64 + 128 + 256 + 256 + 4 * 512)  # 2 · 2752
    assert norms == 5504
    # head: adaptive average pool to 1×1, then fc 512→11 with bias: in·out + out
    head = 512 * 11 + 11
    assert head == 5643
    network = sum(p.numel() for name, p in full.named_parameters() if ".synapse." in name or name.startswith("bn"))
    assert network == convs + norms + head == 9228299
    # plus, per synaptic layer (9), the weight quantizer's α and the neuron's γ (one step while unconfigured)
    assert sum(p.numel() for p in full.parameters()) == 9228299 + 2 * 9 == 9228317


def test_macs_by_hand_48(full):
    specs = {s.name: s for s in layer_specs(full, (2, 48, 48))}
    # H_out·W_out·k²·C_in·C_out; pools after conv1, 2, 4, 6: 48 → 24 → 12 → 6 → 3
    expect = {
        "conv1": 48 * 48 * 9 * 2 * 64,  # 2654208
        "conv2": 24 * 24 * 9 * 64 * 128,  # 42467328
        "conv3": 12 * 12 * 9 * 128 * 256,  # 42467328
        "conv4": 12 * 12 * 9 * 256 * 256,  # 84934656
        "conv5": 6 * 6 * 9 * 256 * 512,  # 42467328
        "conv6": 6 * 6 * 9 * 512 * 512,  # 84934656
        "conv7": 3 * 3 * 9 * 512 * 512,  # 21233664
        "conv8": 3 * 3 * 9 * 512 * 512,  # 21233664
        "fc": 512 * 11,  # 5632
    }
    assert expect["conv1"] == 2654208 and expect["conv4"] == 84934656 and expect["conv8"] == 21233664
    assert {n: s.macs for n, s in specs.items()} == expect
    # 2654208 + 3·42467328 + 2·84934656 + 2·21233664 + 5632
    assert sum(expect.values()) == 2654208 + 127401984 + 169869312 + 42467328 + 5632 == 342398464
    assert specs["conv2"].input_shape == (64, 24, 24) and specs["conv7"].input_shape == (512, 3, 3)
    assert specs["conv1"].n_inputs == 2 * 48 * 48 and specs["fc"].n_inputs == 512
    assert all(s.owns_neuron for s in specs.values())


def test_macs_by_hand_128(full):
    specs = {s.name: s.macs for s in layer_specs(full, (2, 128, 128))}
    # native DVS128 resolution: 128 → 64 → 32 → 16 → 8 (→ 4 after conv8, → 1 by the head pool)
    expect = {
        "conv1": 128 * 128 * 9 * 2 * 64,  # 18874368
        "conv2": 64 * 64 * 9 * 64 * 128,  # 301989888
        "conv3": 32 * 32 * 9 * 128 * 256,  # 301989888
        "conv4": 32 * 32 * 9 * 256 * 256,  # 603979776
        "conv5": 16 * 16 * 9 * 256 * 512,  # 301989888
        "conv6": 16 * 16 * 9 * 512 * 512,  # 603979776
        "conv7": 8 * 8 * 9 * 512 * 512,  # 150994944
        "conv8": 8 * 8 * 9 * 512 * 512,  # 150994944
        "fc": 512 * 11,  # 5632: the flatten size does not depend on the image size
    }
    assert expect["conv1"] == 18874368 and expect["conv6"] == 603979776
    assert specs == expect


def test_reduced_width_mixed_config_forward_backward():
    torch.manual_seed(0)
    m = build("vgg_dvs", num_classes=11, in_channels=2, image_size=48, widths=NARROW)
    sp = default_space(m)
    # neighbouring layers differ in T and in W/S; conv4 is power-of-two
    choices = [
        LayerChoice(4, 2, 2),  # conv2
        LayerChoice(2, 4, 1),  # conv3
        LayerChoice(3, 1, 4, "pow2"),  # conv4
        LayerChoice(8, 2, 1),  # conv5
        LayerChoice(1, 4, 2),  # conv6
        LayerChoice(4, 1, 1),  # conv7
        LayerChoice(2, 2, 4),  # conv8
        LayerChoice(4, 4, 2),  # fc
    ]
    cfg = sp.expand(dict(zip(sp.decisions, choices)))
    apply_config(m, cfg)
    assert [m.spiking_layers()[n].timesteps for n in m.layer_names] == [1, 2, 1, 4, 1, 2, 1, 4, 2]
    m.train()
    out = m(torch.rand(3, 2, 48, 48))
    assert out.shape == (3, 11) and torch.isfinite(out).all()
    out.square().mean().backward()
    for name, param in m.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    for name, layer in m.spiking_layers().items():
        assert layer.synapse.weight.grad.abs().sum() > 0, name
        assert layer.neuron.gamma.grad.shape == (layer.timesteps,), name


def test_head_and_pool_options():
    torch.manual_seed(0)
    m = build("vgg_dvs", num_classes=5, in_channels=8, image_size=16, widths=NARROW, pool="max", hidden=16)
    assert m.layer_names[-2:] == ["fc1", "fc"]
    apply_config(m, default_space(m).uniform(LayerChoice(4, 2, 2)))
    m.eval()
    with torch.no_grad():
        assert m(torch.rand(2, 8, 16, 16)).shape == (2, 5)
    specs = {s.name: s for s in layer_specs(m)}
    # 16 → 8 → 4 → 2 → 1; the fifth pool keeps 1×1 (ceil mode); fc1 16·8, fc 5·16 (+ bias, no MACs)
    assert specs["conv8"].input_shape == (8, 1, 1) and specs["conv8"].macs == 1 * 1 * 9 * 8 * 8
    assert specs["fc1"].macs == 8 * 16 and specs["fc"].macs == 16 * 5
    for bad in ({"pool": "median"}, {"widths": ()}, {"pool_after": (0,)}, {"hidden": 0}):
        with pytest.raises(ConfigError):
            build("vgg_dvs", **bad)


def test_cli_space_and_cost_only_evaluate(capsys):
    from spikebits.evaluators import datasets
    from spikebits.search.cli import main

    assert "cifar10_dvs" in datasets.available()
    assert main(["space", "--model", "vgg_dvs"]) == 0
    assert '"model": "vgg_dvs"' in capsys.readouterr().out
    assert main(["evaluate", "--model", "vgg_dvs", "--dataset", "cifar10_dvs", "--uniform", "4/4/1", "--cost-only"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    # S-ACE = Σ MACs·W·S·T on 8×48×48, 10 classes; conv1 stays pinned at W8/S8/T1, the rest 4/4/1.
    # MACs: conv1 48·48·9·8·64 = 10616832; conv2 … conv8 as at 2×48×48 (339738624); fc 512·10
    conv1, middle, fc = 48 * 48 * 9 * 8 * 64, 342398464 - 2654208 - 5632, 512 * 10
    assert (conv1, middle) == (10616832, 339738624)
    assert metrics["s_ace"] == conv1 * 8 * 8 + (middle + fc) * 4 * 4 == 6115377152


@pytest.fixture(scope="module")
def events_evaluator(tmp_path_factory):
    from spikebits.evaluators import Evaluator

    return Evaluator(
        "vgg_dvs",
        "digits_events",
        epochs=1,
        pretrain_epochs=1,
        model_kwargs={"widths": (8,) * 8},
        cache_dir=tmp_path_factory.mktemp("vgg-cache"),
    )


@pytest.mark.slow
def test_random_search_on_digits_events(events_evaluator):
    from spikebits.search import run_search

    assert events_evaluator.input_shape == (4, 16, 16)
    result = run_search("random", events_evaluator, n_trials=2, objectives=("accuracy", "bit_budget"))
    assert [r.state for r in result.records] == ["COMPLETE", "COMPLETE"]
    assert all(0 < r.metrics["accuracy"] <= 1 for r in result.records)


@pytest.mark.slow
def test_differentiable_search_on_digits_events(events_evaluator):
    from spikebits.search import run_search

    result = run_search(
        "differentiable", events_evaluator, targets="2/2/1", supernet_epochs=1, batch_size=256, objectives=("accuracy", "bit_budget")
    )
    assert result.records and all(r.state == "COMPLETE" for r in result.records)
    assert all(0 < r.metrics["accuracy"] <= 1 for r in result.records)
