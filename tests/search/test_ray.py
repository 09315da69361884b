"""Ray Tune runs: local in-process, against a head started here (stopped by its own process
id, never by a machine-wide stop command), retries of a failing trial, resume, target sweeps."""

from __future__ import annotations

import math

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.search import EvaluatorBase
from spikebits.search.ray_search import RAY_ENV

EXE = str(Path(sys.executable).with_name("spikebits"))
RAY = str(Path(sys.executable).with_name("ray"))


def _env(cache_dir: Path) -> dict:
    return {**os.environ, **RAY_ENV, "SPIKEBITS_CACHE": str(cache_dir)}



def digits_steps_per_epoch(batch_size: int = 64) -> int:
    """Training steps of one epoch on digits' training split (1,293 images at seed 0, the
    validation split held out)."""
    from spikebits.evaluators import datasets

    return math.ceil(len(datasets.load("digits", seed=0).train) / batch_size)

@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance in this process for the module's in-process runs (started once: a
    start costs seconds), shut down after the module."""
    import ray

    from spikebits.search.ray_search import init_ray

    init_ray(None, num_cpus=2)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_local_ray_search_writes_the_standard_outputs(capsys, tmp_path, cache_dir, digits_evaluator, local_ray):
    from spikebits.search.cli import main

    digits_evaluator.pretrained()
    out, db = tmp_path / "ray", tmp_path / "study.db"
    code = main(["search", "--strategy", "nsga2", "--ray", "--trials", "4", "--epochs", "1", "--budget", "bit_budget<=3",
                 "--storage", f"sqlite:///{db}", "--study", "s", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert {p.name for p in out.iterdir()} >= {"pareto.json", "trials.csv", "pareto.png", "run.json"}
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["schema"] == "spikebits.pareto/1" and pareto["budget"] == {"bit_budget": 3.0}
    rows = read_trials_csv(out / "trials.csv")
    # Four trained trials; sampled configs that broke the budget were recorded untrained
    # (SKIPPED) and their repairs trained instead (repaired_from), on Ray as locally.
    trained = [r for r in rows if r["state"] == "COMPLETE"]
    assert len(trained) == 4 and all(r["state"] in ("COMPLETE", "SKIPPED") for r in rows)
    assert all(r["feasible"] for r in trained)
    skipped = {r["number"] for r in rows if r["state"] == "SKIPPED"}
    assert all(r["repaired_from"] in skipped for r in trained if r["repaired_from"] is not None)
    for row in rows:
        assert row["feasible"] == (row["bit_budget"] <= 3.0)
        assert row["violation.bit_budget"] == pytest.approx(row["bit_budget"] - 3.0)
    # The Optuna study holds the same constraints (value − limit, ≤ 0 feasible; one list);
    # a skipped trial was told the accuracy it never had as −inf.
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    by_number = {r["number"]: r for r in rows}
    for trial in study.trials:
        assert trial.constraints == {"0": pytest.approx(by_number[trial.number]["bit_budget"] - 3.0)}
        assert trial.values[0] == (by_number[trial.number]["accuracy"] if trial.number not in skipped else -math.inf)
    assert json.loads((out / "run.json").read_text())["strategy"]["name"] == "nsga2"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tpe", "gp", "qmc"])
def test_every_optuna_sampler_runs_on_ray(name, capsys, tmp_path, cache_dir, digits_evaluator, local_ray):
    """nsga2 runs in the test above; the other Optuna samplers on Ray too (scored without
    fine-tuning, to keep the suite short: what crosses Ray is the same)."""
    from spikebits.search.cli import main

    digits_evaluator.pretrained()
    out = tmp_path / name
    code = main(["search", "--strategy", name, "--ray", "--trials", "2", "--epochs", "0", "--budget", "bit_budget<=3",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    trained = [r for r in read_trials_csv(out / "trials.csv") if r["state"] == "COMPLETE"]
    assert len(trained) == 2 and all(r["feasible"] and r["bit_budget"] <= 3.0 and 0 < r["accuracy"] <= 1 for r in trained)
    assert json.loads((out / "run.json").read_text())["strategy"]["name"] == name


@pytest.mark.parametrize("name", ["nsga2", "tpe", "gp", "qmc", "random"])
def test_what_tune_pickles_holds_no_strategy(name, tmp_path):
    """Ray Tune pickles its search algorithm into the experiment's ``tuner.pkl``. The searcher
    keeps its strategy (with the Optuna study, its sampler — NSGA-II's holds a lock since
    Optuna 5.1 — and the evaluator) out of it, and the strategy in the driver goes on."""
    from ray import cloudpickle
    from ray.tune.search import ConcurrencyLimiter

    from spikebits.search import get_strategy
    from spikebits.search.driver import Driver
    from spikebits.search.ray_search import make_searcher
    from spikebits.space import Budget

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    evaluator = CrashingEvaluator(str(tmp_path))
    strategy = get_strategy(name)(evaluator.space, evaluator, Budget.parse("bit_budget<=3"), ("accuracy", "bit_budget"), seed=0,
                                  storage=f"sqlite:///{tmp_path / 'study.db'}")
    strategy.start()
    searcher = make_searcher(Driver(strategy, 5))
    assert searcher.suggest("t0")["number"] == 0  # a trial in flight travels by number only
    blob = cloudpickle.dumps(ConcurrencyLimiter(searcher, max_concurrent=1))
    assert b"CrashingEvaluator" not in blob and b"sqlite" not in blob
    restored = cloudpickle.loads(blob).searcher
    assert restored.driver is None and restored.numbers == {"t0": 0}
    with pytest.raises(RuntimeError, match="resume with --resume"):
        restored.suggest("t1")
    assert searcher.suggest("t1")["number"] == 1  # the driver's searcher is untouched


def test_what_ray_ships_to_its_workers_round_trips(digits_evaluator, cache_dir):
    """``tune.with_parameters`` puts the evaluator (data and pretrained state included) and a
    split strategy's parts in Ray's object store: both come back whole through Ray's pickler."""
    import torch
    from ray import cloudpickle

    from spikebits.search import get_strategy
    from spikebits.space import Budget

    state, accuracy = digits_evaluator.pretrained()
    copy = cloudpickle.loads(cloudpickle.dumps(digits_evaluator))
    copy_state, copy_accuracy = copy.pretrained()
    assert copy_accuracy == accuracy and copy_state.keys() == state.keys()
    assert all(torch.equal(copy_state[k], state[k]) for k in state)
    assert torch.equal(copy.data.val.tensors[0], digits_evaluator.data.val.tensors[0])
    config = digits_evaluator.space.smallest_config()
    assert copy.cost(config) == digits_evaluator.cost(config)
    strategy = get_strategy("differentiable")(digits_evaluator.space, digits_evaluator, Budget(), ("accuracy", "bit_budget"),
                                              targets="1/1/1,2/2/1")
    strategy.start()
    parts = cloudpickle.loads(cloudpickle.dumps(strategy.split()))
    assert [str(p.targets[0]) for p in parts] == [str(t) for t in strategy.targets]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_search_on_a_ray_head_started_here(tmp_path, cache_dir, digits_evaluator):
    digits_evaluator.pretrained()
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="sbr-", dir="/tmp")  # Ray's socket paths must stay short
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", "2",
         "--temp-dir", temp, "--include-dashboard", "false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(cache_dir), start_new_session=True,
    )
    try:
        out = tmp_path / "cluster"
        deadline, proc = time.time() + 120, None
        while time.time() < deadline:
            proc = subprocess.run(
                [EXE, "search", "--strategy", "random", "--ray", f"127.0.0.1:{port}", "--trials", "2", "--epochs", "0",
                 "--out", str(out), "--quiet"],
                capture_output=True, text=True, timeout=300, env=_env(cache_dir),
            )
            if proc.returncode == 0 or "cannot reach a Ray cluster" not in proc.stderr:
                break
            time.sleep(2)  # the head is still starting
        assert proc is not None and proc.returncode == 0, proc.stderr[-2000:]
        rows = read_trials_csv(out / "trials.csv")
        assert len(rows) == 2 and all(r["state"] == "COMPLETE" and 0 < r["accuracy"] <= 1 for r in rows)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head and its children, by process id
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)


def test_unreachable_cluster_is_a_one_line_error(capsys, tmp_path):
    from spikebits.search.cli import main

    code = main(["search", "--strategy", "random", "--ray", "127.0.0.1:9", "--trials", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach a Ray cluster at 127.0.0.1:9" in err and err.count("\n") == 1


def test_ray_only_options_need_ray(capsys, tmp_path):
    from spikebits.search.cli import main

    code = main(["search", "--strategy", "random", "--max-failures", "2", "--out", str(tmp_path / "x")])
    assert code == 2 and "need --ray" in capsys.readouterr().err


class CrashingEvaluator(EvaluatorBase):
    """A tiny fake evaluator: accuracy grows with bits; a config with a.w_bits = 1 always raises.
    Every call is counted in a file, so retries made in Ray's worker processes are visible."""

    metric_names = ("accuracy", "bit_budget")

    def __init__(self, folder: str) -> None:
        from spikebits.space import LayerOptions, SearchSpace

        self.space = SearchSpace.default(["first", "a", "b"], options=LayerOptions(w_bits=(1, 2, 4), s_bits=(1,), timesteps=(1,), schemes=("uniform",)))
        self.folder = folder
        self.progress = None

    def prepare(self):
        """Nothing to train before the trials are sent to Ray's workers."""

    def cost(self, config):
        config = self.space.complete(config, strict=False)
        return {"bit_budget": (config["a"].w_bits + config["b"].w_bits) / 2}

    def __call__(self, config, on_epoch=None):
        config = self.space.complete(config, strict=False)
        name = config["a"].short() + config["b"].short()
        with open(os.path.join(self.folder, f"{name}-{os.getpid()}-{time.time_ns()}"), "w"):
            pass
        if config["a"].w_bits == 1:
            raise RuntimeError("simulated crash")
        return {"accuracy": 0.5 + 0.1 * config["a"].w_bits + 0.05 * config["b"].w_bits, **self.cost(config)}


@pytest.mark.slow
def test_a_failing_trial_is_retried_then_recorded_as_failed(tmp_path, local_ray):
    from ray import cloudpickle  # Ray's own copy serialises the trainable's parameters

    from spikebits.search import get_strategy
    from spikebits.search.ray_search import RayExecutor
    from spikebits.space import Budget, LayerChoice

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    calls = tmp_path / "calls"
    calls.mkdir()
    evaluator = CrashingEvaluator(str(calls))
    crash = evaluator.space.expand({"a": LayerChoice(1, 1, 1), "b": LayerChoice(2, 1, 1)})
    good = evaluator.space.expand({"a": LayerChoice(4, 1, 1), "b": LayerChoice(4, 1, 1)})
    strategy = get_strategy("random")(evaluator.space, evaluator, Budget(), ("accuracy", "bit_budget"), seed=0, warm_starts=[crash, good])
    records = RayExecutor(num_cpus=2, max_failures=2, max_concurrent=1, ray_storage=tmp_path / "ray").run(strategy, 3)
    by_config = {r.config: r for r in records}
    failed = by_config[crash]
    assert failed.state == "FAIL" and not failed.feasible
    assert failed.error == "RuntimeError: simulated crash"
    # One try and two retries, each in Ray's worker process.
    assert len([p for p in calls.iterdir() if p.name.startswith("W1S1T1W2S1T1")]) == 3
    assert by_config[good].state == "COMPLETE" and by_config[good].metrics["accuracy"] == pytest.approx(1.1)
    assert len(records) == 3 and sum(r.state == "COMPLETE" for r in records) == 2


def _descendants(pid: int) -> list[int]:
    """Every process started, directly or not, by ``pid`` (from ``ps``)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split()
    children: dict[int, list[int]] = {}
    for child, parent in zip(table[::2], table[1::2]):
        children.setdefault(int(parent), []).append(int(child))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _complete(db: Path) -> int:
    try:
        study = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    except Exception:
        return 0
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


@pytest.mark.slow
def test_an_interrupted_ray_search_resumes_without_losing_trials(capsys, tmp_path, cache_dir, digits_evaluator, local_ray):
    digits_evaluator.pretrained()
    out, db = tmp_path / "resume", tmp_path / "study.db"
    argv = [EXE, "search", "--strategy", "random", "--ray", "--trials", "5", "--epochs", "1", "--max-concurrent", "1",
            "--storage", f"sqlite:///{db}", "--study", "s", "--out", str(out), "--quiet"]
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(cache_dir), start_new_session=True)
    try:
        deadline = time.time() + 240
        while _complete(db) < 2 and time.time() < deadline and first.poll() is None:
            time.sleep(1)
    finally:  # kill -9 the driver and every process it started (its Ray instance), by process id
        family = [first.pid, *_descendants(first.pid)] if first.poll() is None else []
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        first.wait(timeout=30)
    before = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    finished = {t.number: t.values for t in before.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert 2 <= len(finished) < 5
    from spikebits.search.cli import main

    # The resume runs in this process, on the module's Ray (the kill above took the first one).
    assert main([*argv[1:], "--resume"]) == 0, capsys.readouterr().err[-2000:]
    after = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    states = {t.number: t.state for t in after.trials}
    for number, values in finished.items():  # no finished trial is lost or changed
        assert states[number] == optuna.trial.TrialState.COMPLETE
        assert after.trials[number].values == values
    told = [(t.number, t.state.name, after.user_attrs.get(f"error.{t.number}")) for t in after.trials]
    assert sum(s == optuna.trial.TrialState.COMPLETE for s in states.values()) >= 5, told
    assert optuna.trial.TrialState.RUNNING not in states.values()
    rows = read_trials_csv(out / "trials.csv")
    assert len(rows) == len(after.trials)


@pytest.mark.slow
def test_differentiable_target_sweep_on_ray(capsys, tmp_path, cache_dir, digits_evaluator, local_ray):
    from spikebits.search.cli import main

    digits_evaluator.pretrained()
    out = tmp_path / "sweep"
    code = main(["search", "--strategy", "differentiable", "--ray", "--targets", "1/1/1,2/2/1", "--supernet-epochs", "2",
                 "--epochs", "1", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert {p.name for p in out.iterdir()} >= {"pareto.json", "trials.csv", "pareto.png", "run.json", "bit_trajectories.png", "allocation.png"}
    rows = read_trials_csv(out / "trials.csv")
    assert [r["number"] for r in rows] == [0, 1] and all(r["state"] == "COMPLETE" for r in rows)
    # Each part's network came back from its Ray worker and was written with the run: scored
    # again, it gives the trial's accuracy.
    from spikebits.models import load_sbq

    for row in rows:
        assert (out / f"network-{row['number']}.pt").is_file()
        network = load_sbq(out / f"network-{row['number']}.sbq")
        assert digits_evaluator.validation_accuracy(network) == pytest.approx(row["accuracy"], abs=1e-12)
    runs = json.loads((out / "run.json").read_text())["strategy"]["runs"]
    assert [r["target"]["w_bits"] for r in runs] == [1.0, 2.0]
    assert all(len(r["history"]) == 1 + 2 * digits_steps_per_epoch() for r in runs)


# ---------------------------------------------------------------------------- membrane bits U
def _membrane_evaluator(folder: str) -> CrashingEvaluator:
    """The crashing fake evaluator over a space whose free layers also search U in {4, 8}."""
    evaluator = CrashingEvaluator(folder)
    evaluator.space = evaluator.space.searching_membrane((4, 8))
    return evaluator


@pytest.mark.parametrize("name", ["nsga2", "tpe", "gp", "qmc", "random"])
def test_what_ray_asks_carries_the_sampled_membrane_bits(name, tmp_path):
    """A trial on Ray gets its config as the searcher's JSON-able parameters: the U the
    strategy sampled travels in them and reads back into the same config (run_trial's
    ``Config.from_dict``)."""
    from spikebits.search import get_strategy
    from spikebits.search.driver import Driver
    from spikebits.search.ray_search import make_searcher
    from spikebits.space import Budget, Config

    evaluator = _membrane_evaluator(str(tmp_path))
    strategy = get_strategy(name)(evaluator.space, evaluator, Budget(), ("accuracy", "bit_budget"), seed=0)
    strategy.start()
    searcher = make_searcher(Driver(strategy, 6))
    seen = set()
    for i in range(6):
        params = json.loads(json.dumps(searcher.suggest(f"t{i}")))
        config = Config.from_dict(params["config"])
        assert config == searcher.pending[f"t{i}"].config
        assert params["config"]["layers"]["a"]["u_bits"] in (4, 8) and "u_bits" not in params["config"]["layers"]["first"]
        seen.update(config[n].u_bits for n in ("a", "b"))
    assert seen == {4, 8}


@pytest.mark.slow
def test_ray_trials_record_the_membrane_bits_they_ran(tmp_path, local_ray):
    from ray import cloudpickle

    from spikebits.search import get_strategy
    from spikebits.search.ray_search import RayExecutor
    from spikebits.space import Budget

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    calls = tmp_path / "calls"
    calls.mkdir()
    evaluator = _membrane_evaluator(str(calls))
    strategy = get_strategy("random")(evaluator.space, evaluator, Budget(), ("accuracy", "bit_budget"), seed=0)
    records = RayExecutor(num_cpus=2, max_concurrent=1, ray_storage=tmp_path / "ray").run(strategy, 4)
    assert len(records) == 4
    for record in records:  # completed or crashed, each record holds the config its worker ran, U included
        assert evaluator.space.complete(record.config) == record.config
        assert {record.config["a"].u_bits, record.config["b"].u_bits} <= {4, 8} and record.config["first"].u_bits is None
    # The worker ran the config with its U: its file name is the layers' short form.
    ran = {p.name.split("-")[0] for p in calls.iterdir()}
    assert ran == {r.config["a"].short() + r.config["b"].short() for r in records}
    assert all("U" in name for name in ran)
