"""Typed strategy options: one dataclass per strategy, checked on construction, 0 stays 0,
the CLI's flags and `spikebits strategies` built from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spikebits.search import available, get_strategy
from spikebits.search.cli import build_parser, main
from spikebits.search.cli.search import strategy_options
from spikebits.space import ConfigError


def test_every_registered_strategy_declares_its_own_options():
    assert available() == ["boost", "differentiable", "gp", "gumbel", "ilp", "nsga2", "qmc", "random", "tpe"]
    for name in available():
        cls = get_strategy(name)
        assert cls.Options.strategy_name == name
        cls.Options()  # the defaults are valid


@pytest.mark.parametrize(
    "strategy, values, message",
    [
        ("differentiable", {"renewal": "sometimes"}, "differentiable option renewal 'sometimes' is unknown; use one of none, spikes"),
        ("differentiable", {"supernet_epochs": 0}, "differentiable option supernet_epochs = 0 must be at least 1"),
        ("differentiable", {"lambdas": "0.04/x/0.01"}, "differentiable option lambdas '0.04/x/0.01' is malformed"),
        ("differentiable", {"lambdas": "0.04/0.04"}, "differentiable option lambdas needs 3 numbers"),
        ("gumbel", {"init_bits": "4/4/2", "init_sensitivity": "hessian"}, "give init_bits or init_sensitivity, not both"),
        ("boost", {"top": 1.5}, "boost option top must be a whole number; got 1.5"),
        ("boost", {"metric": "entropy"}, "boost option metric 'entropy' is unknown; use one of hessian, output, kurtosis"),
        ("tpe", {"n_startup_trials": -1}, "tpe option n_startup_trials = -1 must be 0 or more"),
        ("nsga2", {"sampler": "cmaes"}, "the nsga2 strategy has no option 'sampler'"),
        ("ilp", {"levels": 0}, "ilp option levels = 0 must be at least 1"),
        ("tpe", {"hessian_network": "int8"}, "tpe option hessian_network 'int8' is unknown; use one of full, quantized"),
    ],
)
def test_a_bad_option_is_a_one_line_config_error(strategy, values, message):
    with pytest.raises(ConfigError) as err:
        get_strategy(strategy).Options.from_mapping(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def parsed_options(strategy: str, *flags: str):
    args = build_parser().parse_args(["search", "--strategy", strategy, *flags])
    return get_strategy(strategy).Options.from_mapping(strategy_options(args, strategy, []))


def test_a_zero_on_the_command_line_reaches_the_strategy_as_zero():
    assert parsed_options("differentiable", "--renewal-min-share", "0").renewal_min_share == 0
    assert parsed_options("boost", "--threshold", "0").threshold == 0.0
    assert parsed_options("tpe", "--n-startup-trials", "0").n_startup_trials == 0
    # Flags that are not given leave the strategy's own defaults, which differ per strategy.
    assert parsed_options("ilp").metric == "hessian" and parsed_options("boost").metric == "output"
    assert parsed_options("ilp").hessian_network == "full"
    assert parsed_options("nsga2", "--hessian-network", "quantized").hessian_network == "quantized"
    assert parsed_options("differentiable", "--lambdas", "0/0.5/0").lambdas == (0.0, 0.5, 0.0)


def test_an_option_of_another_strategy_is_a_one_line_error(capsys, tmp_path):
    code = main(["search", "--strategy", "nsga2", "--renewal-min-share", "0", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--renewal-min-share applies to differentiable, gumbel; the nsga2 strategy does not take it" in err


def test_strategies_lists_every_strategy_with_its_options_and_defaults(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in available():
        assert f"\n{name}: " in f"\n{out}"
    blocks = {b.split(":")[0]: b for b in out.split("\n\n")}
    assert "--renewal-min-share" in blocks["differentiable"] and "default 0.07 " in blocks["differentiable"]
    assert "--bits-schedule" in blocks["differentiable"] and "default cosine " in blocks["differentiable"]
    # Options the strategy fills in itself when unset show the value they take.
    assert "default adam " in blocks["differentiable"] and "default 64 " in blocks["differentiable"]
    assert "--threshold" in blocks["boost"] and "default 3 " in blocks["boost"]
    assert "--temperature" in blocks["gumbel"] and "default 5/0.5" in blocks["gumbel"]
    assert "--temperature" not in blocks["differentiable"]
    assert "--population-size" in blocks["nsga2"] and "--study" in blocks["random"]
    assert main(["strategies", "annealing"]) == 2
    assert "unknown strategy 'annealing'" in capsys.readouterr().err


def test_the_readme_table_is_the_registry_s(capsys):
    # The README's strategy table is `spikebits strategies --markdown`, generated from the
    # registry: a strategy, option or capability changed without the README is caught here.
    assert main(["strategies", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    rows = table.splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == available()
    assert "| `ilp` |" in table and "| none (data-free only) |" in rows[available().index("ilp")]
    assert "| yes |" in rows[available().index("nsga2")] and "| no |" in rows[available().index("differentiable")]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("<!-- strategies: spikebits strategies --markdown -->\n") + len("<!-- strategies: spikebits strategies --markdown -->\n")
    assert readme[start : readme.index("\n<!-- end strategies -->")] == table


@pytest.mark.slow
def test_renewal_min_share_zero_lets_the_switch_off_act_after_the_first_step(capsys, tmp_path, cache_dir, digits_evaluator):
    digits_evaluator.pretrained()
    steps_per_epoch = math.ceil(len(digits_evaluator.data.train) / 64)
    off = {}
    for min_share in ("0", "0.5"):
        out = tmp_path / min_share
        code = main(["search", "--strategy", "differentiable", "--targets", "2/2/1", "--supernet-epochs", "4", "--epochs", "0",
                     "--renewal-min-share", min_share, "--switch-off", "1", "--out", str(out), "--quiet",
                     "--cache-dir", str(cache_dir)])
        assert code == 0, capsys.readouterr().err
        run = json.loads((out / "run.json").read_text())["strategy"]
        assert run["settings"]["renewal_min_share"] == float(min_share)
        off[min_share] = run["runs"][0]["renewal_off_step"]["spikes"]
    # switch_off 1 and a start above the target (4/4/2 → 2/2/1): avg − target < start − target
    # holds after the first step that lowers S̄; with a minimum share of 0.5 not before half
    # of the 4 epochs' steps.
    assert 1 <= off["0"] < 2 * steps_per_epoch
    assert off["0.5"] == max(off["0"], 2 * steps_per_epoch)


def test_default_supernet_length_sees_twelve_thousand_samples():
    from spikebits.search.differentiable import DifferentiableOptions, supernet_epochs

    assert DifferentiableOptions().supernet_epochs is None
    # ⌈12,000 / N⌉ epochs, 1 to 10: digits (1,293 training images) 10, MNIST (54,000) 1.
    assert [supernet_epochs(n) for n in (1293, 54_000, 6_000, 5_999, 100, 12_001)] == [10, 1, 2, 3, 10, 1]
