"""Searches that fail, diverge, are interrupted, run twice at once or run again: what they
leave behind (issue 16; a search killed with SIGKILL and resumed: tests/search/test_resume.py).

The subprocess tests drive the real ``spikebits`` console script with the session's
pretraining cache; each search is small (digits_cnn, one fine-tuning epoch per trial).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import torch

from spikebits.evaluators.training import TrainSettings, train
from spikebits.results import read_pareto_json
from spikebits.search import EvaluatorBase, run_search
from spikebits.search.cli import main
from spikebits.space import OutputError, StagedOutputs, TrainingError, lock_folder

EXE = str(Path(sys.executable).parent / "spikebits")
SMALL = ["--strategy", "random", "--epochs", "1", "--quiet"]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _finished(journal: Path) -> int:
    """COMPLETE trials in a search's journal storage (read while the search runs)."""
    if not journal.exists():
        return 0
    try:  # the search appends to the journal meanwhile: a read may catch half a line
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        study = optuna.load_study(study_name="spikebits-random", storage=storage)
        return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    except (KeyError, ValueError):
        return 0


def _wait_for(proc: subprocess.Popen, journal: Path, count: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and _finished(journal) < count:
        time.sleep(0.3)
    assert proc.poll() is None, f"the search ended before {count} trials had finished: {proc.stderr.read().decode()}"
    assert _finished(journal) >= count


# ---------------------------------------------------------------------------- diverging trials
def test_a_diverging_loss_stops_training_at_once():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    data = torch.utils.data.TensorDataset(torch.randn(64, 4) * 1e10, torch.randint(0, 3, (64,)))  # after one step the logits overflow
    with pytest.raises(TrainingError, match=r"the loss became nan at epoch 1, step 2; training diverged, lower the learning rate"):
        train(model, data, TrainSettings(epochs=3, lr=1e30, batch_size=16, seed=0))


class EveryOtherDiverges(EvaluatorBase):
    """The real digits evaluator; every other trial fine-tunes at a learning rate that diverges."""

    def __init__(self, evaluator) -> None:  # noqa: ANN001 - an Evaluator
        self.inner = evaluator
        self.space = evaluator.space
        self.calls = 0

    def __call__(self, config):  # noqa: ANN001, ANN204
        self.calls += 1
        settings = self.inner.finetune_settings
        if self.calls % 2 == 0:
            self.inner.finetune_settings = dataclasses.replace(settings, lr=1e30)
        try:
            return self.inner(config)
        finally:
            self.inner.finetune_settings = settings

    def cost(self, config, **kw):  # noqa: ANN001, ANN003, ANN204
        return self.inner.cost(config, **kw)


@pytest.mark.slow
def test_a_nan_loss_trial_is_failed_and_absent_from_the_front(digits_evaluator, tmp_path):
    evaluator = EveryOtherDiverges(digits_evaluator)
    result = run_search("random", evaluator, objectives=("accuracy", "bit_budget"), n_trials=4, seed=3, out_dir=tmp_path)
    failed = [r for r in result.records if r.state == "FAIL"]
    assert len(failed) == 2 and len(result.records) == 4  # failed trials count towards n_trials
    assert all("the loss became nan" in r.error or "the loss became inf" in r.error for r in failed)
    on_front = {p["number"] for p in read_pareto_json(tmp_path / "pareto.json")["points"]}
    assert on_front and not on_front & {r.number for r in failed}
    rows = {int(r["number"]): r for r in _rows(tmp_path / "trials.csv")}
    assert all(rows[r.number]["state"] == "FAIL" and rows[r.number]["accuracy"] == "" for r in failed)


@pytest.mark.slow
def test_a_search_whose_every_trial_fails_ends_with_one_line(capsys, cache_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["search", *SMALL, "--trials", "3", "--lr", "1e30", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "every trial failed (3); the most common reason, 3 of 3: the loss became nan" in err and f"see {out}/trials.csv" in err
    assert [r["state"] for r in _rows(out / "trials.csv")] == ["FAIL"] * 3
    assert read_pareto_json(out / "pareto.json")["points"] == []


@pytest.mark.slow
def test_failed_supernet_training_is_a_failed_trial_and_the_next_target_runs(digits_evaluator, monkeypatch):
    from spikebits.search import differentiable

    real = differentiable.train_supernet
    seen = []

    def diverge_first(evaluator, target, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(str(target))
        if len(seen) == 1:
            raise TrainingError("the supernet loss became nan at epoch 1, step 3; training diverged, lower --supernet-lr")
        return real(evaluator, target, *args, **kwargs)

    monkeypatch.setattr(differentiable, "train_supernet", diverge_first)
    result = run_search("differentiable", digits_evaluator, objectives=("accuracy", "bit_budget"), targets="1/1/1,2/2/1",
                        supernet_epochs=1, batch_size=256)
    assert len(seen) == 2
    assert [r.state for r in result.records] == ["FAIL", "COMPLETE"]
    assert result.records[0].error.startswith("the supernet loss became nan") and result.records[0].info["target"] == seen[0]


# ---------------------------------------------------------------------------- outputs
def test_a_failed_run_leaves_the_earlier_files_as_they_were(tmp_path):
    lock = lock_folder(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"files": ["a.txt", "run.json", "old.png"]}))
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "old.png").write_text("old figure")
    with pytest.raises(RuntimeError):
        with StagedOutputs(tmp_path) as staged:
            (staged.path / "a.txt").write_text("new a")
            raise RuntimeError("the run failed while writing")
    assert (tmp_path / "a.txt").read_text() == "old a" and (tmp_path / "old.png").exists()
    with StagedOutputs(tmp_path) as staged:  # a finished run replaces every file and drops the stale figure
        (staged.path / "a.txt").write_text("new a")
        (staged.path / "run.json").write_text(json.dumps({"files": ["a.txt", "run.json"]}))
    assert (tmp_path / "a.txt").read_text() == "new a" and not (tmp_path / "old.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spikebits.lock", "a.txt", "run.json"]
    lock.release()


def test_a_second_process_on_one_out_folder_is_refused(capsys, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from spikebits.space import lock_folder
            lock = lock_folder({str(tmp_path)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(OutputError, match=rf"another spikebits run \(pid {holder.pid}\) is writing to --out {tmp_path}"):
            lock_folder(tmp_path)
        code = main(["search", "--trials", "1", "--out", str(tmp_path), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and f"(pid {holder.pid}) is writing to --out" in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with lock_folder(tmp_path):  # the lock dies with its process
        pass


# ---------------------------------------------------------------------------- interruption
@pytest.mark.slow
def test_sigint_stops_the_trial_in_progress_and_writes_the_finished_trials(cache_dir, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "SPIKEBITS_CACHE": str(cache_dir)}
    proc = subprocess.Popen([EXE, "search", *SMALL, "--trials", "20", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(proc, out / "study.journal", 1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert "stopping at the next batch" in stderr.decode() and "run the same command (same --out) to continue it" in stderr.decode()
    rows = _rows(out / "trials.csv")
    finished = _finished(out / "study.journal")
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    stopped = [r for r in rows if r["state"] != "COMPLETE"]  # the trial in progress, stopped within a batch
    assert 1 <= len(complete) == finished < 20 and len(stopped) <= 1
    assert all(r["state"] == "FAIL" and "interrupted (stopped by SIGINT) during fine-tune" in r["error"] for r in stopped)
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] == "stopped by SIGINT" and run["trials"]["COMPLETE"] == finished
    assert read_pareto_json(out / "pareto.json")["points"]
    assert b"wrote" in stdout


@pytest.mark.slow
def test_sigterm_during_pretraining_stops_within_a_batch_and_the_same_command_resumes_it(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "SPIKEBITS_CACHE": str(cache)}
    argv = [EXE, "search", "--strategy", "random", "--trials", "3", "--epochs", "1", "--pretrain-epochs", "5", "--out", str(out)]
    proc = subprocess.Popen([*argv, "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not list(cache.glob("*.partial.pt")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGTERM)
    sent = time.time()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.time() - sent < 15, "the pretraining did not stop at the next batch"
    assert proc.returncode == 130, stderr.decode()
    [row] = _rows(out / "trials.csv")  # the trial that was pretraining, recorded interrupted
    assert row["state"] == "FAIL" and "interrupted (stopped by SIGTERM) during pretrain epoch" in row["error"]
    partials = list(cache.glob("*.partial.pt"))
    assert len(partials) == 1 and not [p for p in cache.glob("*.pt") if p not in partials]
    epochs_done = len(torch.load(partials[0], weights_only=True)["book"]["losses"])
    assert 1 <= epochs_done < 5
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] == "stopped by SIGTERM" and run["trials"]["COMPLETE"] == 0
    # The same command (shown here without --quiet, which only hides the epoch lines) resumes it.
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"pretrain: resuming from {partials[0]} after epoch {epochs_done}/5" in done.stderr
    assert not partials[0].exists() and len(list(cache.glob("*.pt"))) == 1
    run = json.loads((out / "run.json").read_text())
    assert run["interrupted"] is None and run["trials"]["COMPLETE"] == 3
    assert run["evaluator"]["pretrain_epochs_trained"] == 5


# ---------------------------------------------------------------------------- concurrency
SHARED_SEARCH = """
import sys
from spikebits.search import EvaluatorBase, run_search
from spikebits.space import LayerChoice, LayerOptions, SearchSpace

class Quick(EvaluatorBase):
    space = SearchSpace({"a": LayerOptions((1, 2, 4, 8), (1, 2), (1,), ("uniform",))}, (), {}, "toy")
    def __call__(self, config):
        return {"accuracy": config["a"].w_bits / 8, **self.cost(config)}
    def cost(self, config, **kw):
        return {"bit_budget": float(config["a"].w_bits * config["a"].s_bits)}

result = run_search("random", Quick(), objectives=("accuracy", "bit_budget"), n_trials=int(sys.argv[2]), seed=int(sys.argv[3]),
                    storage=sys.argv[1], study_name="shared")
print(len(result.records))
"""


@pytest.mark.parametrize("storage", ["sqlite:///{d}/study.db", "{d}/study.journal"])
def test_two_processes_on_one_study_share_the_trials_without_exceeding_them(tmp_path, storage):
    url = storage.format(d=tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", SHARED_SEARCH, url, "12", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for seed in (0, 1)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e.decode()[-500:] for _, e in outputs]
    study = optuna.load_study(study_name="shared", storage=url if "://" in url else optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(url)))
    counted = [t for t in study.get_trials() if "surplus" not in t.user_attrs]
    assert len(counted) == 12 and all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)


# ---------------------------------------------------------------------------- reproducibility
TIMING = {"wall_time_s"}


def _without_timing(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


@pytest.mark.slow
@pytest.mark.parametrize("strategy, flags", [
    ("random", ["--trials", "2"]),
    ("nsga2", ["--trials", "3", "--population-size", "2"]),  # its second generation: the first child
    ("differentiable", ["--targets", "2/2/1", "--supernet-epochs", "1", "--batch-size", "256"]),
])
def test_the_same_command_gives_the_same_pareto_json(capsys, cache_dir, tmp_path, strategy, flags):
    texts = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["search", "--strategy", strategy, *flags, "--epochs", "1", "--quiet", "--threads", "2", "--out", str(out)]) == 0
        texts.append((out / "pareto.json").read_text())
        info = json.loads((out / "run.json").read_text())
        assert info["environment"]["threads"] == 2 and info["seed"] == 0 and info["evaluator"]["device"] == "cpu"
        assert {"torch", "optuna", "numpy", "spikebits"} <= set(info["versions"])
    capsys.readouterr()
    first, second = (json.loads(t) for t in texts)
    assert _without_timing(first) == _without_timing(second) and first["points"]
    assert texts[0] == texts[1]  # pareto.json holds no timing field: byte-identical


class _DataFailsAfter:
    """A FakeEvaluator whose data breaks after ``good`` trials (a damaged file found by a later
    read), or that fails one config with an ordinary error."""

    def __new__(cls, good: int, error: type[Exception]):  # noqa: ANN204
        from test_search import FakeEvaluator

        class Breaking(FakeEvaluator):
            def __call__(self, config):  # noqa: ANN001, ANN204
                if len(self.calls) >= good:
                    self.calls.append(config)
                    raise error("events in sample-7.bin have x = -3, outside the sensor's 0..33; replace or remove it")
                return super().__call__(config)

        return Breaking()


def test_a_data_error_in_a_trial_stops_the_run_after_writing_the_finished_trials(tmp_path):
    # Issue 29: a data error failed every trial alike and the search went on asking; now the
    # run stops at the first one, writes what finished, and ends with one line.
    from spikebits.results import read_trial_records
    from spikebits.search import run_search
    from spikebits.space import DataError, SearchError

    ev = _DataFailsAfter(2, DataError)
    with pytest.raises(SearchError, match=r"the search stopped: events in sample-7.bin have x = -3.*the 2 finished trials are in"):
        run_search("random", ev, objectives=("accuracy", "bit_budget"), n_trials=10, seed=0, out_dir=tmp_path / "out")
    assert len(ev.calls) == 3  # nothing asked after the failing trial
    records = read_trial_records(tmp_path / "out" / "trials.csv")
    assert [r.state for r in records] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert json.loads((tmp_path / "out" / "run.json").read_text())["interrupted"].startswith("stopped: events in sample-7.bin")


def test_an_ordinary_error_fails_only_its_trial(tmp_path):
    from spikebits.search import run_search

    ev = _DataFailsAfter(2, RuntimeError)
    result = run_search("random", ev, objectives=("accuracy", "bit_budget"), n_trials=5, seed=0)
    assert len(ev.calls) == 5 and [r.state for r in result.records].count("COMPLETE") == 2
