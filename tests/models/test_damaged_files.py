"""Damaged model files: a checkpoint (``evaluate --save-checkpoint``) or an ``.sbq`` file that
is cut off, has bytes changed or holds the wrong things is a one-line ConfigError naming the
file, never a traceback or a warning on stderr."""

from __future__ import annotations

import base64
import collections
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebits import models
from spikebits.models import apply_config, build, load_sbq, save_sbq
from spikebits.search.cli.checkpoint import CHECKPOINT_SCHEMA, load_checkpoint, save_checkpoint
from spikebits.space import Config, ConfigError, LayerChoice

CONFIG = {"conv2": LayerChoice(3, 2, 2, "uniform"), "conv3": LayerChoice(2, 2, 1, "pow2"), "fc": LayerChoice(4, 2, 1, "uniform")}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, Config]:
    """A real checkpoint and a real .sbq file of a small digits_cnn (weights 45, 450, 1800, 60)."""
    folder = tmp_path_factory.mktemp("damaged")
    torch.manual_seed(0)
    model = build("digits_cnn", width=5 / 32, num_classes=3)
    config = models.default_space(model).complete(Config(CONFIG), strict=False)
    apply_config(model, config)
    model.eval()
    with torch.no_grad():
        model(torch.rand(8, 1, 16, 16))  # calibrates every α and γ
    save_checkpoint(model, str(folder / "good.pt"), config)
    save_sbq(model, folder / "good.sbq")
    return folder / "good.pt", folder / "good.sbq", config


def one_line_error(load, path, *words: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def test_good_files_load(files):
    ckpt, sbq, config = files
    state, saved = load_checkpoint(str(ckpt))
    assert saved == config and all(isinstance(k, str) for k in state)
    assert models.current_config(load_sbq(sbq)) == config


# --------------------------------------------------------------------------- checkpoints
def _torch_file(path: Path, obj, **kwargs) -> Path:
    torch.save(obj, path, **kwargs)
    return path


def _state(ckpt: Path) -> dict:
    return torch.load(ckpt, weights_only=True)


class Opaque:
    """An object a weights-only load refuses."""


CHECKPOINTS = {
    # name: (make(tmp, good checkpoint) -> path, words the message must hold)
    "empty": (lambda tmp, ck: _bytes(tmp / "e.pt", b""), ["empty"]),
    "random bytes": (lambda tmp, ck: _bytes(tmp / "r.pt", np.random.default_rng(0).bytes(3000)), ["not a torch checkpoint"]),
    "text": (lambda tmp, ck: _bytes(tmp / "t.pt", b"not a checkpoint"), ["cannot read checkpoint", "not a torch checkpoint"]),
    "zip of garbage": (lambda tmp, ck: _zip(tmp / "z.pt"), ["damaged or truncated torch file"]),
    "raw pickle of a set": (lambda tmp, ck: _bytes(tmp / "p.pt", pickle.dumps({"a": {1, 2}}, protocol=4)), ["not a weights-only torch file"]),
    "torch file of an object": (lambda tmp, ck: _torch_file(tmp / "o.pt", {"w": torch.zeros(2), "o": Opaque()}),
                                ["not a weights-only torch file", "Opaque", "does not load"]),
    "legacy torch file of an object": (lambda tmp, ck: _torch_file(tmp / "l.pt", {"o": Opaque()}, _use_new_zipfile_serialization=False),
                                       ["not a weights-only torch file"]),
    "config not text": (lambda tmp, ck: _torch_file(tmp / "c1.pt", {**_state(ck), "config": 7}), ["config of type int"]),
    "config not JSON": (lambda tmp, ck: _torch_file(tmp / "c2.pt", {**_state(ck), "config": "{layers"}), ["malformed config"]),
    "config of the wrong shape": (lambda tmp, ck: _torch_file(tmp / "c3.pt", {**_state(ck), "config": "[1, 2]"}), ["malformed config"]),
    "config bits out of range": (lambda tmp, ck: _torch_file(tmp / "c4.pt", {**_state(ck), "config": json.dumps(
        {"layers": {"conv2": {"w_bits": 99, "s_bits": 2, "timesteps": 1}}})}), ["malformed config", "w_bits"]),
    "other schema": (lambda tmp, ck: _torch_file(tmp / "s.pt", {**_state(ck), "schema": "spikebits.checkpoint/9"}), ["spikebits.checkpoint/9"]),
    "no state_dict": (lambda tmp, ck: _torch_file(tmp / "n.pt", {"schema": CHECKPOINT_SCHEMA, "config": _state(ck)["config"]}),
                      ["not a model state_dict"]),
    "integer keys": (lambda tmp, ck: _torch_file(tmp / "k.pt", {1: torch.zeros(2)}), ["key 1 is not a string"]),
    "values not tensors": (lambda tmp, ck: _torch_file(tmp / "v.pt", collections.OrderedDict(w=torch.zeros(1), b=[1.0])),
                           ["entry 'b' is a list, not a tensor"]),
    "a tensor, not a dict": (lambda tmp, ck: _torch_file(tmp / "x.pt", torch.zeros(3)), ["not a model state_dict (found Tensor)"]),
    "an empty dict": (lambda tmp, ck: _torch_file(tmp / "d.pt", {}), ["no entries"]),
    "a directory": (lambda tmp, ck: _mkdir(tmp / "dir.pt"), ["is a folder, not a file"]),
    "a device": (lambda tmp, ck: Path("/dev/null"), ["is a device, not a file"]),
    "a link to a device": (lambda tmp, ck: _link(tmp / "zero.pt", "/dev/zero"), ["is a device, not a file"]),
    "missing": (lambda tmp, ck: tmp / "missing.pt", ["does not exist"]),
}


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"garbage")
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _link(path: Path, target: str) -> Path:
    os.symlink(target, path)
    return path


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_bad_checkpoint_is_one_line(case, files, tmp_path, capfd):
    make, words = CHECKPOINTS[case]
    path = make(tmp_path, files[0])
    message = one_line_error(lambda p: load_checkpoint(str(p)), path, *words)
    assert "weights_only" not in message  # never the advice to load pickled code
    out, err = capfd.readouterr()
    assert out == "" and err == "", err  # torch's warnings are kept off stderr


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_checkpoint(fraction, files, tmp_path):
    data = files[0].read_bytes()
    path = _bytes(tmp_path / "cut.pt", data[: int(len(data) * fraction)])
    one_line_error(lambda p: load_checkpoint(str(p)), path, "cannot read checkpoint", "--save-checkpoint")


def test_checkpoint_with_changed_bytes_loads_or_is_one_line(files, tmp_path, capfd):
    data = files[0].read_bytes()
    rng = np.random.default_rng(1)
    for i, position in enumerate(rng.integers(0, len(data), size=40)):
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        path = _bytes(tmp_path / f"flip{i}.pt", bytes(damaged))
        try:
            load_checkpoint(str(path))  # a byte of tensor data may change without any check noticing
        except ConfigError as err:
            assert "\n" not in str(err) and str(path) in str(err)
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- .sbq files
def _parts(sbq: Path) -> tuple[bytes, dict, bytes]:
    raw = sbq.read_bytes()
    (length,) = struct.unpack("<Q", raw[4:12])
    return raw, json.loads(raw[12 : 12 + length]), raw[12 + length :]


def _with_header(path: Path, header, payload: bytes) -> Path:
    blob = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return _bytes(path, b"SBQ1" + struct.pack("<Q", len(blob)) + blob + payload)


def _edit(change):
    """A case that changes the header dict in place (``change(header)``)."""
    def make(tmp: Path, sbq: Path) -> Path:
        _, header, payload = _parts(sbq)
        change(header)
        return _with_header(tmp / "edited.sbq", header, payload)
    return make


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(header):
        target = header
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return _edit(change)


def _weight(layer: int, field: str, value):
    return _edit(lambda h: h["weights"][layer].__setitem__(field, value))


def _state_entry(key: str, field: str, value):
    return _edit(lambda h: h["state"][key].__setitem__(field, value))


def _longer_bn_state(header):
    entry = header["state"]["bn2.running_var"]
    entry["shape"] = [entry["shape"][0] + 1]
    entry["data"] = base64.b64encode(np.ones(entry["shape"][0], "<f4").tobytes()).decode()


SBQ = {
    "random bytes": (lambda tmp, sbq: _bytes(tmp / "r.sbq", np.random.default_rng(0).bytes(5000)), ["bad magic"]),
    "wrong magic": (lambda tmp, sbq: _bytes(tmp / "m.sbq", b"SBQ0" + sbq.read_bytes()[4:]), ["bad magic"]),
    "empty": (lambda tmp, sbq: _bytes(tmp / "e.sbq", b""), ["truncated"]),
    "extra bytes": (lambda tmp, sbq: _bytes(tmp / "x.sbq", sbq.read_bytes() + b"\0"), ["damaged"]),
    "header length huge": (lambda tmp, sbq: _bytes(tmp / "h.sbq", b"SBQ1" + struct.pack("<Q", 2**63) + sbq.read_bytes()[12:]),
                           ["runs past the end"]),
    "header not JSON": (lambda tmp, sbq: _with_header(tmp / "j.sbq", b"{not json" + b" " * 30, _parts(sbq)[2]), ["not valid JSON"]),
    "header with NaN": (lambda tmp, sbq: _with_header(tmp / "n.sbq", b'{"schema": NaN}' + b" " * 30, _parts(sbq)[2]), ["NaN"]),
    "header not UTF-8": (lambda tmp, sbq: _with_header(tmp / "u.sbq", b"\xff\xfe" * 20, _parts(sbq)[2]), ["not JSON"]),
    "header a list": (lambda tmp, sbq: _with_header(tmp / "l.sbq", [1, 2], _parts(sbq)[2]), ["malformed header", "not an object"]),
    "header other schema": (_set("schema", "spikebits.sbq/9"), ["spikebits.sbq/9"]),
    "payload_bytes not a number": (_set("payload_bytes", "702"), ["payload_bytes"]),
    "payload_bytes larger": (_set("payload_bytes", 10**6), ["truncated"]),
    "payload_bits wrong": (_set("payload_bits", 99), ["payload bits do not fit"]),
    "unknown model": (_set("model", "nosuch_net"), ["nosuch_net"]),
    "model kwargs of the wrong type": (_set("model_kwargs", "wide"), ["malformed header"]),
    "unknown model kwarg": (_set("model_kwargs", "depth", 3), ["damaged"]),
    "model kwarg of the wrong type": (_set("model_kwargs", "width", "wide"), ["damaged"]),
    "other architecture": (_set("model_kwargs", "width", 6 / 32), ["does not match"]),
    "config not an object": (_set("config", [1]), ["config"]),
    "config bits out of range": (_set("config", "layers", "conv2", "w_bits", 40), ["w_bits"]),
    "config names an unknown layer": (_set("config", "layers", "conv9", {"w_bits": 4, "s_bits": 2, "timesteps": 1}), ["conv9"]),
    "weights not a list": (_set("weights", {"a": 1}), ["malformed header"]),
    "weight bits out of range": (_weight(1, "bits", 40), ["40 bits"]),
    "weight bits a string": (_weight(1, "bits", "3"), ["malformed weight entry"]),
    "weight bits disagree with the config": (_weight(1, "bits", 4), ["do not match the config"]),
    "weight of an unknown layer": (_weight(1, "layer", "conv9"), ["conv9"]),
    "weight shape": (_weight(1, "shape", [5, 5, 3, 6]), ["do not match"]),
    "weight offset negative": (_weight(2, "bit_offset", -8), ["bit -8"]),
    "weight offset past the end": (_weight(3, "bit_offset", 10**6), ["run past the payload"]),
    "weight alpha not hex": (_weight(0, "alpha", "one"), ["malformed weight entry"]),
    "weight alpha changed": (_weight(0, "alpha", (0.5).hex()), ["α of 'conv1'"]),
    "state entry bad base64": (_state_entry("bn2.running_var", "data", "!!!"), ["malformed header"]),
    "state entry unknown dtype": (_state_entry("bn2.running_var", "dtype", "float99"), ["malformed header"]),
    "state entry object dtype": (_state_entry("bn2.running_var", "dtype", "object"), ["malformed header"]),
    "state entry shape of the data": (_state_entry("bn2.running_var", "shape", [3, 7]), ["malformed header"]),
    "state entry shape of another architecture": (_edit(_longer_bn_state), ["bn2.running_var", "shape"]),
    "state entry unknown": (_edit(lambda h: h["state"].__setitem__("extra.weight", h["state"]["bn2.running_var"])), ["extra.weight"]),
    "state entry missing": (_edit(lambda h: h["state"].pop("bn2.running_var")), ["bn2.running_var"]),
    "a directory": (lambda tmp, sbq: _mkdir(tmp / "dir.sbq"), ["is a folder, not a file"]),
    "a device": (lambda tmp, sbq: _link(tmp / "zero.sbq", "/dev/zero"), ["is a device, not a file"]),
}


@pytest.mark.parametrize("case", list(SBQ))
def test_damaged_sbq_is_one_line(case, files, tmp_path, capfd):
    make, words = SBQ[case]
    path = make(tmp_path, files[1])
    message = one_line_error(load_sbq, path, *words)
    assert "export" in message or "give" in message, message
    assert capfd.readouterr().err == ""


def test_truncated_sbq_at_every_part(files, tmp_path):
    raw, header, payload = _parts(files[1])
    header_end = len(raw) - len(payload)
    cuts = [1, 3, 4, 8, 11, 12, 13, header_end // 2, header_end - 1, header_end, header_end + 1, len(raw) - 100, len(raw) - 1]
    for cut in cuts:
        path = _bytes(tmp_path / f"cut{cut}.sbq", raw[:cut])
        message = one_line_error(load_sbq, path)
        assert "truncated" in message or "damaged" in message, message
        assert "export the model again" in message, message


def test_sbq_with_changed_bytes_loads_or_is_one_line(files, tmp_path):
    raw, _, payload = _parts(files[1])
    header_end = len(raw) - len(payload)
    rng = np.random.default_rng(2)
    refused = 0
    for i, position in enumerate(rng.integers(0, len(raw), size=60)):
        damaged = bytearray(raw)
        damaged[position] ^= 0xFF
        path = _bytes(tmp_path / f"flip{i}.sbq", bytes(damaged))
        try:
            load_sbq(path)  # a changed payload byte may still decode to valid levels
        except ConfigError as err:
            assert "\n" not in str(err) and str(path) in str(err)
            refused += 1
        else:
            assert position >= header_end, position  # a changed header byte (made non-ASCII) is always caught
    assert refused > 0


# --------------------------------------------------------------------------- membrane bits U (issue 30)
U_CONFIG = {"conv2": LayerChoice(3, 2, 2, "uniform", 6), "conv3": LayerChoice(2, 2, 1, "pow2"), "fc": LayerChoice(4, 2, 1, "uniform", 4)}


@pytest.fixture(scope="module")
def u_sbq(tmp_path_factory) -> Path:
    """An .sbq file of the small digits_cnn whose conv2 and fc store U-bit membranes (U6: F 1, U4: F 0)."""
    torch.manual_seed(0)
    model = build("digits_cnn", width=5 / 32, num_classes=3)
    apply_config(model, models.default_space(model).complete(Config(U_CONFIG), strict=False))
    model.eval()
    with torch.no_grad():
        model(torch.rand(8, 1, 16, 16))
    path = tmp_path_factory.mktemp("damaged_u") / "u.sbq"
    save_sbq(model, path)
    return path


def _membrane(layer: int, **fields):
    """A case that sets (a value) or drops (None) the membrane fields of one weight entry."""
    def change(header):
        entry = header["weights"][layer]
        for key, value in fields.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
    return _edit(change)


SBQ_U = {
    "u_bits out of range": (_membrane(1, u_bits=99), ["u_bits 99, outside 2..32"]),
    "u_bits a string": (_membrane(1, u_bits="6"), ["membrane width of 'conv2' is malformed"]),
    "u_bits a fraction": (_membrane(1, u_bits=6.5), ["membrane width of 'conv2' is malformed"]),
    "u_bits true": (_membrane(1, u_bits=True), ["membrane width of 'conv2' is malformed"]),
    "fraction bits wrong": (_membrane(1, u_fraction_bits=3), ["3 fraction bits, where U = 6 gives 1"]),
    "u_bits without fraction bits": (_membrane(3, u_fraction_bits=None), ["has u_bits without u_fraction_bits"]),
    "fraction bits without u_bits": (_membrane(3, u_bits=None), ["has u_fraction_bits without u_bits"]),
    "u_bits disagree with the config": (_membrane(1, u_bits=8, u_fraction_bits=2), ["is 8-bit, the config says u_bits 6"]),
    "membrane dropped": (_membrane(1, u_bits=None, u_fraction_bits=None), ["'conv2' is unquantized, the config says u_bits 6"]),
    "u_bits on an unquantized layer": (_membrane(2, u_bits=8, u_fraction_bits=2), ["'conv3' is 8-bit, the config says an unquantized one"]),
    "config u_bits out of range": (_set("config", "layers", "conv2", "u_bits", 1), ["u_bits"]),
}


def test_the_u_file_loads(u_sbq):
    loaded = load_sbq(u_sbq)
    assert [layer.neuron.membrane_bits for layer in loaded.spiking_layers().values()] == [None, 6, None, 4]


@pytest.mark.parametrize("case", list(SBQ_U))
def test_damaged_membrane_width_is_one_line(case, u_sbq, tmp_path, capfd):
    make, words = SBQ_U[case]
    message = one_line_error(load_sbq, make(tmp_path, u_sbq), *words)
    assert "export the model again" in message, message
    assert capfd.readouterr().err == ""
