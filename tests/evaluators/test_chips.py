"""Chip profiles (evaluators/profiles/*.toml), their strict reading, the chip search space and
the first-fit placement, against numbers computed by hand."""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass
from importlib import resources

import pytest

from spikebits import models
from spikebits.evaluators import chips
from spikebits.evaluators.chips import PlacementError, chip_space, load_profile, parse_profile, place, profile_names, profile_table
from spikebits.space import Config, ConfigError, LayerChoice, LayerOptions, SearchSpace


@dataclass(frozen=True)
class FakeSpec:
    """The attributes of models.LayerSpec that placement reads."""

    name: str
    kind: str
    n_weights: int
    n_inputs: int
    n_outputs: int
    macs: int
    synapses: int = 0
    spike_source: str = ""
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    output_neurons: int = 0

    def __post_init__(self) -> None:
        if not self.synapses:  # as LayerSpec: no padding, every MAC is a synapse
            object.__setattr__(self, "synapses", self.macs)

    @property
    def owns_neuron(self) -> bool:
        return self.spike_source in ("", self.name)

    @property
    def fan_in(self) -> int:
        return self.macs // self.n_outputs


def linear(name: str, n_in: int, n_out: int, **kw) -> FakeSpec:
    return FakeSpec(name, "linear", n_in * n_out, n_in, n_out, n_in * n_out, n_in * n_out, **kw)


def raw(name: str) -> dict:
    return tomllib.loads((resources.files("spikebits.evaluators") / "profiles" / f"{name}.toml").read_text())


def tiny(**capacity) -> dict:
    """A small generic profile (as parsed TOML), every value sourced."""
    data = {
        "name": "tiny",
        "description": "test chip",
        "hardware": False,
        "conv": {"supported": True, "w_bits_uniform": {"min": 1, "max": 8}, "w_bits_pow2": [1, 2, 3, 4], "s_bits": [1, 2, 4]},
        "linear": {"supported": True, "w_bits_uniform": {"min": 1, "max": 8}, "w_bits_pow2": [1, 2, 3, 4], "s_bits": [1, 2, 4]},
        "capacity": {"cores": 4, "neurons_per_core": 100, "weight_memory_bits": 1000, "split_layers": False, **capacity},
    }
    data["sources"] = {key: "test" for key in value_keys(data)}
    return data


def value_keys(data: dict) -> list[str]:
    """Every dotted key of a profile that holds a value (walks the TOML)."""
    keys = []
    for top, value in data.items():
        if top in ("name", "description", "sources"):
            continue
        if isinstance(value, dict):
            keys += [f"{top}.{k}" for k in value]
        else:
            keys.append(top)
    return keys


def uniform(specs, w=4, s=1, t=1, u=None, scheme="uniform") -> Config:
    return Config({sp.name: LayerChoice(w, s, t, scheme, u) for sp in specs})


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


# ----------------------------------------------------------------------------- the profiles
def test_every_builtin_profile_loads_and_every_value_has_a_source():
    assert profile_names() == ("speck", "xylo", "loihi2", "akida", "ideal")
    for name in profile_names():
        data = raw(name)
        profile = load_profile(name)
        assert profile.name == name
        keys = value_keys(data)
        assert keys, name
        for key in keys:
            assert isinstance(data["sources"].get(key), str) and data["sources"][key].strip(), f"{name}: {key} has no source"
        assert set(data["sources"]) == set(keys), f"{name}: sources name no value"
        assert profile.hardware is (name != "ideal")


def test_profile_values_from_the_vendor_toolchains():
    speck = load_profile("speck")
    assert speck.capacity.cores == 9 and speck.capacity.layers_per_core == 1 and not speck.capacity.split_layers
    assert [speck.capacity.core(i).weight_bits // 8 for i in range(9)] == [16384] * 3 + [32768] * 2 + [65536] * 2 + [16384] * 2
    assert [speck.capacity.core(i).neurons for i in range(9)] == [65536] * 3 + [32768] * 2 + [16384] * 4
    assert speck.kinds["conv"].s_bits == (1,) and speck.kinds["conv"].u_bits == (16,)
    assert speck.kinds["conv"].w_bits_uniform == tuple(range(1, 9)) and speck.kinds["conv"].w_bits_pow2 == (1, 2, 3, 4)
    xylo = load_profile("xylo")
    assert not xylo.kinds["conv"].supported
    assert xylo.capacity.core(0).neurons == 1000 and xylo.capacity.core(0).weight_bits == 64000 * 8
    assert (xylo.capacity.fan_in, xylo.capacity.fan_out) == (63, 64)
    assert xylo.kinds["linear"].s_bits == (5,) and xylo.rules("linear", first=True).s_bits == (4,)
    loihi = load_profile("loihi2")
    assert loihi.capacity.cores == 128 and loihi.capacity.core(0).neurons == 8192 and loihi.capacity.split_layers
    assert loihi.kinds["conv"].s_bits == tuple(range(1, 25)) and loihi.kinds["linear"].u_bits == (24,)
    akida = load_profile("akida")
    assert akida.capacity.cores == 80 and akida.kinds["linear"].fan_in == 57334
    assert akida.kinds["conv"].s_bits == (1, 2, 4) and akida.kinds["conv"].timesteps == (1,)
    assert akida.rules("conv", first=True).s_bits == (8,) and akida.rules("conv", first=True).w_bits_uniform == tuple(range(1, 9))
    ideal = load_profile("ideal")
    assert ideal.capacity.cores is None and ideal.kinds["conv"].u_bits == tuple(range(2, 33))
    assert ideal.kinds["conv"].w_bits_pow2 == tuple(range(1, 17)) and ideal.kinds["conv"].timesteps is None


def test_profile_table_lists_every_profile():
    rows = profile_table()
    assert [r[0] for r in rows] == list(profile_names())
    speck = dict(zip(chips.PROFILE_TABLE_HEAD, rows[0]))
    assert speck == {**speck, "kinds": "conv,linear", "cores": "9", "W uniform": "1-8", "W pow2": "1-4", "S": "1", "T": "any", "U": "16"}
    xylo = dict(zip(chips.PROFILE_TABLE_HEAD, rows[1]))
    assert xylo["kinds"] == "linear" and xylo["S"] == "5"
    assert dict(zip(chips.PROFILE_TABLE_HEAD, rows[3]))["S"] == "1,2,4"
    assert rows[4][2] == "unlimited" and "not hardware" in rows[4][-1]
    assert "ideal" in chips.format_profile_table()


# ----------------------------------------------------------------------- strict reading
def tomlvalue(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {tomlvalue(x)}' for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(tomlvalue(x) for x in v) + "]"
    return repr(v)


def write(tmp_path, data_or_text, name="chip.toml"):
    """A profile file: TOML text as given, or a parsed profile written back as TOML."""
    path = tmp_path / name
    if isinstance(data_or_text, str):
        path.write_text(data_or_text)
        return path
    lines = [f'"{k}" = {tomlvalue(v)}' for k, v in data_or_text.items() if not isinstance(v, dict)]
    for table, values in data_or_text.items():
        if isinstance(values, dict):
            lines.append(f"[{table}]")
            lines += [f'"{k}" = {tomlvalue(v)}' for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_user_profile_file_loads(tmp_path):
    path = write(tmp_path, tiny())
    profile = load_profile(path)
    assert profile.name == "tiny" and profile.capacity.core(3).neurons == 100
    assert load_profile(str(path)).capacity.cores == 4
    data = tiny()
    data["energy"] = {"synop_pj": 23.6}
    data["input_layer"] = {"s_bits": [8]}
    data["sources"] = {key: "test" for key in value_keys(data)}
    profile = load_profile(write(tmp_path, data, "full.toml"))
    assert profile.energy == {"synop_pj": 23.6} and profile.rules("conv", first=True).s_bits == (8,)
    assert profile.rules("conv").s_bits == (1, 2, 4) and profile.source("energy.synop_pj") == "test"


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda d: d.update(colour="red"), ["unknown key 'colour'", "the keys are"]),
        (lambda d: d["capacity"].update(cores_total=3), ["unknown key 'cores_total'", "[capacity]"]),
        (lambda d: d["conv"].update(w_bits=[1]), ["unknown key 'w_bits'", "[conv]"]),
        (lambda d: d["capacity"].update(cores="9"), ["capacity.cores", "whole number"]),
        (lambda d: d["capacity"].update(cores=True), ["capacity.cores", "whole number"]),
        (lambda d: d["capacity"].update(neurons_per_core=[1, 2]), ["capacity.neurons_per_core", "2 values for 4 cores"]),
        (lambda d: d["conv"].update(s_bits=[]), ["conv.s_bits", "empty"]),
        (lambda d: d["conv"].update(s_bits={"min": 4, "max": 2}), ["conv.s_bits", "below min"]),
        (lambda d: d["conv"].update(s_bits=[0]), ["conv.s_bits", "out of range"]),
        (lambda d: d["conv"].update(supported="yes"), ["conv.supported", "true or false"]),
        (lambda d: d["linear"].update(supported=False), ["supported = false", "w_bits_uniform"]),
        (lambda d: d["capacity"].pop("split_layers"), ["split_layers"]),
        (lambda d: d.pop("hardware"), ["missing 'hardware'"]),
        (lambda d: d["sources"].pop("capacity.cores"), ["capacity.cores has no source", "[sources]"]),
        (lambda d: d["sources"].update({"capacity.fan_in": "x"}), ["[sources] cites 'capacity.fan_in'", "not a value"]),
        (lambda d: d["sources"].update({"capacity.cores": ""}), ["sources.capacity.cores", "one line"]),
        (lambda d: d["sources"].update({"capacity.cores": 7}), ["sources.capacity.cores", "one line"]),
        (lambda d: d.update(energy={"synop_pj": -1.0}) or d["sources"].update({"energy.synop_pj": "x"}), ["energy.synop_pj", "0 or more"]),
        (lambda d: d.update(energy={"synop_pj": 1.0}), ["energy.synop_pj has no source"]),
        (lambda d: d.update(input_layer={"w_bits_uniform": [], "w_bits_pow2": []}), ["[input_layer] allows no weight scheme"]),
        (lambda d: d["capacity"].update(weight_memory_bits=[1, 2, 3, 4]) or d["capacity"].pop("cores"), ["one value per core", "cores is not set"]),
    ],
)
def test_bad_profiles_are_one_line_config_errors(tmp_path, mutate, words):
    data = copy.deepcopy(tiny())
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_profile(data, "chip profile file x.toml")
    text = one_line(err)
    assert text.startswith("chip profile file x.toml")
    for word in words:
        assert word in text
    # the same through a file
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(path) in one_line(err)


def test_bad_files_are_one_line_config_errors(tmp_path):
    bad = write(tmp_path, "name = \n", "bad.toml")
    with pytest.raises(ConfigError) as err:
        load_profile(bad)
    assert "not valid TOML" in one_line(err) and "bad.toml" in str(err.value)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as err:
        load_profile(folder)
    assert "not a file" in one_line(err)
    with pytest.raises(ConfigError) as err:
        load_profile(tmp_path / "missing.toml")
    assert "does not exist" in one_line(err)
    with pytest.raises(ConfigError) as err:
        load_profile("truenorth")
    assert "built-in profile" in one_line(err) and "speck" in str(err.value)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (chips.MAX_PROFILE_BYTES + 1))
    with pytest.raises(ConfigError) as err:
        load_profile(big)
    assert "limit" in one_line(err)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.toml"
        os.mkfifo(fifo)
        with pytest.raises(ConfigError) as err:
            load_profile(fifo)
        assert "not a file" in one_line(err)


# ----------------------------------------------------------------------------- placement
def test_first_fit_packs_layers_into_the_first_core_with_room():
    # tiny: 4 cores of 100 neurons and 1000 weight bits; W4 packed, U unquantized (16 bits).
    specs = [
        FakeSpec("a", "linear", 100, 60, 10, 600),  # 60 neurons, 100·4 = 400 bits
        FakeSpec("b", "linear", 100, 30, 10, 300),  # 30 neurons, 400 bits -> core 0 (90, 800)
        FakeSpec("c", "linear", 50, 50, 10, 500),  # 50 neurons: core 0 would hold 140 -> core 1
        FakeSpec("d", "linear", 50, 10, 10, 100),  # 10 neurons, 200 bits -> core 0 (100, 1000)
    ]
    placement = place(parse_profile(tiny()), specs, uniform(specs, w=4))
    assert [(c.index, c.layers, c.neurons, c.weight_bits, c.neuron_state_bits) for c in placement.cores] == [
        (0, ("a", "b", "d"), 100, 1000, 1600),
        (1, ("c",), 50, 200, 800),
    ]
    assert placement.cores_used == 2 and placement.cores_occupied == 2 and placement.fits
    assert placement.max_core_memory_bits == 1000 + 1600
    assert placement.parts == {"a": 1, "b": 1, "c": 1, "d": 1}
    table = placement.table()
    assert "placement on tiny: 2 of 4 cores (fits)" in table and "a, b, d" in table
    # U8 membranes: state bits = neurons · 8
    assert [c.neuron_state_bits for c in place(parse_profile(tiny()), specs, uniform(specs, w=4, u=8)).cores] == [800, 400]


def test_layers_per_core_and_too_many_cores_is_not_an_error():
    profile = parse_profile(tiny(layers_per_core=1))
    specs = [FakeSpec(f"l{i}", "linear", 10, 20, 10, 200) for i in range(6)]
    placement = place(profile, specs, uniform(specs))
    assert [c.layers for c in placement.cores] == [(f"l{i}",) for i in range(6)]
    assert placement.cores_used == 6 and not placement.fits
    assert "does NOT fit" in placement.table()


def test_a_shortcut_owns_no_neuron():
    profile = parse_profile(tiny())
    specs = [FakeSpec("conv", "conv", 90, 90, 10, 900), FakeSpec("shortcut", "conv", 10, 90, 10, 900, spike_source="conv")]
    placement = place(profile, specs, uniform(specs))
    assert [(c.layers, c.neurons, c.weight_bits) for c in placement.cores] == [(("conv", "shortcut"), 90, 400)]


def test_splitting_divides_a_layer_into_the_fewest_equal_parts():
    profile = parse_profile(tiny(split_layers=True))
    # e: 250 neurons > 100 -> p = ⌈250/100⌉ = 3 parts of ⌈250/3⌉ = 84 neurons and ⌈150·4/3⌉ = 200 bits
    # f: 16 neurons, 10 weights (40 bits) -> first core with room: core 0 (84 + 16 = 100)
    specs = [FakeSpec("e", "linear", 150, 250, 10, 2500), FakeSpec("f", "linear", 10, 16, 10, 160)]
    placement = place(profile, specs, uniform(specs))
    assert placement.parts == {"e": 3, "f": 1}
    assert [(c.index, c.layers, c.neurons, c.weight_bits) for c in placement.cores] == [
        (0, ("e[1/3]", "f"), 100, 240),
        (1, ("e[2/3]",), 84, 200),
        (2, ("e[3/3]",), 84, 200),
    ]
    # weights decide: 40 neurons, 600 weights at W8 = 4800 bits -> p = ⌈4800/1000⌉ = 5 parts of 960 bits
    specs = [FakeSpec("g", "linear", 600, 40, 10, 400)]
    placement = place(profile, specs, uniform(specs, w=8))
    assert placement.parts == {"g": 5} and [c.weight_bits for c in placement.cores] == [960] * 5


def test_a_layer_that_fits_nowhere_names_itself():
    specs = [FakeSpec("small", "linear", 10, 10, 10, 100), FakeSpec("big", "linear", 10, 150, 10, 1500)]
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny()), specs, uniform(specs))
    text = one_line(err)
    assert text == "layer 'big' needs 150 neurons; a tiny core holds 100; tiny does not split a layer across cores; use fewer channels or another chip"
    assert isinstance(err.value, ConfigError)
    # splitting cannot help a single neuron with 2000 weight bits
    specs = [FakeSpec("wide", "linear", 500, 1, 10, 10)]
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny(split_layers=True)), specs, uniform(specs))
    assert one_line(err).startswith("layer 'wide' needs 2,000 weight bits; a tiny core holds 1,000; it has a single neuron")
    # ... nor one-neuron parts of a layer whose every neuron needs more than a core
    specs = [FakeSpec("dense", "linear", 1000, 2, 10, 20)]  # 4000 bits, 2 parts of 2000
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny(split_layers=True)), specs, uniform(specs))
    assert one_line(err).startswith("layer 'dense', even split into 2 one-neuron parts, needs per part 2,000 weight bits")


def test_fan_in_fan_out_and_formats_are_refused_by_name():
    profile = parse_profile(tiny(fan_in=50))
    specs = [FakeSpec("ok", "linear", 50, 50, 1, 50), FakeSpec("fc", "linear", 64, 64, 1, 64)]
    with pytest.raises(PlacementError) as err:
        place(profile, specs, uniform(specs))
    assert one_line(err) == "layer 'fc' has a fan-in of 64; a tiny neuron takes at most 50 inputs; use fewer channels or features, or another chip"
    specs = [FakeSpec("fan", "linear", 80, 1, 80, 80)]
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny(fan_out=64)), specs, uniform(specs))
    assert "layer 'fan' has a fan-out of 80" in one_line(err)
    specs = [FakeSpec("p", "linear", 10, 10, 10, 100)]
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny()), specs, uniform(specs, w=8, scheme="pow2"))
    assert one_line(err) == "layer 'p' uses W8 pow2, which tiny does not allow for linear layers (allowed: pow2 W 1-4); take the options of chips.chip_space"
    with pytest.raises(PlacementError) as err:
        place(parse_profile(tiny()), specs, uniform(specs, s=3))
    assert "uses S3" in one_line(err) and "S 1,2,4" in str(err.value)
    data = tiny()
    data["linear"] = {"supported": False}
    data["sources"] = {key: "test" for key in value_keys(data)}
    with pytest.raises(PlacementError) as err:
        place(parse_profile(data), specs, uniform(specs))
    assert one_line(err).startswith("layer 'p' is a linear layer, which the tiny chip cannot run")


def test_heterogeneous_cores_open_the_lowest_core_that_holds_a_layer():
    data = tiny(cores=3, neurons_per_core=100, weight_memory_bits=[100, 1000, 100], layers_per_core=1)
    specs = [FakeSpec("large", "linear", 125, 10, 10, 100), FakeSpec("small", "linear", 10, 10, 10, 100)]
    placement = place(parse_profile(data), specs, uniform(specs))  # large: 500 bits, small: 40 bits
    assert [(c.index, c.layers) for c in placement.cores] == [(0, ("small",)), (1, ("large",))]
    assert placement.cores_used == 2 and placement.fits


def test_cores_used_grows_with_w():
    profile = parse_profile(tiny(split_layers=True))
    specs = [FakeSpec(f"l{i}", "linear", 200, 20, 10, 200) for i in range(4)]
    used = [place(profile, specs, uniform(specs, w=w)).cores_used for w in range(1, 9)]
    # four layers of 20 neurons and 200 weights (200·W bits) on 1000-bit cores: W1 all in one
    # core; W2 two per core; W3-W5 one per core; W6-W8 (> 1000 bits) two parts per layer
    assert used == sorted(used)
    assert used == [1, 2, 4, 4, 4, 8, 8, 8]


# ------------------------------------------------------------------- real models on real chips
@pytest.fixture(scope="module")
def digits():
    return models.build("digits_cnn")


def test_chip_space_keeps_every_option_within_the_chip(digits):
    specs = models.layer_specs(digits)
    for name in profile_names():
        profile = load_profile(name)
        if name == "xylo":
            with pytest.raises(ConfigError) as err:
                chip_space(name, digits)
            assert one_line(err).startswith("layer 'conv1' is a conv layer, which the xylo chip cannot run")
            continue
        space = chip_space(name, digits)
        assert space.names == digits.layer_names and space.ties == ()
        for i, spec in enumerate(specs):
            rules = profile.rules(spec.kind, first=i == 0)
            options = space.layers[spec.name]
            for choice in options.choices():
                assert rules.refusal(choice) is None, (name, spec.name, choice)
            assert set(options.timesteps) <= set(rules.timesteps or (1, 2, 4))
        for layer, pin in space.pinned.items():
            assert profile.rules(specs[0].kind, first=True).refusal(pin) is None
    pins = {name: chip_space(name, digits).pinned["conv1"] for name in ("speck", "loihi2", "akida", "ideal")}
    assert pins == {
        "speck": LayerChoice(8, 1, 4, "uniform", 16),  # binary spikes: the image read as a rate code over the largest T
        "loihi2": LayerChoice(8, 8, 1, "uniform", 24),
        "akida": LayerChoice(8, 8, 1, "uniform"),
        "ideal": LayerChoice(8, 8, 1, "uniform", 32),
    }
    speck = chip_space("speck", digits).layers["conv2"]
    assert (speck.w_bits, speck.schemes, speck.s_bits, speck.u_bits) == ((1, 2, 3, 4, 8), ("uniform",), (1,), (16,))
    akida = chip_space("akida", digits).layers
    assert (akida["conv2"].w_bits, akida["conv2"].s_bits, akida["conv2"].timesteps, akida["conv2"].u_bits) == ((1, 2, 3, 4), (1, 2, 4), (1,), ())
    assert akida["conv1"].s_bits == (8,)
    ideal = chip_space("ideal", digits).layers["fc"]
    assert ideal.schemes == ("uniform", "pow2") and ideal.u_bits == (4, 8, 16)
    assert chip_space("loihi2", digits).layers["fc"].s_bits == (1, 2, 4)


def test_chip_space_from_a_search_space(digits):
    space = models.default_space(digits)
    assert chip_space("speck", space) == chip_space("speck", digits)
    assert chip_space("speck", space, specs=models.layer_specs(digits)) == chip_space("speck", digits)
    with pytest.raises(ConfigError) as err:
        chip_space("speck", SearchSpace.default(["x"], model=None))
    assert "specs" in one_line(err)
    # a space that searches U: kept where the chip leaves U open, the chip's widths elsewhere
    searched = models.default_space(digits, LayerOptions(u_bits=(4, 8)))
    assert chip_space("akida", searched).layers["conv2"].u_bits == (4, 8)
    assert chip_space("speck", searched).layers["conv2"].u_bits == (16,)
    assert chip_space("ideal", searched).layers["conv2"].u_bits == (4, 8)


def test_chip_space_keeps_ties():
    model = models.build("resnet20")
    space = chip_space("loihi2", model)
    assert space.ties == models.default_space(model).ties and space.ties
    for group in space.ties:
        assert len({space.layers[n] for n in group}) == 1


def test_digits_cnn_on_speck_by_hand():
    # width 0.5: c = 16. Per layer (n_inputs neurons, n_weights):
    #   conv1 1→16 on 16×16: 256 neurons, 144 weights      -> core 0 (16Ki weights, 64Ki neurons)
    #   conv2 16→32 s2:      4096 neurons, 4608 weights     -> core 0 taken (1 layer/core): core 1
    #   conv3 32→64 s2:      2048 neurons, 18432 weights    -> > 16Ki: cores 0-2 too small: core 3 (32Ki)
    #   fc 64→10 (pool):     64 neurons, 640 weights        -> lowest free core that holds it: core 2
    # Weights take 8-bit entries and states 16-bit entries whatever W and U are.
    model = models.build("digits_cnn", width=0.5)
    specs = models.layer_specs(model)
    config = chip_space("speck", model).nearest_config(w_bits=2, s_bits=1, timesteps=2)
    placement = place("speck", specs, config)
    assert [(c.index, c.layers, c.neurons, c.weight_bits, c.neuron_state_bits) for c in placement.cores] == [
        (0, ("conv1",), 256, 144 * 8, 256 * 16),
        (1, ("conv2",), 4096, 4608 * 8, 4096 * 16),
        (2, ("fc",), 64, 640 * 8, 64 * 16),
        (3, ("conv3",), 2048, 18432 * 8, 2048 * 16),
    ]
    assert placement.cores_used == 4 and placement.fits
    # width 1: conv3 has 64·128·9 = 73,728 weights = 589,824 bits; the largest core holds 64Ki × 8
    model = models.build("digits_cnn")
    with pytest.raises(PlacementError) as err:
        place("speck", models.layer_specs(model), chip_space("speck", model).largest_config())
    assert one_line(err) == (
        "layer 'conv3' needs 589,824 weight bits; the largest speck core holds 65,536 × 8 = 524,288; "
        "speck does not split a layer across cores; use fewer channels or another chip"
    )


def test_digits_cnn_on_loihi2_and_akida_by_hand(digits):
    specs = models.layer_specs(digits)  # neurons: conv1 256, conv2 8192, conv3 4096, fc 128
    placement = place("loihi2", specs, chip_space("loihi2", digits).largest_config())
    # 8192 neurons per core: conv1 -> 0; conv2 (8192) does not fit beside it -> 1; conv3, fc -> 0
    assert [(c.index, c.layers, c.neurons) for c in placement.cores] == [(0, ("conv1", "conv3", "fc"), 4480), (1, ("conv2",), 8192)]
    assert [c.neuron_state_bits for c in placement.cores] == [4480 * 24, 8192 * 24]
    # 1 layer per NP, W packed: conv1 W8 (pinned), the others W4
    placement = place("akida", specs, chip_space("akida", digits).largest_config())
    assert [(c.index, c.layers, c.weight_bits) for c in placement.cores] == [
        (0, ("conv1",), 288 * 8),
        (1, ("conv2",), 18432 * 4),
        (2, ("conv3",), 73728 * 4),
        (3, ("fc",), 1280 * 4),
    ]
    # ideal: 4096-neuron cores split conv2 (8192 neurons) into 2 parts
    placement = place("ideal", specs, chip_space("ideal", digits).nearest_config(w_bits=4, s_bits=2, timesteps=1))
    assert placement.parts["conv2"] == 2 and placement.fits


def test_xylo_refuses_a_wide_fan_in():
    specs = [linear("fc1", 16, 60), linear("fc2", 60, 10)]
    config = Config({"fc1": LayerChoice(8, 4, 1, "uniform", 16), "fc2": LayerChoice(8, 5, 1, "uniform", 16)})
    placement = place("xylo", specs, config)
    assert [(c.layers, c.neurons, c.weight_bits) for c in placement.cores] == [(("fc1", "fc2"), 76, (960 + 600) * 8)]
    wide = [linear("fc1", 16, 64), linear("fc2", 64, 10)]
    with pytest.raises(PlacementError) as err:
        place("xylo", wide, config)
    assert one_line(err).startswith("layer 'fc2' has a fan-in of 64; a xylo neuron takes at most 63")
