"""Training: full-precision pretraining (cached on disk) and quantization-aware fine-tuning."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from spikebits.models import SpikingNetwork, set_full_precision
from spikebits.space import OutputError, TrainingError, atomic_write_bytes

#: ``progress(iterable, description, total) -> iterable``: the CLI passes a tqdm wrapper.
Progress = Callable[[Iterable, str, int], Iterable]
#: Bump when pretraining changes in a way that invalidates cached checkpoints (3: the
#: training data lost its validation split).
PRETRAIN_VERSION = 3


def quiet(iterable: Iterable, description: str, total: int) -> Iterable:
    """The :data:`Progress` that shows nothing: ``iterable`` unchanged (library code and tests)."""
    return iterable


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser settings. Adam with a cosine-decayed learning rate over all steps.
    ``workers``: DataLoader worker processes that read and augment training batches (0: in
    this process, right for data held in memory)."""

    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    workers: int = 0
    #: bf16 autocast of the forward pass while training (mixed precision; the neurons and
    #: quantizers stay in float32, :meth:`models.SpikingLayer.spikes`).
    amp: bool = False
    #: Train in the channels-last memory format (NHWC): the model's 4-D weights and each input
    #: batch of images. Same arithmetic in another order; opt-in, because on CPU it slowed
    #: resnet19 and SEW-ResNet-18 down (README, Devices).
    channels_last: bool = False


def to_memory_format(model: nn.Module, settings: TrainSettings) -> nn.Module:
    """``model`` in channels-last format when ``settings.channels_last`` (in place), else as is."""
    return model.to(memory_format=torch.channels_last) if settings.channels_last else model


def batch_format(x: Tensor, settings: TrainSettings) -> Tensor:
    """A batch of images ``[B, C, H, W]`` in channels-last format when asked (others as they are)."""
    return x.contiguous(memory_format=torch.channels_last) if settings.channels_last and x.dim() == 4 else x


def default_cache_dir() -> Path:
    """``$SPIKEBITS_CACHE`` or ``~/.cache/spikebits``."""
    env = os.environ.get("SPIKEBITS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "spikebits"


def make_loader(data: Dataset, batch_size: int, *, shuffle: bool, seed: int = 0, workers: int = 0) -> DataLoader:
    """Batches of ``data`` (shuffled with a generator seeded by ``seed``), read by ``workers``
    processes (0: this one)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, generator=generator if shuffle else None, num_workers=workers
    )


def check_loss(value: float, epoch: int, step: int, *, what: str = "the loss", hint: str = "lower the learning rate (--lr)") -> float:
    """``value`` if finite; else a :class:`space.TrainingError` saying where training diverged
    (a trial stops at once and is recorded FAIL with this reason)."""
    if not math.isfinite(value):
        raise TrainingError(f"{what} became {value} at epoch {epoch}, step {step}; training diverged, {hint}")
    return value


def train(
    model: nn.Module,
    data: TensorDataset,
    settings: TrainSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    description: str = "train",
    on_epoch: Callable[[int, nn.Module], None] | None = None,
) -> list[float]:
    """Train ``model`` with cross-entropy; returns the mean loss of each epoch.

    ``on_epoch(epoch, model)`` is called after each epoch (1-based), e.g. to report an
    intermediate accuracy; the model is put back in training mode afterwards."""
    progress = progress or quiet
    if settings.epochs <= 0:
        return []
    torch.manual_seed(settings.seed)
    loader = make_loader(data, settings.batch_size, shuffle=True, seed=settings.seed, workers=settings.workers)
    to_memory_format(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * len(loader))
    losses = []
    for epoch in progress(range(settings.epochs), description, settings.epochs):
        model.train()
        total, count = 0.0, 0
        for x, y in loader:
            x, y = batch_format(x.to(device, non_blocking=True), settings), y.to(device, non_blocking=True)
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=settings.amp):
                loss = F.cross_entropy(model(x), y)
            value = check_loss(float(loss.detach()), epoch + 1, count // max(settings.batch_size, 1) + 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += value * len(y)
            count += len(y)
        losses.append(total / max(count, 1))
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return losses


@torch.no_grad()
def accuracy(
    model: nn.Module, data: Dataset, *, device: str | torch.device = "cpu", batch_size: int = 512, workers: int = 0
) -> float:
    """Top-1 accuracy (fraction 0–1) in eval mode (``workers``: DataLoader processes)."""
    model.eval()
    correct = 0
    for x, y in make_loader(data, batch_size, shuffle=False, workers=workers):
        correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
    return correct / len(data)


@torch.no_grad()
def calibrate(model: nn.Module, data: TensorDataset, *, device: str | torch.device = "cpu", batch_size: int = 256) -> None:
    """One forward pass in eval mode, so every quantizer initialises its step size from real
    weights and currents (α₀, γ₀ of DESIGN.md) before fine-tuning starts."""
    model.eval()
    x, _ = next(iter(make_loader(data, batch_size, shuffle=False)))
    model(x.to(device))


#: The BatchNorm layers whose running statistics :func:`recompute_batchnorm` recomputes.
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def recompute_batchnorm(
    model: nn.Module, data: TensorDataset, *, device: str | torch.device = "cpu", batch_size: int = 256, max_batches: int = 50
) -> int:
    """Recompute every BatchNorm layer's running mean and variance for ``model`` as it is set
    now: the statistics are reset and then averaged with equal weight (``momentum=None``) over
    the first ``max_batches`` batches of ``data``, in order. Everything else runs in eval mode
    (quantizers, a Gumbel choice at its argmax); the model is left in eval mode with its
    BatchNorm momentum restored. Returns the number of batches used.

    After a supernet's bit widths moved, the running statistics mix every config it passed
    through; at the final config they must describe that config alone.
    """
    norms = [m for m in model.modules() if isinstance(m, BATCHNORMS)]
    if not norms:
        return 0
    model.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    used = 0
    try:
        for x, _ in make_loader(data, batch_size, shuffle=False):
            if used >= max_batches:
                break
            model(x.to(device))
            used += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            m.eval()
    return used


def pretrain_cache_key(
    model: SpikingNetwork, dataset: str, seed: int, settings: TrainSettings, data_key: dict | None = None
) -> str:
    """File stem of the pretraining checkpoint of (architecture, data set, seed, settings, and
    ``data_key``: whatever else decides the training data): ``"{model}-{dataset}-seed{seed}-{hash}"``;
    other caches next to it (sensitivity reports) start with it too."""
    name, kwargs = model.arch
    # "amp" and "channels_last" enter the key only when on, so the checkpoints written
    # without them keep their names.
    recorded = {k: v for k, v in settings.__dict__.items() if k not in ("amp", "channels_last") or v}
    blob = json.dumps(
        {
            "model": name, "kwargs": kwargs, "dataset": dataset, "seed": seed, "settings": recorded,
            "data": data_key or {}, "v": PRETRAIN_VERSION,
        },
        sort_keys=True,
        default=str,
    )
    return f"{name}-{dataset}-seed{seed}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def pretrained_state(
    model: SpikingNetwork,
    dataset: str,
    train_data: Dataset,
    val_data: Dataset,
    settings: TrainSettings,
    *,
    test_data: Dataset | None = None,
    cache_dir: Path | None = None,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    data_key: dict | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Full-precision weights for (model, data set, seed), trained once and cached on disk.

    Full precision: float weights, unquantized neurons (the B_s → ∞ limit, s = max(v, 0)),
    T = 1. Returns the state dict and ``{"accuracy": validation accuracy, "test_accuracy":
    test accuracy}`` (the latter only to report; absent without ``test_data``). The cache file
    name holds a hash of the architecture, data set, seed, settings and ``data_key`` (what
    else decides the training data, e.g. the validation fraction); it is written atomically.
    """
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    path = cache_dir / f"{pretrain_cache_key(model, dataset, settings.seed, settings, data_key)}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return blob["state"], {k: float(v) for k, v in blob["accuracy"].items()}
        except Exception:
            pass  # unreadable cache: retrain and overwrite it
    set_full_precision(model)
    model.to(device)
    train(model, train_data, settings, device=device, progress=progress, description="pretrain")
    scores = {"accuracy": accuracy(model, val_data, device=device)}
    if test_data is not None:
        scores["test_accuracy"] = accuracy(model, test_data, device=device)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state": state, "accuracy": scores}, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue(), what=f"the pretraining cache in {cache_dir}", hint="set SPIKEBITS_CACHE to a writable folder")
    except OutputError as err:  # a cache is an optimisation: go on with the weights in memory
        print(f"spikebits: warning: {err}; going on without the cache", file=sys.stderr)
    return state, scores
