"""A comparison's runs keep their settings (issue 29): rerun with other settings, a comparison
refuses in one line before any pretraining instead of reporting the old runs under the new
settings; an edited, linked or damaged ``timeline.json`` is one line; ``--restart`` starts
afresh; SIGTERM stops a comparison as it stops a search; one objective is enough."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikebits.results.compare import read_compare_json
from spikebits.search.cli import main

EXE = str(Path(sys.executable).with_name("spikebits"))
ONE = ["compare", "--strategies", "random", "--seeds", "1", "--evaluations", "1", "--epochs", "1", "--pretrain-epochs", "1",
       "--objectives", "accuracy,bit_budget", "--quiet"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("compare-identity") / "cmp"
    assert main([*ONE, "--cache-dir", str(cache_dir), "--out", str(out)]) == 0
    return out


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "cmp"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".spikebits.lock"))
    return copy


def no_pretraining(monkeypatch: pytest.MonkeyPatch) -> None:
    from spikebits.evaluators import Evaluator

    def refuse(self):  # noqa: ANN001, ANN202
        raise AssertionError("pretrained before the checks")

    monkeypatch.setattr(Evaluator, "prepare", refuse)


@pytest.mark.parametrize("extra, words", [
    (["--budget", "bit_budget<=6"], "budget.bit_budget (--budget) = (not set), not 6.0"),
    (["--epochs", "2"], "evaluator.finetune.epochs (--epochs) = 1, not 2"),
    (["--evaluations", "2"], "evaluation_budget.evaluations (--evaluations/--time-budget) = 1, not 2"),
    (["--lr", "0.01"], "evaluator.finetune.lr (--lr) = 0.001, not 0.01"),
    (["--objectives", "accuracy,s_ace"], 'objectives[1] (--objectives) = "bit_budget", not "s_ace"'),
])
def test_a_rerun_with_other_settings_is_refused_before_any_pretraining(capsys, monkeypatch, compared, cache_dir, tmp_path,
                                                                     extra, words):
    out = copy_of(compared, tmp_path)
    before = (out / "compare.json").read_bytes()
    argv = [*ONE, "--cache-dir", str(cache_dir), "--out", str(out)]
    for i in range(0, len(extra), 2):
        if extra[i] in argv:
            argv[argv.index(extra[i]) + 1] = extra[i + 1]
        else:
            argv += extra[i:i + 2]
    no_pretraining(monkeypatch)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"run folder {out / 'runs' / 'random' / 'seed-0'} holds a run made with" in err, err
    assert words in err and "add --restart" in err, err
    assert (out / "compare.json").read_bytes() == before


def test_the_same_command_keeps_every_finished_run(capsys, compared, cache_dir, tmp_path):
    out = copy_of(compared, tmp_path)
    timeline = out / "runs" / "random" / "seed-0" / "timeline.json"
    kept = timeline.read_bytes()
    argv = [a for a in ONE if a != "--quiet"]
    assert main([*argv, "--cache-dir", str(cache_dir), "--out", str(out)]) == 0
    assert "random seed 0: kept (finished before)" in capsys.readouterr().err
    assert timeline.read_bytes() == kept


def _edit_strategy(path: Path) -> None:
    data = json.loads(path.read_text())
    data["strategy"] = "tpe"
    path.write_text(json.dumps(data))


def _nan_hypervolume(path: Path) -> None:
    path.write_text(path.read_text().replace('"hypervolume": ', '"hypervolume": NaN, "was": ', 1))


def _link_elsewhere(path: Path) -> None:
    other = path.parent.parent / "elsewhere.json"
    path.rename(other)
    path.symlink_to(other)


@pytest.mark.parametrize("damage, words", [
    (_edit_strategy, "tpe"),
    (_nan_hypervolume, "NaN"),
    (_link_elsewhere, "symbolic link"),
    (lambda path: path.write_bytes(b"\xff" * 10), "UTF-8"),
])
def test_an_edited_linked_or_damaged_timeline_is_one_line(capsys, monkeypatch, compared, cache_dir, tmp_path, damage, words):
    out = copy_of(compared, tmp_path)
    timeline = out / "runs" / "random" / "seed-0" / "timeline.json"
    damage(timeline)
    before = (out / "compare.json").read_bytes()
    assert main([*ONE, "--cache-dir", str(cache_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(timeline) in err and words in err, err
    assert (out / "compare.json").read_bytes() == before


def test_restart_runs_the_comparison_afresh_with_the_new_settings(capsys, compared, cache_dir, tmp_path):
    out = copy_of(compared, tmp_path)
    argv = [*ONE, "--cache-dir", str(cache_dir), "--out", str(out), "--restart"]
    argv[argv.index("--epochs") + 1] = "2"
    assert main(argv) == 0
    capsys.readouterr()
    settings = json.loads((out / "runs" / "random" / "seed-0" / "settings.json").read_text())["settings"]
    assert settings["evaluator"]["finetune"]["epochs"] == 2
    assert read_compare_json(out / "compare.json")["runs"][0]["evaluations"] == 1


def test_a_single_objective_comparison_writes_its_report(capsys, cache_dir, tmp_path):
    argv = [*ONE, "--cache-dir", str(cache_dir), "--out", str(tmp_path / "cmp")]
    argv[argv.index("--objectives") + 1] = "accuracy"
    assert main(argv) == 0, capsys.readouterr().err
    data = read_compare_json(tmp_path / "cmp" / "compare.json")
    assert list(data["objectives"]) == ["accuracy"] and (tmp_path / "cmp" / "compare.png").is_file()
    assert (tmp_path / "cmp" / "runs" / "random" / "seed-0" / "pareto.png").is_file()


def test_too_many_seeds_is_one_line_at_once(capsys, tmp_path):
    start = time.monotonic()
    assert main(["compare", "--seeds", "100000000", "--evaluations", "1", "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--seeds: 100000000 must be at most 1000" in err, err
    assert time.monotonic() - start < 10


def test_the_python_api_bounds_the_seeds_too(tmp_path):
    from spikebits.search.compare import EvaluationBudget, run_comparison
    from spikebits.space import Budget, ConfigError

    def never(seed: int):  # noqa: ANN202
        raise AssertionError("an evaluator was made before the seeds were checked")

    with pytest.raises(ConfigError, match="--seeds 1001 is more than 1000 seeds"):
        run_comparison(["random"], range(1001), never, budget=Budget(), objectives=("accuracy", "bit_budget"),
                       evaluation_budget=EvaluationBudget(1), out_dir=tmp_path / "cmp")
    with pytest.raises(ConfigError, match="the seeds of a comparison must differ"):
        run_comparison(["random"], [1, 1], never, budget=Budget(), objectives=("accuracy", "bit_budget"),
                       evaluation_budget=EvaluationBudget(1), out_dir=tmp_path / "cmp")


@pytest.mark.slow
def test_sigterm_stops_a_comparison_at_a_batch_and_the_same_command_goes_on(tmp_path, cache_dir):
    # Issue 29: compare did not handle SIGTERM as search does. The run in progress is not
    # marked finished, nothing is reported, the exit is 130 with one line; the same command
    # then finishes the comparison.
    out = tmp_path / "cmp"
    argv = [EXE, *ONE, "--strategies", "random,tpe", "--evaluations", "2", "--out", str(out)]
    argv.remove("--quiet")
    env = {**os.environ, "SPIKEBITS_CACHE": str(cache_dir)}
    first = out / "runs" / "random" / "seed-0" / "timeline.json"
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not first.exists() and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the comparison ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, err
    lines = [line for line in err.splitlines() if line.startswith("spikebits")]
    assert lines[-1].startswith("spikebits: comparison stopped by SIGTERM") and "run the same command" in lines[-1], err
    assert not (out / "compare.json").exists() and not (out / "runs" / "tpe" / "seed-0" / "timeline.json").exists()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "random seed 0: kept (finished before)" in done.stderr
    assert len(read_compare_json(out / "compare.json")["runs"]) == 2
