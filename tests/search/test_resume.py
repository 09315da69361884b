"""A search killed with SIGKILL and started again with the same storage and study resumes."""

from __future__ import annotations

import os
import socket
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
    # holds the allocation plots of trials that finished on the front; and the settings the
    # run recorded before its first trial, which the resume must match (issue 29).
    kept = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith((".spikebits", ".staging-")))
    assert kept in (["settings.json", "study.journal"], ["settings.json", "study.artifacts", "study.journal"])

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


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_trial_whose_process_died_is_failed_and_retried_even_before_it_named_its_owner(tmp_path, monkeypatch):
    """A process killed between asking a trial and recording itself as its owner (two writes)
    leaves a RUNNING trial without an owner; the next run fails it once it is older than the
    grace, retries its config, and still runs ``n_trials`` (the last CI run lost one here)."""
    from spikebits.search import optuna_base, run_search
    from spikebits.search.study_storage import open_storage
    from test_search import FakeEvaluator

    journal = tmp_path / "study.journal"
    first = run_search("random", FakeEvaluator(), objectives=("accuracy", "bit_budget"), n_trials=2, seed=0, storage=str(journal))
    assert sum(r.state == "COMPLETE" for r in first.records) == 2
    study = optuna.load_study(study_name="spikebits-random", storage=open_storage(str(journal)))
    ownerless = study.ask({"a.w_bits": optuna.distributions.CategoricalDistribution([1, 2, 4])})
    dead = study.ask()
    dead.set_user_attr("owner", {"host": socket.gethostname(), "pid": _dead_pid()})
    alive = study.ask()  # this process: a search still running elsewhere on the study
    alive.set_user_attr("owner", {"host": socket.gethostname(), "pid": os.getpid()})
    monkeypatch.setattr(optuna_base, "OWNERLESS_GRACE_S", 0.5)
    start = time.perf_counter()
    second = run_search("random", FakeEvaluator(), objectives=("accuracy", "bit_budget"), n_trials=4, seed=0, storage=str(journal))
    assert time.perf_counter() - start >= 0.4  # it waited until the ownerless trial was past the grace
    study = optuna.load_study(study_name="spikebits-random", storage=open_storage(str(journal)))
    states = {t.number: t.state for t in study.trials}
    assert states[ownerless.number] == states[dead.number] == TrialState.FAIL
    assert states[alive.number] == TrialState.RUNNING
    errors = study.user_attrs
    assert errors[f"error.{ownerless.number}"] == "interrupted: its process ended before recording itself as the owner"
    assert errors[f"error.{dead.number}"].startswith("interrupted: process ")
    # The live trial counts as in flight; the two orphans do not count: 4 = 2 + 1 + 1 new.
    assert sum(s == TrialState.COMPLETE for s in states.values()) == 3
    # The ownerless trial's parameter is retried as the next trial.
    retried = [t for t in study.trials if t.number > alive.number and t.state == TrialState.COMPLETE]
    assert retried[0].params["a.w_bits"] == ownerless.params["a.w_bits"]
    assert len(second.records) >= 3
