"""``spikebits search --early-stop`` without Ray: successive halving over the fine-tuning
epochs in a local search on digits."""

from __future__ import annotations

import json

import pytest

from spikebits.results import read_trials_csv

from cli_run import run_main


@pytest.mark.slow
def test_a_local_search_with_early_stop_writes_pruned_trials(capsys, tmp_path, cache_dir):
    # One time step everywhere keeps each fine-tuning epoch short.
    code, out, _ = run_main(capsys, "space", "--model", "digits_cnn")
    assert code == 0
    space = json.loads(out)
    for options in space["layers"].values():
        options["timesteps"] = [1]
    (tmp_path / "space.json").write_text(json.dumps(space))
    run = tmp_path / "run"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "random", "--trials", "5", "--epochs", "3", "--early-stop",
        "--space", str(tmp_path / "space.json"), "--out", str(run), "--quiet",
    )
    assert code == 0, err
    rows = read_trials_csv(run / "trials.csv")
    states = [r["state"] for r in rows]
    # PRUNED trials count towards --trials; with η = 3 no trial is stopped while its rung
    # (epoch 1, the only one before epoch 3) holds fewer than 3 values: the first two go on.
    assert len(rows) == 5 and set(states) <= {"COMPLETE", "PRUNED"}
    assert states[:2] == ["COMPLETE", "COMPLETE"] and "PRUNED" in states
    for r in rows:
        if r["state"] == "PRUNED":
            assert r["error"].startswith("stopped early by successive halving after fine-tuning epoch 1: validation accuracy ")
            assert r["accuracy"] is None and r["test_accuracy"] is None
        else:
            assert r["accuracy"] is not None and r["test_accuracy"] is not None
    executor = json.loads((run / "run.json").read_text())["executor"]
    assert executor == {
        "name": "local", "early_stop": True,
        "successive_halving": {
            "rule": "asha", "reduction_factor": 3, "grace_epochs": 1, "rungs": {"1": {"recorded": 5, "stopped": states.count("PRUNED")}},
        },
    }
