"""The network a supernet strategy hands on: the supernet's own trained network at its config.

The seed paper's result is the network the search trained: its weights and step sizes were
trained with the bit widths that settle into the final config. ``differentiable`` and
``gumbel`` therefore score that network (``network: supernet``, the default):

1. :func:`hand_on` fixes the trained supernet at the fitted config (when fitting moved it
   from the snapped one), recomputes BatchNorm for that config, and turns it into a plain
   network (:meth:`models.Supernet.release`) whose state dict loads into a fresh model set
   to the config;
2. :class:`NetworkScore` scores it like any other trial — the evaluator's cost metrics and
   :meth:`evaluators.Evaluator.score` (validation accuracy, firing rate, active S-ACE and
   energy; the test accuracy to report) — optionally after ``network_epochs`` of fine-tuning
   at the config;
3. :func:`write_networks` writes each scored network as ``network-{trial}.pt`` (the
   checkpoint that ``spikebits export`` reads) and ``network-{trial}.sbq`` beside the run's
   other files.

``network: finetune`` instead re-fine-tunes the full-precision network at the config with
the shared evaluator (:meth:`evaluators.Evaluator.finetune`), as every other strategy's
configs are scored: the comparison that shows what the trained network is worth.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from spikebits.evaluators.training import recompute_batchnorm
from spikebits.models import SpikingNetwork, apply_config, checkpoint_bytes, save_sbq
from spikebits.space import Config, atomic_write_bytes

#: Where a front point's network comes from (the ``network`` option).
NETWORKS = ("supernet", "finetune")


def hand_on(supernet: Any, snapped: Config, config: Config, evaluator: Any) -> SpikingNetwork:
    """The trained ``supernet`` (a :class:`models.Supernet` fixed at ``snapped``, its
    BatchNorm recomputed there) as a plain network at ``config`` (the fitted config), with
    BatchNorm recomputed for ``config`` whenever it differs from ``snapped``."""
    device = evaluator.device
    if config != snapped:
        supernet.fix(config)
        recompute_batchnorm(supernet.model, evaluator.data.train, device=device)
    if supernet.release(config):
        recompute_batchnorm(supernet.model, evaluator.data.train, device=device)
    model = supernet.model
    model.eval()
    return model


@dataclasses.dataclass
class NetworkScore:
    """An evaluator for one handed-on network: ``(config) -> metrics`` as the shared
    evaluator's call, but scoring ``model`` instead of a fine-tune of the full-precision one;
    ``epochs`` > 0 fine-tunes ``model`` at its config first (the evaluator's fine-tuning
    settings, ``on_epoch`` after each epoch)."""

    evaluator: Any
    model: SpikingNetwork
    epochs: int = 0

    def __call__(self, config: Config, *, on_epoch: Any = None) -> dict[str, float]:
        ev = self.evaluator
        metrics = dict(ev.cost(config))
        if self.epochs > 0:
            ev.train(self.model, epochs=self.epochs, on_epoch=on_epoch, description="fine-tune the supernet's network")
        metrics.update(ev.score(self.model))
        return metrics


def encode_network(model: SpikingNetwork, config: Config) -> str:
    """``model``'s checkpoint (:func:`models.checkpoint_bytes`) as base64 text: how a part
    run elsewhere (Ray) sends its network back in its JSON-able outcome."""
    return base64.b64encode(checkpoint_bytes(model, config)).decode("ascii")


def decode_network(text: str, evaluator: Any) -> SpikingNetwork:
    """The network of :func:`encode_network`, rebuilt with the evaluator's architecture."""
    data = torch.load(io.BytesIO(base64.b64decode(text)), map_location="cpu", weights_only=True)
    model = evaluator.new_model()
    apply_config(model, Config.from_json(data["config"]))
    model.load_state_dict(data["state_dict"])
    return model.eval()


def network_files(number: int) -> tuple[str, str]:
    """The checkpoint and ``.sbq`` file names of trial ``number``'s network."""
    return f"network-{number}.pt", f"network-{number}.sbq"


def write_networks(out_dir: Path, networks: Mapping[int, tuple[SpikingNetwork, Config]]) -> list[Path]:
    """``network-{trial}.pt`` (the checkpoint ``spikebits export`` reads) and
    ``network-{trial}.sbq`` (packed integer weights) of each handed-on network, atomically."""
    paths: list[Path] = []
    for number, (model, config) in sorted(networks.items()):
        checkpoint, packed = (out_dir / name for name in network_files(number))
        atomic_write_bytes(checkpoint, checkpoint_bytes(model, config))
        save_sbq(model, packed)
        paths += [checkpoint, packed]
    return paths
