"""space: LayerChoice, LayerOptions, Config, SearchSpace and Budget on hand-written examples."""

from __future__ import annotations

import json

import pytest

from spikebits.space import (
    FIRST_LAYER_PIN,
    Budget,
    BudgetError,
    Config,
    ConfigError,
    Constraint,
    LayerChoice,
    LayerOptions,
    SearchSpace,
)


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg, f"error message must be one non-empty line, got {msg!r}"
    return msg


# ----------------------------------------------------------------------------- LayerChoice


@pytest.mark.parametrize("w,s,t,scheme", [(1, 1, 1, "uniform"), (16, 16, 1, "pow2"), (4, 2, 7, "uniform"), (8, 8, 100, "pow2")])
def test_layer_choice_accepts_valid(w, s, t, scheme):
    c = LayerChoice(w, s, t, scheme)
    assert (c.w_bits, c.s_bits, c.timesteps, c.scheme) == (w, s, t, scheme)
    assert type(c.w_bits) is int and type(c.s_bits) is int and type(c.timesteps) is int


def test_layer_choice_default_scheme_is_uniform():
    assert LayerChoice(4, 2, 1).scheme == "uniform"


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"w_bits": 0, "s_bits": 2, "timesteps": 1}, "w_bits"),
        ({"w_bits": 17, "s_bits": 2, "timesteps": 1}, "w_bits"),
        ({"w_bits": 4, "s_bits": 0, "timesteps": 1}, "s_bits"),
        ({"w_bits": 4, "s_bits": 17, "timesteps": 1}, "s_bits"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": 0}, "timesteps"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": -3}, "timesteps"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "log"}, "scheme"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "Uniform"}, "scheme"),
        # bools are ints in Python but not bit widths
        ({"w_bits": True, "s_bits": 2, "timesteps": 1}, "w_bits"),
        ({"w_bits": 4, "s_bits": False, "timesteps": 1}, "s_bits"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": True}, "timesteps"),
        # non-integer floats and strings
        ({"w_bits": 4.5, "s_bits": 2, "timesteps": 1}, "w_bits"),
        ({"w_bits": 4, "s_bits": 2.5, "timesteps": 1}, "s_bits"),
        ({"w_bits": 4, "s_bits": 2, "timesteps": 1.5}, "timesteps"),
        ({"w_bits": "4", "s_bits": 2, "timesteps": 1}, "w_bits"),
        ({"w_bits": None, "s_bits": 2, "timesteps": 1}, "w_bits"),
    ],
)
def test_layer_choice_rejects(kwargs, word):
    with pytest.raises(ConfigError) as err:
        LayerChoice(**kwargs)
    assert word in one_line(err)


def test_layer_choice_short_label():
    assert LayerChoice(4, 2, 1).short() == "W4S2T1"
    assert LayerChoice(3, 1, 4, "pow2").short() == "W3pS1T4"


def test_layer_choice_from_dict_errors_name_the_layer():
    with pytest.raises(ConfigError) as err:
        LayerChoice.from_dict({"w_bits": 4, "s_bits": 2}, "layer 'conv2'")
    msg = one_line(err)
    assert "conv2" in msg and "timesteps" in msg
    with pytest.raises(ConfigError) as err:
        LayerChoice.from_dict({"w_bits": 4, "s_bits": 2, "timesteps": 1, "bits": 3}, "layer 'fc'")
    msg = one_line(err)
    assert "fc" in msg and "bits" in msg
    with pytest.raises(ConfigError) as err:
        LayerChoice.from_dict([4, 2, 1], "layer 'fc'")
    one_line(err)


# ----------------------------------------------------------------------------- Config JSON

DESIGN_EXAMPLE = {
    "layers": {
        "conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"},
        "conv2": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "uniform"},
        "layer2.0.shortcut": {"w_bits": 3, "s_bits": 1, "timesteps": 4, "scheme": "pow2"},
        "fc": {"w_bits": 16, "s_bits": 16, "timesteps": 9, "scheme": "pow2"},
    }
}


def test_config_json_round_trip_is_exact():
    cfg = Config.from_json(json.dumps(DESIGN_EXAMPLE))
    assert cfg["conv2"] == LayerChoice(4, 2, 1, "uniform")
    assert cfg["layer2.0.shortcut"] == LayerChoice(3, 1, 4, "pow2")
    assert list(cfg) == ["conv1", "conv2", "layer2.0.shortcut", "fc"]  # order kept
    # to_json -> the same JSON object, same order, same types (ints stay ints)
    text = cfg.to_json()
    assert json.loads(text) == DESIGN_EXAMPLE
    assert list(json.loads(text)["layers"]) == list(DESIGN_EXAMPLE["layers"])
    assert cfg.to_dict() == DESIGN_EXAMPLE
    again = Config.from_json(text)
    assert again == cfg
    assert again.to_json() == text
    assert hash(again) == hash(cfg)
    assert Config.from_json(cfg.to_json(indent=None)) == cfg


def test_config_json_scheme_defaults_to_uniform():
    cfg = Config.from_json('{"layers": {"a": {"w_bits": 2, "s_bits": 1, "timesteps": 3}}}')
    assert cfg["a"] == LayerChoice(2, 1, 3, "uniform")
    assert json.loads(cfg.to_json())["layers"]["a"]["scheme"] == "uniform"


def test_config_flat_names_round_trip():
    cfg = Config.from_dict(DESIGN_EXAMPLE)
    flat = cfg.to_flat()
    assert flat["conv1.w_bits"] == 8
    assert flat["conv2.s_bits"] == 2
    assert flat["layer2.0.shortcut.timesteps"] == 4  # the layer name keeps its dots
    assert flat["layer2.0.shortcut.scheme"] == "pow2"
    assert flat["fc.timesteps"] == 9
    assert len(flat) == 4 * 4
    assert Config.from_flat(flat) == cfg


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "[]",
        '{"layers": []}',
        '{"conv1": {"w_bits": 4, "s_bits": 2, "timesteps": 1}}',
        '{"layers": {"conv1": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "colour": "red"}}}',
        '{"layers": {"conv1": {"w_bits": 4, "s_bits": 2}}}',
        '{"layers": {"conv1": {"w_bits": 40, "s_bits": 2, "timesteps": 1}}}',
        '{"layers": {"conv1": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "log2"}}}',
        '{"layers": {"conv1": {"w_bits": true, "s_bits": 2, "timesteps": 1}}}',
        '{"layers": {"conv1": {"w_bits": 2.5, "s_bits": 2, "timesteps": 1}}}',
        '{"layers": {"conv1": 4}}',
    ],
)
def test_config_malformed_json_is_one_line_config_error(text):
    with pytest.raises(ConfigError) as err:
        Config.from_json(text)
    one_line(err)


def test_config_unknown_field_message_names_field_and_layer():
    with pytest.raises(ConfigError) as err:
        Config.from_json('{"layers": {"conv7": {"w_bits": 4, "s_bits": 2, "timesteps": 1, "colour": 1}}}')
    msg = one_line(err)
    assert "colour" in msg and "conv7" in msg


@pytest.mark.parametrize("flat", [{"conv1": 4}, {"conv1.bits": 4}, {"conv1.w_bits": 4, "conv1.s_bits": 2}])
def test_config_bad_flat_names(flat):
    with pytest.raises(ConfigError) as err:
        Config.from_flat(flat)
    one_line(err)


def test_config_rejects_non_choice_values():
    with pytest.raises(ConfigError):
        Config({"conv1": (4, 2, 1)})


# ----------------------------------------------------------------------------- SearchSpace

NAMES = ["conv1", "conv2", "a.conv1", "a.shortcut", "fc"]
TIES = [("a.conv1", "a.shortcut")]


def make_space(**kw) -> SearchSpace:
    return SearchSpace.default(NAMES, TIES, **kw)


def test_default_pins_first_layer_at_w8_s8_t1():
    sp = make_space()
    assert sp.pinned == {"conv1": LayerChoice(8, 8, 1, "uniform")}
    assert FIRST_LAYER_PIN == LayerChoice(8, 8, 1, "uniform")
    assert sp.names == NAMES
    assert sp.free_layers == ["conv2", "a.conv1", "a.shortcut", "fc"]
    assert "conv1" not in sp.free_layers
    # one decision per tied group, pinned layer left out
    assert sp.decisions == ["conv2", "a.conv1", "fc"]
    assert sp.group_of("a.shortcut") == ("a.conv1", "a.shortcut")
    assert sp.group_of("fc") == ("fc",)


def test_default_without_pin_and_unpin():
    free = make_space(pin_first=False)
    assert free.pinned == {}
    assert free.free_layers == NAMES
    assert free.decisions == ["conv1", "conv2", "a.conv1", "fc"]
    assert make_space().unpin("conv1") == free
    with pytest.raises(ConfigError) as err:
        make_space().unpin("conv2")
    one_line(err)


def test_expand_copies_tied_choice_and_adds_pins():
    sp = make_space()
    c2, c3, cf = LayerChoice(4, 2, 1), LayerChoice(2, 1, 4, "pow2"), LayerChoice(3, 4, 2)
    cfg = sp.expand({"conv2": c2, "a.conv1": c3, "fc": cf})
    assert list(cfg) == NAMES
    assert cfg["conv1"] == FIRST_LAYER_PIN
    assert cfg["a.shortcut"] == c3 and cfg["a.conv1"] == c3
    assert cfg["conv2"] == c2 and cfg["fc"] == cf
    with pytest.raises(ConfigError) as err:
        sp.expand({"conv2": c2, "fc": cf})  # tied group has no choice
    assert "a.conv1" in one_line(err)


def test_uniform_keeps_pin():
    sp = make_space()
    cfg = sp.uniform(LayerChoice(2, 1, 1))
    assert cfg["conv1"] == FIRST_LAYER_PIN
    assert {cfg[n] for n in sp.free_layers} == {LayerChoice(2, 1, 1)}


def full(**over: LayerChoice) -> Config:
    base = {
        "conv2": LayerChoice(4, 2, 1),
        "a.conv1": LayerChoice(2, 1, 2, "pow2"),
        "a.shortcut": LayerChoice(2, 1, 2, "pow2"),
        "fc": LayerChoice(8, 4, 4),
    }
    base.update(over)
    return Config(base)


def test_complete_fills_pin_and_accepts_valid():
    sp = make_space()
    done = sp.complete(full())
    assert list(done) == NAMES
    assert done["conv1"] == FIRST_LAYER_PIN
    assert done["a.shortcut"] == LayerChoice(2, 1, 2, "pow2")
    # giving the pinned layer its own pin is fine
    assert sp.complete(full(conv1=FIRST_LAYER_PIN)) == done
    # a tied follower may be left out: it takes the representative's choice
    partial = Config({k: v for k, v in full().items() if k != "a.shortcut"})
    assert sp.complete(partial)["a.shortcut"] == LayerChoice(2, 1, 2, "pow2")


def test_complete_rejects_tied_layers_with_different_choices():
    with pytest.raises(ConfigError) as err:
        make_space().complete(full(**{"a.shortcut": LayerChoice(3, 1, 2, "pow2")}))
    msg = one_line(err)
    assert "tied" in msg and "a.conv1" in msg


def test_complete_rejects_unknown_and_missing_layers():
    sp = make_space()
    with pytest.raises(ConfigError) as err:
        sp.complete(full(conv9=LayerChoice(4, 2, 1)))
    assert "conv9" in one_line(err)
    with pytest.raises(ConfigError) as err:
        sp.complete(Config({k: v for k, v in full().items() if k != "fc"}))
    assert "fc" in one_line(err)


def test_complete_strict_and_loose_options():
    sp = make_space()
    odd = LayerChoice(16, 16, 7)  # W16/S16/T7: valid, but outside the default options
    with pytest.raises(ConfigError) as err:
        sp.complete(full(fc=odd))
    assert "fc" in one_line(err)
    with pytest.raises(ConfigError):
        sp.complete(full(conv2=LayerChoice(5, 2, 1)))  # W5 is not an option
    with pytest.raises(ConfigError):
        sp.complete(full(conv2=LayerChoice(4, 3, 1)))  # S3 is not an option
    with pytest.raises(ConfigError):
        sp.complete(full(conv2=LayerChoice(4, 2, 3)))  # T3 is not an option
    loose = sp.complete(full(fc=odd), strict=False)
    assert loose["fc"] == odd
    # strict=False does not relax the tie rule
    with pytest.raises(ConfigError):
        sp.complete(full(**{"a.shortcut": odd}), strict=False)


def test_complete_rejects_pinned_layer_with_other_choice():
    with pytest.raises(ConfigError) as err:
        make_space().complete(full(conv1=LayerChoice(4, 4, 1)))
    msg = one_line(err)
    assert "conv1" in msg and "pinned" in msg
    with pytest.raises(ConfigError):
        make_space().complete(full(conv1=LayerChoice(4, 4, 1)), strict=False)


def test_space_json_round_trip_with_edited_options():
    sp = make_space(model="toy")
    narrow = LayerOptions(w_bits=(2, 4), s_bits=(1,), timesteps=(1, 3), schemes=("pow2",))
    sp = sp.with_options("a.shortcut", narrow)  # the whole tied group gets it
    assert sp.layers["a.conv1"] == narrow and sp.layers["a.shortcut"] == narrow
    assert sp.layers["fc"] == LayerOptions()
    sp = sp.with_options("fc", LayerOptions(w_bits=(8, 1, 1), timesteps=(2,)))  # sorted, deduplicated
    assert sp.layers["fc"].w_bits == (1, 8)
    text = sp.to_json()
    data = json.loads(text)
    assert data["schema"] == "spikebits.space/1"
    assert data["model"] == "toy"
    assert data["ties"] == [["a.conv1", "a.shortcut"]]
    assert data["pinned"] == {"conv1": {"w_bits": 8, "s_bits": 8, "timesteps": 1, "scheme": "uniform"}}
    assert data["layers"]["a.conv1"] == {"w_bits": [2, 4], "s_bits": [1], "timesteps": [1, 3], "schemes": ["pow2"]}
    back = SearchSpace.from_json(text)
    assert back == sp
    assert back.names == sp.names
    assert back.to_json() == text


def test_space_from_json_errors():
    for text in [
        "{",
        '{"layers": {}}',
        '{"layers": {"a": {"w_bits": [], "s_bits": [1]}}}',
        '{"layers": {"a": {"w_bits": [2], "depth": [1]}}}',
        '{"schema": "spikebits.space/9", "layers": {"a": {}}}',
        '{"layers": {"a": {}}, "ties": [["a", "b"]]}',
        '{"layers": {"a": {}}, "pinned": {"b": {"w_bits": 8, "s_bits": 8, "timesteps": 1}}}',
        '{"layers": {"a": {}, "b": {"w_bits": [2]}}, "ties": [["a", "b"]]}',
    ]:
        with pytest.raises(ConfigError) as err:
            SearchSpace.from_json(text)
        one_line(err)


def test_size_equals_number_of_configs():
    tiny = LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1,), schemes=("uniform", "pow2"))
    sp = SearchSpace.default(NAMES, TIES, options=tiny)
    # 3 decisions (conv2, a.conv1, fc), each 2·2·1·2 = 8 choices -> 8³ = 512
    assert sp.size() == 512
    configs = list(sp.configs())
    assert len(configs) == 512
    assert len(set(configs)) == 512
    for c in configs[:: 37]:
        assert c["conv1"] == FIRST_LAYER_PIN
        assert c["a.conv1"] == c["a.shortcut"]
        assert sp.complete(c) == c
    # unpinning conv1 multiplies by 8
    assert sp.unpin("conv1").size() == 4096


def test_flat_params_round_trip_representatives_only():
    sp = make_space()
    cfg = sp.complete(full())
    params = sp.flat_params(cfg)
    assert set(params) == {f"{n}.{k}" for n in ("conv2", "a.conv1", "fc") for k in ("w_bits", "s_bits", "timesteps", "scheme")}
    assert sp.from_params(params) == cfg


def test_space_validation():
    with pytest.raises(ConfigError):
        SearchSpace({})
    with pytest.raises(ConfigError):
        SearchSpace.default(["a", "b", "c"], [("a", "b"), ("b", "c")])  # b in two groups
    with pytest.raises(ConfigError):
        SearchSpace.default(["a", "b", "c"], [("a", "b")])  # a pinned, b not: partly pinned group


# ----------------------------------------------------------------------------- Budget


def test_budget_parse():
    b = Budget.parse("bit_budget<=2.5")
    assert b.constraints == (Constraint("bit_budget", 2.5),)
    b = Budget.parse("  s_ace <= 1e9 ")
    assert b.constraints == (Constraint("s_ace", 1e9),)
    b = Budget.parse(["bit_budget<=2", "energy_pj<=5e6", "size_bits<=2e6"])
    assert b.to_dict() == {"bit_budget": 2.0, "energy_pj": 5e6, "size_bits": 2e6}
    assert b.metrics == ("bit_budget", "energy_pj", "size_bits")
    assert not Budget.parse(None) and not Budget.parse([])
    assert bool(b)


@pytest.mark.parametrize(
    "texts",
    [
        "bit_budget>=2",
        "bit_budget<2",
        "bit_budget=2",
        "foo<=1",
        "bit_budget<=abc",
        "bit_budget<=",
        "bit_budget<=1.2.3",
        "bit_budget<=inf",
        "bit_budget<=nan",
        ["bit_budget<=2", "bit_budget<=3"],
        ["s_ace<=1e9", " s_ace <= 2e9"],
    ],
)
def test_budget_parse_rejects(texts):
    with pytest.raises(BudgetError) as err:
        Budget.parse(texts)
    one_line(err)


def test_budget_violations_are_value_minus_limit():
    b = Budget.parse(["bit_budget<=2.5", "s_ace<=1000"])
    v = b.violations({"bit_budget": 3.0, "s_ace": 400.0, "accuracy": 0.9})
    assert v == {"bit_budget": 0.5, "s_ace": -600.0}  # 3 − 2.5, 400 − 1000
    assert not b.feasible({"bit_budget": 3.0, "s_ace": 400.0})
    # exactly at the limit: violation 0, feasible (≤ 0 feasible)
    assert b.violations({"bit_budget": 2.5, "s_ace": 1000.0}) == {"bit_budget": 0.0, "s_ace": 0.0}
    assert b.feasible({"bit_budget": 2.5, "s_ace": 1000.0})
    assert b.feasible({"bit_budget": 1.0, "s_ace": 10.0})
    assert Budget().feasible({"bit_budget": 1e9})


def test_smallest_and_largest_config_keep_pins_and_ties():
    space = SearchSpace.default(
        ["first", "a", "b", "c"], ties=[("b", "c")], options=LayerOptions(w_bits=(2, 4), s_bits=(1, 2), timesteps=(1, 3))
    )
    small, large = space.smallest_config(), space.largest_config()
    assert small["a"] == small["b"] == small["c"] == LayerChoice(2, 1, 1, "uniform")
    assert large["a"] == large["c"] == LayerChoice(4, 2, 3, "uniform")
    assert small["first"] == large["first"] == space.pinned["first"]


def test_test_accuracy_is_reported_only_never_an_objective_or_budget():
    from spikebits.space import RECORD_METRICS, direction

    assert list(RECORD_METRICS)[:2] == ["accuracy", "test_accuracy"]
    with pytest.raises(BudgetError, match="test_accuracy is read once, to report; objectives and budgets use accuracy"):
        Budget.parse("test_accuracy<=0.5")
    with pytest.raises(BudgetError, match="read once, to report"):
        direction("test_accuracy")


def test_uniform_config_with_the_pinned_layer_included():
    space = SearchSpace.default(["conv1", "conv2", "fc"])
    choice = LayerChoice(4, 4, 1)
    assert space.uniform(choice)["conv1"] == LayerChoice(8, 8, 1)  # the pin is kept
    every = space.uniform(choice, include_pinned=True)
    assert [every[n] for n in space.names] == [choice] * 3
    unpinned = space.unpin()
    assert unpinned.pinned == {} and unpinned.complete(every, strict=False) == every
    with pytest.raises(ConfigError, match="pinned at W8S8T1"):
        space.complete(every, strict=False)


# ---------------------------------------------------------------- membrane bits U (issue 30)
def test_a_choice_with_u_round_trips_and_without_u_writes_as_before():
    from spikebits.space import Config, LayerChoice

    with_u = LayerChoice(4, 2, 1, "uniform", 8)
    assert with_u.short() == "W4S2T1U8"
    assert with_u.to_dict() == {"w_bits": 4, "s_bits": 2, "timesteps": 1, "scheme": "uniform", "u_bits": 8}
    assert LayerChoice.from_dict(with_u.to_dict()) == with_u
    plain = LayerChoice(4, 2, 1)
    assert "u_bits" not in plain.to_dict() and plain.short() == "W4S2T1"
    assert LayerChoice.from_dict({"w_bits": 4, "s_bits": 2, "timesteps": 1, "u_bits": None}) == plain
    config = Config({"a": with_u, "b": plain})
    assert Config.from_json(config.to_json()) == config
    assert config.to_flat() == {
        "a.w_bits": 4, "a.s_bits": 2, "a.timesteps": 1, "a.scheme": "uniform", "a.u_bits": 8,
        "b.w_bits": 4, "b.s_bits": 2, "b.timesteps": 1, "b.scheme": "uniform",
    }
    assert Config.from_flat(config.to_flat()) == config


@pytest.mark.parametrize("value, message", [(1, "u_bits=1 is out of range; use 2 to 32"), (33, "u_bits=33 is out of range"), (4.5, "u_bits must be an integer"), ("8", "u_bits must be an integer")])
def test_a_bad_u_is_one_line(value, message):
    from spikebits.space import ConfigError, LayerChoice

    with pytest.raises(ConfigError, match=message):
        LayerChoice.from_dict({"w_bits": 4, "s_bits": 2, "timesteps": 1, "u_bits": value})


def test_options_with_u_multiply_the_space_and_only_searched_u_is_a_parameter():
    from spikebits.space import ConfigError, LayerChoice, LayerOptions, SearchSpace

    options = LayerOptions(w_bits=(2, 4), s_bits=(1,), timesteps=(1,), schemes=("uniform",), u_bits=(16, 4, 8))
    assert options.u_bits == (4, 8, 16) and options.count() == 6
    assert [c.short() for c in options.choices()] == ["W2S1T1U4", "W2S1T1U8", "W2S1T1U16", "W4S1T1U4", "W4S1T1U8", "W4S1T1U16"]
    assert options.smallest().u_bits == 4 and options.largest().u_bits == 16
    assert LayerOptions.from_dict(options.to_dict()) == options
    assert "u_bits" not in LayerOptions().to_dict() and LayerOptions().count() == 5 * 3 * 3 * 2
    space = SearchSpace({"a": options, "b": LayerOptions(w_bits=(2,), s_bits=(1,), timesteps=(1,), schemes=("uniform",))}, pinned={})
    assert space.size() == 6
    assert space.decision_keys("a") == ("w_bits", "s_bits", "timesteps", "scheme", "u_bits")
    assert space.decision_keys("b") == ("w_bits", "s_bits", "timesteps", "scheme")
    config = space.expand({"a": LayerChoice(4, 1, 1, "uniform", 8), "b": LayerChoice(2, 1, 1)})
    assert space.flat_params(config) == {
        "a.w_bits": 4, "a.s_bits": 1, "a.timesteps": 1, "a.scheme": "uniform", "a.u_bits": 8,
        "b.w_bits": 2, "b.s_bits": 1, "b.timesteps": 1, "b.scheme": "uniform",
    }
    assert space.from_params(space.flat_params(config)) == config
    assert len(list(space.configs())) == 6
    assert space.nearest_config(3, 1, 1, 6).short() == "a:W2S1T1U4 b:W2S1T1"  # ties go to the smaller option
    # a U outside the options, or a U where the layer keeps an unquantized membrane, is refused
    with pytest.raises(ConfigError, match=r"W4S1T1U12 \(uniform\) is outside its options .* u_bits \[4, 8, 16\]"):
        space.complete(space.expand({"a": LayerChoice(4, 1, 1, "uniform", 12), "b": LayerChoice(2, 1, 1)}))
    with pytest.raises(ConfigError, match="an unquantized membrane"):
        space.complete(space.expand({"a": LayerChoice(4, 1, 1, "uniform", 8), "b": LayerChoice(2, 1, 1, "uniform", 8)}))
    assert SearchSpace.from_json(space.to_json()) == space
