"""The data-set registry and the split every loader returns (a leaf: loaders import it,
:mod:`evaluators.datasets` puts them together behind ``load`` and ``info``).

Every loader returns a :class:`DataSplit` of three map-style datasets yielding
``(x, y)`` with ``x`` a float32 tensor of the registered input shape ``(C, H, W)`` and ``y``
a 0-dim int64 class index. The validation split is carved from the training data
(:func:`stratified_split`, seeded, ``val_fraction``) unless the data set ships one; the
test split is only read to report (DESIGN: honest accuracy).

Every file a loader opens is checked first (:func:`check_data_file`, :func:`open_data_file`,
:func:`read_data_file`): it must be a regular file once links are followed, of at most a
size, so that a named pipe (which blocks a reader forever), a device (``/dev/zero`` never
ends), a socket or a folder where a data file should be is a one-line :class:`DataError`
naming the file, never a hang or a memory blow-up.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from spikebits.space import DataError, file_kind, one_line


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


def check_split(labels: Sequence[int] | np.ndarray, fraction: float, *, option: str = "--val-fraction") -> bool:
    """Whether ``fraction`` of ``labels`` can be held out, stratified (True) or not (False: some
    class has one sample), the way scikit-learn's ``train_test_split`` holds out ⌈fraction·N⌉.

    A ``fraction`` outside (0, 1), no samples, or a split that leaves either part empty or (when
    stratified) with fewer samples than there are classes is a one-line :class:`DataError` that
    names ``option`` and the fractions that would work."""
    labels = np.asarray(labels)
    total = len(labels)
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{option} must be between 0 and 1 (exclusive), not {fraction}")
    if total == 0:
        raise DataError(f"{option} {fraction}: there are no samples to split; the data folder holds no training data")
    counts = np.bincount(labels)
    stratified = bool(counts[counts > 0].min() >= 2)
    need = int((counts > 0).sum()) if stratified else 1  # in each part
    held = math.ceil(fraction * total)  # as train_test_split rounds a float share
    if min(held, total - held) >= need:
        return stratified
    part = "held out" if held < need else "kept for training"
    short = f"{option} {fraction} leaves {min(held, total - held)} of {total} samples {part}"
    why = f"fewer than the {need} classes that a stratified split puts in each part" if stratified else "and neither part may be empty"
    if 2 * need > total:
        raise DataError(f"{short}, {why}; {total} samples are too few to split, so give a data folder with more")
    low, high = math.ceil(need / total * 1e4) / 1e4, math.floor((total - need) / total * 1e4) / 1e4  # inside the bounds
    raise DataError(f"{short}, {why}; choose {option} from {low:g} to {high:g}")


def stratified_split(
    labels: Sequence[int] | np.ndarray, fraction: float, seed: int, *, option: str = "--val-fraction"
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) index arrays: ``fraction`` of each class held out, seeded by ``seed``.

    When some class has a single sample the split is not stratified: ⌈fraction·N⌉ samples drawn
    at random are held out. A ``fraction`` that leaves either part empty, or (stratified) with
    fewer samples than there are classes, is a one-line :class:`DataError` naming ``option``
    (:func:`check_split`); scikit-learn's own errors never escape."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    stratify = labels if check_split(labels, fraction, option=option) else None
    try:
        kept, held = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as err:  # what check_split does not foresee
        raise DataError(f"{option} {fraction} cannot split {len(labels)} samples ({one_line(err, 200)}); choose another {option}") from None
    return np.sort(kept), np.sort(held)


def first_samples(data: Dataset, limit: int) -> tuple:
    """The first ``limit`` samples of a map-style dataset as two stacked tensors ``(x, y)``."""
    count = min(int(limit), len(data))  # type: ignore[arg-type]
    if count < 1:
        raise ValueError("the dataset is empty")
    items = [data[i] for i in range(count)]
    return torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


# ---------------------------------------------------------------------------- data files
#: Largest data file a loader opens (CIFAR-100's training pickle is 155 MB, an SHD HDF5 file
#: under 1 GB): far above any real file, far below what would exhaust memory when read whole.
MAX_DATA_FILE_BYTES = 4 << 30


def _stat_problem(path: Path, info: os.stat_result, limit: int) -> str | None:
    """What the status ``info`` of ``path`` says against reading it, or None."""
    if not stat.S_ISREG(info.st_mode):
        link = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        return f"is {file_kind(info.st_mode)}{link}, not a regular file: put the data file itself there"
    if info.st_size > limit:
        return f"holds {info.st_size} bytes, more than the {limit} a data file may hold: it is damaged or of another data set"
    return None


def data_file_problem(path: str | os.PathLike[str], limit: int = MAX_DATA_FILE_BYTES) -> str | None:
    """What stops ``path`` being read as a data file, in words that follow its name ("is a named
    pipe (…), not a regular file: …", "is missing", "holds … bytes, more than …"), or None when
    it is a regular file (after following links) of at most ``limit`` bytes. Only ``os.stat``:
    nothing is opened, so a pipe or a device cannot block or flood the caller."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return f"is a link to the missing {os.path.realpath(path)}" if os.path.islink(path) else "is missing"
    except OSError as err:
        return f"cannot be read ({err.strerror or type(err).__name__})"
    return _stat_problem(path, info, limit)


def check_data_file(path: str | os.PathLike[str], *, hint: str, limit: int = MAX_DATA_FILE_BYTES) -> Path:
    """``path`` once :func:`data_file_problem` finds nothing against it; else the one-line
    :class:`DataError` ``"PATH PROBLEM; HINT"`` (``hint``: what the data set's files should be)."""
    problem = data_file_problem(path, limit)
    if problem is not None:
        raise DataError(f"{path} {problem}; {hint}")
    return Path(path)


def open_data_file(path: str | os.PathLike[str], *, hint: str, limit: int = MAX_DATA_FILE_BYTES) -> BinaryIO:
    """The regular file ``path`` opened for reading in binary, after :func:`check_data_file`.

    It is opened without blocking (``O_NONBLOCK``) and checked again on the open descriptor
    (``os.fstat``), so that a pipe put in its place after the check cannot block either; a
    failure is a one-line :class:`DataError` ending in ``hint``."""
    path = check_data_file(path, hint=hint, limit=limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror or type(err).__name__}); {hint}") from None
    try:
        problem = _stat_problem(path, os.fstat(fd), limit)
        if problem is None:
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    raise DataError(f"{path} {problem}; {hint}")


def read_data_file(path: str | os.PathLike[str], *, hint: str, limit: int = MAX_DATA_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (:func:`open_data_file`), at most ``limit``; any
    failure is a one-line :class:`DataError` ending in ``hint``."""
    with open_data_file(path, hint=hint, limit=limit) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as err:
            raise DataError(f"cannot read {path} ({err.strerror or type(err).__name__}); {hint}") from None
    if len(data) > limit:
        raise DataError(f"{path} grew past the {limit} bytes a data file may hold while it was read; {hint}")
    return data


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
