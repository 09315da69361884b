"""``--chip`` and ``spikebits chips`` through the command line (issue 30): every built-in profile
gives a front whose every point passes the placement check; a config that cannot be placed is
never fine-tuned; a model the chip cannot take at all is one line before any work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from spikebits.evaluators import Evaluator
from spikebits.evaluators.chips import load_profile, place, profile_names
from spikebits.space import Config

from cli_run import run_main

#: A model each profile runs on digits (the default data), as the README's "Search for a chip".
CHIP_MODELS = {
    "speck": ["--model-arg", "width=0.5"],
    "xylo": ["--model", "mlp", "--model-arg", "hidden=63", "--model-arg", "pool=4"],
    "loihi2": ["--model-arg", "width=0.25"],
    "akida": ["--model-arg", "width=0.25"],
    "ideal": ["--model-arg", "width=0.25"],
}
QUICK = ["--pretrain-epochs", "1", "--epochs", "1", "--quiet", "--threads", "1", "--train-fraction", "0.3"]


def model_of(argv: list[str]) -> tuple[str, dict]:
    model = argv[argv.index("--model") + 1] if "--model" in argv else "digits_cnn"
    kwargs = {}
    for i, flag in enumerate(argv):
        if flag == "--model-arg":
            key, value = argv[i + 1].split("=")
            kwargs[key] = float(value) if "." in value else int(value)
    return model, kwargs


def test_chips_lists_every_profile_and_shows_each_value_with_its_source(capsys):
    code, out, _ = run_main(capsys, "chips")
    assert code == 0
    for name in profile_names():
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    code, out, _ = run_main(capsys, "chips", "speck")
    assert code == 0
    assert "capacity.cores: sinabs docs/speck/overview.md" in out
    assert len(out.splitlines()) == 1 + len(load_profile("speck").sources)
    code, _, err = run_main(capsys, "chips", "nosuch")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nosuch" in err


def test_a_model_no_core_can_hold_is_one_line_before_any_work(capsys, tmp_path: Path):
    code, _, err = run_main(capsys, "search", "--chip", "speck", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2
    assert err.strip().splitlines() == [
        "spikebits: error: layer 'conv3' needs 589,824 weight bits; the largest speck core holds 65,536 × 8 = 524,288; "
        "speck does not split a layer across cores; use fewer channels or another chip"
    ]
    assert not (tmp_path / "r").exists()
    code, _, err = run_main(capsys, "search", "--chip", "xylo", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2 and "layer 'conv1' is a conv layer, which the xylo chip cannot run" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("chip", list(CHIP_MODELS))
def test_every_point_of_a_chip_search_passes_the_placement_check(capsys, tmp_path: Path, cache_dir: Path, chip: str):
    out = tmp_path / chip
    argv = ["search", "--chip", chip, *CHIP_MODELS[chip], "--strategy", "random", "--trials", "4", "--out", str(out),
            "--cache-dir", str(cache_dir), *QUICK]
    code, stdout, err = run_main(capsys, *argv)
    assert code == 0, err
    profile = load_profile(chip)
    model, kwargs = model_of(argv)
    evaluator = Evaluator(model, "digits", chip=chip, model_kwargs=kwargs)
    pareto = json.loads((out / "pareto.json").read_text())
    if profile.capacity.cores is not None:
        assert pareto["budget"] == {"cores_used": profile.capacity.cores}
    assert pareto["points"]
    for point in pareto["points"]:
        config = Config.from_dict(point["config"])
        placement = place(profile, evaluator.specs, config)  # every value allowed, every layer placed
        assert placement.fits and placement.cores_used == point["metrics"]["cores_used"]
        assert placement.max_core_memory_bits == point["metrics"]["core_memory_bits"]
    assert f"placement on {chip}:" in stdout


@pytest.mark.slow
def test_a_config_that_cannot_be_placed_is_never_fine_tuned(capsys, tmp_path: Path, cache_dir: Path):
    # A 2-core chip whose cores each hold 20,000 weight bits: digits_cnn at width 0.25 (8, 16, 32
    # channels) has conv3 4,608 weights, so conv3 fits a core at W ≤ 4 only, and the four layers
    # share the two cores only when their weights are narrow: wide configs need 3 or more cores.
    profile = tmp_path / "two.toml"
    profile.write_text(
        '''name = "two"
description = "two small cores, for a test"
hardware = false
[conv]
supported = true
w_bits_uniform = [1, 2, 3, 4, 8]
w_bits_pow2 = []
s_bits = [1, 2, 4]
[linear]
supported = true
w_bits_uniform = [1, 2, 3, 4, 8]
w_bits_pow2 = []
s_bits = [1, 2, 4]
[capacity]
cores = 2
weight_memory_bits = 20000
split_layers = false
[sources]
"hardware" = "a test"
"conv.supported" = "a test"
"conv.w_bits_uniform" = "a test"
"conv.w_bits_pow2" = "a test"
"conv.s_bits" = "a test"
"linear.supported" = "a test"
"linear.w_bits_uniform" = "a test"
"linear.w_bits_pow2" = "a test"
"linear.s_bits" = "a test"
"capacity.cores" = "a test"
"capacity.weight_memory_bits" = "a test"
"capacity.split_layers" = "a test"
'''
    )
    out = tmp_path / "r"
    code, _, err = run_main(capsys, "search", "--chip", str(profile), "--model-arg", "width=0.25", "--strategy", "random",
                            "--trials", "12", "--out", str(out), "--cache-dir", str(cache_dir), *QUICK)
    assert code == 0, err
    rows = list(csv.DictReader((out / "trials.csv").open()))
    skipped = [r for r in rows if r["state"] == "SKIPPED"]
    trained = [r for r in rows if r["state"] == "COMPLETE"]
    assert skipped and trained  # the space holds both kinds
    for row in skipped:
        assert float(row["cores_used"]) > 2 and row["accuracy"] == ""  # never trained
    for row in trained:
        assert float(row["cores_used"]) <= 2 and float(row["accuracy"]) > 0


def test_a_space_written_for_a_chip_carries_it_and_evaluate_places_a_config(capsys, tmp_path: Path):
    space_file = tmp_path / "loihi2.json"
    code, _, err = run_main(capsys, "space", "--chip", "loihi2", "--out", str(space_file))
    assert code == 0, err
    data = json.loads(space_file.read_text())
    assert data["chip"] == "loihi2" and data["pinned"]["conv1"]["u_bits"] == 24
    assert all(o["u_bits"] == [24] and o["schemes"] == ["uniform"] for o in data["layers"].values())
    # the space file alone makes the run a loihi2 run: the costs place the config on its cores
    code, out, err = run_main(capsys, "evaluate", "--space", str(space_file), "--uniform", "4/2/1/24", "--cost-only")
    assert code == 0, err
    metrics = json.loads(out)
    # digits_cnn: conv1 256 + conv3 4,096 + fc 128 neurons share core 0 (8,192 neurons each),
    # conv2's 8,192 take core 1: 2 cores. Core 0 holds 288·8 + 73,728·4 + 1,280·4 = 302,336 weight
    # bits and 4,480·24 = 107,520 state bits: 409,856; core 1 18,432·4 + 8,192·24 = 270,336.
    assert (metrics["cores_used"], metrics["core_memory_bits"]) == (2, 409856)
    assert "placement on loihi2: 2 of 128 cores (fits), first-fit" in err
    # a space file for one chip, --chip another: one line
    code, _, err = run_main(capsys, "evaluate", "--space", str(space_file), "--chip", "akida", "--uniform", "4/2/1", "--cost-only")
    assert code == 2 and "the space file is for chip 'loihi2', not 'akida'" in err
