"""Training: full-precision pretraining (cached on disk) and quantization-aware fine-tuning."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from spikebits.models import SpikingNetwork, set_full_precision
from spikebits.space import OutputError, TrainingError, atomic_write_bytes

#: ``progress(iterable, description, total) -> iterable``: the CLI passes a tqdm wrapper.
Progress = Callable[[Iterable, str, int], Iterable]
#: ``log(line)``: one line per training epoch (loss, validation accuracy, time) that stays in
#: the output; the CLI prints it, library code passes None.
Log = Callable[[str], None]

#: The pretraining rule (``TrainSettings.epochs`` None, ``--pretrain-epochs auto``): rounds of
#: at least this many training samples (and at least one epoch) at a constant learning rate …
ROUND_SAMPLES = 20_000
#: … and at most this many epochs in all, the annealing round included.
MAX_PRETRAIN_EPOCHS = 30
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

    #: None: until validation accuracy stops improving (:func:`train_to_plateau`).
    epochs: int | None = 1
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


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    settings: TrainSettings,
    epoch: int,
    *,
    device: str | torch.device = "cpu",
) -> float:
    """One epoch of cross-entropy training over ``loader`` (``epoch`` 1-based, for the
    divergence message); returns the mean loss."""
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = batch_format(x.to(device, non_blocking=True), settings), y.to(device, non_blocking=True)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=settings.amp):
            loss = F.cross_entropy(model(x), y)
        value = check_loss(float(loss.detach()), epoch, count // max(settings.batch_size, 1) + 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += value * len(y)
        count += len(y)
    return total / max(count, 1)


def train(
    model: nn.Module,
    data: TensorDataset,
    settings: TrainSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    description: str = "train",
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    log: Log | None = None,
) -> list[float]:
    """Train ``model`` with cross-entropy; returns the mean loss of each epoch.

    ``on_epoch(epoch, model)`` is called after each epoch (1-based), e.g. to report an
    intermediate accuracy; the model is put back in training mode afterwards. ``log`` gets a
    line per epoch (loss and time)."""
    progress = progress or quiet
    if not settings.epochs or settings.epochs <= 0:
        return []
    torch.manual_seed(settings.seed)
    loader = make_loader(data, settings.batch_size, shuffle=True, seed=settings.seed, workers=settings.workers)
    to_memory_format(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * len(loader))
    losses = []
    for epoch in progress(range(settings.epochs), description, settings.epochs):
        start = time.perf_counter()
        losses.append(train_epoch(model, loader, optimizer, scheduler, settings, epoch + 1, device=device))
        if log is not None:
            log(f"{description} epoch {epoch + 1}/{settings.epochs}: loss {losses[-1]:.4f}, {time.perf_counter() - start:.1f} s")
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return losses


@dataclass(frozen=True)
class PlateauRound:
    """One round of :func:`train_to_plateau`: its last epoch, mean loss, validation accuracy
    and wall time; ``anneal`` for the final round."""

    epoch: int
    loss: float
    accuracy: float
    seconds: float
    anneal: bool = False


def train_to_plateau(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset,
    settings: TrainSettings,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    log: Log | None = None,
    description: str = "pretrain",
    round_samples: int = ROUND_SAMPLES,
    max_epochs: int = MAX_PRETRAIN_EPOCHS,
) -> list[PlateauRound]:
    """Train until validation accuracy stops improving (the pretraining rule, README):

    1. rounds of r = max(1, ⌈``round_samples``/N_train⌉) epochs at the constant learning rate
       ``settings.lr``, the validation accuracy measured after each; stop after the first
       round that does not raise the best by at least max(0.1 point, one validation image),
       or when another round would leave no room for step 2 within ``max_epochs``;
    2. from the best weights, one annealing round of min(r, epochs left) epochs (at least
       one) whose learning rate falls along a cosine to zero;
    3. keep the annealed weights unless the best round validated higher.

    On MNIST (54,000 training images) a round is one epoch; on digits (1,293) it is 16, so
    digits trains 16 constant and 14 annealing epochs, as many as the fixed 30 before.
    Returns the rounds; the model ends with the kept weights."""
    progress = progress or quiet
    torch.manual_seed(settings.seed)
    loader = make_loader(train_data, settings.batch_size, shuffle=True, seed=settings.seed, workers=settings.workers)
    to_memory_format(model, settings)
    per_round = max(1, math.ceil(round_samples / max(len(train_data), 1)))
    min_gain = max(1e-3, 1.0 / max(len(val_data), 1))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    rounds: list[PlateauRound] = []
    best, best_state, epoch = -1.0, None, 0

    def run(epochs: int, scheduler: Any, anneal: bool) -> PlateauRound:
        nonlocal epoch
        start, losses = time.perf_counter(), []
        for _ in progress(range(epochs), f"{description} {'anneal' if anneal else 'round'} {len(rounds) + 1}", epochs):
            epoch += 1
            losses.append(train_epoch(model, loader, optimizer, scheduler, settings, epoch, device=device))
        done = PlateauRound(epoch, losses[-1], accuracy(model, val_data, device=device), time.perf_counter() - start, anneal)
        rounds.append(done)
        if log is not None:
            what = "annealed" if anneal else f"round {len(rounds)}"
            log(f"{description} epoch {epoch} ({what}): loss {done.loss:.4f}, validation {100 * done.accuracy:.2f}%, {done.seconds:.1f} s")
        return done

    while epoch + per_round < max_epochs or not rounds:
        done = run(min(per_round, max(1, max_epochs - epoch - 1)), None, anneal=False)
        improved = done.accuracy >= best + min_gain
        if done.accuracy > best:
            best, best_state = done.accuracy, copy.deepcopy(model.state_dict())
        if not improved:
            break
    model.load_state_dict(best_state)
    anneal_epochs = max(1, min(per_round, max_epochs - epoch))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=anneal_epochs * len(loader))
    if run(anneal_epochs, scheduler, anneal=True).accuracy < best:
        model.load_state_dict(best_state)
    return rounds


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
    log: Log | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Full-precision weights for (model, data set, seed), trained once and cached on disk.

    Full precision: float weights, unquantized neurons (the B_s → ∞ limit, s = max(v, 0)),
    T = 1, trained for ``settings.epochs`` epochs or, when that is None, by the pretraining
    rule (:func:`train_to_plateau`). Returns the state dict and ``{"accuracy": validation
    accuracy, "epochs": epochs trained, "test_accuracy": test accuracy}`` (the last only to
    report; absent without ``test_data``). The cache file
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
    if settings.epochs is None:
        rounds = train_to_plateau(model, train_data, val_data, settings, device=device, progress=progress, log=log)
        epochs = rounds[-1].epoch
    else:
        train(model, train_data, settings, device=device, progress=progress, description="pretrain", log=log)
        epochs = settings.epochs
    scores = {"accuracy": accuracy(model, val_data, device=device), "epochs": float(epochs)}
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
