"""``spikebits sensitivity``, ``search --strategy ilp|boost`` and ``--init`` on digits."""

from __future__ import annotations

import json

import pytest
from scipy import stats

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.space import Config, LayerChoice

from cli_run import run_main


@pytest.mark.slow
def test_sensitivity_command_table_json_and_chart(capsys, tmp_path, cache_dir, digits_evaluator):
    out = tmp_path / "sens"
    code, stdout, err = run_main(capsys, "sensitivity", "--probes", "10", "--out", str(out), "--quiet")
    assert code == 0, err
    assert "Tr(H_w)" in stdout and "kurtosis" in stdout
    data = json.loads((out / "sensitivity.json").read_text())
    assert data["schema"] == "spikebits.sensitivity/1"
    rows = {r["layer"]: r for r in data["rows"]}
    assert list(rows) == ["conv1", "conv2", "conv3", "fc"]
    assert all(r["trace"] > 0 and r["output_error_2bit"] > 0 for r in rows.values())
    # Ω falls as W grows (the quantization error shrinks, the trace is fixed).
    omega = rows["conv2"]["omega_uniform"]
    assert omega["1"] > omega["2"] > omega["4"] > omega["8"] > 0
    # The kurtosis is Pearson's, of the cached full-precision weights.
    weight = digits_evaluator.full_precision_model().conv2.synapse.weight.detach().flatten().numpy()
    assert rows["conv2"]["kurtosis"] == pytest.approx(stats.kurtosis(weight, fisher=False), rel=1e-5)
    assert (out / "sensitivity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_ilp_search_under_a_bit_budget(capsys, tmp_path, cache_dir):
    out = tmp_path / "ilp"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "ilp", "--budget", "bit_budget<=2", "--probes", "10",
        "--trials", "4", "--epochs", "1", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    assert {p.name for p in out.iterdir()} >= {"pareto.json", "trials.csv", "pareto.png", "run.json"}
    rows = read_trials_csv(out / "trials.csv")
    assert rows and all(r["feasible"] and r["bit_budget"] <= 2.0 for r in rows)
    run = json.loads((out / "run.json").read_text())
    ladder = run["strategy"]["ladder"]
    assert [round(step["level"], 6) for step in ladder] == [1.0, round(2 ** (1 / 3), 6), round(2 ** (2 / 3), 6), 2.0]
    # At the lowest level, bit_budget ≤ 1, only W1/S1/T1 everywhere is feasible.
    first = Config.from_dict(rows[0]["config"])
    assert all(first[n] == LayerChoice(1, 1, 1, "uniform") or first[n].short() == "W1pS1T1" for n in ("conv2", "conv3", "fc"))
    assert read_pareto_json(out / "pareto.json")["points"]


def test_ilp_unreachable_budget_names_the_smallest_value(capsys, tmp_path):
    code, _, err = run_main(capsys, "search", "--strategy", "ilp", "--budget", "bit_budget<=0.5", "--out", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1
    assert "budget bit_budget<=0.5 cannot be met: the smallest config of the space has bit_budget 1; loosen the budget" in err


@pytest.mark.slow
def test_nsga2_starts_from_the_hessian_ilp_solutions(capsys, tmp_path, cache_dir):
    out = tmp_path / "warm"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "nsga2", "--init-sensitivity", "hessian", "--probes", "10",
        "--trials", "5", "--epochs", "1", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    rows = read_trials_csv(out / "trials.csv")
    assert len(rows) == 5
    # The first enqueued trial is the optimum at the lowest ladder level: the smallest config.
    first = Config.from_dict(rows[0]["config"])
    assert first["conv2"].w_bits == first["conv2"].s_bits == first["conv2"].timesteps == 1
    assert rows[0]["bit_budget"] == 1.0


@pytest.mark.slow
def test_boost_on_digits_proposes_uniform_bases(capsys, tmp_path, cache_dir):
    out = tmp_path / "boost"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "boost", "--metric", "kurtosis", "--probes", "10",
        "--trials", "2", "--epochs", "1", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    # Three learnable layers give two jumps, whose z-scores are ±1: nothing is boosted.
    assert "every proposal is its uniform base" in run["strategy"]["note"]
    rows = read_trials_csv(out / "trials.csv")
    assert [Config.from_dict(r["config"])["conv2"] for r in rows] == [LayerChoice(1, 1, 1), LayerChoice(1, 2, 1)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "nsga2", "--init-bits", "4/4/2"], "--init-bits applies to differentiable, gumbel; the nsga2 strategy does not take it"),
        (["--strategy", "ilp", "--init-sensitivity", "hessian"],
         "--init-sensitivity applies to differentiable, gp, gumbel, nsga2, qmc, random, tpe; the ilp strategy does not take it"),
        (["--strategy", "ilp", "--budget", "firing_rate<=0.2"], "cannot budget 'firing_rate'"),
    ],
)
def test_sensitivity_options_bad_input(capsys, tmp_path, argv, message):
    code, _, err = run_main(capsys, "search", "--out", str(tmp_path / "x"), *argv)
    assert code == 2 and message in err and err.count("\n") == 1
