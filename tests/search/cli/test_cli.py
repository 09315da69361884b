"""The ``spikebits`` command line: errors, space, cost-only evaluation, and a real search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.space import Config, direction

from cli_run import run_main


def write_config(path: Path, layers: dict) -> str:
    path.write_text(json.dumps({"layers": layers}))
    return str(path)


@pytest.mark.parametrize("command", [[], ["search"], ["evaluate"], ["sensitivity"], ["space"], ["export"], ["strategies"]])
def test_help_of_every_command(capsys, command):
    # argparse %-formats help text; an option help with a bare "%" ("24%") made --help crash.
    code, out, _ = run_main(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: ")
    if command == ["search"]:
        assert "--zscore" in out and "int(5%·n)" in out


def test_space_prints_layers_with_options(capsys):
    code, out, _ = run_main(capsys, "space", "--model", "digits_cnn")
    assert code == 0
    data = json.loads(out)
    assert list(data["layers"]) == ["conv1", "conv2", "conv3", "fc"]
    assert data["layers"]["conv2"] == {"w_bits": [1, 2, 3, 4, 8], "s_bits": [1, 2, 4], "timesteps": [1, 2, 4], "schemes": ["uniform", "pow2"]}
    assert data["pinned"] == {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"}}
    code, out, _ = run_main(capsys, "space", "--model", "resnet20")
    assert json.loads(out)["ties"] == [["layer2.0.conv1", "layer2.0.shortcut"], ["layer3.0.conv1", "layer3.0.shortcut"]]


def test_cost_only_accepts_any_valid_choice(capsys, tmp_path):
    # digits_cnn: conv2 N_w=18432, N_a=8192, MACs=1179648; conv3 73728, 4096, 1179648;
    # fc 1280, 128, 1280; conv1 (pinned W8/S8/T1) 288 weights, MACs 73728.
    cfg = write_config(
        tmp_path / "c.json",
        {
            "conv2": {"w_bits": 16, "s_bits": 16, "timesteps": 7, "scheme": "uniform"},
            "conv3": {"w_bits": 3, "s_bits": 5, "timesteps": 1, "scheme": "pow2"},
            "fc": {"w_bits": 1, "s_bits": 1, "timesteps": 3, "scheme": "uniform"},
        },
    )
    code, out, _ = run_main(capsys, "evaluate", "--config", cfg, "--cost-only")
    assert code == 0
    m = json.loads(out)
    s_ace = 73728 * 8 * 8 * 1 + 1179648 * 16 * 16 * 7 + 1179648 * 3 * 5 * 1 + 1280 * 1 * 1 * 3
    assert m["s_ace"] == s_ace
    n_w, n_a = 18432 + 73728 + 1280, 8192 + 4096 + 128
    w_bar = (16 * 18432 + 3 * 73728 + 1 * 1280) / n_w
    s_bar = (16 * 8192 + 5 * 4096 + 1 * 128) / n_a
    t_bar = (7 * 8192 + 1 * 4096 + 3 * 128) / n_a
    assert m["bit_budget"] == pytest.approx(w_bar * s_bar * t_bar, rel=1e-12)
    assert m["size_bits"] == 288 * 8 + 18432 * 16 + 73728 * 3 + 1280 * 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--model", "vgg99"], "unknown model 'vgg99'; choose one of: "),
        (["search", "--strategy", "annealing"], "unknown strategy 'annealing'"),
        (["search", "--dataset", "imagenet"], "unknown data set 'imagenet'; choose one of: cifar10, cifar100, cifar10_dvs, digits,"),
        (["search", "--objectives", "test_accuracy,bit_budget"], "test_accuracy is read once, to report; objectives and budgets use accuracy"),
        (["search", "--budget", "test_accuracy<=0.5"], "test_accuracy is read once, to report"),
        (["search", "--val-fraction", "1.5", "--trials", "1"], "argument --val-fraction: 1.5 must be above 0 and below 1"),
        (["search", "--workers", "-1", "--trials", "1"], "argument --workers: -1 must be 0 or more"),
        (["search", "--dataset", "cifar10", "--trials", "1", "--epochs", "1"], "cifar10 is read from files on disk and no data folder was given"),
        (["evaluate", "--config", "c.json", "--include-pinned", "--cost-only"], "--include-pinned goes with --uniform W/S/T"),
        (["search", "--budget", "bit_budget>=2"], "budget 'bit_budget>=2' is malformed; write METRIC<=NUMBER"),
        (["search", "--budget", "bits<=2"], "unknown metric 'bits'"),
        (["search", "--objectives", "accuracy,speed"], "unknown metric 'speed'"),
        (["space", "--model", "nope"], "unknown model 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "layers, message",
    [
        ({"conv9": {"w_bits": 4, "s_bits": 2, "timesteps": 1}}, "config names unknown layer 'conv9'"),
        ({"conv2": {"w_bits": 17, "s_bits": 2, "timesteps": 1}}, "w_bits=17 is out of range; use 1 to 16"),
        ({"conv2": {"w_bits": 4, "s_bits": 0, "timesteps": 1}}, "s_bits=0 is out of range"),
        ({"conv2": {"w_bits": 4, "s_bits": 2, "timesteps": 0}}, "timesteps=0 is out of range"),
        ({"conv2": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "log"}}, "scheme='log' is unknown"),
        ({"conv2": {"w_bits": 4, "s_bits": 2, "timesteps": 1}}, "config has no choice for layer 'conv3'"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(capsys, tmp_path, layers, message):
    cfg = write_config(tmp_path / "bad.json", layers)
    code, _, err = run_main(capsys, "evaluate", "--config", cfg, "--cost-only")
    assert code == 2 and message in err and err.count("\n") == 1


def test_unwritable_out_damages_nothing(capsys, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("precious")
    code, _, err = run_main(capsys, "search", "--out", str(target), "--trials", "1")
    assert code == 2 and "is a file, not a folder" in err
    assert target.read_text() == "precious"
    code, _, err = run_main(capsys, "search", "--out", str(target / "sub"), "--trials", "1")
    assert code == 2 and err.count("\n") == 1
    assert target.read_text() == "precious"


def test_console_script_exit_code_and_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("spikebits")
    proc = subprocess.run([str(exe), "search", "--budget", "s_ace<=x1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "spikebits: error: budget 's_ace<=x1' is malformed; write METRIC<=NUMBER, for example bit_budget<=2.5"


def _dominates(a: dict, b: dict, objectives) -> bool:
    better_or_equal = all((a[m] >= b[m]) if direction(m) == "maximize" else (a[m] <= b[m]) for m in objectives)
    strictly = any((a[m] > b[m]) if direction(m) == "maximize" else (a[m] < b[m]) for m in objectives)
    return better_or_equal and strictly


@pytest.mark.slow
def test_search_writes_the_four_files_and_a_consistent_front(capsys, tmp_path, cache_dir):
    out = tmp_path / "run"
    code, stdout, _ = run_main(
        capsys, "search", "--strategy", "nsga2", "--trials", "8", "--epochs", "1",
        "--budget", "bit_budget<=4", "--out", str(out), "--quiet",
    )
    assert code == 0, stdout
    assert {p.name for p in out.iterdir()} >= {"pareto.json", "trials.csv", "pareto.png", "run.json"}
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((out / "run.json").read_text())
    assert run["strategy"]["name"] == "nsga2" and run["seed"] == 0 and run["versions"]["torch"].startswith("2.13")
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["schema"] == "spikebits.pareto/1"
    assert pareto["budget"] == {"bit_budget": 4.0}
    objectives = list(pareto["objectives"])
    assert objectives == ["accuracy", "bit_budget", "s_ace"]
    rows = read_trials_csv(out / "trials.csv")
    # 8 trained trials; configs that broke the data-free budget are SKIPPED rows, untrained.
    assert sum(r["state"] == "COMPLETE" for r in rows) == 8 and all(r["state"] in ("COMPLETE", "SKIPPED") for r in rows)
    assert all(r["bit_budget"] > 4 and r["accuracy"] is None for r in rows if r["state"] == "SKIPPED")
    feasible = [r for r in rows if r["feasible"]]
    assert all(r["bit_budget"] <= 4 for r in feasible)
    assert all(r["bit_budget"] > 4 for r in rows if not r["feasible"])
    assert pareto["points"], "expected at least one feasible point"
    for point in pareto["points"]:
        assert point["feasible"] is True
        assert not any(_dominates(r, point["metrics"], objectives) for r in feasible)
        cfg = tmp_path / f"point{point['number']}.json"
        cfg.write_text(json.dumps(point["config"]))
        code, stdout, _ = run_main(capsys, "evaluate", "--config", str(cfg), "--cost-only")
        cost = json.loads(stdout)
        for key, value in cost.items():
            assert point["metrics"][key] == value
        assert Config.from_dict(point["config"]) == Config.from_json(cfg.read_text())
    # every feasible trial that no other feasible trial dominates is on the front
    on_front = {p["number"] for p in pareto["points"]}
    for r in feasible:
        if not any(_dominates(o, r, objectives) for o in feasible):
            assert r["number"] in on_front or any(
                all(o[m] == r[m] for m in objectives) for o in feasible if o["number"] in on_front
            )


@pytest.mark.slow
def test_search_with_progress_bars(capsys, tmp_path, cache_dir):
    # Not --quiet: the trial bar is sized before the strategy starts.
    code, stdout, err = run_main(capsys, "search", "--strategy", "random", "--trials", "1", "--epochs", "0", "--out", str(tmp_path / "bars"))
    assert code == 0, err
    assert "random trials" in err and "1 trials" in stdout


def test_points_at_chance_level_come_with_a_warning(capsys):
    from spikebits.evaluators.data import chance_ceiling
    from spikebits.search.cli.common import warn_chance_level

    # p + 3·√(p(1 − p)/n), p = 1/10: 0.1 + 3·√(0.09/6000) on MNIST's 6,000 validation images,
    # 0.1 + 3·0.3/12 = 0.175 on digits' 144.
    assert chance_ceiling(10, 6000) == pytest.approx(0.111619, abs=1e-6)
    assert chance_ceiling(10, 144) == pytest.approx(0.175)

    class Stub:
        def chance_accuracy(self) -> float:
            return 0.175

    warn_chance_level(Stub(), 0.96, [0.9, 0.106, 0.175])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning: 2 of 3 points are at chance level (validation accuracy ≤ 17.50%" in err
    warn_chance_level(Stub(), 0.12, [0.11])
    assert "the full-precision network is at chance level (12.00% validation" in capsys.readouterr().err
    warn_chance_level(Stub(), 0.96, [0.9, 0.5])
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_gp_under_a_bit_budget_writes_the_standard_outputs(capsys, tmp_path, cache_dir):
    """``gp`` (Gaussian-process BO): 5 trials (scored without fine-tuning, --epochs 0), the
    last 2 proposed by the GPs, every front point within bit_budget<=3."""
    out = tmp_path / "gp"
    code, stdout, _ = run_main(
        capsys, "search", "--strategy", "gp", "--n-startup-trials", "3", "--trials", "5", "--epochs", "0",
        "--budget", "bit_budget<=3", "--out", str(out), "--quiet",
    )
    assert code == 0, stdout
    assert {p.name for p in out.iterdir()} >= {"pareto.json", "trials.csv", "pareto.png", "run.json", "study.journal"}
    assert json.loads((out / "run.json").read_text())["strategy"]["name"] == "gp"
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["points"] and all(p["feasible"] and p["metrics"]["bit_budget"] <= 3 for p in pareto["points"])
    rows = read_trials_csv(out / "trials.csv")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 5
    assert all(r["bit_budget"] <= 3 for r in rows if r["state"] == "COMPLETE")  # repaired before training


def test_the_data_set_picks_the_model_when_none_is_given():
    from spikebits.search.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["search", "--dataset", "mnist"]).model == "mnist_cnn"
    assert parse(["evaluate", "--dataset", "fashion_mnist", "--uniform", "4/4/1"]).model == "mnist_cnn"
    assert parse(["search"]).model == "digits_cnn" and parse(["search", "--dataset", "cifar10"]).model == "digits_cnn"
    assert parse(["search", "--dataset", "mnist", "--model", "resnet20"]).model == "resnet20"


def test_a_reader_that_goes_away_is_not_an_internal_error():
    # `spikebits … | head -1`: the pipe closes while spikebits writes; that is no error of
    # spikebits' (exit 141, as for SIGPIPE; nothing on stderr).
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from spikebits.search.cli import chips, main\n"
        "def run(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "chips.run = run\n"
        "sys.exit(main(['chips']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (141, "")
