"""CIFAR-10 and CIFAR-100 from the python-pickle batches, read by restricted unpickling.

The files are the "python version" from https://www.cs.toronto.edu/~kriz/cifar.html::

    <root>/cifar-10-batches-py/data_batch_1 … data_batch_5, test_batch   (b"data", b"labels")
    <root>/cifar-100-python/train, test                                  (b"data", b"fine_labels")

``root`` may also be the batches folder itself. Each file is a pickled dict (written by
Python 2, so its strings are read as ``bytes``) holding ``data``, a uint8 array ``[N, 3072]``
(1024 red, then 1024 green, then 1024 blue values of a 32×32 image, row by row), and a list
of ``N`` class indices. A file is read by a :class:`pickle.Unpickler` whose ``find_class``
allows only the few globals a batch names (numpy's array and dtype reconstruction, and bytes
as Python 3 writes them with protocol 2), each replaced by a function that checks its
arguments (:class:`_BatchUnpickler`): whether the file was written by Python 2 (protocol 2,
as the data sets ship) or by Python 3 (protocols 2 to 5), it yields only dicts, lists,
tuples, bytes, str, numbers, None and numpy arrays of plain numeric dtypes. Any other global
and any persistent id is refused with a :class:`~spikebits.space.DataError` before anything
named in the file is imported or called.

Images stay uint8 ``[N, 3, 32, 32]`` in memory (150 MB for the 50,000 training images) and
are converted to normalised float32 a batch at a time by
:class:`~spikebits.evaluators.data.MemoryImages` (``CifarImages`` here), which also augments
the training split (random 32×32 crop of the image zero-padded by 4 pixels, then a
horizontal flip with probability 0.5). The validation split is ``val_fraction`` of the
training data (stratified, seeded) and is never augmented; neither is the test split.
"""
from __future__ import annotations

import io
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikebits.evaluators.data import (  # noqa: F401  (crop_and_flip and normalise are used from here too)
    VAL_FRACTION,
    DataSplit,
    MemoryImages,
    crop_and_flip,
    normalise,
    read_data_file,
    register_dataset,
    stratified_split,
)
from spikebits.space import DataError, one_line

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
class _Refused(Exception):
    """The pickle names something a CIFAR batch never holds (another global, a persistent id, …)."""


class _Malformed(Exception):
    """The pickle's arrays do not add up, or ask for more memory than the file holds."""


#: The only globals a CIFAR batch names, and the method of :class:`_BatchUnpickler` that stands
#: for each: numpy's array and dtype reconstruction (as Python 2 wrote the batches, and as numpy
#: writes arrays with protocols 2 to 4, or 5 for ``_frombuffer``), and bytes as Python 3 writes
#: them with protocol 2 (``_codecs.encode(text, 'latin1')``, ``bytes()`` for ``b""``).
_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
    ("__builtin__", "bytes"): "empty_bytes",
    ("builtins", "bytes"): "empty_bytes",
}
#: Element types an array may have; the byte order comes from the dtype's state.
_DTYPE_CODES = frozenset({"u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8"})
_LATIN1 = frozenset({"latin1", "iso88591", "l1"})  # spellings of latin-1, lower case, no - or _
#: What ``numpy.ndarray`` stands for in a pickle: a token that only ``_reconstruct`` takes, so that
#: no array is made by calling the class (``REDUCE``, ``NEWOBJ``) with sizes from the file.
_NDARRAY = object()


def _qualname(module: str, name: str) -> str:
    """``module.name`` for a message: shortened, and quoted when it holds unprintable text."""
    text = f"{module}.{name}"
    return (text if text.isprintable() else repr(text))[:200]


def _plain_dtype(dtype) -> np.dtype:
    """``dtype`` rebuilt from its name (``'<i8'``), so that no flag, field or size that the pickle's
    ``BUILD`` set on it reaches an array (numpy's ``dtype.__setstate__`` takes them as given)."""
    if not isinstance(dtype, np.dtype):
        raise _Malformed(f"an array whose dtype is a {type(dtype).__name__}")
    plain = np.dtype(dtype.str)
    if plain.str[1:] not in _DTYPE_CODES:
        raise _Refused(f"numpy.dtype({plain.str!r})")
    return plain


def _native_data(raw, dtype, shape, spend) -> tuple[bytes | bytearray, np.dtype]:
    """The data of an array and its dtype in the machine's byte order (``torch.from_numpy`` takes
    no other), once ``raw`` holds exactly the bytes that ``shape`` and ``dtype`` declare and
    ``spend`` has counted them."""
    dtype = _plain_dtype(dtype)
    if isinstance(raw, list):
        raise _Refused("an object array")
    if not isinstance(raw, (bytes, bytearray)):
        raise _Malformed(f"array data is a {type(raw).__name__}")
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise _Malformed(f"array shape {one_line(repr(shape), 40)}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != len(raw):
        raise _Malformed(f"an array of {nbytes} bytes declared, its data has {len(raw)}")
    spend("array", nbytes)
    if dtype.isnative:
        return raw, dtype
    swapped = np.frombuffer(raw, dtype=dtype).byteswap()
    return type(raw)(swapped.data), dtype.newbyteorder("=")  # bytes stay bytes, a bytearray (writable) a bytearray


class _PickledArray(np.ndarray):
    """An array that a pickle builds: numpy's ``_reconstruct`` makes it empty (with ``spend``, the
    budget of its unpickler), then the pickle's ``BUILD`` fills it once through
    :meth:`__setstate__`, which passes numpy's own only a plain numeric dtype and data of exactly
    the declared size (:func:`_native_data`)."""

    def __setstate__(self, state) -> None:
        spend = self.__dict__.pop("spend", None)
        if spend is None:
            raise _Malformed("a numpy.ndarray state for an array that is already built")
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Malformed(f"a numpy.ndarray state of a {type(state).__name__}")
        *version, shape, dtype, fortran, raw = state
        raw, dtype = _native_data(raw, dtype, shape, spend)
        super().__setstate__((*version, shape, dtype, fortran, raw))


class _BatchUnpickler(pickle.Unpickler):
    """Python's restricted unpickling (``find_class`` as an allowlist, see "Restricting Globals"
    in the :mod:`pickle` documentation) for a CIFAR pickle, with the strings that Python 2 wrote
    read as ``bytes``.

    Only the globals of :data:`_GLOBALS` resolve, each to one of the methods below, which check
    their arguments; any other global, and any persistent id, raises :class:`_Refused` before
    anything named in the file is imported or called. Arrays take only the dtypes of
    :data:`_DTYPE_CODES` and come back in the machine's byte order. The arrays, and the byte
    strings decoded from text, may take no more bytes in all than the file holds, so that a
    small file cannot ask for a large allocation by reusing memo entries.
    """

    def __init__(self, blob: bytes) -> None:
        super().__init__(io.BytesIO(blob), encoding="bytes")
        self.size = len(blob)
        self.left = {"array": len(blob), "text": len(blob)}

    def find_class(self, module: str, name: str):  # noqa: ANN201 - what the pickle names
        kind = _GLOBALS.get((module, name))
        if kind is None:
            raise _Refused(_qualname(module, name))
        return _NDARRAY if kind == "ndarray" else getattr(self, kind)

    def persistent_load(self, pid) -> None:
        raise _Refused("a persistent id")

    def spend(self, what: str, nbytes: int) -> None:
        if nbytes > self.left[what]:
            raise _Malformed(f"{what} data of {nbytes} bytes is more than the file of {self.size} bytes holds")
        self.left[what] -= nbytes

    def reconstruct(self, cls, shape, typecode) -> _PickledArray:
        """``numpy._core.multiarray._reconstruct(ndarray, (0,), b'b')``: the empty array that the
        pickle's ``BUILD`` then fills (:meth:`_PickledArray.__setstate__`)."""
        if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
            raise _Refused("numpy's _reconstruct called with arguments a CIFAR batch never holds")
        array = _PickledArray((0,), np.int8)
        array.spend = self.spend
        return array

    def frombuffer(self, buf, dtype, shape, order, axis_order=None) -> _PickledArray:
        """``numpy._core.numeric._frombuffer``: an array as protocol 5 writes it, its data in band."""
        raw, dtype = _native_data(buf, dtype, shape, self.spend)
        flat = np.frombuffer(raw, dtype=dtype)
        if order == "K" and axis_order is not None:
            return flat.reshape(shape, order="C").transpose(axis_order).view(_PickledArray)
        return flat.reshape(shape, order=order).view(_PickledArray)

    def dtype(self, code, align=False, copy=True) -> np.dtype:  # noqa: ARG002 - always a copy
        """``numpy.dtype(code, align, copy)`` of a plain numeric code: always a copy, whose byte
        order the pickle's ``BUILD`` then sets."""
        text = code.decode("latin1") if isinstance(code, bytes) else code
        if not isinstance(text, str):
            raise _Malformed(f"numpy.dtype of a {type(code).__name__}")
        if text not in _DTYPE_CODES:
            raise _Refused(f"numpy.dtype({text[:20]!r})")
        return np.dtype(text, False, True)

    def encode(self, text, encoding) -> bytes:
        """``_codecs.encode(text, 'latin1')``: bytes as Python 3 writes them with protocol 2."""
        if not isinstance(text, str) or not isinstance(encoding, str):
            raise _Malformed(f"_codecs.encode of a {type(text).__name__} and a {type(encoding).__name__}")
        if encoding.lower().replace("-", "").replace("_", "") not in _LATIN1:
            raise _Refused(f"_codecs.encode with encoding {encoding[:20]!r}")
        self.spend("text", len(text))
        return text.encode("latin1")

    def empty_bytes(self, *args) -> bytes:
        """``bytes()``: ``b""`` as Python 3 writes it with protocol 2."""
        if args:
            raise _Refused("bytes called with arguments a CIFAR batch never holds")
        return b""


#: Largest CIFAR pickle read (CIFAR-100's training file is 155 MB, a CIFAR-10 batch 31 MB).
MAX_PICKLE_BYTES = 1 << 30


def _read_file(path: Path, expected: str) -> bytes:
    """The bytes of ``path`` once it is a regular file (not a pipe or a device, after following
    links) of at most :data:`MAX_PICKLE_BYTES`; else a one-line :class:`DataError`."""
    return read_data_file(path, hint=expected or "expected a CIFAR batch", limit=MAX_PICKLE_BYTES)


def read_pickle(path: str | Path, *, expected: str = ""):  # noqa: ANN201 - what the file holds
    """The object in a CIFAR pickle (a batch or a meta file), read by :class:`_BatchUnpickler`:
    dicts, lists, tuples, bytes (Python 2's strings), str, numbers, None and numpy arrays of
    plain numeric dtypes in the machine's byte order (of a private ``numpy.ndarray`` subclass;
    ``np.asarray`` gives a plain one). A missing, truncated or corrupted file, or one that names
    anything else, raises :class:`DataError` with a one-line message ending in ``expected``."""
    path = Path(path)
    suffix = f"; {expected}" if expected else ""
    blob = _read_file(path, expected)
    try:
        return _BatchUnpickler(blob).load()
    except _Refused as err:
        raise DataError(f"{path} is not a CIFAR batch: its pickle refers to {err}, which is refused{suffix}") from None
    except _Malformed as err:
        raise DataError(f"{path} is not a readable CIFAR batch (truncated or corrupted: {one_line(err, 200)}){suffix}") from None
    except Exception as err:  # noqa: BLE001 - UnpicklingError, EOFError on a truncated file, numpy's ValueError, ...
        reason = one_line(err, 200, with_type=True)
        raise DataError(f"{path} is not a readable CIFAR batch (truncated or corrupted: {reason}){suffix}") from None


def _batch_arrays(batch, label_key: str, num_classes: int, malformed) -> tuple[np.ndarray, list[int]]:
    """The ``data`` array and the ``label_key`` list of ``batch`` once they hold what a CIFAR
    batch holds; else ``malformed(what is wrong)`` is raised."""
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
    if len(data) == 0:
        raise malformed("it holds no images")
    outside = next((v for v in labels if not 0 <= v < num_classes), None)
    if outside is not None:
        raise malformed(f"label {outside} is outside 0 … {num_classes - 1}")
    return np.asarray(data), labels


def read_batch(path: str | Path, label_key: str, num_classes: int, *, expected: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one CIFAR pickle: uint8 ``[N, 3, 32, 32]`` and int64 ``[N]``.

    The file must be a dict with ``data``, a uint8 array ``[N, 3072]``, and ``label_key``, a
    list of ``N`` ints in ``0 … num_classes − 1`` (keys as ``bytes`` or ``str``). It is read by
    :func:`read_pickle` (restricted unpickling). A missing, truncated or malformed file raises
    :class:`DataError` with a one-line message ending in ``expected``.
    """
    path = Path(path)
    suffix = f"; {expected}" if expected else ""

    def malformed(what: str) -> DataError:
        return DataError(f"{path} is not a CIFAR batch: {what}{suffix}")

    data, labels = _batch_arrays(read_pickle(path, expected=expected), label_key, num_classes, malformed)
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
    if any(os.path.lexists(root / f) for f in (*layout.train_files, layout.test_file)):
        return root  # a pipe or a device there is refused when it is read, by name
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
#: The in-memory image dataset CIFAR uses, under its old name (the same class, moved to
#: :mod:`evaluators.data` so that every image data set shares it).
CifarImages = MemoryImages


# ---------------------------------------------------------------------------- loaders
def load_cifar(
    layout: CifarLayout, *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """The :class:`DataSplit` of ``layout`` read from ``root``: ``val_fraction`` of the
    training images held out for validation (stratified, seeded by ``seed``); the rest
    for training, augmented by random crops and flips unless ``augment`` is False; the test
    batch as it is."""
    train_images, train_labels, test_images, test_labels = read_cifar(root, layout)
    kept, held = stratified_split(train_labels, val_fraction, seed)
    images, labels = torch.from_numpy(train_images), torch.from_numpy(train_labels)
    kept_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
    stats = (layout.mean, layout.std)
    train = CifarImages(images[kept_t], labels[kept_t], *stats, augment=augment)
    val = CifarImages(images[held_t], labels[held_t], *stats)
    del images, train_images
    test = CifarImages(torch.from_numpy(test_images), torch.from_numpy(test_labels), *stats)
    return DataSplit(layout.name, train, val, test, (3, IMAGE_SIZE, IMAGE_SIZE), layout.num_classes)


@register_dataset("cifar10", (3, IMAGE_SIZE, IMAGE_SIZE), 10)
def load_cifar10(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """CIFAR-10 from ``root``/cifar-10-batches-py (or ``root`` itself): 50,000 training images
    in data_batch_1 … 5, 10,000 test images in test_batch; see :func:`load_cifar`."""
    return load_cifar(CIFAR10, seed=seed, root=root, val_fraction=val_fraction, augment=augment)


@register_dataset("cifar100", (3, IMAGE_SIZE, IMAGE_SIZE), 100)
def load_cifar100(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = True
) -> DataSplit:
    """CIFAR-100 from ``root``/cifar-100-python (or ``root`` itself) with its 100 fine labels:
    50,000 training images in train, 10,000 test images in test; see :func:`load_cifar`."""
    return load_cifar(CIFAR100, seed=seed, root=root, val_fraction=val_fraction, augment=augment)
