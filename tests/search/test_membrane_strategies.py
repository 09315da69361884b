"""Every strategy searches the membrane bits U (issue 30) when the space does: on digits_cnn at
width 1/4 with ``membrane_bits=(4, 8)``, two trials of one fine-tuning epoch each, every
registered strategy proposes configs whose free layers carry a U from the options (the pinned
first layer keeps its unquantized membrane), and the trials' state_bits is the one of their U.
Then the CLI end to end: ``--membrane-bits`` with a ``state_bits`` budget held by the ilp."""

from __future__ import annotations

import json

import pytest
import torch

from spikebits.evaluators import Evaluator
from spikebits.models import default_space
from spikebits.results import read_pareto_json, read_trials_csv
from spikebits.search import available, run_search
from spikebits.space import Config, LayerOptions
from spikebits.space.metrics import neuron_count

torch.set_num_threads(1)

U_OPTIONS = (4, 8)
#: 2 × 2 × 2 (W, S, T) × 2 (U) = 16 choices per free layer: the sensitivity measures stay cheap.
OPTIONS = LayerOptions((2, 4), (1, 2), (1, 2), ("uniform",))
OBJECTIVES = ("accuracy", "state_bits")
MODEL = {"model_kwargs": {"width": 0.25}, "pretrain_epochs": 1, "epochs": 1}
#: What each strategy needs beyond the shared settings to stay small.
EXTRA = {
    "differentiable": {"targets": "2/2/1", "supernet_epochs": 1, "batch_size": 256},
    "gumbel": {"targets": "2/2/1", "supernet_epochs": 1, "batch_size": 256},
}
#: Strategies that read a sensitivity report (given, measured once for all of them).
SENSITIVITY = {"ilp", "boost"}


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    cache = tmp_path_factory.mktemp("membrane-strategies")
    probe = Evaluator("digits_cnn", "digits", cache_dir=cache, **MODEL)
    ev = Evaluator("digits_cnn", "digits", cache_dir=cache, space=default_space(probe.new_model(), OPTIONS), membrane_bits=U_OPTIONS, **MODEL)
    ev.pretrained()
    return ev


@pytest.fixture(scope="module")
def report(evaluator):
    return evaluator.sensitivity(probes=2, batches=1)


def _state_bits(evaluator, config: Config) -> int:
    """Σ_l neurons_l · U_l by hand, an unquantized membrane at the energy model's 16 bits."""
    specs = {s.name: s for s in evaluator.specs}
    return sum(neuron_count(specs[n]) * (16 if c.u_bits is None else c.u_bits) for n, c in config.items())


@pytest.mark.parametrize("name", available())
def test_every_strategy_samples_u(name, evaluator, report):
    space = evaluator.space
    free = space.free_layers
    assert free and all(space.layers[n].u_bits == U_OPTIONS for n in free)
    kwargs = dict(EXTRA.get(name, {}))
    if name in SENSITIVITY:
        kwargs["sensitivity"] = report
    result = run_search(name, evaluator, n_trials=2, objectives=OBJECTIVES, seed=0, **kwargs)
    done = [r for r in result.records if r.state == "COMPLETE"]
    assert done, [r.error for r in result.records]
    seen = set()
    for record in done:
        config = record.config
        assert space.complete(config) == config  # within the options, U included
        assert all(config[n].u_bits in U_OPTIONS for n in free), config.short()
        assert all(config[n].u_bits is None for n in space.pinned)
        assert record.metrics["state_bits"] == _state_bits(evaluator, config)
        seen.update(config[n].u_bits for n in free)
    if name == "boost":
        # SensiBoost's bases sit at each layer's largest U and a boost raises U with S
        # (search.boost): U is carried, but not a decision it varies.
        assert seen == {max(U_OPTIONS)}
    else:
        # Samplers draw U; the supernets learn it per layer; the ilp's state_bits ladder runs
        # from the smallest state (every U at 4) to the loosest level.
        assert seen == set(U_OPTIONS), (name, [r.config.short() for r in done])


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, evaluator):
    """``spikebits search`` in-process with ``--membrane-bits 4,8`` over a space file without U:
    random, and the ilp under a state_bits budget halfway between the smallest and the largest
    state. Returns (output folder per strategy, the limit)."""
    from spikebits.search.cli import main

    folder = tmp_path_factory.mktemp("membrane-cli")
    space_file = folder / "space.json"
    space_file.write_text(default_space(evaluator.new_model(), OPTIONS).to_json())  # no U: --membrane-bits adds it
    smallest = _state_bits(evaluator, evaluator.space.smallest_config())
    largest = _state_bits(evaluator, evaluator.space.largest_config())
    limit = (smallest + largest) // 2
    common = ["--model", "digits_cnn", "--dataset", "digits", "--model-arg", "width=0.25", "--pretrain-epochs", "1",
              "--cache-dir", str(evaluator.cache_dir), "--space", str(space_file), "--membrane-bits", "4,8", "--trials", "2",
              "--epochs", "1", "--objectives", ",".join(OBJECTIVES), "--quiet"]
    outs = {}
    for strategy, extra in (("random", []), ("ilp", ["--probes", "2", "--budget", f"state_bits<={limit}"])):
        outs[strategy] = folder / strategy
        assert main(["search", "--strategy", strategy, *common, *extra, "--out", str(outs[strategy])]) == 0
    return outs, limit


@pytest.mark.slow
def test_cli_membrane_bits_and_a_state_bits_budget(evaluator, cli_runs):
    outs, limit = cli_runs
    for strategy, out in outs.items():
        run = json.loads((out / "run.json").read_text())
        assert run["space"]["layers"]["conv2"]["u_bits"] == [4, 8] and "u_bits" not in run["space"]["layers"]["conv1"]
        rows = [r for r in read_trials_csv(out / "trials.csv") if r["state"] == "COMPLETE"]
        assert rows
        for row in rows:
            config = Config.from_dict(row["config"])
            assert all(config[n].u_bits in U_OPTIONS for n in evaluator.space.free_layers)
            assert row["state_bits"] == _state_bits(evaluator, config)
            if strategy == "ilp":
                assert row["state_bits"] <= limit and row["feasible"]
        points = json.loads((out / "pareto.json").read_text())["points"]
        assert points and all(p["config"]["layers"]["conv2"]["u_bits"] in U_OPTIONS for p in points)


@pytest.mark.slow
def test_a_membrane_runs_pareto_reads_back(cli_runs):
    outs, _ = cli_runs
    points = read_pareto_json(outs["random"] / "pareto.json")["points"]
    assert all("u_bits" in p["config"]["layers"]["conv2"] for p in points)
