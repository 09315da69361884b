"""``spikebits compare``: equal budgets over seeds, compare.json valid and consistent with the
stored fronts, ``spikebits report`` reproducible, an interrupted comparison resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.results.compare import read_compare_json, recompute_hypervolume, validate_compare
from spikebits.search.cli import main
from spikebits.space import ConfigError

EXE = str(Path(sys.executable).with_name("spikebits"))
#: Two cheap strategies, two seeds, two fine-tuned trials each, short pretraining.
SMALL = ["--strategies", "random,nsga2", "--seeds", "2", "--evaluations", "2", "--epochs", "1", "--pretrain-epochs", "2",
         "--budget", "bit_budget<=8", "--objectives", "accuracy,bit_budget"]


@pytest.fixture(scope="module")
def small_comparison(tmp_path_factory, cache_dir) -> Path:
    out = tmp_path_factory.mktemp("compare") / "cmp"
    assert main(["compare", *SMALL, "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_small_comparison_is_valid_and_its_hypervolumes_match_the_fronts(small_comparison):
    data = json.loads((small_comparison / "compare.json").read_text())
    validate_compare(data)
    assert data["strategies"] == ["random", "nsga2"] and data["seeds"] == [0, 1]
    assert data["evaluation_budget"] == {"evaluations": 2} and data["budget"] == {"bit_budget": 8.0}
    # One reference point for the whole comparison: accuracy 0 and the dearest config's bit budget.
    assert data["reference_point"]["accuracy"] == 0.0 and data["reference_point"]["bit_budget"] > 8
    assert [(r["strategy"], r["seed"]) for r in data["runs"]] == [("random", 0), ("nsga2", 0), ("random", 1), ("nsga2", 1)]
    for run in data["runs"]:
        folder = small_comparison / run["folder"]
        assert run["folder"] == f"runs/{run['strategy']}/seed-{run['seed']}"
        pareto = read_pareto_json(folder / "pareto.json")
        rows = read_trials_csv(folder / "trials.csv")
        trained = [r for r in rows if r["state"] != "SKIPPED"]
        assert run["evaluations"] == len(trained) == 2
        assert run["feasible_fraction"] == sum(r["feasible"] for r in trained) / 2
        assert [p["number"] for p in run["front"]] == [p["number"] for p in pareto["points"]]
        assert run["hypervolume"] == pytest.approx(recompute_hypervolume(run, data), rel=1e-12)
        assert pareto["reference_point"] == data["reference_point"]  # each run's own file agrees
        timeline = run["timeline"]
        assert [t["evaluations"] for t in timeline] == [1, 2]
        assert timeline[0]["time_s"] < timeline[1]["time_s"] <= run["wall_time_s"] + 1e-6
        assert timeline[-1]["hypervolume"] == pytest.approx(run["hypervolume"], rel=1e-12)
    assert (small_comparison / "report.md").is_file() and (small_comparison / "compare.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_report_regenerates_the_same_report(small_comparison, capsys):
    before = (small_comparison / "report.md").read_bytes()
    (small_comparison / "report.md").unlink()
    (small_comparison / "compare.png").unlink()
    assert main(["report", str(small_comparison)]) == 0
    assert (small_comparison / "report.md").read_bytes() == before
    assert (small_comparison / "compare.png").read_bytes()[:4] == b"\x89PNG"
    # a search folder: pareto.png redrawn from trials.csv and pareto.json, the front printed
    run = small_comparison / "runs" / "nsga2" / "seed-0"
    (run / "pareto.png").unlink()
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    assert (run / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "accuracy" in capsys.readouterr().out


def test_bad_comparisons_are_one_line(capsys, tmp_path):
    assert main(["compare", "--strategies", "random,annealing", "--evaluations", "1", "--out", str(tmp_path / "a")]) == 2
    assert "unknown strategy 'annealing'" in capsys.readouterr().err
    assert main(["compare", "--strategies", "random,random", "--evaluations", "1", "--out", str(tmp_path / "b")]) == 2
    assert "names a strategy twice" in capsys.readouterr().err
    assert main(["compare", "--evaluations", "0", "--out", str(tmp_path / "c")]) == 2
    assert "argument --evaluations: 0 must be at least 1" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "neither compare.json nor pareto.json" in capsys.readouterr().err
    (tmp_path / "compare.json").write_text('{"schema": "spikebits.compare/1"}')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "compare.json" in err


def test_a_comparison_is_checked_before_any_pretraining(capsys, tmp_path):
    # Issue 29: objectives and budgets were checked only after the first seed's pretraining.
    # Each refusal is one line, and the fresh cache folder gets no checkpoint.
    cache = tmp_path / "cache"
    for extra, message in (
        (["--objectives", "bit_budget,s_ace"], "leaves out accuracy"),
        (["--budget", "bit_budget<=0.5"], "cannot be met: the smallest config of the space has bit_budget 1"),
        (["--strategies", "random,ilp", "--budget", "firing_rate<=0.2"], "the ilp strategy cannot budget 'firing_rate'"),
    ):
        argv = ["compare", "--evaluations", "1", "--cache-dir", str(cache), "--out", str(tmp_path / "out"), *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not cache.exists() or not any(cache.rglob("*.pt")), sorted(cache.rglob("*"))


@pytest.mark.slow
def test_an_interrupted_comparison_resumes_without_rerunning_finished_runs(tmp_path, cache_dir):
    out = tmp_path / "cmp"
    argv = [EXE, "compare", *SMALL, "--out", str(out), "--quiet"]
    argv[argv.index("--evaluations") + 1] = "1"  # one trial per run: the kill and the resume are what is tested
    env = {**os.environ, "SPIKEBITS_CACHE": str(cache_dir)}
    first = out / "runs" / "random" / "seed-0" / "timeline.json"
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and not first.exists() and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the comparison ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "compare.json").exists()
    kept = first.read_bytes()
    kept_mtime = first.stat().st_mtime_ns
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert first.read_bytes() == kept and first.stat().st_mtime_ns == kept_mtime  # not run again
    data = read_compare_json(out / "compare.json")
    assert len(data["runs"]) == 4 and all(r["state"] == "complete" for r in data["runs"])


def test_evaluation_budget_needs_exactly_one_limit():
    from spikebits.search.compare import EvaluationBudget

    assert EvaluationBudget(evaluations=3).to_dict() == {"evaluations": 3}
    assert EvaluationBudget(seconds=2.5).to_dict() == {"seconds": 2.5}
    with pytest.raises(ConfigError, match="one budget"):
        EvaluationBudget(3, 2.5)
    with pytest.raises(ConfigError, match="more than 0 seconds"):
        EvaluationBudget(seconds=0)


def test_a_deadline_stops_asking():
    # A strategy past its deadline asks nothing more: random on a fake evaluator, 50 trials
    # asked for, the deadline already past after the first.
    from test_search import FakeEvaluator

    from spikebits.search import get_strategy
    from spikebits.search.driver import Driver, RunControl
    from spikebits.space import Budget

    ev = FakeEvaluator()
    strategy = get_strategy("random")(ev.space, ev, Budget(), ("accuracy", "bit_budget"), seed=0, n_trials=50)
    records = []
    control = RunControl()

    def stop_after_first(record):
        records.append(record)
        control.deadline = time.monotonic()

    driver = Driver(strategy, 50, control, callback=stop_after_first)
    driver.run()
    assert len(records) == 1 and driver.asked == 1 and control.stop_reason is None
