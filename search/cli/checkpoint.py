"""Checkpoints of fine-tuned models: ``evaluate --save-checkpoint`` writes them, ``export``
reads them."""

from __future__ import annotations

import io
import os
from typing import Any

from spikebits.space import Config, ConfigError, atomic_write_bytes

CHECKPOINT_SCHEMA = "spikebits.checkpoint/1"
HINT = "write one with `spikebits evaluate --config F --save-checkpoint CKPT`"


def save_checkpoint(model: Any, path: str, config: Config) -> None:
    """``{"schema", "config" (JSON text), "state_dict" (CPU tensors)}``, written with
    torch.save atomically; the config travels with the weights, so ``export`` cannot pack
    them at other bit widths than they were fine-tuned at."""
    import torch

    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"schema": CHECKPOINT_SCHEMA, "config": config.to_json(), "state_dict": state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str) -> tuple[dict, Config | None]:
    """(state_dict, config) from ``evaluate --save-checkpoint``, or (state_dict, None) from a
    plain state_dict file; loaded with ``weights_only=True`` (no pickled code runs)."""
    import torch

    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint file {path} does not exist; {HINT}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises many kinds for a damaged file)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot read checkpoint {path} ({reason[:120]}); {HINT}") from None
    config = None
    if isinstance(data, dict) and data.get("schema") == CHECKPOINT_SCHEMA:
        config = Config.from_json(data.get("config", ""))
        data = data.get("state_dict")
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConfigError(f"{path} is not a model state_dict; {HINT}")
    return data, config
