"""``spikebits search --scoring one-shot`` from the command line: configs scored with a
one-shot supernet's shared weights, the one-shot front fine-tuned, the scoring in the files."""

from __future__ import annotations

import json

from spikebits.results import read_pareto_json, read_trials_csv

from cli_run import run_main

SMALL = ["--model-arg", "width=0.25", "--pretrain-epochs", "1", "--train-fraction", "0.2", "--epochs", "1", "--quiet", "--threads", "1"]


def test_a_one_shot_search_fine_tunes_its_front_and_says_so(capsys, tmp_path, cache_dir):
    out = tmp_path / "run"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "random", "--trials", "5", "--scoring", "one-shot", "--one-shot-epochs", "1",
        "--bn-batches", "2", *SMALL, "--out", str(out),
    )
    assert code == 0, err
    rows = read_trials_csv(out / "trials.csv")
    assert len(rows) == 5 and {r["scoring"] for r in rows} <= {"one-shot", "finetune"}
    tuned = {r["number"] for r in rows if r["scoring"] == "finetune"}
    assert tuned
    for r in rows:  # a fine-tuned row keeps its one-shot score; a one-shot row reads no test split
        assert (r["one_shot_accuracy"] is not None) == (r["number"] in tuned)
        assert (r["test_accuracy"] is not None) == (r["number"] in tuned)
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["points"] and all("test_accuracy" in p["metrics"] for p in pareto["points"])
    run = json.loads((out / "run.json").read_text())
    assert run["evaluator"]["scoring"] == {"name": "one-shot", "epochs": 1, "lr": 0.001, "bn_batches": 2, "samples_rule": 50000}


def test_one_shot_options_without_one_shot_scoring_are_refused(capsys, tmp_path, cache_dir):
    code, _, err = run_main(capsys, "search", "--strategy", "random", "--one-shot-epochs", "2", *SMALL, "--out", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and "--scoring one-shot" in err


def test_resuming_a_search_with_other_scoring_or_training_is_refused_and_damages_nothing(capsys, tmp_path, cache_dir):
    # DESIGN: a run's result-changing settings are part of its identity. Trials scored one-shot
    # and trials fine-tuned for 1 epoch must never meet in one study.
    out = tmp_path / "run"
    first = ["search", "--strategy", "random", "--trials", "1", *SMALL, "--out", str(out)]
    code, _, err = run_main(capsys, *first)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for change, setting in ((["--scoring", "one-shot"], "evaluator.scoring"), (["--epochs", "2"], "evaluator.finetune.epochs"),
                            (["--train-fraction", "0.3"], "evaluator.train_fraction")):
        code, _, err = run_main(capsys, *first, *change)  # the run folder records its settings (issue 29)
        assert code == 2 and err.count("\n") == 1, err
        assert f"--out {out} holds a run made with {setting}" in err and "add --restart" in err, err
        # the study holds its own: from another --out, the same study is refused too
        code, _, err = run_main(capsys, *first, *change, "--out", str(tmp_path / "other"), "--storage", str(out / "study.journal"))
        assert code == 2 and err.count("\n") == 1, err
        assert "was made with another evaluator" in err and "use a new --study name" in err
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    code, _, err = run_main(capsys, *first)  # the same settings: the finished search, written again
    assert code == 0, err
    assert len(read_trials_csv(out / "trials.csv")) == 1
