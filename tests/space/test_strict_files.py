"""Every file a user hands in (config, space, energy preset) and every budget string either
loads or fails with a one-line error that names the file kind and says what to do."""

from __future__ import annotations

import json

import pytest

from spikebits import models
from spikebits.evaluators.energy import PRESETS, load_energy_model
from spikebits.space import BitTargets, Budget, BudgetError, Config, ConfigError, LayerChoice, LayerOptions, SearchSpace, parse_json


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg, f"error message must be one non-empty line, got {msg!r}"
    return msg


CHOICE = '{"w_bits": 4, "s_bits": 2, "timesteps": 1}'
GOOD_SPACE = {
    "schema": "spikebits.space/1",
    "model": "toy",
    "layers": {"a": {}, "b": {}, "c": {}},
    "ties": [["b", "c"]],
    "pinned": {"a": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"}},
}


def space_with(**change) -> str:
    return json.dumps({**GOOD_SPACE, **change})


# ----------------------------------------------------------------------------- config files
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"layers": {"a": {"w_bits": NaN, "s_bits": 2, "timesteps": 1}}}', ["config", "non-finite", "NaN", "finite number"]),
        ('{"layers": {"a": {"w_bits": Infinity, "s_bits": 2, "timesteps": 1}}}', ["config", "Infinity"]),
        ('{"layers": {"a": {"w_bits": -Infinity, "s_bits": 2, "timesteps": 1}}}', ["config", "-Infinity"]),
        ('{"layers": {"a": {"w_bits": 1e999, "s_bits": 2, "timesteps": 1}}}', ["config", "non-finite", "1e999"]),
        ('{"layers": {"a": {"w_bits": 1e300, "s_bits": 2, "timesteps": 1}}}', ["w_bits", "out of range", "use 1 to 16"]),
        ('{"layers": {"a": {"w_bits": 4, "s_bits": 1e300, "timesteps": 1}}}', ["s_bits=1000000000", "out of range"]),
        ('{"layers": {"a": {"w_bits": 4, "s_bits": 2, "timesteps": -1e300}}}', ["timesteps=-10000000", "out of range"]),
        ("[" * 100_000 + "]" * 100_000, ["config", "nested too deeply"]),
        ('{"layers": {"a": ' + CHOICE + '}, "pined": {}}', ["config", "unknown key 'pined'"]),
        ('{"layers": {"a": ' + CHOICE + ', "a": ' + CHOICE + "}}", ["config", "key 'a' twice", "keep one"]),
        ('{"layers": {"": ' + CHOICE + "}}", ["config", "layer name", "use the model's layer names"]),
        ('{"layers": {"a\\nb": ' + CHOICE + "}}", ["config", "layer name"]),
        ('{"layers": {"a": {"w_bits": [4], "s_bits": 2, "timesteps": 1}}}', ["layer 'a'", "w_bits must be an integer"]),
        ('{"layers": {"a": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": ["pow2"]}}}', ["layer 'a'", "scheme", "use one of"]),
        ('{"layers": {"a": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": {}}}}', ["layer 'a'", "scheme"]),
        ('{"layers": {"a": {"w_bits": 4, "s_bits": 2, "timesteps": ' + "9" * 5000 + "}}}", ["config", "integer too long"]),
    ],
)
def test_bad_config_file_is_one_line_config_error(text, words):
    with pytest.raises(ConfigError) as err:
        Config.from_json(text)
    msg = one_line(err)
    for word in words:
        assert word in msg, (word, msg)


def test_config_bytes_that_are_not_utf8():
    with pytest.raises(ConfigError) as err:
        Config.from_json(b'{"layers": {"\xff": {}}}')
    assert "not UTF-8" in one_line(err)
    assert Config.from_json('{"layers": {"a": {"w_bits": 4, "s_bits": 2, "timesteps": 1}}}'.encode()) == Config({"a": LayerChoice(4, 2, 1)})


def test_config_keeps_accepting_integral_floats():
    cfg = Config.from_json('{"layers": {"a": {"w_bits": 4.0, "s_bits": 2, "timesteps": 1e0}}}')
    assert cfg["a"] == LayerChoice(4, 2, 1) and type(cfg["a"].w_bits) is int


# ----------------------------------------------------------------------------- space files
@pytest.mark.parametrize(
    ("text", "words"),
    [
        (space_with(pined={"a": {"w_bits": 8, "s_bits": 8, "timesteps": 1}}), ["space file", "unknown key 'pined'", "the keys are", "pinned"]),
        (space_with(ties="b,c"), ['"ties" must be a list of lists', "for example"]),
        (space_with(ties=[["b", 3]]), ["space file ties", "layer name 3"]),
        (space_with(ties=[["b"]]), ["fewer than two layers"]),
        (space_with(ties=[["b", "b"]]), ["names a layer twice"]),
        (space_with(ties=[["b", "x"]]), ["tied layer 'x' is not a layer of the space"]),
        (space_with(ties=[["b", "c"], ["c", "a"]]), ["'c' is in two tied groups"]),
        (space_with(ties=[["a", "b"]]), ["partly pinned"]),
        (space_with(pinned=[["a"]]), ['"pinned" must map layer names to choices']),
        (space_with(pinned={"z": {"w_bits": 8, "s_bits": 8, "timesteps": 1}}), ["pinned layer 'z' is not a layer"]),
        (space_with(model=7), ['"model" must be a model name']),
        (space_with(schema=["spikebits.space/1"]), ["space schema", "not supported"]),
        (space_with(layers={"a": {"w_bits": 4}, "b": {}, "c": {}}), ["layer 'a'", "w_bits must be a list"]),
        (space_with(layers={"a": {"schemes": "uniform"}, "b": {}, "c": {}}), ["layer 'a'", "schemes must be a list"]),
        (space_with(layers={"a": {"schemes": [["uniform"]]}, "b": {}, "c": {}}), ["layer 'a'", "scheme", "unknown"]),
        (space_with(layers={"a": {"schemes": ["uniform", "log", "pow2"]}, "b": {}, "c": {}}), ["layer 'a'", "'log'", "unknown"]),
        (space_with(layers={"a": {"w_bits": [1, 2, float("nan")]}, "b": {}, "c": {}}), ["space file", "non-finite", "NaN"]),
        (space_with(layers={"a": {"timesteps": [1.5]}, "b": {}, "c": {}}), ["layer 'a'", "timesteps must be an integer"]),
    ],
)
def test_bad_space_file_is_one_line_config_error(text, words):
    with pytest.raises(ConfigError) as err:
        SearchSpace.from_json(text)
    msg = one_line(err)
    for word in words:
        assert word in msg, (word, msg)


def test_fully_pinned_tie_and_good_space_file_still_load():
    space = SearchSpace.from_json(space_with())
    assert space.ties == (("b", "c"),) and space.pinned == {"a": LayerChoice(8, 8, 1)}
    pinned = {n: {"w_bits": 8, "s_bits": 8, "timesteps": 1} for n in ("a", "b", "c")}
    both = SearchSpace.from_json(space_with(pinned=pinned))
    assert both.ties == (("b", "c"),) and set(both.pinned) == {"a", "b", "c"}


@pytest.mark.parametrize(
    "name,kwargs",
    [("digits_cnn", {"num_classes": 10, "in_channels": 1, "image_size": 8}), ("resnet20", {"num_classes": 10, "widths": (4, 8, 16)})],
)
def test_default_spaces_round_trip(name, kwargs):
    net = models.build(name, **kwargs)
    for space in (models.default_space(net), models.default_space(net, pin_first=False)):
        text = space.to_json()
        back = SearchSpace.from_json(text)
        assert back == space and back.to_json() == text
        config = space.largest_config()
        assert Config.from_json(config.to_json()) == config


def test_layer_options_rejects_an_unknown_scheme_between_known_ones():
    with pytest.raises(ConfigError) as err:
        LayerOptions(schemes=("uniform", "log", "pow2"))
    assert "'log'" in one_line(err)


# ----------------------------------------------------------------------------- parse_json
@pytest.mark.parametrize("text", ["NaN", "[1, -Infinity]", '{"a": 1E400}', '{"a": {"b": 1, "b": 2}}', "[" * 50_000, 12, None])
def test_parse_json_refuses_what_json_loads_would_accept_or_crash_on(text):
    with pytest.raises(ConfigError) as err:
        parse_json(text, "thing file")
    assert one_line(err).startswith("thing file ")


def test_parse_json_keeps_ordinary_documents():
    assert parse_json('{"a": [1, 2.5, -3e-7, null, true, "x"]}', "f") == {"a": [1, 2.5, -3e-7, None, True, "x"]}


# ----------------------------------------------------------------------------- energy presets
def preset(**change) -> dict:
    values = PRESETS["horowitz45nm"].to_dict()
    values.pop("name")
    values.update(change)
    return values


@pytest.mark.parametrize(
    ("suffix", "content", "words"),
    [
        (".json", preset(add_pj_per_bit=[1.0]), ["bad.json", "add_pj_per_bit = [1.0]", "must be a finite number"]),
        (".json", preset(synop_pj=True), ["synop_pj = True", "finite number"]),
        (".json", preset(spike_pj=None), ["spike_pj = None", "finite number"]),
        (".json", preset(neuron_pj={"a": 1}), ["neuron_pj", "finite number"]),
        (".json", preset(neuron_adds="2"), ["neuron_adds = '2'", "write a number"]),
        (".json", preset(dram_pj_per_64bit=-5), ["dram_pj_per_64bit = -5", ">= 0"]),
        (".json", preset(dram_pj_per_64bit=1e300), ["dram_pj_per_64bit", "too large"]),
        (".json", preset(sram_bytes=[1024, 2048]), ["bad.json", "sram_bytes has 2 tiers but sram_pj_per_64bit 3"]),
        (".json", preset(sram_bytes=[1024, "2k", 4096]), ["sram_bytes = '2k'", "finite number"]),
        (".json", preset(sram_bytes=8192, sram_pj_per_64bit=10.0), ["sram_bytes must be a list", "for example"]),
        (".json", preset(sram_bytes=[4096, 1024, 8192]), ["bad.json", "increasing order"]),
        (".json", preset(membrane_bits=16.5), ["membrane_bits = 16.5", "whole number"]),
        (".json", preset(membrane_bits=0), ["membrane_bits = 0", ">= 1"]),
        (".json", preset(datapath=["multiply"]), ["datapath must be a string"]),
        (".json", json.dumps(preset()).replace("0.00375", "NaN"), ["bad.json", "non-finite number (NaN)"]),
        (".json", json.dumps(preset()).replace("0.00375", "1e999"), ["bad.json", "non-finite number"]),
        (".json", "[1, 2]", ["bad.json", "must hold a table of constants"]),
        (".json", b"\xff\xfe{}", ["bad.json", "not UTF-8"]),
        (".toml", b"datapath = \"multiply\"\n\xff", ["bad.toml", "not UTF-8"]),
        (".toml", "add_pj_per_bit = inf", ["bad.toml", "add_pj_per_bit = inf", "finite number"]),
        (".toml", "add_pj_per_bit = nan", ["bad.toml", "add_pj_per_bit = nan", "finite number"]),
        (".toml", "add_pj_per_bit = -0.5", ["bad.toml", "add_pj_per_bit = -0.5", ">= 0"]),
        (".toml", "add_pj_per_bit = 1979-05-27", ["bad.toml", "add_pj_per_bit", "finite number"]),
        (".toml", 'sram_bytes = [1, "2"]', ["bad.toml", "sram_bytes = '2'"]),
        (".toml", "[chip]\nadd_pj_per_bit = 1", ["bad.toml", "unknown key 'chip'"]),
    ],
)
def test_bad_energy_preset_is_one_line_config_error(tmp_path, suffix, content, words):
    path = tmp_path / f"bad{suffix}"
    if suffix == ".toml" and isinstance(content, str):
        # every other constant from the default preset, then the line under test overriding one
        base = preset()
        key = content.split("=")[0].strip().strip("[]")
        base.pop(key, None)
        lines = [f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in base.items()]
        content = "\n".join(lines) + "\n" + content + "\n"
    if isinstance(content, dict):
        content = json.dumps(content)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as err:
        load_energy_model(path)
    msg = one_line(err)
    for word in words:
        assert word in msg, (word, msg)


def test_good_energy_presets_still_load(tmp_path):
    js = tmp_path / "ok.json"
    js.write_text(json.dumps(preset(membrane_bits=16.0)))
    model = load_energy_model(js)
    assert model.membrane_bits == 16 and type(model.membrane_bits) is int
    assert model.sram_bytes == PRESETS["horowitz45nm"].sram_bytes
    toml = tmp_path / "ok.toml"
    toml.write_text("\n".join(f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in preset(sram_bytes=[], sram_pj_per_64bit=[]).items()))
    assert load_energy_model(toml).sram_bytes == ()


# ----------------------------------------------------------------------------- budgets and targets
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("bit_budget<=nan", ["needs a finite limit", "bit_budget<=2.5"]),
        ("bit_budget<=NaN", ["needs a finite limit"]),
        ("bit_budget<=inf", ["needs a finite limit"]),
        ("s_ace<=-Infinity", ["needs a finite limit"]),
        ("s_ace<=1e999", ["needs a finite limit"]),
        ("bit_budget<=-1", ["never negative", "limit >= 0"]),
        ("energy_pj<=-1e-9", ["never negative"]),
        (["bit_budget<=2", 3], ["is not text", "METRIC<=NUMBER"]),
    ],
)
def test_bad_budget_is_one_line_budget_error(text, words):
    with pytest.raises(BudgetError) as err:
        Budget.parse(text)
    msg = one_line(err)
    for word in words:
        assert word in msg, (word, msg)


def test_budgets_that_were_accepted_still_are():
    assert Budget.parse(["bit_budget<=0", "s_ace<=1e9", "accuracy<=0.99", "size_bits<=+2E6"]).to_dict() == {
        "bit_budget": 0.0, "s_ace": 1e9, "accuracy": 0.99, "size_bits": 2e6,
    }
    assert str(Budget.parse("bit_budget<=-0")) == "bit_budget<=0"


@pytest.mark.parametrize("text", ["nan/2/1", "2/inf/1", "2/2/-1", "2/2/1e999", "0/1/1", "a/b/c", "2/2"])
def test_bad_bit_targets_are_one_line_budget_errors(text):
    with pytest.raises(BudgetError) as err:
        BitTargets.parse(text)
    assert "W/S/T" in one_line(err)


def test_bit_target_lists():
    assert [str(t) for t in BitTargets.parse_list(iter(["1/1/1", "2/2/1,4/4/1"]))] == ["1/1/1", "2/2/1", "4/4/1"]
    with pytest.raises(BudgetError) as err:
        BitTargets.parse_list(["1/1/1", None])
    one_line(err)
