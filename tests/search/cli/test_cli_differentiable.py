"""``spikebits search --strategy differentiable|gumbel`` end to end on digits, and its errors."""

from __future__ import annotations

import math

import json

import pytest

from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.search.cli import main
from spikebits.space import BitTargets, Config, SearchSpace

from cli_run import run_main


def _averages(config: Config, space: SearchSpace) -> tuple[float, float, float]:
    # digits_cnn's unpinned layers: conv2 N_w 18432 N_a 8192; conv3 73728, 4096; fc 1280, 128.
    n_w = {"conv2": 18432, "conv3": 73728, "fc": 1280}
    n_a = {"conv2": 8192, "conv3": 4096, "fc": 128}
    w = sum(config[n].w_bits * n_w[n] for n in n_w) / sum(n_w.values())
    s = sum(config[n].s_bits * n_a[n] for n in n_a) / sum(n_a.values())
    t = sum(config[n].timesteps * n_a[n] for n in n_a) / sum(n_a.values())
    return w, s, t



def digits_steps_per_epoch(batch_size: int = 64) -> int:
    """Training steps of one epoch on digits' training split (1,293 images at seed 0, the
    validation split held out)."""
    from spikebits.evaluators import datasets

    return math.ceil(len(datasets.load("digits", seed=0).train) / batch_size)

@pytest.mark.slow
def test_differentiable_targets_trace_a_front_and_configs_round_trip(capsys, tmp_path, cache_dir):
    out = tmp_path / "run"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "differentiable", "--targets", "1/1/1,2/2/1,4/4/1",
        "--supernet-epochs", "4", "--epochs", "1", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert names >= {"pareto.json", "trials.csv", "pareto.png", "run.json", "bit_trajectories.png", "allocation.png"}
    # `spikebits report` draws every figure again from the stored files
    figures = ("pareto.png", "bit_trajectories.png", "allocation.png")
    for name in figures:
        (out / name).unlink()
    code, report_out, err = run_main(capsys, "report", str(out))
    assert code == 0, err
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in figures)
    assert report_out.strip().endswith(f"wrote {out}/pareto.png, bit_trajectories.png, allocation.png")
    run = json.loads((out / "run.json").read_text())
    space = SearchSpace.from_dict(run["space"])
    strategy = run["strategy"]
    assert strategy["name"] == "differentiable" and strategy["settings"]["renewal"] == "spikes"
    assert strategy["settings"]["lambdas"] is None and strategy["settings"]["bits_schedule"] == "cosine"
    # The released code's coefficients per target: gentler for a W or S target of 3 bits or more.
    assert [entry["lambdas"] for entry in strategy["runs"]] == [[0.04, 0.04, 0.01], [0.04, 0.04, 0.01], [0.01, 0.02, 0.01]]
    assert len(strategy["runs"]) == 3
    for entry in strategy["runs"]:
        assert set(entry["learned"]) == {"conv2", "conv3", "fc"}
        assert isinstance(entry["learned"]["conv2"]["w_bits"], float)  # unrounded B̂_w
        assert len(entry["history"]) == 1 + 4 * digits_steps_per_epoch()  # start + every step
        assert len(entry["layer_history"]) == 4
        # The bits learn to the last step (cosine to zero) and settle: no change of the
        # rounded config in the last 10% of the steps.
        steps = 4 * digits_steps_per_epoch()
        assert entry["late_changes"] == {"steps": math.ceil(0.1 * steps), "changes": 0}
        assert entry["history"][-1]["timesteps"] == 1.0  # T̄ exactly at its target
    assert [entry["target"] for entry in strategy["runs"]] == [t.to_dict() for t in BitTargets.parse_list("1/1/1,2/2/1,4/4/1")]
    rows = read_trials_csv(out / "trials.csv")
    assert len(rows) == 3
    for row, target in zip(rows, BitTargets.parse_list("1/1/1,2/2/1,4/4/1")):
        assert row["state"] == "COMPLETE" and row["feasible"]
        config = Config.from_dict(row["config"])
        assert space.complete(config, strict=True) == config  # within the options
        w, s, t = _averages(config, space)
        assert abs(w - target.w_bits) <= 0.25 and abs(s - target.s_bits) <= 0.25 and abs(t - target.timesteps) <= 0.25, (w, s, t)
    pareto = read_pareto_json(out / "pareto.json")
    assert len(pareto["points"]) >= 2
    # Each front point is the supernet's own network: its checkpoint, scored again by
    # `spikebits evaluate --checkpoint`, gives the same config and the same metrics.
    assert names >= {f"network-{n}.{ext}" for n in range(3) for ext in ("pt", "sbq")}
    assert any(not strategy["runs"][point["number"]]["moves"] for point in pareto["points"])
    for point in pareto["points"]:
        if not strategy["runs"][point["number"]]["moves"]:  # not moved, not fine-tuned: the supernet's own score
            assert point["metrics"]["accuracy"] == strategy["runs"][point["number"]]["supernet_accuracy"]
        code, stdout, err = run_main(capsys, "evaluate", "--checkpoint", str(out / f"network-{point['number']}.pt"), "--quiet")
        assert code == 0, err
        metrics = json.loads(stdout)
        for key in ("bit_budget", "s_ace", "size_bits", "effective_resolution"):
            assert metrics[key] == point["metrics"][key]
        assert metrics["accuracy"] == point["metrics"]["accuracy"]
        assert metrics["test_accuracy"] == point["metrics"]["test_accuracy"]
    # The same config fine-tuned afresh from full precision (`evaluate --config`) is another network.
    point = max(pareto["points"], key=lambda p: p["metrics"]["accuracy"])
    cfg = tmp_path / "best.json"
    cfg.write_text(json.dumps(point["config"]))
    code, stdout, err = run_main(capsys, "evaluate", "--config", str(cfg), "--epochs", "1", "--quiet")
    assert code == 0, err
    assert json.loads(stdout)["bit_budget"] == point["metrics"]["bit_budget"]


@pytest.mark.slow
def test_gumbel_under_a_bit_budget_gives_feasible_points(capsys, tmp_path, cache_dir):
    out = tmp_path / "gumbel"
    code, stdout, err = run_main(
        capsys, "search", "--strategy", "gumbel", "--budget", "bit_budget<=3",
        "--supernet-epochs", "3", "--epochs", "1", "--out", str(out), "--quiet",
    )
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    # bit_budget<=3 alone is split into W̄ = S̄ = √3, T̄ = 1 (T at its smallest option).
    assert run["strategy"]["targets"] == [pytest.approx({"w_bits": 3**0.5, "s_bits": 3**0.5, "timesteps": 1.0})]
    learned = run["strategy"]["runs"][0]["learned"]
    assert len(learned["conv2"]["w_candidates"]) == 10
    assert sum(learned["conv2"]["w_candidates"].values()) == pytest.approx(1.0, abs=1e-4)
    space = SearchSpace.from_dict(run["space"])
    pareto = read_pareto_json(out / "pareto.json")
    assert pareto["points"]
    for point in pareto["points"]:
        assert point["feasible"] and point["metrics"]["bit_budget"] <= 3.0
        config = Config.from_dict(point["config"])
        assert space.complete(config, strict=True) == config


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--targets", "2/2"], "target '2/2' is malformed; write W/S/T"),
        (["--targets", "0/1/1"], "must be a number >= 1"),
        (["--lambdas", "0.04/x/0.01"], "lambdas '0.04/x/0.01' is malformed"),
        (["--budget", "bit_budget<=0.5"], "the smallest config of the space has bit_budget 1; loosen the budget"),
        (["--budget", "firing_rate<=0.1"], "the differentiable strategy cannot budget 'firing_rate'; budget one of bit_budget"),
    ],
)
def test_differentiable_bad_input_is_one_line_and_exit_2(capsys, tmp_path, cache_dir, argv, message):
    code, _, err = run_main(capsys, "search", "--out", str(tmp_path / "x"), "--supernet-epochs", "1", "--quiet", *argv)
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1


def test_unknown_renewal_mode_is_an_argparse_error(capsys):
    assert main(["search", "--renewal", "sometimes"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'sometimes'" in err and err.count("\n") == 1
