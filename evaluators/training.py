"""Training: full-precision pretraining (cached on disk) and quantization-aware fine-tuning."""

from __future__ import annotations

import dataclasses
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

from spikebits.evaluators.resources import check_epochs, check_workers
from spikebits.models import SpikingNetwork, set_full_precision
from spikebits.space import (
    ConfigError,
    OutputError,
    TrainingError,
    TrainingStopped,
    atomic_write_bytes,
    check_output_file,
    read_input_bytes,
)

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


class StopRequest:
    """A request that training stop at its next batch boundary.

    :meth:`request` only sets an attribute, so a signal handler may call it (the CLI's
    :class:`search.runner.StopOnSignals` does, on the first SIGINT or SIGTERM). Every training
    loop (:func:`train_epoch`, hence :func:`train` and :func:`train_to_plateau`, and the
    supernet's) calls :meth:`check` after each batch, which raises
    :class:`space.TrainingStopped` once a stop was requested. One per evaluator
    (:attr:`evaluators.Evaluator.stop`), handed down as an argument; never a global. The
    request stays until :meth:`clear`."""

    def __init__(self) -> None:
        #: Why a stop was requested (e.g. ``"stopped by SIGTERM"``); None: it was not.
        self.reason: str | None = None

    def request(self, reason: str = "stopped") -> None:
        """Ask the training in progress to stop after its current batch (the first reason stays)."""
        if self.reason is None:
            self.reason = reason

    def clear(self) -> None:
        """Withdraw the request (training may run again)."""
        self.reason = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def check(self, where: str = "training") -> None:
        """Raise :class:`space.TrainingStopped` if a stop was requested (``where``: what stops)."""
        if self.reason is not None:
            raise TrainingStopped(f"interrupted ({self.reason}) during {where}")


#: ``kind`` of a partial checkpoint: the loop that wrote it (:func:`train`, :func:`train_to_plateau`
#: or the differentiable strategy's supernet, ``search.differentiable.train_supernet``).
PARTIAL_KINDS = ("train", "plateau", "supernet")


def partial_path(path: Path) -> Path:
    """Where the partial (per-epoch) checkpoint of the cache file ``path`` lives: the same
    stem with ``.partial.pt``."""
    return path.with_name(f"{path.stem}.partial.pt")


def rng_state(loader: DataLoader, device: str | torch.device) -> dict[str, Tensor]:
    """The random state a training loop draws on: torch's CPU generator, the loader's shuffling
    generator, and the CUDA generator of ``device`` when it is a GPU."""
    state = {"torch": torch.get_rng_state(), "loader": loader.generator.get_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(loader: DataLoader, device: str | torch.device, state: dict[str, Tensor]) -> None:
    """Restore :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    loader.generator.set_state(state["loader"])
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def write_partial(path: Path | None, blob: dict[str, Any]) -> None:
    """Save ``blob`` (tensors, numbers, strings, lists and dicts of those) to ``path``
    atomically; a folder that cannot be written only costs the resume (nothing raised)."""
    if path is None:
        return
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OutputError:
        pass


def load_cached(path: Path) -> Any:
    """A cached torch file (a checkpoint, a partial checkpoint) read with ``weights_only=True``
    (nothing but tensors and plain data is unpickled) from the bytes of a regular file
    (:func:`space.read_input_bytes`): a pipe or a device in the cache is refused, never read.
    Any failure raises; the callers treat it as no cache."""
    return torch.load(io.BytesIO(read_input_bytes(path, "cache file")), map_location="cpu", weights_only=True)


def read_partial(path: Path | None, kind: str, key: str | None, log: Log | None, description: str) -> dict[str, Any] | None:
    """The partial checkpoint at ``path`` if it is one of ``kind`` for ``key``; None when there
    is none, and when it is damaged or another's (said through ``log``: training starts over).
    Read with ``weights_only=True``: nothing but tensors and plain data is unpickled."""
    if path is None or not path.exists():
        return None
    try:
        blob = load_cached(path)
        if not isinstance(blob, dict) or blob.get("kind") != kind or blob.get("key") != key:
            raise ValueError("not this training's checkpoint")
        for field in ("model", "optimizer", "book", "rng"):
            if not isinstance(blob.get(field), dict):
                raise ValueError(f"no {field}")
        return blob
    except Exception as err:  # noqa: BLE001 - damaged or foreign: start over
        log_ignored_partial(log, description, path, err)
        return None


def log_ignored_partial(log: Log | None, description: str, path: Path | None, err: BaseException) -> None:
    """Say through ``log`` (if any) that the partial checkpoint at ``path`` is ignored because
    of ``err`` and training starts over."""
    if log is not None:
        log(f"{description}: ignoring the partial checkpoint {path} ({type(err).__name__}: {err}); starting over")


def copy_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A detached copy of a state dict, on the CPU."""
    return {k: v.detach().cpu().clone() for k, v in state.items()}


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

    def __post_init__(self) -> None:
        """Counts within bounds before any loader or process is made: ``workers`` from 0 to
        :data:`evaluators.resources.MAX_WORKERS`, ``epochs`` at most
        :data:`evaluators.resources.MAX_EPOCHS`, ``batch_size`` at least 1 (one-line errors)."""
        check_workers(self.workers)
        check_epochs(self.epochs)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a whole number of at least 1, not {self.batch_size!r}")


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


#: The most a step size (α, γ) may shrink in one optimizer update: to this fraction of its
#: value before it (:class:`StepSizeGuard`).
STEP_SHRINK_LIMIT = 0.5


def step_size_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every trainable quantizer step size of ``model``: α of the weight quantizers (one per
    candidate in a Gumbel mixture) and γ of the refined neurons."""
    from spikebits.models import MixedWeightQuantizer, RefinedNeuron, WeightQuantizer

    found: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, WeightQuantizer):
            found.append(module.alpha)
        elif isinstance(module, MixedWeightQuantizer):
            found.append(module.alphas)
        elif isinstance(module, RefinedNeuron):
            found.append(module.gamma)
    return [p for p in found if p.requires_grad]


class StepSizeGuard:
    """Keeps every step size positive through training: an optimizer update may shrink a step
    size to no less than :data:`STEP_SHRINK_LIMIT` of its value before the update.

    Adam moves a parameter by about its learning rate per update whatever the gradient's
    scale, so LSQ's gradient scaling does not protect a small step size: the noisy, near-zero
    mean gradient of a fine 8-bit γ (about 0.1) walked it below zero within one MNIST epoch
    at lr 1e-3, after which the quantizer outputs only zeros and receives no gradient (the
    network stays at chance: 3 fine-tunes of 20 in bench/cheap_scores.py). A shrink limit is
    scale-free and leaves every ordinary update alone (1e-3 of 0.1 is 1%)."""

    def __init__(self, model: nn.Module) -> None:
        self.params = step_size_parameters(model)
        self._before: list[Tensor] = []

    def before_step(self) -> None:
        self._before = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def after_step(self) -> None:
        for p, old in zip(self.params, self._before):
            if p.shape == old.shape:
                floor = old * STEP_SHRINK_LIMIT
                p.copy_(torch.where(old > 0, torch.maximum(p, floor), p))


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    settings: TrainSettings,
    epoch: int,
    *,
    device: str | torch.device = "cpu",
    stop: StopRequest | None = None,
    description: str = "training",
    before_batch: Callable[[int, int], None] | None = None,
) -> float:
    """One epoch of cross-entropy training over ``loader`` (``epoch`` 1-based, for the
    divergence message); returns the mean loss. ``before_batch(epoch, step)`` (step 0-based)
    runs before each batch (a one-shot supernet sets its next path there). After each batch
    ``stop`` is checked (:meth:`StopRequest.check`: raises :class:`space.TrainingStopped`)."""
    model.train()
    total, count = 0.0, 0
    guard = StepSizeGuard(model)  # the optimizer steps the tensors it was made with, no others
    for step, (x, y) in enumerate(loader):
        if before_batch is not None:
            before_batch(epoch, step)
        x, y = batch_format(x.to(device, non_blocking=True), settings), y.to(device, non_blocking=True)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=settings.amp):
            loss = F.cross_entropy(model(x), y)
        value = check_loss(float(loss.detach()), epoch, count // max(settings.batch_size, 1) + 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        guard.before_step()
        optimizer.step()
        guard.after_step()
        if scheduler is not None:
            scheduler.step()
        total += value * len(y)
        count += len(y)
        if stop is not None:
            stop.check(f"{description} epoch {epoch}")
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
    stop: StopRequest | None = None,
    checkpoint: Path | None = None,
    checkpoint_key: str | None = None,
    before_batch: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Train ``model`` with cross-entropy; returns the mean loss of each epoch.

    ``on_epoch(epoch, model)`` is called after each epoch (1-based), e.g. to report an
    intermediate accuracy; the model is put back in training mode afterwards. ``log`` gets a
    line per epoch (loss and time). ``stop`` is checked after each batch
    (:class:`StopRequest`). With ``checkpoint`` (a file), the model, optimizer, scheduler,
    losses and random state are saved there atomically after each epoch but the last, and a
    run that finds one written for ``checkpoint_key`` resumes after its epoch (a damaged
    one is ignored); the caller removes it once the result is kept. ``before_batch`` goes to
    :func:`train_epoch` (a function of (epoch, step) alone, so a resumed run repeats it) and is
    called once more with step −1 after each epoch, before the checkpoint is written (a
    one-shot supernet puts the model back in the form it is saved in)."""
    progress = progress or quiet
    if not settings.epochs or settings.epochs <= 0:
        return []
    torch.manual_seed(settings.seed)
    loader = make_loader(data, settings.batch_size, shuffle=True, seed=settings.seed, workers=settings.workers)
    to_memory_format(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * len(loader))
    losses: list[float] = []
    saved = read_partial(checkpoint, "train", checkpoint_key, log, description)
    if saved is not None:
        initial = copy_state(model.state_dict())
        try:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            losses = [float(v) for v in saved["book"]["losses"]]
            set_rng_state(loader, device, saved["rng"])
            if not 0 < len(losses) < settings.epochs:
                raise ValueError(f"{len(losses)} epochs of {settings.epochs}")
            if log is not None:
                log(f"{description}: resuming from {checkpoint} after epoch {len(losses)}/{settings.epochs}")
        except Exception as err:  # noqa: BLE001 - it did not fit: start over from the start
            log_ignored_partial(log, description, checkpoint, err)
            return train(
                model_from(model, initial), data, settings, device=device, progress=progress, description=description,
                on_epoch=on_epoch, log=log, stop=stop, checkpoint=None, before_batch=before_batch,
            )
    done = len(losses)
    for epoch in progress(range(done, settings.epochs), description, settings.epochs - done):
        start = time.perf_counter()
        losses.append(train_epoch(
            model, loader, optimizer, scheduler, settings, epoch + 1, device=device, stop=stop, description=description, before_batch=before_batch,
        ))
        if before_batch is not None:  # the epoch's end: the model back in the form its checkpoint has
            before_batch(epoch + 1, -1)
        if checkpoint is not None and epoch + 1 < settings.epochs:
            write_partial(checkpoint, {
                "kind": "train", "key": checkpoint_key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "book": {"losses": list(losses)}, "rng": rng_state(loader, device),
            })
        if log is not None:
            log(f"{description} epoch {epoch + 1}/{settings.epochs}: loss {losses[-1]:.4f}, {time.perf_counter() - start:.1f} s")
        if on_epoch is not None:
            on_epoch(epoch + 1, model)
    return losses


def model_from(model: nn.Module, state: dict[str, Tensor]) -> nn.Module:
    """``model`` with ``state`` loaded back (in place), after a resume that did not fit."""
    model.load_state_dict(state)
    return model


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
    stop: StopRequest | None = None,
    checkpoint: Path | None = None,
    checkpoint_key: str | None = None,
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
    Returns the rounds; the model ends with the kept weights.

    ``stop`` is checked after each batch (:class:`StopRequest`). With ``checkpoint`` (a file)
    the state after each epoch is saved there atomically — model, optimizer, the annealing
    schedule, the random state and the rule's bookkeeping (finished rounds, best accuracy and
    its weights, phase, the current round's losses) — and a run that finds one written for
    ``checkpoint_key`` resumes after its epoch, taking the same decisions as a run that was
    never stopped (a damaged one is ignored); the caller removes it once the result is kept."""
    progress = progress or quiet
    torch.manual_seed(settings.seed)
    run = _PlateauTraining(
        model, train_data, val_data, settings, device=device, progress=progress, log=log, description=description, stop=stop,
        checkpoint=checkpoint, checkpoint_key=checkpoint_key,
    )
    per_round = max(1, math.ceil(round_samples / max(len(train_data), 1)))
    min_gain = max(1e-3, 1.0 / max(len(val_data), 1))
    saved = read_partial(checkpoint, "plateau", checkpoint_key, log, description)
    if saved is not None:
        initial = copy_state(model.state_dict())
        try:
            run.resume(saved)
        except Exception as err:  # noqa: BLE001 - it did not fit: start over
            log_ignored_partial(log, description, checkpoint, err)
            return train_to_plateau(
                model_from(model, initial), train_data, val_data, settings, device=device, progress=progress, log=log,
                description=description, round_samples=round_samples, max_epochs=max_epochs, stop=stop,
            )
    book = run.book
    while not book["anneal"] and not book["plateau"] and (run.round_start() + per_round < max_epochs or not book["rounds"]):
        done = run.train_round(min(per_round, max(1, max_epochs - run.round_start() - 1)), anneal=False)
        improved = done.accuracy >= book["best"] + min_gain
        if done.accuracy > book["best"]:
            book["best"], run.best_state = done.accuracy, copy_state(model.state_dict())
        book["plateau"] = not improved
        run.save()
    if not book["anneal"]:
        run.start_annealing(max(1, min(per_round, max_epochs - book["epoch"])))
    if run.train_round(book["anneal_epochs"], anneal=True).accuracy < book["best"]:
        model.load_state_dict(run.best_state)
    return [PlateauRound(**r) for r in book["rounds"]]


class _PlateauTraining:
    """One run of :func:`train_to_plateau`: the model, its loader, optimizer and (once
    annealing starts) cosine scheduler, the best round's weights and the rule's bookkeeping
    ``book``, plain numbers only (a partial checkpoint holds it): the epochs done, the best
    validation accuracy, the finished rounds, whether a round stopped improving, whether
    annealing started (and its length), and the current round's losses and seconds so far."""

    def __init__(
        self,
        model: nn.Module,
        train_data: Dataset,
        val_data: Dataset,
        settings: TrainSettings,
        *,
        device: str | torch.device,
        progress: Progress,
        log: Log | None,
        description: str,
        stop: StopRequest | None,
        checkpoint: Path | None,
        checkpoint_key: str | None,
    ) -> None:
        self.model, self.val_data, self.settings = model, val_data, settings
        self.device, self.progress, self.log, self.description, self.stop = device, progress, log, description, stop
        self.checkpoint, self.checkpoint_key = checkpoint, checkpoint_key
        self.loader = make_loader(train_data, settings.batch_size, shuffle=True, seed=settings.seed, workers=settings.workers)
        to_memory_format(model, settings)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
        self.book: dict[str, Any] = {
            "epoch": 0, "best": -1.0, "rounds": [], "plateau": False, "anneal": False, "anneal_epochs": 0,
            "round_losses": [], "round_seconds": 0.0,
        }
        self.best_state: dict[str, Tensor] | None = None
        self.scheduler: Any = None

    def _cosine(self, epochs: int) -> Any:
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs * len(self.loader))

    def resume(self, saved: dict[str, Any]) -> None:
        """Take up the partial checkpoint ``saved`` (:func:`read_partial`); an error when it
        does not fit this run (the caller then starts over)."""
        restored = dict(saved["book"])
        if set(restored) != set(self.book):
            raise ValueError("bookkeeping of another version")
        if restored["anneal"]:
            self.scheduler = self._cosine(int(restored["anneal_epochs"]))  # before the optimizer's state: it sets the lr
        initial_keys = set(self.model.state_dict())
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(saved["scheduler"])
        best_state = saved.get("best_state") or None
        if (best_state is None) != (not restored["rounds"]) or (best_state is not None and set(best_state) != initial_keys):
            raise ValueError("best weights do not fit the rounds or the model")
        self.best_state = best_state
        set_rng_state(self.loader, self.device, saved["rng"])
        self.book = restored
        if self.log is not None:
            self.log(f"{self.description}: resuming from {self.checkpoint} after epoch {self.book['epoch']}")

    def save(self) -> None:
        """Write the partial checkpoint (when there is one)."""
        if self.checkpoint is not None:
            write_partial(self.checkpoint, {
                "kind": "plateau", "key": self.checkpoint_key, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None, "best_state": self.best_state,
                "book": self.book, "rng": rng_state(self.loader, self.device),
            })

    def round_start(self) -> int:
        """The epoch the current round started after."""
        return self.book["epoch"] - len(self.book["round_losses"])

    def start_annealing(self, epochs: int) -> None:
        """Back to the best round's weights, then a cosine schedule over ``epochs`` epochs."""
        self.model.load_state_dict(self.best_state)
        self.book["anneal"], self.book["anneal_epochs"] = True, epochs
        self.scheduler = self._cosine(epochs)

    def train_round(self, epochs: int, anneal: bool) -> PlateauRound:
        """The rest of a round of ``epochs`` epochs (a resumed one goes on where it stopped),
        then its validation accuracy; the round is added to the bookkeeping."""
        book = self.book
        done_before = len(book["round_losses"])
        start = time.perf_counter() - book["round_seconds"]
        label = f"{self.description} {'anneal' if anneal else 'round'} {len(book['rounds']) + 1}"
        for _ in self.progress(range(done_before, epochs), label, epochs - done_before):
            book["epoch"] += 1
            book["round_losses"].append(train_epoch(
                self.model, self.loader, self.optimizer, self.scheduler, self.settings, book["epoch"], device=self.device,
                stop=self.stop, description=self.description,
            ))
            book["round_seconds"] = time.perf_counter() - start
            if len(book["round_losses"]) < epochs:
                self.save()  # the end of a round is saved once its accuracy is known
        valid = accuracy(self.model, self.val_data, device=self.device)
        done = PlateauRound(book["epoch"], book["round_losses"][-1], valid, time.perf_counter() - start, anneal)
        book["rounds"].append(dataclasses.asdict(done))
        book["round_losses"], book["round_seconds"] = [], 0.0
        if self.log is not None:
            what = "annealed" if anneal else f"round {len(book['rounds'])}"
            self.log(
                f"{self.description} epoch {done.epoch} ({what}): loss {done.loss:.4f}, validation {100 * done.accuracy:.2f}%, "
                f"{done.seconds:.1f} s"
            )
        return done


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
    stop: StopRequest | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Full-precision weights for (model, data set, seed), trained once and cached on disk.

    Full precision: float weights, unquantized neurons (the B_s → ∞ limit, s = max(v, 0)),
    T = 1, trained for ``settings.epochs`` epochs or, when that is None, by the pretraining
    rule (:func:`train_to_plateau`). Returns the state dict and ``{"accuracy": validation
    accuracy, "epochs": epochs trained, "test_accuracy": test accuracy}`` (the last only to
    report; absent without ``test_data``). The cache file
    name holds a hash of the architecture, data set, seed, settings and ``data_key`` (what
    else decides the training data, e.g. the validation fraction); it is written atomically.

    While training, the state after each epoch is kept in a partial checkpoint next to it
    (:func:`partial_path`: the same stem with ``.partial.pt``); a call that finds one for the
    same key resumes after its epoch (and says so through ``log``), so a pretraining stopped by
    ``stop`` (:class:`StopRequest`: :class:`space.TrainingStopped` within one batch), a signal
    or a crash loses at most the epoch in progress. The partial file is removed once the final
    one is written; a damaged one is ignored (training starts over).
    """
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = pretrain_cache_key(model, dataset, settings.seed, settings, data_key)
    path = cache_dir / f"{key}.pt"
    partial = partial_path(path)
    for target in (path, partial):  # what training will write: refused at once, not after the training
        check_output_file(target, f"the pretraining cache {target}", "remove it, or give another --cache-dir")
    if path.exists():
        try:
            blob = load_cached(path)
            return blob["state"], {k: float(v) for k, v in blob["accuracy"].items()}
        except Exception:
            pass  # unreadable cache: retrain and overwrite it
    set_full_precision(model)
    model.to(device)
    if settings.epochs is None:
        rounds = train_to_plateau(
            model, train_data, val_data, settings, device=device, progress=progress, log=log, stop=stop, checkpoint=partial,
            checkpoint_key=key,
        )
        epochs = rounds[-1].epoch
    else:
        train(
            model, train_data, settings, device=device, progress=progress, description="pretrain", log=log, stop=stop,
            checkpoint=partial, checkpoint_key=key,
        )
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
    try:
        partial.unlink(missing_ok=True)
    except OSError:
        pass  # a stale partial file is ignored next time: its key finds the final file first
    return state, scores
