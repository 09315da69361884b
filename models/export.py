"""A packed, pickle-free model file (``.sbq``): integer weight codes at their own bit widths.

Layout (all integers little-endian)::

    b"SBQ1" | header length (8-byte unsigned) | UTF-8 JSON header | payload

The payload is one bit stream, LSB first, holding every synaptic layer's weight codes in
network order with no per-tensor padding, so it is exactly ⌈size_bits/8⌉ bytes with
size_bits = Σ_l N_w,l·B_w,l. A layer of b-bit weights stores, per weight (C order):

* uniform, b ≥ 2: the level k = clip(round(w/α), −Q_p, Q_p), Q_p = 2^(b−1) − 1, as b-bit
  two's complement;
* b = 1 (either scheme): one bit, 0 = +α, 1 = −α (a zero weight is +α, as the quantizer has it);
* pow2, b ≥ 2: a sign bit (the MSB) above a (b−1)-bit magnitude m: m = 0 is the zero level,
  m = k + 1 is α·2^(−k), k = 0 … 2^(b−1) − 2.

The header names the architecture (registry name and keyword arguments), the config, each
layer's bits, scheme, α (``float.hex``, exact) and bit offset, and every other state entry
(BatchNorm, biases, α, neuron γ, ``initialized`` flags) as base64 of its little-endian bytes.

A layer whose neurons store a U-bit membrane (``LayerChoice.u_bits``, ``docs/membrane_bits.md``)
also carries, in its weight entry, the packed state width ``u_bits`` = U and
``u_fraction_bits`` = F = ⌈(U − S − 2)/2⌉ (:func:`models.quantizers.membrane_fraction_bits`,
S the bits of the spikes its input neuron fires: 1 for a LIF neuron): each membrane is a U-bit
two's complement code c of step γ_t·2^(−F). Both are read back strictly (integers, U in the
range a config allows, F as the formula gives, U as the config says); an entry without them
is an unquantized membrane (U None), so files written before U existed load as before.
Loading rebuilds the model and sets each synapse weight to α·level, so the fake-quantized
forward reproduces the saved model's outputs bit for bit.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikebits.models.layers import SpikingLayer
from spikebits.models.network import SpikingNetwork, apply_config, current_config
from spikebits.models.quantizers import membrane_fraction_bits, pow2_max_shift, signed_levels
from spikebits.models.registry import build
from spikebits.space import Config, ConfigError, SpikebitsError, atomic_write_bytes, loads_strict, one_line, read_input_bytes
from spikebits.space.config import MAX_MEMBRANE_BITS, MIN_MEMBRANE_BITS

MAGIC = b"SBQ1"
SCHEMA = "spikebits.sbq/1"
_PREAMBLE = len(MAGIC) + 8
#: Widest code :func:`pack_bits` handles (weights use at most 16).
MAX_CODE_BITS = 32
_SAVE_HINT = "write one with `spikebits evaluate --config F --save-checkpoint CKPT`"


# --------------------------------------------------------------------------- bit packing
def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or int(bits) != bits or not 1 <= bits <= MAX_CODE_BITS:
        raise ValueError(f"bits must be an integer in 1..{MAX_CODE_BITS}, got {bits!r}")
    return int(bits)


def _code_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """The b bits of every code, LSB first, as one flat uint8 array of 0s and 1s."""
    bits = _check_bits(bits)
    codes = np.asarray(codes).reshape(-1)
    if codes.size and (not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() >= 1 << bits):
        raise ValueError(f"codes must be integers in [0, {(1 << bits) - 1}] for {bits} bits")
    shifts = np.arange(bits, dtype=np.uint64)
    return ((codes.astype(np.uint64)[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1)


def pack_bits(codes: np.ndarray, bits: int) -> bytes:
    """Pack non-negative ``codes`` (each < 2^bits) into bytes, LSB first, no padding between
    codes; the last byte is zero-filled. ``len(result) == ceil(len(codes)·bits/8)``."""
    return np.packbits(_code_bits(codes, bits), bitorder="little").tobytes()


def unpack_bits(data: bytes, bits: int, count: int, bit_offset: int = 0) -> np.ndarray:
    """``count`` codes of ``bits`` bits each, starting ``bit_offset`` bits into ``data``
    (LSB first): the inverse of :func:`pack_bits`. Returns int64 codes in [0, 2^bits)."""
    bits = _check_bits(bits)
    if count < 0 or bit_offset < 0:
        raise ValueError("count and bit_offset must be 0 or more")
    end = bit_offset + count * bits
    if end > 8 * len(data):
        raise ConfigError(f"packed data is truncated: {count} codes of {bits} bits at bit {bit_offset} need {end} bits, "
                          f"there are {8 * len(data)}")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = bit_offset // 8, -(-end // 8)
    raw = np.frombuffer(data, dtype=np.uint8, count=last - first, offset=first)
    flat = np.unpackbits(raw, bitorder="little")[bit_offset - 8 * first : end - 8 * first]
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    return flat.reshape(count, bits).astype(np.int64) @ weights


# --------------------------------------------------------------------------- weight codes
@torch.no_grad()
def _levels(layer: SpikingLayer) -> tuple[np.ndarray, float]:
    """w_q/α from the quantizer's own output (flattened, C order, float64) and α."""
    quantizer = layer.weight_quantizer
    if quantizer.bits is None:
        raise ConfigError("layer has no weight bit width; apply a config before exporting")
    if not bool(quantizer.initialized):
        raise ConfigError(f"the weight step size α is not calibrated; {_SAVE_HINT}")
    alpha = quantizer.alpha.detach()
    w_q = quantizer(layer.synapse.weight.detach())
    levels = (w_q / alpha).reshape(-1).cpu().numpy().astype(np.float64)
    return levels, float(alpha.cpu())


def weight_codes(layer: SpikingLayer) -> tuple[np.ndarray, float]:
    """The integer codes of ``layer``'s quantized weights (flattened, C order, int64) and α.

    b = weight_quantizer.bits. Uniform, b ≥ 2: k = round(w_q/α) ∈ [−Q_p, Q_p] as b-bit two's
    complement. b = 1: 0 for +α, 1 for −α. Pow2, b ≥ 2: sign·2^(b−1) + m with m = 0 for the
    zero level and m = k + 1 for ±α·2^(−k). Every code is checked to lie in [0, 2^b).
    """
    quantizer = layer.weight_quantizer
    levels, alpha = _levels(layer)
    bits, scheme = int(quantizer.bits), quantizer.scheme
    if bits == 1:
        if not np.all(np.abs(levels) == 1.0):
            raise ValueError("1-bit weights must be ±α")
        codes = (levels < 0).astype(np.int64)
    elif scheme == "uniform":
        k = np.rint(levels)
        qp = signed_levels(bits)
        if np.any(np.abs(levels - k) > 1e-3) or np.any(np.abs(k) > qp):
            raise ValueError(f"uniform levels of a {bits}-bit layer must be integers in [−{qp}, {qp}]")
        codes = np.mod(k.astype(np.int64), 1 << bits)
    elif scheme == "pow2":
        mag = np.abs(levels)
        nonzero = mag > 0
        shift = np.rint(-np.log2(np.where(nonzero, mag, 1.0)))
        if np.any(nonzero & (np.exp2(-shift) != mag)) or np.any(shift < 0) or np.any(shift > pow2_max_shift(bits)):
            raise ValueError(f"power-of-two levels of a {bits}-bit layer must be 0 or ±2^(−k), k ≤ {pow2_max_shift(bits)}")
        magnitude = np.where(nonzero, shift + 1, 0).astype(np.int64)
        codes = ((levels < 0).astype(np.int64) << (bits - 1)) | magnitude
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    assert codes.size == 0 or (codes.min() >= 0 and codes.max() < 1 << bits), "weight code out of range"
    return codes, alpha


def decode_levels(codes: np.ndarray, bits: int, scheme: str) -> np.ndarray:
    """w_q/α (float64) of every code: the inverse of :func:`weight_codes`."""
    codes = np.asarray(codes, dtype=np.int64)
    if bits == 1:
        return 1.0 - 2.0 * codes
    if scheme == "uniform":
        k = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
        if np.any(k < -signed_levels(bits)):
            raise ConfigError(f"a {bits}-bit uniform weight code is out of range (level −{1 << (bits - 1)}); the file is damaged")
        return k.astype(np.float64)
    if scheme == "pow2":
        sign = np.where(codes >> (bits - 1), -1.0, 1.0)
        magnitude = codes & ((1 << (bits - 1)) - 1)
        return np.where(magnitude == 0, 0.0, sign * np.exp2(-(magnitude - 1.0)))
    raise ConfigError(f"unknown weight scheme {scheme!r} in the file; use uniform or pow2")


# --------------------------------------------------------------------------- state entries
def _encode_tensor(tensor: torch.Tensor) -> dict[str, Any]:
    dtype = str(tensor.dtype).removeprefix("torch.")
    try:
        np_dtype = np.dtype(dtype).newbyteorder("<")
    except TypeError:
        raise ConfigError(f"cannot store a {dtype} tensor in an .sbq file; convert the model to float32") from None
    array = tensor.detach().cpu().contiguous().numpy().astype(np_dtype, copy=False)
    return {"dtype": dtype, "shape": list(tensor.shape), "data": base64.b64encode(array.tobytes()).decode("ascii")}


def _decode_tensor(entry: dict[str, Any]) -> torch.Tensor:
    np_dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    shape = tuple(int(n) for n in entry["shape"])
    raw = base64.b64decode(entry["data"], validate=True)
    array = np.frombuffer(raw, dtype=np_dtype).astype(np_dtype.newbyteorder("="))
    return torch.from_numpy(array.reshape(shape).copy())


def _weight_keys(model: SpikingNetwork) -> dict[str, str]:
    """state_dict key of each layer's synapse weight, by layer name."""
    return {name: (f"{name}." if name else "") + "synapse.weight" for name in model.spiking_layers()}


# --------------------------------------------------------------------------- checkpoints
#: The checkpoint file of a configured network: ``{"schema", "config" (JSON text), "state_dict"}``.
CHECKPOINT_SCHEMA = "spikebits.checkpoint/1"


def checkpoint_bytes(model: torch.nn.Module, config: Config) -> bytes:
    """``model``'s checkpoint (:data:`CHECKPOINT_SCHEMA`: its state dict as CPU tensors, and
    ``config`` as JSON text, so the weights never travel without the bit widths they were
    trained at) as the bytes of a weights-only torch file."""
    import io

    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"schema": CHECKPOINT_SCHEMA, "config": config.to_json(), "state_dict": state}, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- save / load
def save_sbq(model: SpikingNetwork, path: str | os.PathLike[str]) -> dict[str, int]:
    """Write ``model`` (every layer configured, every step size calibrated) to ``path`` as an
    ``.sbq`` file, atomically. Returns ``header_bytes`` (JSON), ``payload_bytes``,
    ``payload_bits`` (= size_bits) and ``file_bytes``."""
    config = current_config(model)
    if config is None:
        raise ConfigError("model has full-precision layers; apply a config before exporting")
    state = model.state_dict()
    learnable = [k for k in state if k.endswith(("bits_param", "timesteps_param", "membrane_param"))]
    if learnable:
        raise ConfigError(f"model has learnable bit widths or time steps ({learnable[0]}); apply a fixed config before exporting")
    # Only weight step sizes: a neuron that never fires (a ResNet shortcut's) stays uncalibrated.
    uncalibrated = [n for n, layer in model.spiking_layers().items() if not bool(layer.weight_quantizer.initialized)]
    if uncalibrated:
        raise ConfigError(f"checkpoint has uncalibrated weight step sizes (layer {uncalibrated[0]!r}); {_SAVE_HINT}")
    weight_keys = _weight_keys(model)
    entries, streams, offset = [], [], 0
    for name, layer in model.spiking_layers().items():
        choice, quantizer = config[name], layer.weight_quantizer
        if (quantizer.bits, quantizer.scheme) != (choice.w_bits, choice.scheme):
            raise ConfigError(
                f"layer {name!r} quantizes at {quantizer.bits} bits {quantizer.scheme}, not as configured; re-apply the config"
            )
        if layer.neuron.membrane_bits != choice.u_bits:
            raise ConfigError(f"layer {name!r} stores a {layer.neuron.membrane_bits}-bit membrane, not as configured; re-apply the config")
        codes, alpha = weight_codes(layer)
        bits = int(quantizer.bits)
        entries.append(
            {"layer": name, "shape": list(layer.synapse.weight.shape), "bits": bits, "scheme": quantizer.scheme,
             "alpha": alpha.hex(), "bit_offset": offset, "count": int(codes.size), **membrane_entry(layer)}
        )
        streams.append(_code_bits(codes, bits))
        offset += int(codes.size) * bits
    payload = np.packbits(np.concatenate(streams) if streams else np.zeros(0, np.uint8), bitorder="little").tobytes()
    skip = set(weight_keys.values())
    header = {
        "schema": SCHEMA,
        "model": model.arch[0],
        "model_kwargs": model.arch[1],
        "config": config.to_dict(),
        "input_shape": list(model.input_shape),
        "weights": entries,
        "state": {k: _encode_tensor(v) for k, v in state.items() if k not in skip},
        "payload_bits": offset,
        "payload_bytes": len(payload),
    }
    assert len(payload) == -(-offset // 8)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    data = b"".join([MAGIC, struct.pack("<Q", len(header_bytes)), header_bytes, payload])
    atomic_write_bytes(Path(path), data, hint="choose a folder you can write to")
    return {
        "header_bytes": len(header_bytes),
        "payload_bytes": len(payload),
        "payload_bits": offset,
        "file_bytes": _PREAMBLE + len(header_bytes) + len(payload),
    }


_AGAIN = "export the model again (`spikebits export`)"


def membrane_entry(layer: SpikingLayer) -> dict[str, int]:
    """The packed state width of ``layer``'s neurons for its weight entry: ``u_bits`` U and
    ``u_fraction_bits`` F = :func:`models.quantizers.membrane_fraction_bits` (U, S) with S the
    bits of the spikes its input neuron fires; empty for an unquantized membrane (U None)."""
    u = layer.neuron.membrane_bits
    if u is None:
        return {}
    return {"u_bits": int(u), "u_fraction_bits": membrane_fraction_bits(int(u), _neuron_spike_bits(layer))}


def _neuron_spike_bits(layer: SpikingLayer) -> int:
    """S of the spikes ``layer``'s input neuron fires (1 for a LIF neuron)."""
    bits = layer.neuron.spike_bits
    return int(bits if bits is not None else layer.choice.s_bits)


def _read_membrane(name: str, entry: dict[str, Any], layer: SpikingLayer) -> str | None:
    """Why the membrane width in ``layer``'s weight entry is not what the model runs (the
    config's U and the F it implies), or None when it is; an entry without ``u_bits`` and
    ``u_fraction_bits`` is an unquantized membrane (U None)."""
    has_u, has_f = "u_bits" in entry, "u_fraction_bits" in entry
    if not has_u and not has_f:
        u = None
    elif has_u != has_f:
        return f"the membrane of {name!r} has {'u_bits' if has_u else 'u_fraction_bits'} without {'u_fraction_bits' if has_u else 'u_bits'}"
    else:
        try:
            u, fraction = _integer(entry["u_bits"]), _integer(entry["u_fraction_bits"])
        except TypeError as err:
            return f"the membrane width of {name!r} is malformed ({one_line(err, _REASON_CHARS)})"
        if not MIN_MEMBRANE_BITS <= u <= MAX_MEMBRANE_BITS:
            return f"the membrane of {name!r} has u_bits {u}, outside {MIN_MEMBRANE_BITS}..{MAX_MEMBRANE_BITS}"
        expected = membrane_fraction_bits(u, _neuron_spike_bits(layer))
        if fraction != expected:
            return f"the membrane of {name!r} has {fraction} fraction bits, where U = {u} gives {expected}"
    configured = layer.neuron.membrane_bits
    if u != configured:
        said = "an unquantized one" if configured is None else f"u_bits {configured}"
        return f"the membrane of {name!r} is {'unquantized' if u is None else f'{u}-bit'}, the config says {said}"
    return None


#: Longest reason (``TypeName: message``, on one line) that a damaged file's message quotes.
_REASON_CHARS = 160


def _read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    """The header and the payload of an ``.sbq`` file; a missing, unreadable or damaged file
    (no magic, cut-off or malformed header, payload of another length) is a one-line
    :class:`ConfigError` naming it."""
    data = read_input_bytes(path, "model file", hint="give the .sbq file written by `spikebits export`")
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        raise ConfigError(f"{path} is truncated ({len(data)} bytes); {_AGAIN}")
    if data[: len(MAGIC)] != MAGIC:
        raise ConfigError(f"{path} is not an .sbq model file (bad magic); {_AGAIN}")
    if len(data) < _PREAMBLE:
        raise ConfigError(f"{path} is truncated (no header length); {_AGAIN}")
    (header_len,) = struct.unpack("<Q", data[len(MAGIC) : _PREAMBLE])
    if _PREAMBLE + header_len > len(data):
        raise ConfigError(f"{path} is truncated or damaged (header of {header_len} bytes runs past the end of the file); {_AGAIN}")
    try:
        text = data[_PREAMBLE : _PREAMBLE + header_len].decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} has a header that is not JSON; the file is damaged, {_AGAIN}") from None
    header = loads_strict(text, f"the header of {path}", error=ConfigError, fix=f"the file is damaged, {_AGAIN}")
    if not isinstance(header, dict):
        raise ConfigError(f"{path} has a malformed header (a JSON {type(header).__name__}, not an object); the file is damaged, {_AGAIN}")
    if header.get("schema") != SCHEMA:
        found = header.get("schema")
        raise ConfigError(f"{path} has schema {str(found)[:60]!r}, not {SCHEMA!r}; the file is damaged or of another version, {_AGAIN}")
    payload = data[_PREAMBLE + header_len :]
    expected = header.get("payload_bytes")
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise ConfigError(f"{path} has a malformed header (payload_bytes is {str(expected)[:40]!r}); the file is damaged, {_AGAIN}")
    if len(payload) != expected:
        state = "truncated" if len(payload) < expected else "damaged"
        raise ConfigError(f"{path} is {state}: payload has {len(payload)} bytes, the header says {expected}; {_AGAIN}")
    return header, payload


def load_sbq(path: str | os.PathLike[str]) -> SpikingNetwork:
    """Rebuild the model stored in an ``.sbq`` file (eval mode): architecture from the
    registry, the config, the state entries, and each synapse weight set to α·level so the
    fake-quantized forward reproduces the saved model's outputs exactly.

    A damaged file (cut off, bytes changed, a header of the wrong shape, bit widths or shapes
    that do not fit the architecture) is a one-line :class:`ConfigError` naming it."""
    path = Path(path)
    header, payload = _read_header(path)
    try:
        return _rebuild(path, header, payload)
    except SpikebitsError as err:
        message = one_line(err)
        if str(path) in message:
            raise ConfigError(message) from None
        raise ConfigError(f"{path}: {message}; the file is damaged or of another version, {_AGAIN}") from None
    except Exception as err:  # noqa: BLE001  (torch, numpy and the model builders raise many kinds)
        raise ConfigError(f"{path} is damaged ({one_line(err, _REASON_CHARS, with_type=True)}); {_AGAIN}") from None


def _check_payload_holds(name: str, model_kwargs: dict[str, Any], payload: bytes) -> None:
    """The architecture a header names must have no more weights than its payload can hold (at
    least one bit each), counted on the meta device before the weights are allocated: a
    damaged or forged header cannot make the reader allocate more than 32 bytes per payload
    byte."""
    with torch.device("meta"):
        probe = build(name, **model_kwargs)
    weights = sum(layer.synapse.weight.numel() for layer in probe.modules() if isinstance(layer, SpikingLayer))
    if weights > 8 * len(payload):
        raise ConfigError(f"does not match model {name!r}: its {weights} weights need more than the {len(payload)}-byte payload holds")


def _rebuild(path: Path, header: dict[str, Any], payload: bytes) -> SpikingNetwork:
    try:
        model_kwargs = header["model_kwargs"]
        if not isinstance(model_kwargs, dict) or not all(isinstance(k, str) for k in model_kwargs):
            raise TypeError("model_kwargs is not an object")
        _check_payload_holds(str(header["model"]), model_kwargs, payload)
        model = build(str(header["model"]), **model_kwargs)
        config = Config.from_dict(header["config"])
        apply_config(model, config)
        if not isinstance(header["state"], dict) or not isinstance(header["weights"], list):
            raise TypeError("state must be an object and weights a list")
        state = {str(k): _decode_tensor(v) for k, v in header["state"].items()}
        entries = {str(e["layer"]): e for e in header["weights"]}
        payload_bits = header["payload_bits"]
        if isinstance(payload_bits, bool) or not isinstance(payload_bits, int):
            raise TypeError("payload_bits is not an integer")
    except SpikebitsError as err:
        raise ConfigError(f"{path}: {one_line(err)}; {_AGAIN}") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
        raise ConfigError(f"{path} has a malformed header ({one_line(err, _REASON_CHARS, with_type=True)}); the file is damaged, {_AGAIN}") from None
    if payload_bits < 0 or -(-payload_bits // 8) != len(payload):
        raise ConfigError(f"{path} is damaged: {payload_bits} payload bits do not fit {len(payload)} bytes; {_AGAIN}")
    weight_keys = _weight_keys(model)
    own = model.state_dict()
    for key, tensor in state.items():
        if key in own and tuple(tensor.shape) != tuple(own[key].shape):
            raise ConfigError(
                f"{path} does not match model {str(header['model'])!r} (state entry {key!r} has shape {tuple(tensor.shape)}, "
                f"the architecture {tuple(own[key].shape)}); {_AGAIN}"
            )
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in weight_keys.values()]
    if missing or result.unexpected_keys:
        key = (missing or result.unexpected_keys)[0]
        raise ConfigError(f"{path} does not match model {str(header['model'])!r} (state entry {key!r}); {_AGAIN}")
    layers = model.spiking_layers()
    if set(entries) != set(layers) or len(entries) != len(header["weights"]):
        raise ConfigError(f"{path} stores weights of layers {sorted(entries)}, the model has {list(layers)}; {_AGAIN}")
    for name, layer in layers.items():
        entry, quantizer = entries[name], layer.weight_quantizer
        weight = layer.synapse.weight
        try:
            bits, count, offset = (_integer(entry[k]) for k in ("bits", "count", "bit_offset"))
            alpha = float.fromhex(entry["alpha"])
            shape = tuple(_integer(n) for n in entry["shape"])
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ConfigError(f"{path} has a malformed weight entry for {name!r} ({one_line(err, _REASON_CHARS, with_type=True)}); the file is damaged, {_AGAIN}") from None
        if not 1 <= bits <= MAX_CODE_BITS or count < 0 or offset < 0:
            raise ConfigError(f"{path}: weights of {name!r} have {bits} bits, {count} codes at bit {offset}; the file is damaged, {_AGAIN}")
        if (bits, entry.get("scheme")) != (quantizer.bits, quantizer.scheme) or shape != tuple(weight.shape) or count != weight.numel():
            raise ConfigError(f"{path}: weights of {name!r} do not match the config or the architecture; the file is damaged, {_AGAIN}")
        if offset + count * bits > payload_bits:
            raise ConfigError(f"{path}: weights of {name!r} run past the payload; the file is damaged, {_AGAIN}")
        membrane = _read_membrane(name, entry, layer)
        if membrane is not None:
            raise ConfigError(f"{path}: {membrane}; the file is damaged, {_AGAIN}")
        if alpha != float(quantizer.alpha.detach()) or not math.isfinite(alpha):
            raise ConfigError(f"{path}: α of {name!r} differs between the weights and the state; the file is damaged, {_AGAIN}")
        levels = decode_levels(unpack_bits(payload, bits, count, offset), bits, quantizer.scheme)
        with torch.no_grad():
            level_tensor = torch.from_numpy(levels).to(weight.dtype).reshape(shape)
            weight.copy_(level_tensor * quantizer.alpha.detach().to(weight.dtype))
    return model.eval()


def _integer(value: Any) -> int:
    """``value`` when it is an integer (a JSON number without a fraction), else TypeError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {str(value)[:30]!r}")
    return value
