"""bench/scaling.py: the exponent fit against numbers computed by hand, and a quick in-process
run on digits_cnn that prints every series with finite positive numbers."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "scaling.py"


@pytest.fixture(scope="module")
def scaling():
    """The script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_scaling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_fit_exponent_by_hand(scaling):
    fit = scaling.fit_exponent
    assert fit([1, 2, 4], [1, 2, 4]) == pytest.approx(1.0)
    assert fit([1, 2, 4], [1, 4, 16]) == pytest.approx(2.0)
    assert fit([16, 32, 64, 128], [3.0, 3.0, 3.0, 3.0]) == pytest.approx(0.0)
    assert fit([1, 4, 16], [5, 10, 20]) == pytest.approx(0.5)  # 5·w^½
    # Off a line, L = ln 2: x = 0, L, 2L; y = 0, 0, 2L → Σdx·dy = 2L², Σdx² = 2L², k = 1.
    assert fit([1, 2, 4], [1, 1, 4]) == pytest.approx(1.0)
    # y = 0, L, L → Σdx·dy = (−L)(−2L/3) + (L)(L/3) = L², Σdx² = 2L², k = 1/2.
    assert fit([1, 2, 4], [1, 2, 2]) == pytest.approx(0.5)
    assert math.isnan(fit([1, 2], [1, 0]))  # a cost of 0 has no logarithm
    assert math.isnan(fit([2, 2], [1, 3]))  # one distinct work: no slope
    with pytest.raises(ValueError):
        fit([1, 2, 4], [1, 2])


def series_tables(text: str) -> dict[str, list[list[str]]]:
    """Printed series title → rows (cells split on whitespace), from the script's output."""
    tables = {}
    for block in text.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if len(lines) >= 3 and "peak MiB" in lines[1]:
            tables[lines[0].split(" (")[0]] = [line.split() for line in lines[2:]]
    return tables


@pytest.mark.slow  # about 10 s on 2 cores: pretraining 1 epoch and four short trials
def test_quick_run_prints_every_series(scaling, capsys, tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / "scaling.json"
    argv = ["--quick", "--models", "digits_cnn", "--steps", "1", "--warmup", "0", "--threads", "1"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--pretrain-epochs", "1", "--json", str(out)]
    try:
        scaling.main(argv)
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    tables = series_tables(text)
    expected = ["digits_cnn ×1: batch", "digits_cnn ×1: T", "digits_cnn: width", "digits_cnn on digits: train samples"]
    assert list(tables) == expected
    for title, rows in tables.items():
        assert len(rows) == 2, title
        for row in rows:
            numbers = [float(v) for v in row[-4:]]  # ms, peak MiB, time ×, memory ×
            assert all(math.isfinite(v) and v > 0 for v in numbers), (title, row)
        assert rows[0][-2:] == ["1.00", "1.00"]  # ratios to the base point
    assert [r[0] for r in tables["digits_cnn ×1: batch"]] == ["16", "32"]
    assert [r[0] for r in tables["digits_cnn: width"]] == ["×1/2", "×1"]
    summary = text.split("exponent k of cost")[1].splitlines()[2:]
    assert len(summary) == len(expected)
    for title, line in zip(expected, summary):
        assert line.strip().startswith(title)
        k_time, k_memory = (float(v) for v in line.strip()[len(title) :].split()[:2])
        assert math.isfinite(k_time) and math.isfinite(k_memory), line
    blob = json.loads(out.read_text())
    assert [f"{s['title']}: {s['factor']}" for s in blob["series"]] == expected
    trials = blob["series"][-1]
    assert trials["work"] == [p["samples"] for p in trials["points"]] and trials["work"][0] < trials["work"][1]
