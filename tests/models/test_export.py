"""The packed ``.sbq`` model file: bit packing, weight codes, exact round trips, errors, CLI."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch
from torch import nn

from spikebits import models
from spikebits.evaluators import Evaluator
from spikebits.evaluators.cost import size_bits
from spikebits.models import SpikingLayer, apply_config, build, layer_specs, load_sbq, pack_bits, save_sbq, unpack_bits, weight_codes
from spikebits.search.cli import main
from spikebits.space import Config, ConfigError, LayerChoice, OutputError

# digits_cnn: conv1 (pinned W8/S8/T1) 288 weights, conv2 18432, conv3 73728, fc 1280.
MIXED = Config(
    {
        "conv2": LayerChoice(3, 2, 2, "pow2"),
        "conv3": LayerChoice(2, 1, 1, "uniform"),
        "fc": LayerChoice(5, 3, 1, "uniform"),
    }
)
MIXED_SIZE_BITS = 288 * 8 + 18432 * 3 + 73728 * 2 + 1280 * 5  # 211456


# --------------------------------------------------------------------------- bit packing
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8, 16])
def test_pack_unpack_round_trip(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, size=1001)
    data = pack_bits(codes, bits)
    assert len(data) == math.ceil(1001 * bits / 8)
    assert np.array_equal(unpack_bits(data, bits, 1001), codes)
    # A slice starting mid-byte: codes 3..10 start at bit 3·bits.
    assert np.array_equal(unpack_bits(data, bits, 8, bit_offset=3 * bits), codes[3:11])


def test_pack_bits_by_hand():
    # LSB first: 1 → bits 1,0; 2 → 0,1; 3 → 1,1: b0..b5 = 1,0,0,1,1,1 = 1 + 8 + 16 + 32 = 0x39.
    assert pack_bits(np.array([1, 2, 3]), 2) == bytes([0b00111001])
    # 3-bit codes 2,7,0,3,0,5 → bits 010 111 000 110 000 101 (LSB first, 18 bits):
    # byte0 = b 0,1,0,1,1,1,0,0 = 2+8+16+32 = 0x3A; byte1 = 0,1,1,0,0,0,0,1 = 2+4+128 = 0x86; byte2 = 0,1 = 0x02.
    assert pack_bits(np.array([2, 7, 0, 3, 0, 5]), 3) == bytes([0x3A, 0x86, 0x02])
    assert list(unpack_bits(bytes([0x3A, 0x86, 0x02]), 3, 6)) == [2, 7, 0, 3, 0, 5]


def test_pack_rejects_out_of_range_and_unpack_rejects_short_data():
    with pytest.raises(ValueError):
        pack_bits(np.array([4]), 2)
    with pytest.raises(ValueError):
        pack_bits(np.array([-1]), 3)
    with pytest.raises(ConfigError, match="truncated"):
        unpack_bits(bytes(2), 3, 6)  # 18 bits do not fit 16


# --------------------------------------------------------------------------- weight codes
WEIGHTS = [0.5, -0.25, 0.0, 1.0, 0.1, -3.0]


def hand_layer(bits: int, scheme: str, alpha: float) -> SpikingLayer:
    layer = SpikingLayer(nn.Linear(len(WEIGHTS), 1, bias=False))
    layer.configure(LayerChoice(bits, 2, 1, scheme))
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.tensor([WEIGHTS]))
        layer.weight_quantizer.alpha.fill_(alpha)
        layer.weight_quantizer.initialized.fill_(True)
    return layer


def test_weight_codes_uniform_by_hand():
    # α = 0.25, Q_p = 3: w/α = 2, −1, 0, 4, 0.4, −12 → levels 2, −1, 0, 3, 0, −3
    # → 3-bit two's complement 2, 7, 0, 3, 0, 5.
    codes, alpha = weight_codes(hand_layer(3, "uniform", 0.25))
    assert alpha == 0.25
    assert codes.tolist() == [2, 7, 0, 3, 0, 5]


def test_weight_codes_pow2_by_hand():
    # α = 1, b = 3: k_max = 2, levels {0, ±1, ±0.5, ±0.25}. 0.5 → k=1, m=2 → 2; −0.25 → k=2,
    # m=3, sign → 4+3 = 7; 0 → 0; 1 → k=0, m=1 → 1; 0.1 (log2 −3.3 rounds below −2) → 0;
    # −3 (clipped to −1) → 4+1 = 5.
    codes, alpha = weight_codes(hand_layer(3, "pow2", 1.0))
    assert alpha == 1.0
    assert codes.tolist() == [2, 7, 0, 1, 0, 5]


@pytest.mark.parametrize("scheme", ["uniform", "pow2"])
def test_weight_codes_one_bit(scheme):
    # α·sign(w), zero → +α: bit 0 = +α, 1 = −α.
    codes, _ = weight_codes(hand_layer(1, scheme, 0.3))
    assert codes.tolist() == [0, 1, 0, 0, 0, 1]


def test_weight_codes_alpha_is_the_exact_float32():
    codes, alpha = weight_codes(hand_layer(4, "uniform", 0.1))
    assert alpha == float(np.float32(0.1)) and alpha != 0.1
    # Q_p = 7, α = 0.100000001…: w/α ≈ 5, −2.4999999, 0, 9.9999998, 1, −30 → 5, −2, 0, 7, 1, −7 → mod 16.
    assert codes.tolist() == [5, 14, 0, 7, 1, 9]


# --------------------------------------------------------------------------- round trips
def small_model(config: Config) -> nn.Module:
    """digits_cnn with c = 5 channels: weight counts 45, 450, 1800, 60 — the layer offsets
    (360, 1710, 5310 bits) and the 5610-bit payload do not fall on byte boundaries."""
    torch.manual_seed(0)
    model = build("digits_cnn", width=5 / 32, num_classes=3)
    apply_config(model, models.default_space(model).complete(config, strict=False))
    model.eval()
    with torch.no_grad():
        model(torch.rand(8, 1, 16, 16))  # initialises every α and γ
    return model


def test_round_trip_small_model_unaligned(tmp_path):
    config = Config(
        {"conv2": LayerChoice(3, 2, 2, "uniform"), "conv3": LayerChoice(2, 4, 1, "pow2"), "fc": LayerChoice(5, 1, 3, "uniform")}
    )
    model = small_model(config)
    summary = save_sbq(model, tmp_path / "s.sbq")
    bits = 45 * 8 + 450 * 3 + 1800 * 2 + 60 * 5
    assert bits == 5610
    assert summary["payload_bits"] == bits and summary["payload_bytes"] == 702
    loaded = load_sbq(tmp_path / "s.sbq")
    assert not loaded.training
    x = torch.rand(16, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    for name, layer in loaded.spiking_layers().items():
        original = model.spiking_layers()[name]
        assert torch.equal(layer.quantized_weight(), original.quantized_weight())
        assert layer.choice == original.choice


def test_one_bit_layers_round_trip(tmp_path):
    config = Config({"conv2": LayerChoice(1, 2, 1, "pow2"), "conv3": LayerChoice(1, 1, 2, "uniform"), "fc": LayerChoice(8, 2, 1, "pow2")})
    model = small_model(config)
    assert save_sbq(model, tmp_path / "b.sbq")["payload_bits"] == 45 * 8 + 450 + 1800 + 60 * 8
    x = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), load_sbq(tmp_path / "b.sbq")(x))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    cache = tmp_path_factory.mktemp("export-cache")
    torch.manual_seed(0)
    evaluator = Evaluator("digits_cnn", "digits", epochs=0, pretrain_epochs=1, cache_dir=cache)
    config = evaluator.space.complete(MIXED, strict=False)
    model = evaluator.finetune(config, epochs=0)
    return evaluator, config, model, cache


def test_digits_round_trip_is_exact(digits, tmp_path):
    evaluator, config, model, _ = digits
    path = tmp_path / "digits.sbq"
    summary = save_sbq(model, path)
    assert summary["payload_bits"] == size_bits(evaluator.specs, config) == MIXED_SIZE_BITS
    assert summary["payload_bytes"] == math.ceil(MIXED_SIZE_BITS / 8) == 26432
    raw = path.read_bytes()
    assert raw[:4] == b"SBQ1"
    (header_len,) = struct.unpack("<Q", raw[4:12])
    assert header_len == summary["header_bytes"]
    assert len(raw) == 4 + 8 + header_len + math.ceil(MIXED_SIZE_BITS / 8) == summary["file_bytes"]
    header = json.loads(raw[12 : 12 + header_len])
    assert header["schema"] == "spikebits.sbq/1" and header["model"] == "digits_cnn"
    assert Config.from_dict(header["config"]) == config
    assert [(w["layer"], w["bits"], w["scheme"], w["bit_offset"]) for w in header["weights"]] == [
        ("conv1", 8, "uniform", 0),
        ("conv2", 3, "pow2", 2304),
        ("conv3", 2, "uniform", 2304 + 55296),
        ("fc", 5, "uniform", 2304 + 55296 + 147456),
    ]
    assert not any(k.endswith("synapse.weight") for k in header["state"])
    assert "fc.synapse.bias" in header["state"] and "bn2.running_var" in header["state"]

    loaded = load_sbq(path)
    x = evaluator.data.test.tensors[0][:64]
    model.eval()
    with torch.no_grad():
        expected = model(x)
        got = loaded(x)
    assert torch.equal(expected, got)
    assert float(loaded.conv2.weight_quantizer.alpha.detach()) == float.fromhex(header["weights"][1]["alpha"])


# --------------------------------------------------------------------------- errors
def test_malformed_files_raise_config_error(digits, tmp_path):
    _, _, model, _ = digits
    good = tmp_path / "good.sbq"
    save_sbq(model, good)
    raw = good.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[4:12])
    cases = {
        "bad magic": b"SBQ0" + raw[4:],
        "truncated": raw[:-10],
        "truncated header": raw[: 12 + header_len // 2],
        "not JSON": raw[:12] + b"{" * header_len + raw[12 + header_len :],
        "wrong schema": None,
    }
    header = json.loads(raw[12 : 12 + header_len])
    header["schema"] = "spikebits.sbq/9"
    blob = json.dumps(header).encode()
    cases["wrong schema"] = b"SBQ1" + struct.pack("<Q", len(blob)) + blob + raw[12 + header_len :]
    for name, data in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.sbq"
        bad.write_bytes(data)
        with pytest.raises(ConfigError) as err:
            load_sbq(bad)
        assert "\n" not in str(err.value), name
    with pytest.raises(ConfigError, match="does not exist"):
        load_sbq(tmp_path / "missing.sbq")


def test_uninitialised_quantizer_is_refused_and_old_file_kept(tmp_path):
    model = small_model(Config({"conv2": LayerChoice(3, 2, 1), "conv3": LayerChoice(2, 2, 1), "fc": LayerChoice(4, 2, 1)}))
    path = tmp_path / "m.sbq"
    save_sbq(model, path)
    before = path.read_bytes()
    model.conv3.weight_quantizer.initialized.fill_(False)
    with pytest.raises(ConfigError, match="uncalibrated weight step sizes.*save-checkpoint"):
        save_sbq(model, path)
    assert path.read_bytes() == before
    assert not bool(model.conv3.weight_quantizer.initialized)  # export did not calibrate it behind our back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sbq"]  # no temporary file left

    models.set_full_precision(model)
    with pytest.raises(ConfigError, match="apply a config"):
        save_sbq(model, path)


# --------------------------------------------------------------------------- CLI
def test_cli_export_missing_checkpoint_exits_2(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(MIXED.to_json())
    code = main(["export", "--config", str(cfg), "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.sbq")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "nope.pt does not exist" in err and "--save-checkpoint" in err
    assert not (tmp_path / "m.sbq").exists()


def test_cli_refuses_checkpoint_with_cost_only(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(MIXED.to_json())
    code = main(["evaluate", "--config", str(cfg), "--cost-only", "--save-checkpoint", str(tmp_path / "ck.pt")])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--cost-only" in err
    assert not (tmp_path / "ck.pt").exists()


def test_cli_evaluate_then_export(digits, tmp_path, capsys):
    evaluator, config, model, cache = digits
    cfg = tmp_path / "c.json"
    cfg.write_text(MIXED.to_json())
    ckpt, out = tmp_path / "ck.pt", tmp_path / "m.sbq"
    threads = str(torch.get_num_threads())
    code = main(["evaluate", "--config", str(cfg), "--epochs", "0", "--pretrain-epochs", "1", "--cache-dir", str(cache),
                 "--save-checkpoint", str(ckpt), "--quiet", "--threads", threads])
    stdout, _ = capsys.readouterr()
    assert code == 0
    metrics = json.loads(stdout)
    assert metrics["size_bits"] == MIXED_SIZE_BITS
    assert set(metrics) == set(evaluator.metric_names)
    assert ckpt.is_file()

    code = main(["export", "--config", str(cfg), "--checkpoint", str(ckpt), "--out", str(out)])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert stdout.count("\n") == 1 and f"size_bits {MIXED_SIZE_BITS}" in stdout and f"payload {MIXED_SIZE_BITS // 8}" in stdout
    assert f": {out.stat().st_size} bytes" in stdout

    loaded = load_sbq(out)
    x = evaluator.data.test.tensors[0][:64]
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert layer_specs(loaded)[1].n_weights == 18432

    # A failing export (damaged checkpoint, then one of another config) leaves the old file intact.
    before = out.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(["export", "--config", str(cfg), "--checkpoint", str(bad), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "cannot read checkpoint" in err
    other = tmp_path / "other.json"
    other.write_text(MIXED.replace(conv2=LayerChoice(3, 2, 4, "pow2")).to_json())  # T = 4: γ has 4 entries, not 2
    code = main(["export", "--config", str(other), "--checkpoint", str(ckpt), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "differs from the config checkpoint" in err and "W3pS2T2" in err
    # A plain state_dict carries no config: a config of another T does not fit its γ.
    plain = tmp_path / "plain.pt"
    torch.save(torch.load(ckpt, weights_only=True)["state_dict"], plain)
    code = main(["export", "--config", str(other), "--checkpoint", str(plain), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "does not fit" in err
    code = main(["export", "--checkpoint", str(plain), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and "holds no config" in err
    assert out.read_bytes() == before
    # The checkpoint's own config is used when --config is left out: the same file.
    again = tmp_path / "again.sbq"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(again)]) == 0
    capsys.readouterr()
    assert again.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_failure_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    model = small_model(Config({"conv2": LayerChoice(3, 2, 1), "conv3": LayerChoice(2, 2, 1), "fc": LayerChoice(4, 2, 1)}))
    path = tmp_path / "m.sbq"
    path.write_bytes(b"old model bytes")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("spikebits.space.files.os.fsync", broken_fsync)
    with pytest.raises(OutputError, match="No space left"):
        save_sbq(model, path)
    assert path.read_bytes() == b"old model bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sbq"]


def test_resnet_with_shortcuts_round_trips(tmp_path):
    # A shortcut reads its block conv1's spikes, so its own neuron never fires and stays
    # uncalibrated: export must not refuse it (only weight step sizes are required).
    torch.manual_seed(0)
    model = build("resnet20", widths=(4, 8, 16), blocks=1, image_size=8)
    space = models.default_space(model)
    apply_config(model, space.uniform(LayerChoice(3, 2, 2, "pow2")))
    model.eval()
    x = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
    assert not bool(model.layer2[0].shortcut.neuron.initialized)
    summary = save_sbq(model, tmp_path / "r.sbq")
    n_weights = sum(layer.synapse.weight.numel() for layer in model.spiking_layers().values())
    assert summary["payload_bits"] == n_weights * 3 + model.conv1.synapse.weight.numel() * 5  # conv1 pinned at W8
    with torch.no_grad():
        assert torch.equal(load_sbq(tmp_path / "r.sbq")(x), expected)


# --------------------------------------------------------------------------- membrane bits U (issue 30)
U_CONFIG = Config(
    {"conv2": LayerChoice(3, 2, 2, "uniform", 6), "conv3": LayerChoice(2, 4, 1, "pow2", 9), "fc": LayerChoice(5, 1, 3, "uniform", 3)}
)


def test_u_bit_membranes_round_trip(tmp_path):
    # The packed state width per layer: U and F = max(0, ⌊(U − S − 1)/2⌋):
    # conv2 U6 S2 → F 1; conv3 U9 S4 → F 2; fc U3 S1 → F 0; conv1 (pinned, no U) has neither.
    model = small_model(U_CONFIG)
    summary = save_sbq(model, tmp_path / "u.sbq")
    assert summary["payload_bits"] == 5610  # U adds no payload: the state is not stored, only its width
    raw = (tmp_path / "u.sbq").read_bytes()
    (length,) = struct.unpack("<Q", raw[4:12])
    header = json.loads(raw[12 : 12 + length])
    assert [(w["layer"], w.get("u_bits"), w.get("u_fraction_bits")) for w in header["weights"]] == [
        ("conv1", None, None), ("conv2", 6, 1), ("conv3", 9, 2), ("fc", 3, 0)]
    loaded = load_sbq(tmp_path / "u.sbq")
    assert models.current_config(loaded) == models.current_config(model)
    assert [layer.neuron.membrane_bits for layer in loaded.spiking_layers().values()] == [None, 6, 9, 3]
    x = torch.rand(16, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_a_file_without_u_loads_unquantized(tmp_path):
    model = small_model(Config({n: LayerChoice(3, 2, 2, "uniform") for n in ("conv2", "conv3", "fc")}))
    save_sbq(model, tmp_path / "plain.sbq")
    raw = (tmp_path / "plain.sbq").read_bytes()
    (length,) = struct.unpack("<Q", raw[4:12])
    assert b"u_bits" not in raw[12 : 12 + length]  # written as before U existed
    loaded = load_sbq(tmp_path / "plain.sbq")
    assert all(layer.neuron.membrane_bits is None for layer in loaded.spiking_layers().values())


def test_a_learnable_or_unconfigured_membrane_is_refused(tmp_path):
    model = small_model(U_CONFIG)
    model.conv2.neuron.learn_membrane((4, 8))
    with pytest.raises(ConfigError, match="learnable .*membrane_param"):
        save_sbq(model, tmp_path / "l.sbq")
    model = small_model(U_CONFIG)
    model.fc.neuron.membrane_bits = 5
    with pytest.raises(ConfigError, match="layer 'fc' stores a 5-bit membrane, not as configured"):
        save_sbq(model, tmp_path / "m.sbq")
    assert not (tmp_path / "l.sbq").exists() and not (tmp_path / "m.sbq").exists()
