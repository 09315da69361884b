"""Energy through the command line: ``--energy-model``, user presets, ``evaluate``'s reports,
and ``--objectives accuracy,energy_pj --budget energy_pj<=X`` with every strategy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikebits.evaluators import Evaluator, energy_report
from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.search.base import available
from spikebits.space import Config, LayerChoice

from cli_run import run_main

CONFIG = Config(
    {
        "conv2": LayerChoice(3, 2, 2, "pow2"),
        "conv3": LayerChoice(2, 1, 1, "uniform"),
        "fc": LayerChoice(4, 3, 1, "uniform"),
    }
)


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(CONFIG.to_json())
    return str(path)


def test_cost_only_prints_the_energy_report(capsys, tmp_path, config_file):
    report = tmp_path / "report.json"
    code, out, err = run_main(capsys, "evaluate", "--config", config_file, "--cost-only", "--report", str(report))
    assert code == 0
    metrics = json.loads(out)
    evaluator = Evaluator(epochs=0)
    full = evaluator.space.complete(CONFIG, strict=False)
    expected = energy_report(evaluator.specs, full, "horowitz45nm")
    assert metrics["energy_pj"] == expected.total_pj
    assert "energy per inference (estimate, dense activity): model horowitz45nm" in err
    assert err.startswith("input shape 1,16,16 (digits)\n\n")
    # the input shape and a blank line, then title, head, rule, layers, total
    assert err.count("\n") == 2 + len(expected.layers) + 4
    data = json.loads(report.read_text())
    assert data["schema"] == "spikebits.evaluate/1"
    assert data["energy"]["basis"] == "estimate" and data["energy"]["total_pj"] == metrics["energy_pj"]
    assert data["energy"]["breakdown_pj"]["compute"] == pytest.approx(expected.compute_pj)
    # Another preset changes the figure: loihi prices ops at 23.6 pJ per spike bit.
    code, out, _ = run_main(capsys, "evaluate", "--config", config_file, "--cost-only", "--energy-model", "loihi")
    assert json.loads(out)["energy_pj"] == pytest.approx(energy_report(evaluator.specs, full, "loihi").total_pj)


def test_user_preset_file_and_its_errors(capsys, tmp_path, config_file):
    good = tmp_path / "chip.toml"
    good.write_text(
        'datapath = "shift_add"\nadd_pj_per_bit = 0.01\nmult_pj_per_bit2 = 0.0\nsynop_pj = 0.5\nspike_pj = 0.1\n'
        "neuron_pj = 1.0\nneuron_adds = 1\nmembrane_bits = 12\naccumulator_bits = 24\n"
        "sram_bytes = [16384, 262144]\nsram_pj_per_64bit = [8.0, 40.0]\ndram_pj_per_64bit = 1000.0\n"
    )
    code, out, err = run_main(capsys, "evaluate", "--config", config_file, "--cost-only", "--energy-model", str(good))
    assert code == 0, err
    evaluator = Evaluator(epochs=0, energy_model=str(good))
    assert json.loads(out)["energy_pj"] == pytest.approx(evaluator.cost(CONFIG)["energy_pj"])
    assert "model chip (shift_add datapath)" in err
    for text, message in (
        (good.read_text().replace("spike_pj = 0.1\n", ""), "is missing 'spike_pj'"),
        (good.read_text().replace("neuron_pj = 1.0", "neuron_pj = -1.0"), "neuron_pj = -1.0 must be a finite number >= 0"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        code, out, err = run_main(capsys, "evaluate", "--config", config_file, "--cost-only", "--energy-model", str(bad))
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and message in err and err.startswith("spikebits: error: energy model")
    code, _, err = run_main(capsys, "search", "--energy-model", str(tmp_path / "none.toml"), "--out", str(tmp_path / "x"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_evaluate_reports_measured_energy_neurobench_and_simulation(capsys, tmp_path, cache_dir, config_file):
    report = tmp_path / "report.json"
    code, out, err = run_main(
        capsys, "evaluate", "--config", config_file, "--epochs", "0", "--pretrain-epochs", "2", "--cache-dir", str(cache_dir),
        "--quiet", "--report", str(report), "--lanes", "4",
    )
    assert code == 0, err
    metrics = json.loads(out)
    data = json.loads(report.read_text())
    assert data["metrics"] == metrics
    assert data["energy_measured"]["activity"] == "measured"
    assert data["energy_measured"]["total_pj"] == pytest.approx(metrics["energy_pj_active"])
    assert metrics["energy_pj_active"] < metrics["energy_pj"] and metrics["s_ace_active"] < metrics["s_ace"]
    # The simulator runs the integer datapath on the test split (all 360 digits, under the
    # default --simulate-samples 512): its accuracy is the model's own test accuracy.
    assert data["hardware"]["samples"] == 360
    assert data["hardware"]["accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert data["hardware"]["lanes"] == 4
    # NeuroBench: conv3 reads 1-bit spikes (integer levels 0/1) -> ACs; conv2 reads 2-bit ones.
    nb = data["neurobench"]["layers"]
    assert nb["conv3"]["effective_acs"] > 0 and nb["conv3"]["effective_macs"] == 0
    assert nb["conv2"]["effective_macs"] > 0
    assert data["neurobench"]["Dense"] == pytest.approx(sum(x["synaptic_ops"] for x in data["energy"]["layers"]))
    for title in ("dense activity", "measured activity", "NeuroBench synaptic operations", "bit-serial simulation"):
        assert title in err


@pytest.mark.slow
# gp and qmc ask through the Optuna base that random and tpe test here (their budget handling is
# tested in tests/search/test_search.py and, for gp, through the CLI in test_cli.py).
@pytest.mark.parametrize("strategy", sorted(set(available()) - {"differentiable", "gumbel", "gp", "qmc"}) + ["differentiable", "gumbel"])
def test_every_strategy_minimises_and_budgets_energy(capsys, tmp_path, cache_dir, strategy):
    # A limit between the cheapest and dearest configs: every strategy keeps it, and the
    # front plots accuracy against energy_pj.
    limit = 2.0e6
    out = tmp_path / strategy
    # Each strategy takes only its own options (a flag it does not take is an error).
    shrink = {"differentiable": ["--supernet-epochs", "1", "--targets", "1/1/1,2/2/1"], "ilp": ["--probes", "10"], "boost": ["--probes", "10"]}  # probes 10: the report the sensitivity tests measure too (cached)
    argv = [
        "search", "--strategy", strategy, "--objectives", "accuracy,energy_pj", "--budget", f"energy_pj<={limit:g}",
        "--trials", "3", "--epochs", "0", *shrink.get(strategy, shrink["differentiable"] if strategy == "gumbel" else []),
        "--cache-dir", str(cache_dir), "--quiet", "--out", str(out),
    ]
    code, stdout, err = run_main(capsys, *argv)
    assert code == 0, err
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["objectives"] == {"accuracy": "maximize", "energy_pj": "minimize"}
    assert pareto["energy"] == {"model": "horowitz45nm", "datapath": "multiply", "basis": "estimate"}
    assert pareto["points"] and all(p["metrics"]["energy_pj"] <= limit for p in pareto["points"])
    rows = read_trials_csv(out / "trials.csv")
    assert any(r["feasible"] for r in rows)
    assert (out / "pareto.png").stat().st_size > 0
    run = json.loads((out / "run.json").read_text())
    assert run["evaluator"]["energy_model"]["basis"] == "estimate"
