"""Size bounds of the architectures (:mod:`models.limits`) and what a model file may make the
reader allocate: sizes are checked before a constructor runs, and an ``.sbq`` header cannot
name a network larger than its payload."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from spikebits import models
from spikebits.models.limits import MAX_DEPTH, MAX_WIDTH, SizeError, check_size_arguments
from spikebits.space import ConfigError


def test_every_architecture_builds_at_its_defaults():
    for name in models.available():
        with torch.device("meta"):
            models.build(name)


@pytest.mark.parametrize("kwargs, words", [
    ({"widths": (0, 16, 16)}, "widths must be >= 1, got [0, 16, 16]"),
    ({"widths": ()}, "widths is empty"),
    ({"widths": (8,) * (MAX_DEPTH + 1)}, f"more than {MAX_DEPTH}"),
    ({"widths": (8, MAX_WIDTH + 1)}, f"{MAX_WIDTH + 1} is above {MAX_WIDTH}"),
    ({"widths": (8, 8.5)}, "whole numbers"),
    ({"depth": 0}, "depth must be >= 1, got 0"),
    ({"blocks": MAX_DEPTH + 1}, f"above {MAX_DEPTH}"),
    ({"embed_dim": -8}, "embed_dim must be >= 1"),
    ({"num_classes": 0}, "num_classes must be >= 1"),
    ({"width": 0.0}, "width must be a number above 0"),
    ({"width": float("inf")}, "width must be a number above 0"),
    ({"mlp_ratio": 10**6}, "above 2048"),
])
def test_a_size_out_of_bounds_is_one_line(kwargs, words):
    with pytest.raises(SizeError) as caught:
        check_size_arguments(kwargs)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_sizes_the_constructors_check_are_left_to_them():
    check_size_arguments({"hidden": None, "stem": "cifar", "widths": (8, 16, 32, 64), "neuron": "lif", "heads": 3})


@pytest.mark.timeout(30)
def test_stage_totals_are_bounded_before_any_block_is_built():
    with pytest.raises(ConfigError, match="add up to 1200 blocks"):
        models.build("resnet20", blocks=400)
    with pytest.raises(ConfigError, match="add up to 1003 blocks"):
        models.build("sew_resnet18", blocks=(1, 1, 1, 1000))
    with pytest.raises(ValueError, match="three block counts"):
        models.build("resnet19", blocks=(3, 3))
    with pytest.raises(ValueError, match="one block count per stage"):
        models.build("resnet20", blocks=(3, 3))
    with pytest.raises(ConfigError, match=f"gives {4 * 32768} features, above {MAX_WIDTH}"):
        models.build("spikformer", embed_dim=32768, heads=8)


@pytest.mark.timeout(30)
def test_a_model_file_cannot_name_a_network_larger_than_its_payload(tmp_path: Path):
    model = models.build("digits_cnn", width=5 / 32, num_classes=3)
    space = models.default_space(model)
    models.apply_config(model, space.largest_config())
    model.eval()
    with torch.no_grad():
        model(torch.rand(4, 1, 16, 16))
    good = tmp_path / "good.sbq"
    models.save_sbq(model, good)
    raw = good.read_bytes()
    (length,) = struct.unpack("<Q", raw[4:12])
    header, payload = json.loads(raw[12 : 12 + length]), raw[12 + length :]
    header["model_kwargs"]["width"] = 2048  # 65,536 channels: tens of GB of weights
    blob = json.dumps(header).encode()
    forged = tmp_path / "forged.sbq"
    forged.write_bytes(b"SBQ1" + struct.pack("<Q", len(blob)) + blob + payload)
    with pytest.raises(ConfigError) as caught:
        models.load_sbq(forged)
    message = str(caught.value)
    assert "\n" not in message and str(forged) in message and "does not match model 'digits_cnn'" in message
    assert "-byte payload holds" in message
    assert models.load_sbq(good) is not None
