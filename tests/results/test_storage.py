"""Output files: atomic writes, pareto.json, trials.csv, run.json."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import spikebits.space.files as files
from spikebits.results import (
    TrialRecord,
    hypervolume,
    pareto_front,
    pareto_records,
    read_pareto_json,
    read_trials_csv,
    write_pareto_json,
    write_run_json,
    write_trials_csv,
)
from spikebits.space import METRICS, Budget, Config, DataError, LayerChoice, OutputError, atomic_write_bytes, atomic_write_text

CONFIG_A = Config({"conv1": LayerChoice(8, 8, 1), "fc": LayerChoice(2, 1, 2, "pow2")})
CONFIG_B = Config({"conv1": LayerChoice(8, 8, 1), "fc": LayerChoice(4, 2, 1)})
BUDGET = Budget.parse(["bit_budget<=3", "s_ace<=1e9"])

RECORDS = [
    TrialRecord(0, CONFIG_A, {"accuracy": 0.8, "bit_budget": 1.0, "s_ace": 2.5e8}, "nsga2", 1.25, True,
                violations={"bit_budget": -2.0, "s_ace": 2.5e8 - 1e9}),
    TrialRecord(1, CONFIG_B, {"accuracy": 0.9, "bit_budget": 4.0, "s_ace": 5e8}, "nsga2", 2.5, False,
                violations={"bit_budget": 1.0, "s_ace": -5e8}),
    TrialRecord(2, None, {}, "nsga2", 0.1, False, state="FAIL", error='bad, "quoted"\nsecond line'),
]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_replaces_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second ✓")
    assert target.read_text(encoding="utf-8") == "second ✓"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert leftovers(target.parent) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pareto.json"
    target.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OutputError, match="No space left on device") as info:
        atomic_write_text(target, "new")
    assert "\n" not in str(info.value)
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_write_interrupt_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trials.csv"
    target.write_text("old")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_unwritable_folder_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="output folder"):
        atomic_write_text(blocker / "run.json", "{}")
    with pytest.raises(OutputError):
        write_run_json(blocker / "deeper" / "run.json", {"a": 1})
    # Writing onto an existing folder is an OutputError too, not IsADirectoryError.
    with pytest.raises(OutputError):
        atomic_write_text(tmp_path, "x")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_raises_output_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "pareto.json").write_text("old")
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            atomic_write_text(folder / "pareto.json", "new")
        assert (folder / "pareto.json").read_text() == "old"
    finally:
        folder.chmod(0o700)


def test_permission_error_becomes_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated, so that it also runs as root (which ignores folder permissions).
    def denied(**kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match=r"cannot write .*run\.json \(Permission denied\)"):
        write_run_json(tmp_path / "run.json", {})


# ----------------------------------------------------------------------------- pareto.json
def test_pareto_json_exact_shape_and_round_trip(tmp_path: Path) -> None:
    objectives = ("accuracy", "bit_budget")
    front = pareto_front(RECORDS, objectives)
    assert [r.number for r in front] == [0]  # 1 is infeasible, 2 failed
    ref = {"accuracy": 0.0, "bit_budget": 3.0}
    hv = hypervolume(front, objectives, ref)
    assert hv == pytest.approx(0.8 * 2.0)
    path = tmp_path / "pareto.json"
    write_pareto_json(path, front, objectives=objectives, budget=BUDGET, reference=ref, hypervolume=hv,
                      extra={"strategy": "nsga2", "seed": np.int64(4)})
    raw = json.loads(path.read_text())
    assert raw == {
        "schema": "spikebits.pareto/1",
        "objectives": {"accuracy": "maximize", "bit_budget": "minimize"},
        "budget": {"bit_budget": 3.0, "s_ace": 1e9},
        "reference_point": {"accuracy": 0.0, "bit_budget": 3.0},
        "hypervolume": pytest.approx(1.6),
        "points": [
            {
                "config": {"layers": {
                    "conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"},
                    "fc": {"w_bits": 2, "s_bits": 1, "timesteps": 2, "scheme": "pow2"},
                }},
                "metrics": {"accuracy": 0.8, "bit_budget": 1.0, "s_ace": 2.5e8},
                "strategy": "nsga2",
                "feasible": True,
                "number": 0,
            }
        ],
        "strategy": "nsga2",
        "seed": 4,
    }
    assert list(raw)[:6] == ["schema", "objectives", "budget", "reference_point", "hypervolume", "points"]
    assert read_pareto_json(path) == raw
    back = pareto_records(raw)
    assert back[0].config == CONFIG_A and back[0].metrics == RECORDS[0].metrics


def test_pareto_json_extra_cannot_replace_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="points"):
        write_pareto_json(tmp_path / "p.json", [], objectives=("accuracy",), budget=Budget(),
                          reference={"accuracy": 0.0}, hypervolume=0.0, extra={"points": []})
    assert not (tmp_path / "p.json").exists()


def test_read_pareto_json_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_pareto_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_pareto_json(bad)
    bad.write_text('{"schema": "other/1"}')
    with pytest.raises(DataError, match="schema"):
        read_pareto_json(bad)


# ----------------------------------------------------------------------------- trials.csv
def test_trials_csv_columns_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    write_trials_csv(path, RECORDS)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "number", "state", "feasible", "strategy", "wall_time_s",
        "accuracy", "test_accuracy",  # the test split's figure right beside the validation one
        *(m for m in METRICS if m != "accuracy"),
        "violation.bit_budget", "violation.s_ace",
        "config", "error", "repaired_from",
    ]
    assert len(rows) == 4
    first = dict(zip(rows[0], rows[1]))
    assert first["accuracy"] == "0.8" and first["s_ace"] == "250000000.0" and first["energy_pj"] == ""
    assert first["feasible"] == "true" and first["violation.bit_budget"] == "-2.0"
    assert first["config"] == (
        '{"layers":{"conv1":{"w_bits":8,"s_bits":8,"timesteps":1,"scheme":"uniform"},'
        '"fc":{"w_bits":2,"s_bits":1,"timesteps":2,"scheme":"pow2"}}}'
    )

    back = read_trials_csv(path)
    assert back[0]["number"] == 0 and back[0]["feasible"] is True
    assert back[0]["accuracy"] == 0.8 and back[0]["s_ace"] == 2.5e8 and back[0]["energy_pj"] is None
    assert Config.from_dict(back[0]["config"]) == CONFIG_A
    assert back[1]["feasible"] is False and back[1]["violation.bit_budget"] == 1.0
    assert back[2]["state"] == "FAIL" and back[2]["config"] is None
    assert back[2]["error"] == 'bad, "quoted"\nsecond line'
    assert back[2]["accuracy"] is None and back[0]["error"] is None
    assert back[1]["wall_time_s"] == 2.5
    assert [row["repaired_from"] for row in back] == [None, None, None]


def test_trials_csv_says_which_trials_were_skipped_and_repaired(tmp_path: Path) -> None:
    budget = Budget.parse("bit_budget<=2")
    skipped = TrialRecord.skipped(0, CONFIG_A, {"bit_budget": 3.5, "s_ace": 1e6}, strategy="nsga2", budget=budget)
    assert skipped.state == "SKIPPED" and not skipped.feasible and skipped.wall_time_s == 0.0
    assert skipped.violations == {"bit_budget": 1.5}
    assert skipped.error == "not trained: bit_budget 3.5 breaks bit_budget<=2"
    repaired = TrialRecord.evaluated(1, CONFIG_A, {"accuracy": 0.9, "bit_budget": 2.0}, strategy="nsga2", wall_time_s=1.0,
                                     budget=budget, info={"repaired_from": 0})
    path = tmp_path / "trials.csv"
    write_trials_csv(path, [skipped, repaired])
    back = read_trials_csv(path)
    assert [(r["state"], r["repaired_from"]) for r in back] == [("SKIPPED", None), ("COMPLETE", 0)]
    assert back[0]["bit_budget"] == 3.5 and back[0]["accuracy"] is None and back[0]["error"].startswith("not trained")


def test_trials_csv_without_violations_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    write_trials_csv(path, [RECORDS[2]])
    header = path.read_text().splitlines()[0].split(",")
    assert not any(c.startswith("violation.") for c in header)
    assert header[-3:] == ["config", "error", "repaired_from"]
    write_trials_csv(path, [])
    assert read_trials_csv(path) == []


def test_read_trials_csv_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="header"):
        read_trials_csv(path)


# ----------------------------------------------------------------------------- run.json
def test_run_json_converts_values_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    info = {
        "strategy": "differentiable",
        "seed": np.int64(0),
        "wall_time_s": np.float32(1.5),
        "budget": BUDGET,
        "config": CONFIG_B,
        "scores": np.array([0.25, 0.5]),
        "out": tmp_path,
        "nan": float("nan"),
    }
    write_run_json(path, info)
    text = path.read_text()
    assert text.startswith('{\n  "strategy": "differentiable",\n  "seed": 0,')
    data = json.loads(text)
    assert list(data) == list(info)
    assert data["wall_time_s"] == 1.5 and isinstance(data["seed"], int)
    assert data["budget"] == {"bit_budget": 3.0, "s_ace": 1e9}
    assert data["config"] == CONFIG_B.to_dict()
    assert data["scores"] == [0.25, 0.5]
    assert data["out"] == str(tmp_path)
    assert data["nan"] is None
