"""The supernet strategies search the membrane width U (issue 30): targets W/S/T/U and their
default Ū, the fourth budget-loss coefficient λ_U, the start, the fit rule's U moves, the
boost bases, and whole runs — trained, resumed bit for bit, fitted and handed on with U."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from spikebits.evaluators import Evaluator
from spikebits.models import apply_config
from spikebits.search.boost import boost_config, membrane_with_spikes, uniform_bases
from spikebits.search.differentiable import (
    DifferentiableOptions,
    exact_targets,
    initial_config,
    paper_lambdas,
    resolve_targets,
    train_supernet,
)
from spikebits.search.fitting import fit_config
from spikebits.search.supernet_targets import membrane_range, with_membrane_target
from spikebits.space import BitTargets, Budget, BudgetError, Config, ConfigError, LayerChoice, SearchSpace, TrainingStopped
from spikebits.space.budget import membrane_average

U_OPTIONS = (4, 6, 8, 16)
SPACE = SearchSpace.default(["first", "a", "b"])  # W (1,2,3,4,8), S (1,2,4), T (1,2,4)
U_SPACE = SPACE.searching_membrane(U_OPTIONS)


# ---------------------------------------------------------------------------- targets
def test_targets_parse_with_and_without_a_membrane_target():
    t = BitTargets.parse("2/2/1/6")
    assert (t.w_bits, t.s_bits, t.timesteps, t.u_bits) == (2.0, 2.0, 1.0, 6.0)
    assert str(t) == "2/2/1/6" and t.to_dict() == {"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0, "u_bits": 6.0}
    assert BitTargets(**t.to_dict()) == t and t.bit_budget == 4.0
    plain = BitTargets.parse("2/2/1")
    assert plain.u_bits is None and str(plain) == "2/2/1" and plain.to_dict() == {"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0}
    assert BitTargets.parse_list("1/1/1/4,2/2/1") == (BitTargets(1, 1, 1, 4), BitTargets(2, 2, 1))
    # exact_targets (a Ray part's --targets) parses back to the same floats, U included.
    targets = (BitTargets(3**0.5, 3**0.5, 1.0, 10 / 3), BitTargets(2, 2, 1))
    assert BitTargets.parse_list(exact_targets(targets)) == targets


@pytest.mark.parametrize(
    "text, message",
    [
        ("2/2/1/40", "target u_bits = 40 is outside 2 to 32, the membrane widths a layer can have; write W/S/T/U"),
        ("2/2/1/1", "target u_bits = 1 is outside 2 to 32"),
        ("2/2/1/x", "target '2/2/1/x' is malformed; write W/S/T numbers (or W/S/T/U)"),
        ("2/2/1/4/4", "target '2/2/1/4/4' is malformed; write W/S/T (or W/S/T/U with a membrane target)"),
        ("2/2/1/nan", "target u_bits = nan must be a number from 2 to 32"),
    ],
)
def test_a_bad_membrane_target_is_one_line(text, message):
    with pytest.raises(BudgetError) as err:
        BitTargets.parse(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_default_membrane_target_is_s_plus_two_within_the_options():
    assert membrane_range(U_SPACE) == (4, 16) and membrane_range(SPACE) is None
    assert with_membrane_target(BitTargets(2, 2, 1), U_SPACE) == BitTargets(2, 2, 1, 4)
    assert with_membrane_target(BitTargets(4, 4, 1), U_SPACE) == BitTargets(4, 4, 1, 6)
    assert with_membrane_target(BitTargets(1, 1, 1), U_SPACE) == BitTargets(1, 1, 1, 4)  # 3 is below the options: 4
    assert with_membrane_target(BitTargets(8, 16, 1), U_SPACE).u_bits == 16  # 18 is above them: 16
    assert with_membrane_target(BitTargets(2, 2, 1, 12), U_SPACE) == BitTargets(2, 2, 1, 12)  # a given one is kept
    assert with_membrane_target(BitTargets(2, 2, 1), SPACE) == BitTargets(2, 2, 1)  # no U searched: unchanged
    with pytest.raises(BudgetError) as err:
        with_membrane_target(BitTargets(2, 2, 1, 6), SPACE)
    assert str(err.value) == (
        "target 2/2/1/6 has a membrane target U but the space searches no membrane widths; "
        "add --membrane-bits (u_bits in the space file) or write the target as W/S/T"
    )
    # resolve_targets fills every target, from --targets, a bit_budget split or the defaults.
    assert resolve_targets(None, Budget(), U_SPACE) == (BitTargets(1, 1, 1, 4), BitTargets(2, 2, 1, 4), BitTargets(4, 4, 1, 6))
    assert resolve_targets(None, Budget(), SPACE) == (BitTargets(1, 1, 1), BitTargets(2, 2, 1), BitTargets(4, 4, 1))
    assert resolve_targets("2/2/1/8", Budget(), U_SPACE) == (BitTargets(2, 2, 1, 8),)
    assert resolve_targets(None, Budget.parse("bit_budget<=4"), U_SPACE) == (BitTargets(2, 2, 1, 4),)
    with pytest.raises(BudgetError, match=r"target 2/2/1/4 is given twice once the default membrane target is filled in"):
        resolve_targets("2/2/1/4,2/2/1", Budget(), U_SPACE)


def test_the_membrane_coefficient_is_a_fourth_lambda():
    assert paper_lambdas(BitTargets(2, 2, 1, 4)) == (0.04, 0.04, 0.01, 0.01)
    assert paper_lambdas(BitTargets(2, 2, 1)) == (0.04, 0.04, 0.01)
    four = DifferentiableOptions(lambdas="0.04/0.04/0.01/0.2")
    assert four.lambdas == (0.04, 0.04, 0.01, 0.2)
    assert four.lambdas_for(BitTargets(2, 2, 1, 4)) == (0.04, 0.04, 0.01, 0.2)
    assert four.lambdas_for(BitTargets(2, 2, 1)) == (0.04, 0.04, 0.01)
    assert DifferentiableOptions(lambdas=(0.1, 0.2, 0.3)).lambdas_for(BitTargets(2, 2, 1, 4)) == (0.1, 0.2, 0.3, 0.01)
    for bad, message in (
        ("0.04/0.04/0.01/0.1/1", "differentiable option lambdas needs 3 numbers, λ_w/λ_s/λ_T, for example 0.04/0.04/0.01 "
                                 "(or 4 with λ_U of a membrane target); got 5"),
        ("0.04/0.04/0.01/-1", "differentiable option lambdas = (0.04, 0.04, 0.01, -1.0) must be numbers >= 0"),
        ("0.04/0.04/0.01/x", "differentiable option lambdas '0.04/0.04/0.01/x' is malformed"),
    ):
        with pytest.raises(ConfigError) as err:
            DifferentiableOptions(lambdas=bad)
        assert message in str(err.value) and "\n" not in str(err.value)
    assert DifferentiableOptions(targets="2/2/1/6,4/4/1").targets == "2/2/1/6,4/4/1"
    with pytest.raises(BudgetError, match="outside 2 to 32"):
        DifferentiableOptions(targets="2/2/1/64")


def test_the_start_takes_the_largest_u_or_the_one_asked_for():
    assert {initial_config(U_SPACE, None)[n].u_bits for n in ("a", "b")} == {16}
    assert initial_config(U_SPACE, None)["first"].u_bits is None  # pinned: no U
    assert initial_config(U_SPACE, "4/4/2/7")["a"] == LayerChoice(4, 4, 2, "uniform", 6)  # 7: a tie, to the cheaper 6
    assert initial_config(U_SPACE, "largest")["a"].u_bits == 16
    assert initial_config(SPACE, None)["a"].u_bits is None
    with pytest.raises(ConfigError, match="init_bits 4/4/2/8 gives a membrane width U but the space searches none"):
        initial_config(SPACE, "4/4/2/8")
    assert DifferentiableOptions(init_bits="4/4/2/8").init_bits == "4/4/2/8"


# ---------------------------------------------------------------------------- fit
def _measure(config: Config) -> dict[str, float]:
    # Equal-sized layers a and b: averages are plain means; state_bits = Σ neurons·U (100 each).
    a, b = config["a"], config["b"]
    w, s, t = (a.w_bits + b.w_bits) / 2, (a.s_bits + b.s_bits) / 2, (a.timesteps + b.timesteps) / 2
    return {"bit_budget": w * s * t, "avg_w_bits": w, "avg_s_bits": s, "avg_timesteps": t,
            "avg_u_bits": (a.u_bits + b.u_bits) / 2, "state_bits": 100 * (a.u_bits + b.u_bits)}


def test_fit_moves_u_towards_its_target_through_the_layer_the_supernet_preferred():
    start = U_SPACE.expand({"a": LayerChoice(2, 2, 1, "uniform", 16), "b": LayerChoice(2, 2, 1, "uniform", 16)})
    learned = {"a": {"w_bits": 2.0, "s_bits": [2.0], "timesteps": 1.0, "u_bits": 15.8},
               "b": {"w_bits": 2.0, "s_bits": [2.0], "timesteps": 1.0, "u_bits": 9.0}}
    # Target Ū 8: deviation 8 − 0.25. b's Û (9.0) lies nearer 8 than a's (15.8), so b goes first.
    config, moves = fit_config(start, U_SPACE, _measure, {}, target=BitTargets(2, 2, 1, 8), learned=learned)
    assert moves[0] == "b.u_bits 16->8"
    assert abs(_measure(config)["avg_u_bits"] - 8) <= 0.25
    assert all(U_SPACE.layers[n].allows(config[n]) for n in ("a", "b"))
    # A budget on the membrane memory moves U too, and W, S, T stay.
    config, moves = fit_config(start, U_SPACE, _measure, {"state_bits": 2000}, learned=learned)
    assert _measure(config)["state_bits"] <= 2000 and all(".u_bits " in m for m in moves)
    # Without a membrane target, U is left where the supernet put it.
    config, moves = fit_config(start, U_SPACE, _measure, {}, target=BitTargets(2, 2, 1), learned=learned)
    assert config == start and moves == []


def test_membrane_average_by_hand():
    class Spec:
        def __init__(self, name, n_inputs):
            self.name, self.n_inputs = name, n_inputs

    specs = [Spec("first", 10), Spec("a", 100), Spec("b", 300)]
    config = U_SPACE.expand({"a": LayerChoice(2, 2, 1, "uniform", 4), "b": LayerChoice(2, 2, 1, "uniform", 8)})
    # Ū = (4·100 + 8·300)/400 = 7; the pinned first layer (U None) is left out.
    assert membrane_average(specs, config) == 7.0
    assert membrane_average(specs, config, ["a"]) == 4.0
    assert membrane_average(specs, SPACE.uniform(LayerChoice(2, 2, 1))) is None


# ---------------------------------------------------------------------------- boost
def test_uniform_bases_take_the_largest_u_and_boosting_raises_u_with_s():
    def cost(config: Config) -> dict[str, float]:
        return {"bit_budget": float(sum(c.w_bits * c.s_bits for c in config.values()))}

    bases = uniform_bases(U_SPACE, cost)
    assert bases and all(base[n].u_bits == 16 for base in bases for n in ("a", "b"))
    assert all(base["first"].u_bits is None for base in bases)
    assert all(base[n].u_bits is None for base in uniform_bases(SPACE, cost) for n in ("a", "b"))
    # S 2 → 4 (the next option) adds 2 bits: U 6 → the smallest option ≥ 8, 8; from 8, ≥ 10: 16.
    contiguous = SPACE.searching_membrane(range(4, 17))
    base = contiguous.expand({"a": LayerChoice(2, 2, 1, "uniform", 6), "b": LayerChoice(2, 2, 1, "uniform", 6)})
    assert boost_config(contiguous, base, ["a"])["a"] == LayerChoice(3, 4, 1, "uniform", 8)
    assert boost_config(contiguous, base, ["a"])["b"] == base["b"]
    base = U_SPACE.expand({"a": LayerChoice(2, 2, 1, "uniform", 8), "b": LayerChoice(2, 2, 1, "uniform", 6)})
    assert boost_config(U_SPACE, base, ["a", "b"])["a"].u_bits == 16 and boost_config(U_SPACE, base, ["b"])["b"].u_bits == 8
    assert membrane_with_spikes(U_OPTIONS, 16, 2) == 16 and membrane_with_spikes(U_OPTIONS, None, 2) is None
    assert membrane_with_spikes(U_OPTIONS, 6, 0) == 6


# ---------------------------------------------------------------------------- runs
EPOCHS = 2
#: Every U from 4 to 16: the few steps of these runs move Û a couple of bits.
RUN_U = tuple(range(4, 17))
OPTIONS = DifferentiableOptions(supernet_epochs=EPOCHS, bits_lr=0.3, lambdas=(0.04, 0.04, 0.01, 0.2))
PARTIALS = "*-supernet-*.partial.pt"


def _evaluator(cache: Path) -> Evaluator:
    return Evaluator("digits_cnn", "digits", seed=0, pretrain_epochs=1, epochs=1, model_kwargs={"width": 0.25}, train_fraction=0.25,
                     cache_dir=cache, membrane_bits=RUN_U)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("supernet-membrane")
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(1)
        _evaluator(cache).pretrained()
    return cache


def _copy(pretrained: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for path in pretrained.glob("*.pt"):
        shutil.copy(path, folder / path.name)
    return folder


def _run(ev: Evaluator) -> tuple[dict, dict[str, torch.Tensor]]:
    run = train_supernet(ev, BitTargets(2, 2, 1), OPTIONS, seed=0)
    report = run.to_dict()
    del report["wall_time_s"]
    return report, {k: v.detach().clone() for k, v in run.supernet.model.state_dict().items()}


def test_a_supernet_run_learns_u_and_snaps_it_to_the_options(pretrained, tmp_path):
    ev = _evaluator(_copy(pretrained, tmp_path / "run"))
    report, _ = _run(ev)
    assert report["target"] == {"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0, "u_bits": 4.0}  # the default Ū: S + 2
    assert report["lambdas"] == [0.04, 0.04, 0.01, 0.2]
    history = report["history"]
    assert history[0]["u_bits"] == 16.0 and history[-1]["u_bits"] < 16.0  # from the largest U, down
    config = Config.from_dict({"layers": report["snapped"]})
    assert ev.space.complete(config, strict=True) == config
    assert config["conv1"].u_bits is None and all(config[r].u_bits in RUN_U for r in ev.space.decisions)
    assert all(isinstance(report["learned"][r]["u_bits"], float) for r in ev.space.decisions)
    assert all("u_bits" in entry["layers"][r] for entry in report["layer_history"] for r in ev.space.decisions)


def test_a_stopped_membrane_run_resumes_bit_for_bit(pretrained, tmp_path):
    expected, expected_state = _run(_evaluator(_copy(pretrained, tmp_path / "reference")))
    epochs = [entry["layers"] for entry in expected["layer_history"]]
    assert {r: v["u_bits"] for r, v in epochs[0].items()} != {r: 16 for r in epochs[0]}  # U moved in epoch 1: worth resuming
    cache = _copy(pretrained, tmp_path / "stopped")
    ev = _evaluator(cache)
    target = BitTargets(2, 2, 1, 4)

    def log(line: str) -> None:
        if line.startswith(f"supernet {target} epoch 1/{EPOCHS}:"):
            ev.stop.request("test")

    ev.log = log
    with pytest.raises(TrainingStopped):
        _run(ev)
    partial = list(cache.glob(PARTIALS))
    assert len(partial) == 1 and torch.load(partial[0], weights_only=True)["book"]["membrane"]
    ev = _evaluator(cache)
    lines: list[str] = []
    ev.log = lines.append
    report, state = _run(ev)
    assert lines[0].startswith(f"supernet {target}: resuming from")
    assert report == expected
    assert state.keys() == expected_state.keys() and all(torch.equal(state[k], expected_state[k]) for k in state)


def test_the_strategy_fits_and_hands_on_a_network_at_its_u(pretrained, tmp_path):
    from spikebits.search import run_search

    ev = _evaluator(_copy(pretrained, tmp_path / "search"))
    out = tmp_path / "out"
    result = run_search("differentiable", ev, objectives=("accuracy", "bit_budget"), out_dir=out,
                        targets="2/2/1/6", supernet_epochs=1, lambdas="0.04/0.04/0.01/0.2")
    [record] = result.records
    assert record.state == "COMPLETE" and record.info["avg_u_bits"] == membrane_average(ev.specs, record.config, ev.space.free_layers)
    run = json.loads((out / "run.json").read_text())["strategy"]
    assert run["targets"] == [{"w_bits": 2.0, "s_bits": 2.0, "timesteps": 1.0, "u_bits": 6.0}]
    assert all(record.config[r].u_bits in RUN_U for r in ev.space.decisions)
    checkpoint = torch.load(out / f"network-{record.number}.pt", weights_only=True)
    assert Config.from_json(checkpoint["config"]) == record.config
    fresh = apply_config(ev.new_model(), record.config)
    fresh.load_state_dict(checkpoint["state_dict"])
    # The written network is the one scored, at its U.
    assert ev.validation_accuracy(fresh.eval()) == record.metrics["accuracy"]
