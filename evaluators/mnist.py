"""MNIST, Fashion-MNIST and Kuzushiji-MNIST from their IDX files, parsed with numpy.

Registered data sets (``datasets.load(name, root=DIR)``), each 1×28×28 with 10 classes::

    mnist           DIR/MNIST/raw/…         handwritten digits (LeCun, Cortes, Burges)
    fashion_mnist   DIR/FashionMNIST/raw/…  Zalando's article images
    kmnist          DIR/KMNIST/raw/…        Kuzushiji (cursive Japanese) characters

Each folder holds the four files torchvision's ``MNIST``/``FashionMNIST``/``KMNIST`` leave
under ``DIR/<Folder>/raw/`` after download, gzip-compressed or not::

    train-images-idx3-ubyte[.gz]   60,000 images     t10k-images-idx3-ubyte[.gz]   10,000 images
    train-labels-idx1-ubyte[.gz]   60,000 labels     t10k-labels-idx1-ubyte[.gz]   10,000 labels

``DIR`` may also hold the four files itself (the original distribution's layout). Where a file
is there both plain and as ``.gz`` (torchvision keeps both after extracting), the plain one is
read: it is what torchvision reads, and it needs no decompression. Nothing is ever downloaded.

The IDX format (http://yann.lecun.com/exdb/mnist/): two zero bytes, the element type (0x08,
unsigned byte), the number of dimensions, then each dimension as a big-endian uint32, then the
values in C order. Read as the 4-byte big-endian *magic number*, that is 2051 (0x00000803) for
an image file ``[N, 28, 28]`` and 2049 (0x00000801) for a label file ``[N]``. The payload is
read in chunks into one buffer and viewed with ``np.frombuffer`` (no per-value Python work,
no pickle). Each file must be a regular file (a named pipe or a link to a device is refused
before it is opened), a plain file's size must match its header before the payload is read, and
a gzip file is decompressed no further than :data:`MAX_IDX_BYTES`; a file whose payload is
shorter or longer than its dimensions say, whose magic, dimensions or labels are wrong, or whose
image and label counts differ is a one-line :class:`~spikebits.space.DataError` naming the file
and what was expected.

Splits: ``val_fraction`` of the 60,000 training images is held out for validation
(:func:`~spikebits.evaluators.data.stratified_split`, seeded); the 10,000 t10k images are the
test split, only read to report. Images stay uint8 in memory (47 MB for all 60,000) and are
served by :class:`~spikebits.evaluators.data.MemoryImages` as x = u / 255 in [0, 1], with no
mean subtracted: the first layer quantizes its input with an unsigned quantizer (DESIGN.md),
which would clip a negative input to 0. Training images are not augmented unless asked
(``augment=True``: a random shift of up to ``padding`` pixels each way, zero-filled); they are
never mirrored, which would change a digit or a character.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikebits.evaluators.data import (
    VAL_FRACTION,
    DataSplit,
    MemoryImages,
    check_data_file,
    open_data_file,
    register_dataset,
    stratified_split,
)
from spikebits.space import DataError, one_line

#: Side of an image; every image file must have these two inner dimensions.
IMAGE_SIZE = 28
#: Number of classes of each of the three data sets (labels 0 … 9).
NUM_CLASSES = 10
#: Magic numbers: type code 0x08 (unsigned byte) and 3 or 1 dimensions.
IMAGE_MAGIC = 0x0803
LABEL_MAGIC = 0x0801
#: Default shift (zero padding on each side) of the optional training augmentation.
SHIFT_PADDING = 2

#: The four files of every data set of the family, without the ``.gz`` suffix.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

_CHUNK = 1 << 22  # bytes read at a time: a damaged header cannot ask for more than the file has
#: Largest IDX payload read: 342,000 images of 28×28, over five times MNIST's training file. A
#: gzip file is decompressed no further than this, whatever its header declares.
MAX_IDX_BYTES = 1 << 28


@dataclass(frozen=True)
class IdxLayout:
    """Where one data set of the family lies: ``DIR/<folder>/raw/`` (torchvision) or ``DIR``."""

    name: str
    title: str
    folder: str
    source: str

    @property
    def expected(self) -> str:
        """The one-line description of the layout that a missing-data :class:`DataError` ends with."""
        files = ", ".join(f"{f}[.gz]" for f in FILES[:-1]) + f" and {FILES[-1]}[.gz]"
        return f"expected DIR/{self.folder}/raw/ holding {files}, or these four files in DIR itself ({self.source}); pass --data-dir DIR"


MNIST = IdxLayout("mnist", "MNIST", "MNIST", "http://yann.lecun.com/exdb/mnist/")
FASHION_MNIST = IdxLayout("fashion_mnist", "Fashion-MNIST", "FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist")
KMNIST = IdxLayout("kmnist", "Kuzushiji-MNIST", "KMNIST", "https://github.com/rois-codh/kmnist")


# ---------------------------------------------------------------------------- finding the files
def find_folder(root: str | Path | None, layout: IdxLayout) -> Path:
    """The folder holding ``layout``'s files: ``root/<layout.folder>/raw`` or ``root`` itself."""
    if root is None:
        raise DataError(f"{layout.name} is read from files on disk and no data folder was given; {layout.expected}")
    root = Path(root).expanduser()
    nested = root / layout.folder / "raw"
    if nested.is_dir():
        return nested
    if any(_present(root / f) or _present(root / f"{f}.gz") for f in FILES):
        return root
    raise DataError(f"no {layout.title} files in {root} (looked in {nested} and {root}); {layout.expected}")


def _present(path: Path) -> bool:
    """Whether anything is at ``path`` (a file, a pipe, a device, a link, even a broken one)."""
    return os.path.lexists(path)


def find_file(folder: Path, stem: str, layout: IdxLayout) -> Path:
    """``folder/stem`` if anything is there, else ``folder/stem.gz``, once it is a regular file
    (:func:`~spikebits.evaluators.data.check_data_file`: not a pipe, a device or a folder, after
    following links); else a one-line :class:`DataError`."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if _present(path):
            return check_data_file(path, hint=layout.expected, limit=MAX_IDX_BYTES + _CHUNK)
    raise DataError(f"{folder / stem}[.gz] is missing; {layout.expected}")


# ---------------------------------------------------------------------------- reading IDX
def _read_up_to(stream, size: int) -> bytearray:
    """Up to ``size`` bytes of ``stream`` (fewer only at its end), in chunks, into one buffer."""
    chunks = []
    left = size
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return bytearray().join(chunks)


def _count_rest(stream, limit: int) -> int:
    """How many bytes ``stream`` still holds (read and dropped, a chunk at a time), counted up to
    ``limit`` at most (a gzip stream may decompress to far more than its file's size)."""
    total = 0
    while total < limit and (chunk := stream.read(min(_CHUNK, limit - total))):
        total += len(chunk)
    return total


def _describe(magic: int) -> str:
    """What a magic number that is not the expected one says about the file."""
    if magic >> 16:
        return "not an IDX file (an IDX file starts with two zero bytes)"
    code, dims = magic >> 8, magic & 0xFF
    kind = {IMAGE_MAGIC: "an IDX image file", LABEL_MAGIC: "an IDX label file"}.get(magic)
    return kind or f"element type 0x{code:02x}, {dims} dimension{'s' if dims != 1 else ''}"


def _read_header(stream, path: Path, kind: str) -> tuple[int, int, int, str]:
    """(item count, payload bytes, header bytes, what the payload holds) from the header of IDX
    file ``path`` read from ``stream``; a wrong magic, shape or count is a one-line :class:`DataError`."""
    magic_expected, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    what = f"an IDX {'image' if kind == 'images' else 'label'} file"
    header_size = 4 + 4 * ndim
    head = bytes(_read_up_to(stream, 4))
    if len(head) < 4:
        raise DataError(f"{path}: {len(head)} bytes, too short for an IDX header (expected {what}, magic {magic_expected})")
    magic = int.from_bytes(head, "big")
    if magic != magic_expected:
        raise DataError(f"{path}: magic {magic}, expected {magic_expected} ({what}); it reads as {_describe(magic)}")
    raw_dims = bytes(_read_up_to(stream, 4 * ndim))
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path}: the header ends after {4 + len(raw_dims)} bytes, expected {header_size} ({what}, truncated)")
    dims = [int(d) for d in np.frombuffer(raw_dims, dtype=">u4")]
    if kind == "images" and dims[1:] != [IMAGE_SIZE, IMAGE_SIZE]:
        raise DataError(f"{path}: images of {dims[1]}×{dims[2]} pixels, expected {IMAGE_SIZE}×{IMAGE_SIZE}")
    count = dims[0]
    if count == 0:
        raise DataError(f"{path}: the header declares no {kind}, expected at least one")
    size = count * (IMAGE_SIZE * IMAGE_SIZE if kind == "images" else 1)
    shape = f"{count} images of {IMAGE_SIZE} × {IMAGE_SIZE}" if kind == "images" else f"{count} labels"
    return count, size, header_size, shape


def _read_payload(stream, path: Path, size: int, header_size: int, shape: str, on_disk: int | None) -> bytearray:
    """The ``size`` payload bytes that the header declares, and nothing after them.

    ``on_disk`` (a plain file's size) settles a short or a long file before the payload is read;
    a gzip stream is decompressed only up to :data:`MAX_IDX_BYTES`, however much the header
    declares or the stream holds, so a small file cannot ask for a large allocation."""

    def truncated(found: int) -> DataError:
        return DataError(f"{path}: {found} bytes after the {header_size}-byte header, expected {size} ({shape}); the file is truncated")

    if on_disk is not None:
        if on_disk - header_size < size:
            raise truncated(on_disk - header_size)
        payload = _read_up_to(stream, size)
        if len(payload) < size:  # the file shrank while it was read
            raise truncated(len(payload))
        extra, bound = on_disk - header_size - size, False
    else:
        payload = _read_up_to(stream, min(size, MAX_IDX_BYTES))
        if len(payload) == MAX_IDX_BYTES < size:
            raise DataError(
                f"{path}: the header declares {size} bytes ({shape}), more than the {MAX_IDX_BYTES} an IDX file may hold here; "
                "the file is damaged or not of this data set"
            )
        if len(payload) < size:
            raise truncated(len(payload))
        extra = _count_rest(stream, MAX_IDX_BYTES)
        bound = extra >= MAX_IDX_BYTES
    if extra:
        more = f"{'at least ' if bound else ''}{extra} byte{'s' if extra != 1 else ''}"
        raise DataError(
            f"{path}: {more} more than the {size} ({shape}) that its {header_size}-byte header declares; expected the file to end there"
        )
    return payload


def read_idx(path: str | Path, kind: str) -> np.ndarray:
    """The values of IDX file ``path`` (plain, or gzip when its name ends in ``.gz``):
    ``kind="images"`` gives uint8 ``[N, 28, 28]``, ``kind="labels"`` uint8 ``[N]``.

    Checked: that ``path`` is a regular file (not a pipe or a device, after following links;
    :func:`~spikebits.evaluators.data.open_data_file`), the magic number (2051 for images, 2049
    for labels, so element type unsigned byte and 3 or 1 dimensions), 28×28 images, at least one
    item, and a payload of exactly N·28·28 (or N) bytes after the header, at most
    :data:`MAX_IDX_BYTES`. Each problem is a one-line :class:`DataError` starting with the file's path."""
    path = Path(path)
    if kind not in ("images", "labels"):
        raise ValueError(f"kind must be 'images' or 'labels', not {kind!r}")
    what = f"an IDX {'image' if kind == 'images' else 'label'} file"
    compressed = path.name.endswith(".gz")
    try:
        with open_data_file(path, hint=f"expected {what}", limit=MAX_IDX_BYTES + _CHUNK) as handle:
            on_disk = None if compressed else os.fstat(handle.fileno()).st_size
            with gzip.GzipFile(fileobj=handle, mode="rb") if compressed else handle as stream:
                count, size, header_size, shape = _read_header(stream, path, kind)
                payload = _read_payload(stream, path, size, header_size, shape, on_disk)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as err:  # unreadable, or not / a damaged gzip stream
        form = "gzip " if compressed else ""
        raise DataError(f"{path}: not a readable {form}file ({one_line(err)}); expected {what}") from None
    values = np.frombuffer(payload, dtype=np.uint8)
    return values.reshape(count, IMAGE_SIZE, IMAGE_SIZE) if kind == "images" else values


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 ``[N, 28, 28]`` and labels int64 ``[N]`` from two IDX files that must
    agree in count, the labels in 0 … 9."""
    images = read_idx(images_path, "images")
    labels = read_idx(labels_path, "labels")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}, expected one label per image")
    outside = np.flatnonzero(labels >= NUM_CLASSES)
    if len(outside):
        first = int(outside[0])
        raise DataError(f"{labels_path}: label {int(labels[first])} at item {first}, expected 0 … {NUM_CLASSES - 1}")
    return images, labels.astype(np.int64)


def read_mnist(root: str | Path | None, layout: IdxLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) of ``layout`` under ``root``,
    images uint8 ``[N, 28, 28]``, labels int64 ``[N]``, in file order."""
    folder = find_folder(root, layout)
    paths = [find_file(folder, stem, layout) for stem in FILES]
    train_images, train_labels = read_pair(paths[0], paths[1])
    test_images, test_labels = read_pair(paths[2], paths[3])
    return train_images, train_labels, test_images, test_labels


# ---------------------------------------------------------------------------- loaders
#: Per-pixel statistics for :class:`MemoryImages`: x = (u / 255 − 0) / 1, so inputs stay in [0, 1].
MEAN, STD = (0.0,), (1.0,)


def load_idx(
    layout: IdxLayout,
    *,
    seed: int = 0,
    root: str | Path | None = None,
    val_fraction: float = VAL_FRACTION,
    augment: bool = False,
    padding: int = SHIFT_PADDING,
) -> DataSplit:
    """The :class:`DataSplit` of ``layout`` read from ``root``: ``val_fraction`` of the 60,000
    training images held out for validation (stratified, seeded by ``seed``), the t10k images
    as the test split; x = u / 255. ``augment`` (default False) shifts each training image by
    up to ``padding`` pixels (default 2) each way at random, never mirroring it."""
    train_images, train_labels, test_images, test_labels = read_mnist(root, layout)
    kept, held = stratified_split(train_labels, val_fraction, seed)
    images = torch.from_numpy(train_images).unsqueeze(1)
    labels = torch.from_numpy(train_labels)
    kept_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
    train = MemoryImages(images[kept_t], labels[kept_t], MEAN, STD, augment=augment, padding=padding, flip_probability=0.0)
    val = MemoryImages(images[held_t], labels[held_t], MEAN, STD)
    del images, train_images
    test = MemoryImages(torch.from_numpy(test_images).unsqueeze(1), torch.from_numpy(test_labels), MEAN, STD)
    return DataSplit(layout.name, train, val, test, (1, IMAGE_SIZE, IMAGE_SIZE), NUM_CLASSES)


@register_dataset("mnist", (1, IMAGE_SIZE, IMAGE_SIZE), NUM_CLASSES, model="mnist_cnn")
def load_mnist(*, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = False) -> DataSplit:
    """MNIST digits from ``root``/MNIST/raw (or ``root`` itself); see :func:`load_idx`."""
    return load_idx(MNIST, seed=seed, root=root, val_fraction=val_fraction, augment=augment)


@register_dataset("fashion_mnist", (1, IMAGE_SIZE, IMAGE_SIZE), NUM_CLASSES, model="mnist_cnn")
def load_fashion_mnist(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = False
) -> DataSplit:
    """Fashion-MNIST from ``root``/FashionMNIST/raw (or ``root`` itself); see :func:`load_idx`."""
    return load_idx(FASHION_MNIST, seed=seed, root=root, val_fraction=val_fraction, augment=augment)


@register_dataset("kmnist", (1, IMAGE_SIZE, IMAGE_SIZE), NUM_CLASSES, model="mnist_cnn")
def load_kmnist(*, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, augment: bool = False) -> DataSplit:
    """Kuzushiji-MNIST from ``root``/KMNIST/raw (or ``root`` itself); see :func:`load_idx`."""
    return load_idx(KMNIST, seed=seed, root=root, val_fraction=val_fraction, augment=augment)
