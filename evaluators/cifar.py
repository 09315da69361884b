"""CIFAR-10 and CIFAR-100 from the python-pickle batches, read without unpickling code.

The files are the "python version" from https://www.cs.toronto.edu/~kriz/cifar.html::

    <root>/cifar-10-batches-py/data_batch_1 … data_batch_5, test_batch   (b"data", b"labels")
    <root>/cifar-100-python/train, test                                  (b"data", b"fine_labels")

``root`` may also be the batches folder itself. Each file is a pickled dict (written by
Python 2, so it is read with ``encoding="bytes"``) holding ``data``, a uint8 array
``[N, 3072]`` (1024 red, then 1024 green, then 1024 blue values of a 32×32 image, row by
row), and a list of ``N`` class indices. A restricted unpickler builds only numpy arrays and
dtypes; anything else in a file is refused with a :class:`~spikebits.space.DataError`.

Images stay uint8 ``[N, 3, 32, 32]`` in memory (150 MB for the 50,000 training images) and
are converted to normalised float32 a batch at a time by :class:`CifarImages`, which also
augments the training split (random 32×32 crop of the image zero-padded by 4 pixels, then a
horizontal flip with probability 0.5). The validation split is ``val_fraction`` of the
training data (stratified, seeded) and is never augmented; neither is the test split.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from spikebits.evaluators.data import VAL_FRACTION, DataSplit, register_dataset, stratified_split
from spikebits.space import DataError

#: Per-channel (R, G, B) mean and standard deviation of the 50,000 CIFAR-10 training images,
#: pixel values scaled to [0, 1], over all pixels of each channel. (The often copied
#: std (0.2023, 0.1994, 0.2010) is the mean of per-image stds, not the channel std.)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: The same statistics for the 50,000 CIFAR-100 training images.
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

#: Side of a CIFAR image and its values per image (3 channels × 32 × 32).
IMAGE_SIZE = 32
PIXELS = 3 * IMAGE_SIZE * IMAGE_SIZE

_SOURCE = "the python version from https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant's files lie and what they hold."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def expected(self) -> str:
        """The one-line description of the layout that every :class:`DataError` ends with."""
        train = self.train_files[0] if len(self.train_files) == 1 else f"{self.train_files[0]} … {self.train_files[-1]}"
        return f"expected DIR/{self.folder}/{train} and {self.test_file} ({_SOURCE}); pass --data-root DIR"


CIFAR10 = CifarLayout(
    "cifar10",
    "CIFAR-10",
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    "labels",
    10,
    CIFAR10_MEAN,
    CIFAR10_STD,
)
CIFAR100 = CifarLayout("cifar100", "CIFAR-100", "cifar-100-python", ("train",), "test", "fine_labels", 100, CIFAR100_MEAN, CIFAR100_STD)


# ---------------------------------------------------------------------------- reading
class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle named a global that a CIFAR batch never holds."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, for latin-1 only."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise _ForbiddenGlobal(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only what a pickled numpy array needs.

    ``numpy.core.multiarray._reconstruct`` (``numpy._core`` since numpy 2), ``numpy.ndarray``
    and ``numpy.dtype`` build arrays; ``_codecs.encode`` turns text back into ``bytes`` in
    pickles written by Python 3 with protocol 2, and is allowed for latin-1 only. Any other
    global (``os.system``, ``builtins.eval``, …) raises before it is called.
    """

    _NUMPY = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._NUMPY:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise _ForbiddenGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _ForbiddenGlobal("a persistent id")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def read_batch(path: str | Path, label_key: str, num_classes: int, *, expected: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one CIFAR pickle: uint8 ``[N, 3, 32, 32]`` and int64 ``[N]``.

    The file must be a dict with ``data``, a uint8 array ``[N, 3072]``, and ``label_key``, a
    list of ``N`` ints in ``0 … num_classes − 1`` (keys as ``bytes`` or ``str``). Only numpy
    arrays are unpickled (see :class:`_BatchUnpickler`). A missing, truncated or malformed file
    raises :class:`DataError` with a one-line message ending in ``expected``.
    """
    path = Path(path)
    suffix = f"; {expected}" if expected else ""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} is missing{suffix}") from None
    except OSError as err:
        raise DataError(f"cannot read {path} ({err.strerror or _first_line(err)}){suffix}") from None
    try:
        batch = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except _ForbiddenGlobal as err:
        raise DataError(f"{path} is not a CIFAR batch: its pickle refers to {err}, which is refused{suffix}") from None
    except Exception as err:  # truncated or corrupted: EOFError, UnpicklingError, ValueError, ...
        raise DataError(f"{path} is not a readable CIFAR batch (truncated or corrupted: {_first_line(err)}){suffix}") from None

    def malformed(what: str) -> DataError:
        return DataError(f"{path} is not a CIFAR batch: {what}{suffix}")

    if not isinstance(batch, dict):
        raise malformed(f"it holds a {type(batch).__name__}, not a dict")
    entries = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in entries:
            found = ", ".join(sorted(repr(k) for k in entries)) or "none"
            raise malformed(f"no {key!r} entry (keys: {found})")
    data, labels = entries["data"], entries[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shape = f"{data.dtype} array of shape {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise malformed(f"'data' is a {shape}, expected a uint8 array [N, {PIXELS}]")
    if not isinstance(labels, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise malformed(f"{label_key!r} is not a list of ints")
    if len(labels) != len(data):
        raise malformed(f"{len(labels)} labels for {len(data)} images")
    outside = next((v for v in labels if not 0 <= v < num_classes), None)
    if outside is not None:
        raise malformed(f"label {outside} is outside 0 … {num_classes - 1}")
    images = np.require(data, requirements=["C", "W"]).reshape(len(data), 3, IMAGE_SIZE, IMAGE_SIZE)
    return images, np.asarray(labels, dtype=np.int64).reshape(len(labels))


def find_folder(root: str | Path | None, layout: CifarLayout) -> Path:
    """The folder holding ``layout``'s files: ``root/<layout.folder>`` or ``root`` itself."""
    if root is None:
        raise DataError(f"{layout.name} is read from files on disk and no data folder was given; {layout.expected}")
    root = Path(root).expanduser()
    nested = root / layout.folder
    if nested.is_dir():
        return nested
    if any((root / f).is_file() for f in (*layout.train_files, layout.test_file)):
        return root
    raise DataError(f"no {layout.title} files in {root}; {layout.expected}")


def read_cifar(root: str | Path | None, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) of ``layout`` under ``root``,
    images uint8 ``[N, 3, 32, 32]``, labels int64 ``[N]``, in file order."""
    folder = find_folder(root, layout)
    parts = [read_batch(folder / f, layout.label_key, layout.num_classes, expected=layout.expected) for f in layout.train_files]
    train_images = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
    train_labels = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
    del parts
    test_images, test_labels = read_batch(folder / layout.test_file, layout.label_key, layout.num_classes, expected=layout.expected)
    return train_images, train_labels, test_images, test_labels


# ---------------------------------------------------------------------------- transforms
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


class CifarImages(Dataset):
    """uint8 images kept in memory, served as normalised float32 ``(x [3, 32, 32], y)``.

    x = (u / 255 − μ_c) / σ_c (:func:`normalise`). With ``augment`` each fetch first crops a
    random 32×32 window from the image zero-padded by ``padding`` pixels (the pad is black,
    so it reads (0 − μ_c) / σ_c after normalising) and mirrors it with probability
    ``flip_probability`` (:func:`crop_and_flip`). ``__getitems__`` does a whole DataLoader
    batch in one vectorised pass; ``__getitem__`` serves single items.

    Randomness: per batch, first the B crop offsets (``torch.randint``, rows then columns),
    then B uniform draws for the flips, from ``generator``. When ``generator`` is None (the
    default, and what the loaders use) they come from torch's default generator, which
    :func:`~spikebits.evaluators.training.train` seeds with its seed — so each training run
    is reproducible whatever ran before — and which a DataLoader reseeds in each worker with
    ``base_seed + worker_id``. With an explicit ``generator``, a DataLoader worker draws from
    its own generator seeded with ``get_worker_info().seed`` instead (derived the same way),
    so workers never repeat each other's crops.

    Args:
        images: uint8 ``[N, 3, H, W]``.
        labels: int64 ``[N]``.
        mean, std: per-channel statistics of pixel values scaled to [0, 1].
        augment: random crop and flip (training only). Default False.
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
            raise ValueError("CifarImages needs uint8 images [N, C, H, W] and one label per image")
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

    def _draw_generator(self) -> torch.Generator | None:
        worker = get_worker_info()
        if self.generator is None or worker is None:
            return self.generator
        if self._worker_generator is None or self._worker_generator[0] != worker.seed:
            self._worker_generator = (worker.seed, torch.Generator().manual_seed(worker.seed))
        return self._worker_generator[1]

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[B, 3, 32, 32]`` (float32, normalised, augmented if set) and labels ``[B]``."""
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


# ---------------------------------------------------------------------------- loaders
def load_cifar(layout: CifarLayout, *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION) -> DataSplit:
    """The :class:`DataSplit` of ``layout`` read from ``root``: ``val_fraction`` of the
    training images held out for validation (stratified, seeded by ``seed``); the rest
    augmented for training; the test batch as it is."""
    train_images, train_labels, test_images, test_labels = read_cifar(root, layout)
    kept, held = stratified_split(train_labels, val_fraction, seed)
    images, labels = torch.from_numpy(train_images), torch.from_numpy(train_labels)
    kept_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
    stats = (layout.mean, layout.std)
    train = CifarImages(images[kept_t], labels[kept_t], *stats, augment=True)
    val = CifarImages(images[held_t], labels[held_t], *stats)
    del images, train_images
    test = CifarImages(torch.from_numpy(test_images), torch.from_numpy(test_labels), *stats)
    return DataSplit(layout.name, train, val, test, (3, IMAGE_SIZE, IMAGE_SIZE), layout.num_classes)


@register_dataset("cifar10", (3, IMAGE_SIZE, IMAGE_SIZE), 10)
def load_cifar10(*, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION) -> DataSplit:
    """CIFAR-10 from ``root``/cifar-10-batches-py (or ``root`` itself): 50,000 training images
    in data_batch_1 … 5, 10,000 test images in test_batch; see :func:`load_cifar`."""
    return load_cifar(CIFAR10, seed=seed, root=root, val_fraction=val_fraction)


@register_dataset("cifar100", (3, IMAGE_SIZE, IMAGE_SIZE), 100)
def load_cifar100(*, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION) -> DataSplit:
    """CIFAR-100 from ``root``/cifar-100-python (or ``root`` itself) with its 100 fine labels:
    50,000 training images in train, 10,000 test images in test; see :func:`load_cifar`."""
    return load_cifar(CIFAR100, seed=seed, root=root, val_fraction=val_fraction)
