"""Searches on the other data sets from the command line: cifar10 from files in the real
pickle-batch layout, digits_events offline; cost figures at a data set's real input size
without its files; a broken data folder is one line and exit 2."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from spikebits.results import read_pareto_json, read_trials_csv

from cli_run import run_main


def write_cifar10(root: Path, per_batch: int = 40, test: int = 40) -> Path:
    """5 training batches and a test batch in the cifar-10-batches-py layout. Each class has
    its own mean brightness per channel, so a few epochs learn something."""
    rng = np.random.default_rng(7)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(n: int, offset: int) -> dict:
        labels = [(offset + i) % 10 for i in range(n)]
        base = np.array([[25 * c, 250 - 25 * c, 120] for c in labels], dtype=np.float64)[:, :, None, None]
        images = np.clip(base + rng.normal(0, 20, size=(n, 3, 32, 32)), 0, 255).astype(np.uint8)
        return {b"batch_label": b"b", b"labels": labels, b"data": images.reshape(n, 3072), b"filenames": [b"x.png"] * n}

    for b in range(5):
        with open(folder / f"data_batch_{b + 1}", "wb") as handle:
            pickle.dump(batch(per_batch, b), handle, protocol=2)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(test, 0), handle, protocol=2)
    return root


def check_outputs(out: Path) -> list[dict]:
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["points"], "expected a front"
    for point in pareto["points"]:
        assert 0.0 <= point["metrics"]["accuracy"] <= 1.0 and 0.0 <= point["metrics"]["test_accuracy"] <= 1.0
    rows = read_trials_csv(out / "trials.csv")
    header = list(rows[0])
    assert header[header.index("accuracy") + 1] == "test_accuracy"
    assert all(r["test_accuracy"] is not None for r in rows if r["state"] == "COMPLETE")
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows


@pytest.mark.slow
def test_search_cifar10_from_a_data_folder(capsys, tmp_path, cache_dir):
    root = write_cifar10(tmp_path / "data")
    out = tmp_path / "run"
    code, stdout, err = run_main(
        capsys, "search", "--dataset", "cifar10", "--data-dir", str(root), "--strategy", "random", "--trials", "2",
        "--epochs", "1", "--pretrain-epochs", "2", "--out", str(out), "--quiet", "--val-fraction", "0.25",
    )
    assert code == 0, err
    assert "validation" in stdout and "test_accuracy" in stdout
    rows = check_outputs(out)
    assert sum(r["state"] == "COMPLETE" for r in rows) == 2
    run = json.loads((out / "run.json").read_text())
    assert run["evaluator"]["input_shape"] == [3, 32, 32] and run["evaluator"]["val_fraction"] == 0.25
    assert run["evaluator"]["model_kwargs"]["in_channels"] == 3


@pytest.mark.slow
def test_search_digits_events(capsys, tmp_path, cache_dir):
    out = tmp_path / "run"
    code, stdout, err = run_main(
        capsys, "search", "--dataset", "digits_events", "--strategy", "random", "--trials", "2", "--epochs", "1",
        "--pretrain-epochs", "2", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    check_outputs(out)
    run = json.loads((out / "run.json").read_text())
    assert run["evaluator"]["input_shape"] == [4, 16, 16]


@pytest.mark.parametrize(
    "extra, s_ace",
    [
        # every layer, the first one included, at W4/S4/T1 and W4/S4/T2: the seed paper's U-Quant rows
        (["--uniform", "4/4/1", "--include-pinned"], 41_395_765_248),
        (["--uniform", "4/4/2", "--include-pinned"], 82_791_530_496),
        # the first layer pinned at W8/S8/T1 (this project's default space)
        (["--uniform", "4/4/1"], 41_565_634_560),
    ],
)
def test_resnet20_cost_at_cifar_size_without_cifar_files(capsys, extra, s_ace):
    code, out, err = run_main(capsys, "evaluate", "--model", "resnet20", "--dataset", "cifar10", "--cost-only", *extra)
    assert code == 0, err
    assert json.loads(out)["s_ace"] == s_ace
    assert "input shape 3,32,32 (cifar10)" in err


def test_input_shape_overrides_the_data_sets(capsys):
    code, out, err = run_main(capsys, "evaluate", "--model", "resnet20", "--dataset", "digits", "--input-shape", "3,32,32",
                              "--cost-only", "--uniform", "4/4/1", "--include-pinned")
    assert code == 0, err
    assert json.loads(out)["s_ace"] == 41_395_765_248
    code, _, err = run_main(capsys, "space", "--model", "resnet20", "--dataset", "cifar100")
    assert code == 0 and "input shape 3,32,32 (cifar100)" in err


def test_a_broken_cifar_folder_is_one_line_and_exit_2(capsys, tmp_path):
    root = write_cifar10(tmp_path / "data", per_batch=10, test=10)
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02}q\x00(U\x04data")  # truncated pickle
    code, _, err = run_main(
        capsys, "search", "--dataset", "cifar10", "--data-dir", str(root), "--trials", "1", "--epochs", "1",
        "--out", str(tmp_path / "run"),
    )
    assert code == 2
    assert err.count("\n") == 1 and "data_batch_3" in err and "cifar-10-batches-py/data_batch_1" in err
    assert not (tmp_path / "run" / "pareto.json").exists()
