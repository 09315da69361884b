"""Checkpoints of fine-tuned models: ``evaluate --save-checkpoint`` writes them, ``export``
reads them."""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

from spikebits.models import CHECKPOINT_SCHEMA, checkpoint_bytes
from spikebits.space import Config, ConfigError, SpikebitsError, atomic_write_bytes, read_input_bytes

HINT = "write one with `spikebits evaluate --config F --save-checkpoint CKPT`"


def save_checkpoint(model: Any, path: str, config: Config) -> None:
    """``{"schema", "config" (JSON text), "state_dict" (CPU tensors)}``, written with
    torch.save atomically (:func:`models.checkpoint_bytes`); the config travels with the
    weights, so ``export`` cannot pack them at other bit widths than they were fine-tuned at."""
    atomic_write_bytes(path, checkpoint_bytes(model, config))


#: How a torch file of the zip format starts, and a pickle (protocol 2 or later).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_HEADS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


def _unreadable(err: Exception, head: bytes) -> str:
    """Why torch.load refused a file, in words (torch's own message runs to many lines and
    suggests ``weights_only=False``, which spikebits never does)."""
    text = str(err)
    if "Unsupported global" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return f"not a weights-only torch file: it holds pickled objects that are not tensors{what}, which spikebits does not load"
    if head.startswith(_ZIP_MAGIC):
        return "a damaged or truncated torch file: its zip archive cannot be read"
    if head.startswith(_PICKLE_HEADS):
        return "not a weights-only torch file: it holds pickle data that is not tensors, or is damaged; spikebits does not load it"
    return "not a torch checkpoint: neither a torch zip archive nor a pickle"


def load_checkpoint(path: str) -> tuple[dict, Config | None]:
    """(state_dict, config) from ``evaluate --save-checkpoint``, or (state_dict, None) from a
    plain state_dict file; loaded with ``weights_only=True`` (no pickled code runs).

    Anything else is a one-line :class:`ConfigError` naming ``path``: a missing path, a
    directory or device, an empty, damaged or truncated file, a pickle of other objects, a
    stored config that is not a valid config JSON, keys that are not strings, values that
    are not tensors."""
    import torch

    raw = read_input_bytes(path, "checkpoint file", hint=HINT)
    head = raw[:4]
    if not head:
        raise ConfigError(f"cannot read checkpoint {path} (the file is empty); {HINT}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols and the like on stderr
            warnings.simplefilter("ignore")
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises many kinds for a damaged file)
        raise ConfigError(f"cannot read checkpoint {path} ({_unreadable(err, head)}); {HINT}") from None
    config = None
    if isinstance(data, dict) and "schema" in data:
        if data.get("schema") != CHECKPOINT_SCHEMA:
            raise ConfigError(f"checkpoint {path} has schema {str(data.get('schema'))[:60]!r}, not {CHECKPOINT_SCHEMA!r}; {HINT}")
        text = data.get("config")
        if not isinstance(text, str):
            raise ConfigError(f"checkpoint {path} holds a config of type {type(text).__name__}, not config JSON text; {HINT}")
        try:
            config = Config.from_json(text)
        except SpikebitsError as err:
            raise ConfigError(f"checkpoint {path} holds a malformed config ({err}); {HINT}") from None
        except (ValueError, TypeError, RecursionError) as err:  # whatever a Config check may miss
            raise ConfigError(f"checkpoint {path} holds a malformed config ({type(err).__name__}); {HINT}") from None
        data = data.get("state_dict")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"checkpoint {path} is not a model state_dict (found {type(data).__name__}{' with no entries' if isinstance(data, dict) else ''}); {HINT}")
    bad_key = next((k for k in data if not isinstance(k, str)), None)
    if bad_key is not None:
        raise ConfigError(f"checkpoint {path} is not a model state_dict (key {repr(bad_key)[:40]} is not a string); {HINT}")
    bad_value = next((k for k, v in data.items() if not isinstance(v, torch.Tensor)), None)
    if bad_value is not None:
        found = type(data[bad_value]).__name__
        raise ConfigError(f"checkpoint {path} is not a model state_dict (entry {bad_value[:60]!r} is a {found}, not a tensor); {HINT}")
    return data, config


def load_into(model: Any, state: dict, path: str, model_name: str) -> Any:
    """``model`` (configured) with the checkpoint's ``state`` loaded; a state that does not
    fit is a one-line :class:`ConfigError` naming ``path``."""
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err).splitlines()[0])
        raise ConfigError(
            f"checkpoint {path} does not fit {model_name} with this config ({first[:160]}); "
            "give the --model (and --space) it was written with"
        ) from None
    return model

