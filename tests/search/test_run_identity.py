"""A run folder's settings are part of its identity (issue 29): rerunning into the same --out
with any result-changing setting changed is a one-line error naming the setting and both
values, never a silent mix of old results under new settings; --restart starts afresh; the
same settings resume as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spikebits.search.identity import SETTINGS_FILE, first_difference, flag_of, run_settings
from spikebits.search.cli import main
from spikebits.space import Budget

BASE = ["search", "--dataset", "digits", "--strategy", "random", "--trials", "2", "--epochs", "1", "--pretrain-epochs", "1",
        "--quiet"]


def run(capsys, *argv: str) -> tuple[int, str]:  # noqa: ANN001 - pytest's capsys
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, dict[str, bytes]]:
    """A finished random search, and its files' bytes."""
    out = tmp_path_factory.mktemp("identity") / "run"
    space = out.parent / "space.json"
    main(["space", "--dataset", "digits", "--out", str(space)])
    assert main([*BASE, "--cache-dir", str(cache_dir), "--out", str(out)]) == 0
    return out, {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def copy_run(made: tuple[Path, dict[str, bytes]], tmp_path: Path) -> Path:
    """A copy of the finished run's folder (its study included), to change at will."""
    out, _ = made
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".spikebits.lock"))
    return copy


#: (extra argv, the setting the error names, old value, new value): every setting that changes results.
CHANGES = [
    (["--epochs", "2"], "evaluator.finetune.epochs (--epochs) = 1, not 2"),
    (["--lr", "0.01"], "evaluator.finetune.lr (--lr) = 0.001, not 0.01"),
    (["--pretrain-epochs", "2"], "evaluator.pretrain.epochs (--pretrain-epochs) = 1, not 2"),
    (["--seed", "1"], "strategy.seed (--seed) = 0, not 1"),
    (["--val-fraction", "0.2"], "evaluator.val_fraction (--val-fraction) = 0.1, not 0.2"),
    (["--train-fraction", "0.5"], "evaluator.train_fraction (--train-fraction) = 1.0, not 0.5"),
    (["--model-arg", "width=4"], "evaluator.model_kwargs.width (--model-arg) = (not set), not 4"),
    (["--energy-model", "loihi"], 'evaluator.energy_model.name (--energy-model) = "horowitz45nm", not "loihi"'),
    (["--budget", "bit_budget<=3"], "budget.bit_budget (--budget) = (not set), not 3.0"),
    (["--objectives", "accuracy,s_ace"], 'objectives (--objectives) = ["accuracy","bit_budget","s_ace"], not ["accuracy","s_ace"]'),
    (["--strategy", "tpe"], 'strategy.name (--strategy) = "random", not "tpe"'),
    (["--infeasible", "train"], 'strategy.infeasible = "skip", not "train"'),
    (["--init-sensitivity", "kurtosis"], "strategy.init_sensitivity = null, not \"kurtosis\""),
    (["--scoring", "one-shot"], "--scoring"),
    (["--dataset", "digits_events"], "evaluator."),
    (["--model", "mnist_cnn"], 'evaluator.model (--model) = "digits_cnn", not "mnist_cnn"'),
    (["--space", "{space}"], "space"),
    (["--amp"], "evaluator.finetune.amp = false, not true"),
    (["--warm-start", "{config}"], "strategy.warm_starts = [], not"),
]


@pytest.mark.parametrize("extra, words", CHANGES, ids=[" ".join(e) for e, _ in CHANGES])
def test_a_rerun_with_another_setting_is_refused_and_changes_nothing(capsys, made, cache_dir, extra, words):
    out, files = made
    extra = [part.format(space=out.parent / "space.json", config=out.parent / "config.json") for part in extra]
    (out.parent / "config.json").write_text('{"layers": {"fc": {"w_bits": 2, "s_bits": 2, "timesteps": 1}}}')
    if "--space" in extra:  # the same space with one layer pinned narrower: another space
        data = json.loads((out.parent / "space.json").read_text())
        layer = next(iter(data["layers"]))
        data["layers"][layer]["timesteps"] = [1]
        (out.parent / "space.json").write_text(json.dumps(data))
    argv = [*BASE, "--cache-dir", str(cache_dir), "--out", str(out)]
    for i in range(0, len(extra), 2):  # the change replaces the base's value where the base gives the flag
        if extra[i] in argv:
            argv[argv.index(extra[i]) + 1] = extra[i + 1]
        else:
            argv += extra[i:i + 2]
    code, err = run(capsys, *argv)
    assert code == 2, err
    assert err.count("\n") == 1 and f"--out {out} holds a run made with" in err and words in err, err
    assert "use another --out, or add --restart" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files


def test_the_same_settings_resume_and_more_trials_continue_the_study(capsys, made, cache_dir, tmp_path):
    out, files = made
    copy = copy_run(made, tmp_path)
    assert main([*BASE, "--cache-dir", str(cache_dir), "--out", str(copy)]) == 0
    assert (copy / "trials.csv").read_text().count("\n") == 3  # no new trial: the study had its 2
    code = main([*BASE, "--cache-dir", str(cache_dir), "--out", str(copy), "--trials", "3"])
    assert code == 0
    assert (copy / "trials.csv").read_text().count("\n") == 4
    assert json.loads((copy / SETTINGS_FILE).read_text())["settings"]["evaluator"]["finetune"]["epochs"] == 1
    assert SETTINGS_FILE in json.loads((copy / "run.json").read_text())["files"]
    capsys.readouterr()


def test_restart_discards_the_old_run_and_records_the_new_settings(capsys, made, cache_dir, tmp_path):
    copy = copy_run(made, tmp_path)
    (copy / "study.journal").write_bytes(b"not a study any more\n")  # discarded, never read
    (copy / "mine.txt").write_text("not spikebits'\n")
    code = main([*BASE, "--cache-dir", str(cache_dir), "--out", str(copy), "--epochs", "2", "--restart"])
    capsys.readouterr()
    assert code == 0
    settings = json.loads((copy / SETTINGS_FILE).read_text())["settings"]
    assert settings["evaluator"]["finetune"]["epochs"] == 2
    assert (copy / "trials.csv").read_text().count("\n") == 3  # two trials, both new
    assert (copy / "mine.txt").read_text() == "not spikebits'\n"
    assert json.loads((copy / "run.json").read_text())["evaluator"]["finetune"]["epochs"] == 2


@pytest.mark.parametrize("damage, words", [
    (None, "records no settings"),
    (b"{not json", "settings file"),
    (b'{"schema": "spikebits.settings/1", "settings": {"budget": NaN}}', "NaN"),
    (b'{"schema": "other", "settings": {}}', "is not a spikebits.settings/1 file"),
    (b"\xff\xfe", "UTF-8"),
])
def test_a_folder_whose_settings_are_missing_or_damaged_is_refused(capsys, made, cache_dir, tmp_path, damage, words):
    copy = copy_run(made, tmp_path)
    (copy / SETTINGS_FILE).unlink()
    if damage is not None:
        (copy / SETTINGS_FILE).write_bytes(damage)
    code, err = run(capsys, *BASE, "--cache-dir", str(cache_dir), "--out", str(copy))
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert "--restart" in err


def test_first_difference_names_the_first_differing_path():
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": 0}
    assert first_difference(old, old) is None
    assert first_difference(old, {"a": 1, "b": {"c": [1, 3], "d": "y"}, "gone": 0}) == ("b.c[1]", 2, 3)
    assert first_difference(old, {"a": 1, "b": {"c": [1, 2], "d": "x"}}) == ("gone", 0, "(not set)")
    assert first_difference({"a": 1}, {"a": 1.0}) == ("a", 1, 1.0)
    assert first_difference({"a": True}, {"a": 1}) == ("a", True, 1)
    assert first_difference({"a": [1]}, {"a": [1, 2]}) == ("a", [1], [1, 2])
    assert flag_of("evaluator.finetune.epochs") == "--epochs" and flag_of("evaluator.energy_model.name") == "--energy-model"
    assert flag_of("budget.s_ace") == "--budget" and flag_of("evaluator.finetune.batch_size") is None


def test_what_a_run_records_leaves_out_where_it_is_stored_and_how_it_runs(digits_evaluator):
    from spikebits.search.base import get_strategy
    from spikebits.search.executors import LocalExecutor

    strategy = get_strategy("nsga2")(digits_evaluator.space, digits_evaluator, Budget(), ("accuracy", "bit_budget"), seed=3,
                                     n_trials=5, storage="/somewhere/study.journal", study_name="mine")
    settings = run_settings(strategy, digits_evaluator, ("accuracy", "bit_budget"), Budget(), executor=LocalExecutor())
    assert settings["strategy"]["name"] == "nsga2" and settings["strategy"]["seed"] == 3
    assert "storage" not in settings["strategy"] and "study_name" not in settings["strategy"]
    assert "device" not in settings["evaluator"] and "workers" not in settings["evaluator"]["finetune"]
    assert settings["early_stop"] == {"on": False}
    halving = run_settings(strategy, digits_evaluator, ("accuracy", "bit_budget"), Budget(),
                           executor=LocalExecutor(early_stop=True, reduction=2))["early_stop"]
    assert halving == {"on": True, "rule": "asha", "reduction_factor": 2, "grace_epochs": 1}
    assert json.loads(json.dumps(settings)) == settings
