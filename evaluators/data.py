"""The data-set registry and the split every loader returns (a leaf: loaders import it,
:mod:`evaluators.datasets` puts them together behind ``load`` and ``info``).

Every loader returns a :class:`DataSplit` of three map-style datasets yielding
``(x, y)`` with ``x`` a float32 tensor of the registered input shape ``(C, H, W)`` and ``y``
a 0-dim int64 class index. The validation split is carved from the training data
(:func:`stratified_split`, seeded, ``val_fraction``) unless the data set ships one; the
test split is only read to report (DESIGN: honest accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from spikebits.space import DataError


@dataclass(frozen=True)
class DataSplit:
    """A data set ready for training: three map-style datasets of ``(x, y)`` pairs.

    ``train`` may augment (random crops and flips for CIFAR); ``val`` and ``test`` never do.
    Image data sets held in memory use :class:`MemoryImages` for all three.
    Strategies decide on ``train`` and ``val`` only.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set without loading it."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    #: The architecture the CLI builds for it when ``--model`` is not given.
    model: str = "digits_cnn"


#: Name → loader and name → shape/classes, filled by :func:`register_dataset`.
LOADERS: dict[str, Callable[..., DataSplit]] = {}
INFO: dict[str, DatasetInfo] = {}


#: Default share of the training data held out for validation.
VAL_FRACTION = 0.1


def register_dataset(name: str, input_shape: tuple[int, ...], num_classes: int, *, model: str = "digits_cnn"):
    """Register a loader ``fn(*, seed, root, val_fraction) -> DataSplit`` under ``name``;
    ``model`` is its default architecture."""

    def deco(fn: Callable[..., DataSplit]) -> Callable[..., DataSplit]:
        LOADERS[name] = fn
        INFO[name] = DatasetInfo(name, tuple(input_shape), num_classes, model)
        return fn

    return deco


def chance_ceiling(num_classes: int, samples: int, z: float = 3.0) -> float:
    """The accuracy a classifier must beat on ``samples`` items of ``num_classes`` balanced
    classes before it is told apart from guessing: p + z·√(p(1 − p)/n), p = 1/num_classes
    (z = 3 standard errors of a guesser's accuracy). 10 classes: 0.1116 on 6,000 validation
    images (MNIST), 0.175 on 144 (digits)."""
    p = 1.0 / max(num_classes, 1)
    return p + z * math.sqrt(p * (1.0 - p) / max(samples, 1))


def check_val_fraction(val_fraction: float) -> float:
    """``val_fraction`` if it lies strictly between 0 and 1; else a one-line :class:`DataError`."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"--val-fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    return float(val_fraction)


def stratified_split(labels: Sequence[int] | np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) index arrays: ``fraction`` of each class held out, seeded by ``seed``.

    Classes too small to split (one sample) stay whole in the kept part. A ``fraction`` that
    leaves either part fewer samples than there are classes is a one-line :class:`DataError`."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    stratify = labels if len(counts) and counts[counts > 0].min() >= 2 else None
    if stratify is not None:
        classes = int((counts > 0).sum())
        held_count = math.ceil(fraction * len(labels))  # as train_test_split rounds a float share
        if min(held_count, len(labels) - held_count) < classes:
            part = "held out" if held_count < classes else "kept for training"
            raise DataError(
                f"--val-fraction {fraction} leaves {min(held_count, len(labels) - held_count)} of {len(labels)} samples {part}, "
                f"fewer than the {classes} classes that a stratified split puts in each part; choose another --val-fraction"
            )
    kept, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(kept), np.sort(held)


def first_samples(data: Dataset, limit: int) -> tuple:
    """The first ``limit`` samples of a map-style dataset as two stacked tensors ``(x, y)``."""
    count = min(int(limit), len(data))  # type: ignore[arg-type]
    if count < 1:
        raise ValueError("the dataset is empty")
    items = [data[i] for i in range(count)]
    return torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


# ---------------------------------------------------------------------------- images in memory
def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """x = (u / 255 − μ_c) / σ_c for uint8 images ``u`` of shape ``[B, C, H, W]``; float32."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return images.to(torch.float32).div_(255.0).sub_(mean_t).div_(std_t)


def crop_and_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int) -> torch.Tensor:
    """Crop each image of ``images`` ``[B, C, H, W]`` from a copy zero-padded by ``padding``
    pixels on every side, then mirror it left–right where ``flips`` is true.

    out[b, c, i, j] = P[b, c, i + r_b, j' + s_b], j' = W − 1 − j if flips[b] else j,

    where P is the padded batch and ``offsets[b] = (r_b, s_b)`` in ``0 … 2·padding`` (an
    offset of ``padding`` is the uncropped image). One gather for the whole batch.
    """
    batch, channels, height, width = images.shape
    padded = images.new_zeros(batch, channels, height + 2 * padding, width + 2 * padding)
    padded[:, :, padding : padding + height, padding : padding + width] = images
    rows = offsets[:, 0, None] + torch.arange(height)  # [B, H]
    columns = torch.arange(width).expand(batch, width)
    columns = torch.where(flips[:, None], width - 1 - columns, columns) + offsets[:, 1, None]  # [B, W]
    b = torch.arange(batch)[:, None, None, None]
    c = torch.arange(channels)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], columns[:, None, None, :]]


class MemoryImages(Dataset):
    """uint8 images kept in memory, served as normalised float32 ``(x [C, H, W], y)``.

    x = (u / 255 − μ_c) / σ_c (:func:`normalise`; μ = 0, σ = 1 gives u / 255 in [0, 1]). With
    ``augment`` each fetch first crops a random H×W window from the image zero-padded by
    ``padding`` pixels (a random shift of up to ``padding`` pixels each way; the pad is black,
    so it reads (0 − μ_c) / σ_c after normalising) and mirrors it with probability
    ``flip_probability`` (:func:`crop_and_flip`; 0 for digits and characters, which a mirror
    changes). ``__getitems__`` does a whole DataLoader batch in one vectorised pass;
    ``__getitem__`` serves single items; :attr:`tensors` gives the whole split at once, as a
    ``TensorDataset`` has it.

    Randomness: per batch, first the B crop offsets (``torch.randint``, rows then columns),
    then B uniform draws for the flips, from ``generator``. When ``generator`` is None (the
    default, and what the loaders use) they come from torch's default generator, which
    :func:`~spikebits.evaluators.training.train` seeds with its seed — so each training run
    is reproducible whatever ran before — and which a DataLoader reseeds in each worker with
    ``base_seed + worker_id``. With an explicit ``generator``, a DataLoader worker draws from
    its own generator seeded with ``get_worker_info().seed`` instead (derived the same way),
    so workers never repeat each other's crops.

    Args:
        images: uint8 ``[N, C, H, W]``.
        labels: int64 ``[N]``.
        mean, std: per-channel statistics of pixel values scaled to [0, 1] (one value per
            channel, or one for all).
        augment: random shift (crop of the padded image) and flip (training only). Default False.
        generator: source of the augmentation draws. Default None (torch's default generator).
        padding: zero padding on each side before the crop. Default 4.
        flip_probability: chance of a horizontal flip. Default 0.5.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: bool = False,
        generator: torch.Generator | None = None,
        padding: int = 4,
        flip_probability: float = 0.5,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"{type(self).__name__} needs uint8 images [N, C, H, W] and one label per image")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.augment = augment
        self.generator = generator
        self.padding = padding
        self.flip_probability = flip_probability
        self._worker_generator: tuple[int, torch.Generator] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split as ``(x [N, C, H, W] float32 normalised, labels [N] int64)``, never
        augmented: what ``TensorDataset.tensors`` holds. Made anew at each call (4 bytes per
        pixel), so keep the result rather than calling it in a loop."""
        return normalise(self.images, self.mean, self.std), self.labels

    def _draw_generator(self) -> torch.Generator | None:
        worker = get_worker_info()
        if self.generator is None or worker is None:
            return self.generator
        if self._worker_generator is None or self._worker_generator[0] != worker.seed:
            self._worker_generator = (worker.seed, torch.Generator().manual_seed(worker.seed))
        return self._worker_generator[1]

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[B, C, H, W]`` (float32, normalised, augmented if set) and labels ``[B]``."""
        index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        images = self.images[index]
        if self.augment and len(index):
            generator = self._draw_generator()
            offsets = torch.randint(0, 2 * self.padding + 1, (len(index), 2), generator=generator)
            flips = torch.rand(len(index), generator=generator) < self.flip_probability
            images = crop_and_flip(images, offsets, flips, self.padding)
        return normalise(images, self.mean, self.std), self.labels[index]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.batch(indices)
        return list(zip(x.unbind(0), y.unbind(0)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch([int(index)])
        return x[0], y[0]
