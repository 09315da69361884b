"""The partial (per-epoch) checkpoint of a supernet run: the file it is kept in, named for
everything that decides the run (:func:`supernet_checkpoint`), the plain module attributes no
state dict holds (:func:`module_state`), and its removal once the run is over."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from spikebits.evaluators.training import default_cache_dir, partial_path, pretrain_cache_key
from spikebits.search.supernet_options import SUPERNET_SETTINGS, DifferentiableOptions
from spikebits.space import BitTargets, Config

#: Bump when a supernet run of the same settings would train differently: the partial
#: checkpoints written before are then not found (:func:`supernet_checkpoint`).
SUPERNET_CHECKPOINT_VERSION = 2
#: Plain attributes of the quantizers and neurons that the next batch depends on and no state
#: dict holds: the rounded bit widths and time steps of the last forward (a change renews a
#: step size), the renewal switches and counts, and the Gumbel temperature.
MODULE_STATE = ("bits", "step_bits", "timesteps", "renew", "renewals", "temperature")


def supernet_checkpoint(
    evaluator: Any, model: Any, target: BitTargets, settings: DifferentiableOptions, *, seed: int, gumbel: bool,
    start: Config, epochs: int,
) -> Path | None:
    """The partial (per-epoch) checkpoint file of one supernet run: in the evaluator's cache
    folder (``evaluator.cache_dir`` or :func:`evaluators.training.default_cache_dir`), named
    ``{pretraining cache key}-supernet-{hash}.partial.pt``, the hash covering everything that
    decides the run: the target, the supernet settings (:data:`SUPERNET_SETTINGS`), Gumbel or
    not, the starting config (``init_bits``, ``init_sensitivity`` or ``initial_configs``), the
    number of epochs, the space, the seed and the fine-tuning format (amp, channels_last). A run
    of other settings looks for another file, so it never resumes this one. None (no
    checkpoint) for an evaluator without a pretraining cache key."""
    try:
        key = pretrain_cache_key(model, evaluator.dataset, evaluator.seed, evaluator.pretrain_settings, evaluator.data_key)
        fmt = evaluator.finetune_settings
        blob = json.dumps(
            {
                "target": target.to_dict(), "settings": {k: getattr(settings, k, None) for k in SUPERNET_SETTINGS}, "gumbel": gumbel,
                "start": start.to_dict(), "epochs": epochs, "space": evaluator.space.to_dict(), "seed": seed,
                "format": {"amp": fmt.amp, "channels_last": fmt.channels_last}, "v": SUPERNET_CHECKPOINT_VERSION,
            },
            sort_keys=True,
            default=str,
        )
        folder = Path(evaluator.cache_dir) if evaluator.cache_dir else default_cache_dir()
    except AttributeError:
        return None
    return partial_path(folder / f"{key}-supernet-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.pt")


def module_state(model: torch.nn.Module) -> dict[str, dict[str, Any]]:
    """Per module name, its :data:`MODULE_STATE` attributes (plain numbers, lists, None)."""
    out: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        attrs = {k: (list(v) if isinstance(v, list) else v) for k, v in vars(module).items() if k in MODULE_STATE}
        if attrs:
            out[name] = attrs
    return out


def set_module_state(model: torch.nn.Module, state: Mapping[str, Mapping[str, Any]]) -> None:
    """Restore :func:`module_state` (every module it names must exist and have the attribute)."""
    modules = dict(model.named_modules())
    for name, attrs in state.items():
        for k, v in attrs.items():
            if k not in MODULE_STATE or k not in vars(modules[name]):
                raise ValueError(f"module {name!r} has no {k}")
            setattr(modules[name], k, list(v) if isinstance(v, list) else v)


def remove_checkpoint(path: Path | None) -> None:
    """Remove a finished run's partial checkpoint (one left behind is harmless: a finished
    run is not asked again)."""
    if path is not None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass

