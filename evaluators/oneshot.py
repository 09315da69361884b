"""One-shot scoring: every config scored with the shared weights of one trained supernet.

Fine-tuning each config a strategy proposes (the :class:`Evaluator`'s score) costs an epoch
or more per config; at real size that caps a search at a few dozen configs. A one-shot
supernet (single-path, uniform sampling: Guo et al. 2020, "Single Path One-Shot"; for bit
widths as in APQ and OQAT) trains one set of weights for every config of the space at once:

* start from the cached full-precision network; for each training batch draw one config
  uniformly (each decision's (W, S, T, scheme), and its membrane bits U where the space searches
  them, independently; pins and ties kept), set the
  network to it, and take one step of quantization-aware training on the shared weights
  (the step sizes are not trained: a spike step size γ is γ₀ of DESIGN.md from that batch at
  each change of the layer's S or T; a weight step size α is α₀ from the weights the first
  time the epoch meets the layer's (W, scheme), and that value for the rest of the epoch,
  since the power-of-two α₀ is a grid search too slow to repeat every batch). The draw is a function of (seed, epoch, step) alone, so a run
  resumed from its per-epoch checkpoint draws the same configs.
* to score a config: the shared weights set to it, every BatchNorm's running statistics
  recomputed for that config alone over the first ``bn_batches`` training batches
  (:func:`evaluators.training.recompute_batchnorm`; the step sizes start from the first of
  them), then ``accuracy``, ``firing_rate``, ``s_ace_active`` and ``energy_pj_active`` on
  the validation split. No ``test_accuracy``: a one-shot score only ranks configs; the
  search's front is fine-tuned afterwards (:func:`search.scoring.finetune_front`) and
  reports its test accuracy from there.

The trained shared weights are cached on disk next to the pretraining checkpoint (the key
adds the supernet's settings), with a partial checkpoint after each epoch, as pretraining.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import torch

from spikebits.evaluators.evaluator import Evaluator
from spikebits.evaluators.training import (
    PRETRAIN_VERSION,
    default_cache_dir,
    load_cached,
    partial_path,
    pretrain_cache_key,
    recompute_batchnorm,
    train,
)
from spikebits.models import RefinedNeuron, SpikingNetwork, WeightQuantizer, apply_config, set_full_precision
from spikebits.space import Config, ConfigError, OutputError, atomic_write_bytes

#: How a search scores a proposed config: ``finetune`` (the pretrained network fine-tuned
#: at the config) or ``one-shot`` (the shared weights of a one-shot supernet).
SCORINGS: tuple[str, ...] = ("finetune", "one-shot")

#: The default one-shot training length: epochs enough to see this many training samples …
ONE_SHOT_SAMPLES = 50_000
#: … and at most this many epochs.
MAX_ONE_SHOT_EPOCHS = 30


def one_shot_epochs(train_samples: int) -> int:
    """One-shot supernet epochs when none are set: ⌈50,000 / N_train⌉, between 1 and 30
    (digits, 1,293 training images: 30; MNIST, 54,000: 1)."""
    return max(1, min(MAX_ONE_SHOT_EPOCHS, math.ceil(ONE_SHOT_SAMPLES / max(train_samples, 1))))


def draw_config(space: Any, seed: int, epoch: int, step: int) -> Config:
    """The config the one-shot supernet trains at (``epoch``, ``step``): each decision of
    ``space`` uniformly among its choices (:meth:`space.LayerOptions.choices`: U too where the
    layer searches it), from a generator seeded by (seed, epoch, step)."""
    rng = random.Random(f"spikebits-one-shot/{seed}/{epoch}/{step}")
    return space.expand({name: rng.choice(list(space.layers[name].choices())) for name in space.decisions})


def hold_step_sizes(model: SpikingNetwork) -> None:
    """Take every step size (α of the weight quantizers, γ of the neurons) out of training:
    the one-shot supernet sets them from data at each change of path instead (a γ is a new
    tensor at each change of T, so an optimizer could not follow it anyway)."""
    for module in model.modules():
        if isinstance(module, WeightQuantizer):
            module.alpha.requires_grad_(False)
        elif isinstance(module, RefinedNeuron):
            module.gamma.requires_grad_(False)


class OneShotEvaluator(Evaluator):
    """An :class:`Evaluator` whose call scores a config with the shared weights of a one-shot
    supernet (module docstring); :meth:`finetuned` is the fine-tuning evaluator's call.

    ``one_shot_epochs`` (None: :func:`one_shot_epochs`) and ``one_shot_lr`` (None: the
    fine-tuning learning rate) set the supernet's training; ``bn_batches`` the batches of 256
    training images over which each scored config's BatchNorm statistics are recomputed."""

    scoring = "one-shot"

    def __init__(
        self,
        *args: Any,
        one_shot_epochs: int | None = None,
        one_shot_lr: float | None = None,
        bn_batches: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if one_shot_epochs is not None and one_shot_epochs < 1:
            raise ConfigError(f"--one-shot-epochs must be 1 or more, not {one_shot_epochs}")
        if bn_batches < 1:
            raise ConfigError(f"BatchNorm recalibration needs 1 batch or more, not {bn_batches}")
        self.one_shot_settings = dataclasses.replace(
            self.finetune_settings, epochs=one_shot_epochs, lr=one_shot_lr if one_shot_lr is not None else self.finetune_settings.lr
        )
        self.bn_batches = int(bn_batches)
        self._shared: dict[str, torch.Tensor] | None = None

    def describe(self) -> dict:
        info = super().describe()
        info["scoring"] = {
            "name": self.scoring, "epochs": self.one_shot_settings.epochs, "lr": self.one_shot_settings.lr,
            "bn_batches": self.bn_batches, "samples_rule": ONE_SHOT_SAMPLES,
        }
        return info

    # ---------------------------------------------------------------- the supernet
    def prepare(self) -> None:
        """The full-precision network and the one-shot supernet trained from it (an executor
        prepares the evaluator in one process before sending it to others)."""
        super().prepare()
        self.shared_weights()

    def _settings(self) -> Any:
        settings = self.one_shot_settings
        if settings.epochs is None:
            settings = dataclasses.replace(settings, epochs=one_shot_epochs(len(self.data.train)))
        return settings

    def supernet_epochs(self) -> int:
        """The one-shot supernet's epochs: ``one_shot_epochs``, or :func:`one_shot_epochs`'s rule."""
        return int(self._settings().epochs)

    def cache_path(self) -> Path:
        """The shared weights' cache file: the pretraining checkpoint's stem, then a hash of
        the supernet's settings and space."""
        settings = self._settings()
        key = pretrain_cache_key(self.new_model(), self.dataset, self.seed, self.pretrain_settings, self.data_key)
        blob = json.dumps(
            {"settings": settings.__dict__, "space": self.space.to_dict(), "v": PRETRAIN_VERSION, "one_shot": 1}, sort_keys=True, default=str
        )
        return (self.cache_dir or default_cache_dir()) / f"{key}-oneshot-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.pt"

    def shared_weights(self) -> dict[str, torch.Tensor]:
        """The one-shot supernet's weights (in full-precision form), trained once and cached."""
        if self._shared is not None:
            return self._shared
        path = self.cache_path()
        if path.exists():
            try:
                self._shared = load_cached(path)["state"]
                return self._shared
            except Exception:  # noqa: BLE001 - unreadable cache: train again and overwrite it
                pass
        settings = self._settings()
        model = self.full_precision_model()

        hold_step_sizes(model)  # before train() makes its optimizer: shared weights and BatchNorm only
        layers = model.spiking_layers()
        steps: dict[tuple[str, int | None, str], float] = {}  # this epoch's α per (layer, W, scheme)

        def set_path(epoch: int, step: int) -> None:
            if step < 0:  # the epoch's end: the form the checkpoint and the cache hold
                set_full_precision(model)
                steps.clear()
                return
            for name, layer in layers.items():  # keep each α the epoch found for its (W, scheme)
                q = layer.weight_quantizer
                if q.bits is not None and bool(q.initialized):
                    steps[(name, q.bits, q.scheme)] = float(q.alpha.detach())
            apply_config(model, draw_config(self.space, settings.seed, epoch, step))
            hold_step_sizes(model)
            for name, layer in layers.items():  # a (W, scheme) seen this epoch takes its α
                q = layer.weight_quantizer
                known = steps.get((name, q.bits, q.scheme))
                if not bool(q.initialized) and known is not None:
                    with torch.no_grad():
                        q.alpha.fill_(known)
                        q.initialized.fill_(True)

        train(
            model, self.data.train, settings, device=self.device, progress=self.progress, description="one-shot supernet",
            log=self.log, stop=self.stop, checkpoint=partial_path(path), checkpoint_key=path.stem, before_batch=set_path,
        )
        set_full_precision(model)
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        buffer = io.BytesIO()
        torch.save({"state": state}, buffer)
        try:
            atomic_write_bytes(path, buffer.getvalue(), what=f"the one-shot cache in {path.parent}", hint="set SPIKEBITS_CACHE to a writable folder")
        except OutputError as err:  # a cache is an optimisation: go on with the weights in memory
            print(f"spikebits: warning: {err}; going on without the cache", file=sys.stderr)
        partial_path(path).unlink(missing_ok=True)
        self._shared = state
        return state

    def shared_model(self, config: Config) -> SpikingNetwork:
        """The shared weights set to ``config``, its BatchNorm statistics recomputed for it
        (and its step sizes initialised) on the first ``bn_batches`` training batches."""
        model = set_full_precision(self.new_model())
        model.load_state_dict(self.shared_weights())
        apply_config(model, self.space.complete(config, strict=False))
        model.to(self.device)
        recompute_batchnorm(model, self.data.train, device=self.device, max_batches=self.bn_batches)
        return model

    # ---------------------------------------------------------------- scoring
    def __call__(self, config: Config, *, on_epoch: Any = None) -> dict[str, Any]:
        """The cost metrics of ``config`` and its one-shot score on the validation split
        (``scoring: "one-shot"`` goes to the record's info)."""
        metrics: dict[str, Any] = dict(self.cost(config))
        metrics.update(self.score(self.shared_model(config), test=False))
        metrics["scoring"] = self.scoring
        return metrics

    def finetuned(self, config: Config, *, on_epoch: Any = None) -> dict[str, float]:
        """Every metric of ``config`` after the fine-tune (:meth:`Evaluator.__call__`)."""
        return super().__call__(config, on_epoch=on_epoch)
