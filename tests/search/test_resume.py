"""A search killed with SIGKILL and started again with the same storage and study resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from spikebits.results import read_trials_csv


def _complete(storage_path: Path, study: str) -> list[optuna.trial.FrozenTrial]:
    if not storage_path.exists():
        return []
    try:  # the search appends to the journal meanwhile: a read may catch half a line
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage_path)))
        return optuna.load_study(study_name=study, storage=storage).get_trials(states=(TrialState.COMPLETE,))
    except (KeyError, ValueError):
        return []


@pytest.mark.slow
def test_sigkill_then_resume_keeps_finished_trials(tmp_path, cache_dir):
    exe = str(Path(sys.executable).with_name("spikebits"))
    # No --storage: the search keeps its study in --out (study.journal), so that the same
    # command continues it.
    journal = tmp_path / "out" / "study.journal"
    argv = [exe, "search", "--strategy", "random", "--trials", "4", "--epochs", "1", "--out", str(tmp_path / "out"), "--quiet"]
    env = {**os.environ, "SPIKEBITS_CACHE": str(cache_dir)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and len(_complete(journal, "spikebits-random")) < 2 and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "the search ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.params, t.values) for t in _complete(journal, "spikebits-random")}
    assert 2 <= len(before) < 4
    # Nothing half-written: the outputs are written at the end, atomically, from a staging
    # folder. Only the study is there: its journal, and the artifact folder beside it that
    # holds the allocation plots of trials that finished on the front.
    kept = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith((".spikebits", ".staging-")))
    assert kept in (["study.journal"], ["study.artifacts", "study.journal"])

    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = {t.number: (t.params, t.values) for t in _complete(journal, "spikebits-random")}
    assert len(after) == 4
    for number, kept in before.items():
        assert after[number] == kept  # finished trials are kept, not re-run
    rows = read_trials_csv(tmp_path / "out" / "trials.csv")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 4
    # The trial that was running at the kill is marked failed with its reason.
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert all("interrupted" in r["error"] for r in failed)
    assert not list((tmp_path / "out").glob(".staging-*")) and not list((tmp_path / "out").glob(".*.tmp"))
