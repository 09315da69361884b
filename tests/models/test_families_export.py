"""The new architecture families through export (``.sbq`` round trip) and the bit-serial
simulator (supported, or refused in one line)."""

from __future__ import annotations

import random

import pytest
import torch

from spikebits.evaluators.hardware import simulate
from spikebits.models import apply_config, build, default_space, load_sbq, save_sbq
from spikebits.space import Config, ConfigError, LayerChoice

SMALL = {
    "resnet19": {"widths": (4, 8, 8), "blocks": (1, 1, 1), "head_width": 8, "in_channels": 3, "image_size": 16},
    "sew_resnet18": {"widths": (4, 4, 8, 8), "blocks": (1, 1, 1, 1), "stem": "cifar", "in_channels": 3, "image_size": 16},
    "vgg_dvs": {"widths": (4, 4, 8, 8, 8, 8, 8, 8), "in_channels": 8, "image_size": 16},
    "spikformer": {"embed_dim": 16, "depth": 2, "heads": 2, "mlp_ratio": 2.0, "in_channels": 3, "image_size": 16},
}


def mixed_model(name: str):  # noqa: ANN201 - a SpikingNetwork
    """``name`` at reduced width with a mixed config (T of neighbours differ), α and γ set."""
    torch.manual_seed(0)
    model = build(name, num_classes=5, **SMALL[name])
    space = default_space(model)
    rng = random.Random(1)
    choices = {n: LayerChoice(rng.choice((2, 3, 4)), rng.choice((1, 2, 4)), (1, 2)[i % 2], ("uniform", "pow2")[i % 3 == 0])
               for i, n in enumerate(space.decisions)}
    config = space.complete(Config(choices))
    apply_config(model, config)
    model.eval()
    with torch.no_grad():
        model(torch.rand(8, *model.input_shape))  # initialises every α and γ
    return model


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_new_family_round_trips_through_sbq_exactly(tmp_path, name):
    model = mixed_model(name)
    save_sbq(model, tmp_path / f"{name}.sbq")
    loaded = load_sbq(tmp_path / f"{name}.sbq")
    x = torch.rand(6, *model.input_shape)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert {n: layer.choice for n, layer in loaded.spiking_layers().items()} == {n: layer.choice for n, layer in model.spiking_layers().items()}


@pytest.mark.parametrize("name", ["resnet19", "vgg_dvs"])
def test_the_bit_serial_simulator_runs_the_plain_families(name):
    model = mixed_model(name)
    report = simulate(model, torch.rand(4, *model.input_shape), energy_model="bitserial45nm")
    assert max(layer["max_abs_error"] for layer in report.to_dict()["layers"]) < 1e-4


@pytest.mark.parametrize(
    "name, reason",
    [("sew_resnet18", "its blocks add spike maps"), ("spikformer", "its self-attention multiplies")],
)
def test_the_bit_serial_simulator_refuses_what_it_cannot_run_in_one_line(name, reason):
    model = mixed_model(name)
    with pytest.raises(ConfigError) as err:
        simulate(model, torch.rand(2, *model.input_shape))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"the bit-serial simulation cannot run {name}: {reason}")
