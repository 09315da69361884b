"""The energy model against hand computations on a 2-layer toy network."""

from __future__ import annotations

import json

import pytest

from spikebits.evaluators.energy import PRESETS, EnergyModel, energy_pj, energy_report, layer_energy, load_energy_model, with_datapath
from spikebits.models import LayerSpec
from spikebits.space import Config, ConfigError, LayerChoice

# fc1: 4 → 3 (12 weights, 4 input neurons), fc2: 3 → 2 (6 weights, 3 input neurons).
SPECS = [
    LayerSpec("fc1", "linear", 12, 4, 3, 12, (4,), (3,)),
    LayerSpec("fc2", "linear", 6, 3, 2, 6, (3,), (2,)),
]
CONFIG = Config({"fc1": LayerChoice(4, 2, 2, "uniform"), "fc2": LayerChoice(3, 1, 3, "pow2")})


def test_horowitz_by_hand():
    # fc1 W4 S2 T2 uniform, fan-in 4: A = 4 + 2 + 2 = 8 bits; 12·2 = 24 ops.
    #   compute: 24 adds·8 bits·0.00375 + 24 mults·4·2·0.003125 = 0.72 + 0.6 = 1.32
    #   neurons: 4·2 = 8 updates · 2 adds·16 bits·0.00375 = 0.96
    #   weights: 24 reads·4 bits = 96 bits from an 8 KB SRAM (6 bytes): 96/64·10 = 15
    #   membranes: 8 updates·2·16 bits = 256 bits (8 bytes, 8 KB tier): 256/64·10 = 40
    # fc2 W3 S1 T3 pow2, fan-in 3: A = 3 + 1 + 2 = 6; 6·3 = 18 accumulates, no multiplier.
    #   compute: 18·6·0.00375 = 0.405; neurons 3·3 = 9 · 0.12 = 1.08
    #   weights: 18·3 = 54 bits: 54/64·10 = 8.4375; membranes 2·9·16 = 288 bits: 45
    report = energy_report(SPECS, CONFIG, "horowitz45nm")
    fc1, fc2 = report.layers
    assert fc1.accumulator_bits == 8 and fc2.accumulator_bits == 6
    assert fc1.synaptic_ops == 24 and fc1.adds == 24 and fc1.mults == 24
    assert fc2.synaptic_ops == 18 and fc2.adds == 18 and fc2.mults == 0
    assert fc1.compute_pj == pytest.approx(1.32 + 0.96)
    assert fc1.weight_memory_pj == pytest.approx(15.0)
    assert fc1.membrane_memory_pj == pytest.approx(40.0)
    assert fc2.compute_pj == pytest.approx(0.405 + 1.08)
    assert fc2.weight_memory_pj == pytest.approx(8.4375)
    assert fc2.membrane_memory_pj == pytest.approx(45.0)
    assert report.total_pj == pytest.approx(112.2025)
    assert energy_pj(SPECS, CONFIG) == pytest.approx(112.2025)  # horowitz45nm is the default
    d = report.to_dict()
    assert d["basis"] == "estimate" and d["activity"] == "dense"
    assert d["breakdown_pj"] == pytest.approx({"compute": 3.765, "weight_memory": 23.4375, "membrane_memory": 85.0})
    assert d["counts"]["neuron_updates"] == 17 and d["counts"]["weight_bits_read"] == 150


def test_bitserial_by_hand():
    # Same as horowitz, but fc1's 2-bit spikes take 2 shift-adds each: 48 adds·8 bits·0.00375
    # = 1.44 instead of 0.72 + 0.6; fc2 (1-bit spikes) is unchanged.
    report = energy_report(SPECS, CONFIG, "bitserial45nm")
    assert report.layers[0].adds == 48 and report.layers[0].mults == 0
    assert report.layers[0].compute_pj == pytest.approx(1.44 + 0.96)
    assert report.total_pj == pytest.approx(112.2025 - 1.32 + 1.44)


def test_loihi_by_hand():
    # fc1: 24 ops × 2 spike bits = 48 synaptic ops · 23.6 = 1132.8; 8 updates · 81 = 648;
    #      8 spikes (dense) · 3.5 = 28  → 1808.8
    # fc2: 18 ops · 23.6 = 424.8; 9 · 81 = 729; 9 · 3.5 = 31.5 → 1185.3
    report = energy_report(SPECS, CONFIG, "loihi")
    assert [x.total_pj for x in report.layers] == pytest.approx([1808.8, 1185.3])
    assert report.weight_memory_pj == 0 and report.membrane_memory_pj == 0
    assert report.total_pj == pytest.approx(2994.1)


def test_measured_activity_scales_ops_and_spikes():
    # Half of fc1's input spikes and a quarter of fc2's are non-zero: fc1 does 12 ops, and
    # emits 8·0.5 = 4 spikes; fc2 does 4.5 ops and emits 9·0.25 spikes. Neuron updates stay dense.
    report = energy_report(SPECS, CONFIG, "loihi", rates={"fc1": 0.5, "fc2": 0.25})
    fc1, fc2 = report.layers
    assert fc1.synaptic_ops == 12 and fc1.spikes == 4 and fc1.neuron_updates == 8
    assert fc1.total_pj == pytest.approx(24 * 23.6 + 648 + 4 * 3.5)
    assert fc2.total_pj == pytest.approx(4.5 * 23.6 + 729 + 2.25 * 3.5)
    assert report.activity == "measured"
    with pytest.raises(ConfigError, match="no firing rate for layer 'fc2'"):
        energy_report(SPECS, CONFIG, "loihi", rates={"fc1": 0.5})


def test_memory_tiers_follow_layer_size():
    model = PRESETS["horowitz45nm"]
    assert model.memory_pj(8 * 1024) == (10.0, "SRAM 8 KB")
    assert model.memory_pj(8 * 1024 + 1) == (20.0, "SRAM 32 KB")
    assert model.memory_pj(1024 * 1024) == (100.0, "SRAM 1 MB")
    assert model.memory_pj(1024 * 1024 + 1) == (1300.0, "DRAM")
    # 20 000 weights at 4 bits = 10 000 bytes: the 32 KB tier, 20 pJ per 64 bits.
    big = LayerSpec("big", "linear", 20000, 200, 100, 20000, (200,), (100,))
    e = layer_energy(model, big, LayerChoice(4, 1, 1, "uniform"))
    assert e.weight_memory == "SRAM 32 KB"
    assert e.weight_memory_pj == pytest.approx(20000 * 4 / 64 * 20)


def test_shortcut_has_no_neuron():
    shortcut = LayerSpec("sc", "conv", 8, 16, 32, 64, (4, 2, 2), (8, 2, 2), spike_source="conv1")
    e = layer_energy(PRESETS["loihi"], shortcut, LayerChoice(2, 1, 1, "uniform"))
    assert e.neuron_updates == 0 and e.spikes == 0 and e.membrane_memory_pj == 0
    assert e.total_pj == pytest.approx(64 * 23.6)


def test_energy_grows_with_bits_and_pow2_saves_the_multiplier():
    spec = SPECS[0]
    model = PRESETS["horowitz45nm"]
    values = [layer_energy(model, spec, LayerChoice(w, 4, 1, "uniform")).compute_pj for w in (2, 4, 8)]
    assert values == sorted(values) and values[0] < values[-1]
    uni = layer_energy(model, spec, LayerChoice(2, 4, 1, "uniform"))
    pow2 = layer_energy(model, spec, LayerChoice(2, 4, 1, "pow2"))
    assert pow2.mults == 0 and uni.mults == 12 and pow2.compute_pj < uni.compute_pj
    assert with_datapath(model, "shift_add").datapath == "shift_add"


def _preset_text(**override):
    values = PRESETS["horowitz45nm"].to_dict()
    values.pop("name")
    values.update(override)
    return values


def test_user_preset_toml_and_json(tmp_path):
    toml = tmp_path / "chip.toml"
    toml.write_text(
        'datapath = "multiply"\nadd_pj_per_bit = 0.01\nmult_pj_per_bit2 = 0.0\nsynop_pj = 1.0\nspike_pj = 0.0\n'
        "neuron_pj = 2.0\nneuron_adds = 0\nmembrane_bits = 8\naccumulator_bits = 16\n"
        "sram_bytes = [1024]\nsram_pj_per_64bit = [64.0]\ndram_pj_per_64bit = 640.0\n"
    )
    model = load_energy_model(str(toml))
    assert model.name == "chip" and model.accumulator_bits == 16
    # fc2 alone: 18 ops·(16 bits·0.01 + 1.0) = 20.88; 9 updates·2 = 18; weights 54 bits·1 pJ/bit
    # (6·3/8 bytes fit 1 KB); membranes 2·9·8 = 144 bits·1 = 144.
    e = layer_energy(model, SPECS[1], CONFIG["fc2"])
    assert e.total_pj == pytest.approx(20.88 + 18 + 54 + 144)
    js = tmp_path / "chip.json"
    js.write_text(json.dumps(_preset_text(name="mine")))
    assert load_energy_model(js).name == "mine"
    assert load_energy_model(js).sram_bytes == PRESETS["horowitz45nm"].sram_bytes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "spike_pj"}, "missing 'spike_pj'"),
        ({"neuron_pj": -1.0}, "neuron_pj = -1.0 must be a finite number >= 0"),
        ({"sram_pj_per_64bit": [10.0, -2.0, 5.0]}, "sram_pj_per_64bit = -2.0 must be"),
        ({"datapath": "systolic"}, "datapath 'systolic' is unknown"),
        ({"add_pj": 1.0}, "unknown key 'add_pj'"),
        ({"mult_pj_per_bit2": "a lot"}, "must be a finite number"),
    ],
)
def test_bad_user_preset_is_one_line_error(tmp_path, change, message):
    values = _preset_text(**{k: v for k, v in change.items() if k != "drop"})
    values.pop(change.get("drop", "-"), None)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as err:
        load_energy_model(path)
    assert "\n" not in str(err.value)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="neither a preset"):
        load_energy_model("tsmc7")
    with pytest.raises(ConfigError, match="does not exist"):
        load_energy_model(tmp_path / "none.toml")
    bad = tmp_path / "x.toml"
    bad.write_text("datapath = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_energy_model(bad)


def test_model_rejects_unsorted_tiers():
    with pytest.raises(ConfigError, match="increasing"):
        EnergyModel("x", **{**_preset_text(), "sram_bytes": (2, 1), "sram_pj_per_64bit": (1.0, 2.0)})


def test_example_preset_in_the_repository_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "my_chip.toml"
    model = load_energy_model(str(path))
    assert (model.name, model.datapath, model.sram_bytes, model.accumulator_bits) == ("my_chip", "shift_add", (8192, 65536), 0)
    # fc1 of the toy (W4 S2 T2, A = 8): 48 shift-adds·8·0.002 = 0.768; 8 updates·2·16·0.002 = 0.512;
    # 8 spikes·0.5 = 4; weights 96 bits·5/64 = 7.5; membranes 256 bits·5/64 = 20.
    assert layer_energy(model, SPECS[0], CONFIG["fc1"]).total_pj == pytest.approx(0.768 + 0.512 + 4 + 7.5 + 20)


def test_the_presets_are_files_a_user_could_write():
    # Each preset is a TOML file beside the code, read by the reader of --energy-model FILE:
    # read as a user file it gives the same model, and the constants are the published ones.
    from pathlib import Path

    import spikebits.evaluators.energy as energy

    folder = Path(energy.__file__).parent / "energy_presets"
    assert sorted(p.stem for p in folder.glob("*.toml")) == sorted(PRESETS)
    for name, model in PRESETS.items():
        assert load_energy_model(folder / f"{name}.toml") == model
    horowitz, loihi = PRESETS["horowitz45nm"], PRESETS["loihi"]
    assert (horowitz.add_pj_per_bit, horowitz.mult_pj_per_bit2) == (0.03 / 8, 0.2 / 64)  # 8-bit add 0.03 pJ, 8x8 multiply 0.2 pJ
    assert (loihi.synop_pj, loihi.spike_pj, loihi.neuron_pj) == (23.6, 3.5, 81.0)
    bitserial = PRESETS["bitserial45nm"]
    assert bitserial.to_dict() == {**horowitz.to_dict(), "name": "bitserial45nm", "datapath": "shift_add", "description": bitserial.description}


# ---------------------------------------------------------------------------- membrane bits U (issue 30)
U_CONFIG = Config({"fc1": LayerChoice(4, 2, 2, "uniform", 8), "fc2": LayerChoice(3, 1, 3, "pow2", 6)})


def test_u_bit_membranes_by_hand():
    # test_horowitz_by_hand with fc1 at U = 8 and fc2 at U = 6 (synapses and weights unchanged):
    # fc1: 8 updates · 2 adds · 8 bits · 0.00375 = 0.48; membranes 8·2·8 = 128 bits of a
    #      4·8/8 = 4-byte memory (8 KB tier): 128/64·10 = 20  → 1.32 + 0.48 + 15 + 20 = 36.8
    # fc2: 9 · 2 · 6 · 0.00375 = 0.405; membranes 2·9·6 = 108 bits: 108/64·10 = 16.875
    #      → 0.405 + 0.405 + 8.4375 + 16.875 = 26.1225
    report = energy_report(SPECS, U_CONFIG, "horowitz45nm")
    fc1, fc2 = report.layers
    assert (fc1.membrane_width, fc2.membrane_width) == (8, 6)
    assert fc1.compute_pj == pytest.approx(1.32 + 0.48) and fc1.membrane_memory_pj == pytest.approx(20.0)
    assert fc1.membrane_bits_accessed == 128 and fc2.membrane_bits_accessed == 108
    assert fc2.compute_pj == pytest.approx(0.405 + 0.405) and fc2.membrane_memory_pj == pytest.approx(16.875)
    assert report.total_pj == pytest.approx(62.9225)
    assert energy_pj(SPECS, U_CONFIG) == pytest.approx(62.9225)
    assert report.to_dict()["layers"][0]["membrane_width"] == 8 and " U " in report.format().splitlines()[1]
    # Event-driven: the neurons update densely, so the membrane terms are those of the dense
    # estimate: U moves the total by the same −49.28 pJ (−0.48 − 20 − 0.675 − 28.125).
    rates = {"fc1": 0.5, "fc2": 0.25}
    measured = energy_report(SPECS, U_CONFIG, "horowitz45nm", rates=rates).total_pj
    assert measured - energy_report(SPECS, CONFIG, "horowitz45nm", rates=rates).total_pj == pytest.approx(-49.28)
    # Loihi's 81 pJ per update includes its memory: U changes nothing there.
    assert energy_report(SPECS, U_CONFIG, "loihi").total_pj == energy_report(SPECS, CONFIG, "loihi").total_pj


def test_u_sets_the_membrane_memory_tier_and_counts_qkv_neurons():
    model = PRESETS["horowitz45nm"]
    # 5000 neurons: U = 8 → 5000 bytes (8 KB tier, 10 pJ); U = 16 → 10 000 bytes (32 KB tier, 20 pJ).
    big = LayerSpec("big", "linear", 500, 5000, 1, 5000, (5000,), (1,))
    narrow, wide = (layer_energy(model, big, LayerChoice(4, 1, 1, "uniform", u)) for u in (8, 16))
    assert (narrow.membrane_memory, wide.membrane_memory) == ("SRAM 8 KB", "SRAM 32 KB")
    assert narrow.membrane_memory_pj == pytest.approx(2 * 5000 * 8 / 64 * 10)
    assert wide.membrane_memory_pj == pytest.approx(2 * 5000 * 16 / 64 * 20)
    # A q layer with 6 Q neurons beside its 10 input neurons, U = 5, T = 1: 16 updates,
    # 16·2·5·0.00375 = 0.6 pJ of adds, 2·16·5 = 160 bits of a 16·5/8 = 10-byte memory: 25 pJ.
    q = LayerSpec("q", "linear", 60, 10, 6, 60, (10,), (6,), output_neurons=6)
    e = layer_energy(model, q, LayerChoice(4, 1, 1, "uniform", 5))
    assert e.neuron_updates == 16 and e.membrane_bits_accessed == 160 and e.membrane_memory_pj == pytest.approx(25.0)
    assert e.compute_pj == pytest.approx(60 * (4 + 1 + 4) * 0.00375 + 0.6)  # 60 accumulates of A = 9 bits


def _before_u(model: EnergyModel, spec: LayerSpec, choice: LayerChoice, rate: float, source: float | None) -> tuple[float, float, float]:
    """(compute, weight memory, membrane memory) pJ as layer_energy computed them before U
    existed (commit 3203305), for the bit-for-bit check below."""
    import math

    w, s, t = choice.w_bits, choice.s_bits, choice.timesteps
    ops = spec.synapses * t * rate
    acc = model.accumulator_width(spec, choice)
    if s == 1:
        adds, mults, events = ops, 0.0, ops
    elif model.datapath == "shift_add":
        adds, mults, events = ops * s, 0.0, ops * s
    else:
        adds, events = ops, ops
        mults = 0.0 if choice.scheme == "pow2" else ops
    compute = adds * acc * model.add_pj_per_bit + mults * w * s * model.mult_pj_per_bit2 + events * model.synop_pj
    weight_read = ops * w
    w_pj, _ = model.memory_pj(spec.n_weights * w / 8)
    if spec.owns_neuron:
        updates = spec.n_inputs * t
        spikes = updates * (rate if source is None else source)
    else:
        updates = spikes = 0.0
    assert not spec.attention_products and not math.isnan(compute)
    updates += spec.output_neurons * t
    compute += updates * (model.neuron_pj + model.neuron_adds * model.membrane_bits * model.add_pj_per_bit) + spikes * model.spike_pj
    membrane_bits = 2 * updates * model.membrane_bits
    membranes = (spec.n_inputs if spec.owns_neuron else 0) + spec.output_neurons
    m_pj, _ = model.memory_pj(membranes * model.membrane_bits / 8)
    return float(compute), float(weight_read / 64 * w_pj), float(membrane_bits / 64 * m_pj)


@pytest.mark.parametrize("preset", ["horowitz45nm", "bitserial45nm", "loihi"])
def test_no_u_costs_what_it_cost_before_u_bit_for_bit(preset):
    model = PRESETS[preset]
    specs = [*SPECS, LayerSpec("sc", "conv", 8, 16, 32, 64, (4, 2, 2), (8, 2, 2), spike_source="fc1"),
             LayerSpec("q", "linear", 60, 10, 6, 60, (10,), (6,), output_neurons=6),
             LayerSpec("big", "linear", 500, 5000, 1, 5000, (5000,), (1,))]
    choices = [LayerChoice(4, 2, 2, "uniform"), LayerChoice(3, 1, 3, "pow2"), LayerChoice(2, 4, 1, "uniform"), LayerChoice(8, 3, 2, "pow2")]
    for spec in specs:
        for choice in choices:
            for rate, source in ((1.0, None), (0.3, 0.7)):
                e = layer_energy(model, spec, choice, rate=rate, source_rate=source)
                assert (e.compute_pj, e.weight_memory_pj, e.membrane_memory_pj) == _before_u(model, spec, choice, rate, source)
                assert e.membrane_width == model.membrane_bits
                # U equal to the preset's width is the same estimate as no U, bit for bit
                same = layer_energy(model, spec, LayerChoice(choice.w_bits, choice.s_bits, choice.timesteps, choice.scheme, model.membrane_bits),
                                    rate=rate, source_rate=source)
                assert same.total_pj == e.total_pj
