"""MNIST / Fashion-MNIST / KMNIST loaders: small IDX files in the real format, written here."""

from __future__ import annotations

import gzip
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebits.evaluators import datasets
from spikebits.evaluators.cifar import CifarImages
from spikebits.evaluators.data import MemoryImages, stratified_split
from spikebits.evaluators.mnist import load_fashion_mnist, load_kmnist, load_mnist, read_idx
from spikebits.evaluators.training import make_loader
from spikebits.space import DataError

FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
TRAIN_PER_CLASS, TEST_PER_CLASS = 5, 2
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def idx(magic: int, dims: list[int], payload: bytes) -> bytes:
    """An IDX file by hand: the 4-byte big-endian magic, each dimension as a big-endian uint32, the values."""
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def image_file(images: np.ndarray) -> bytes:
    return idx(2051, list(images.shape), images.astype(np.uint8).tobytes())


def label_file(labels: np.ndarray) -> bytes:
    return idx(2049, [len(labels)], np.asarray(labels, dtype=np.uint8).tobytes())


def write(path: Path, blob: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)
    return path


def write_set(folder: Path, parts: dict[str, np.ndarray], gz: bool) -> None:
    write(folder / "train-images-idx3-ubyte", image_file(parts["train_images"]), gz)
    write(folder / "train-labels-idx1-ubyte", label_file(parts["train_labels"]), gz)
    write(folder / "t10k-images-idx3-ubyte", image_file(parts["test_images"]), gz)
    write(folder / "t10k-labels-idx1-ubyte", label_file(parts["test_labels"]), gz)


def make_parts(seed: int = 0) -> dict[str, np.ndarray]:
    """50 training images (5 per class, labels interleaved) and 20 test images (2 per class),
    random pixels over the whole 0–255 range."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, size=(10 * TRAIN_PER_CLASS, 28, 28), dtype=np.uint8),
        "train_labels": np.array([(3 * i + 1) % 10 for i in range(10 * TRAIN_PER_CLASS)], dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(10 * TEST_PER_CLASS, 28, 28), dtype=np.uint8),
        "test_labels": np.array([9 - i % 10 for i in range(10 * TEST_PER_CLASS)], dtype=np.uint8),
    }


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def scaled(u: np.ndarray) -> np.ndarray:
    """u / 255 in float32, as the loader computes it (one correctly rounded division)."""
    return u.astype(np.float32) / np.float32(255)


# ---------------------------------------------------------------------------- reading
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("nested", [True, False], ids=["torchvision", "flat"])
@pytest.mark.parametrize("name", list(FOLDERS))
def test_reads_values_labels_and_splits(tmp_path: Path, name: str, nested: bool, gz: bool) -> None:
    parts = make_parts()
    write_set(tmp_path / FOLDERS[name] / "raw" if nested else tmp_path, parts, gz)
    split = datasets.load(name, seed=4, root=tmp_path, val_fraction=0.2)
    assert (split.name, split.input_shape, split.num_classes) == (name, (1, 28, 28), 10)
    assert datasets.info(name).input_shape == (1, 28, 28)
    assert (len(split.train), len(split.val), len(split.test)) == (40, 10, 20)

    # uint8 in memory, exactly as in the files
    assert split.test.images.dtype == torch.uint8 and split.test.images.shape == (20, 1, 28, 28)
    assert np.array_equal(split.test.images[:, 0].numpy(), parts["test_images"])
    assert split.test.labels.tolist() == parts["test_labels"].tolist()
    x, y = split.test[7]
    assert x.dtype == torch.float32 and tuple(x.shape) == (1, 28, 28)
    assert y.dtype == torch.int64 and y.ndim == 0 and int(y) == int(parts["test_labels"][7])
    assert np.array_equal(x[0].numpy(), scaled(parts["test_images"][7]))
    u = int(parts["test_images"][7, 13, 5])
    assert float(x[0, 13, 5]) == pytest.approx(u / 255, abs=1e-7)  # no mean subtracted, no std divided

    # validation: 20% of each class, as stratified_split picks it; training: the rest, in file order
    kept, held = stratified_split(parts["train_labels"], 0.2, 4)
    assert sorted(split.val.labels.tolist()) == list(range(10))
    assert split.val.labels.tolist() == parts["train_labels"][held].tolist()
    assert np.array_equal(split.val.images[:, 0].numpy(), parts["train_images"][held])
    assert np.array_equal(split.train.images[:, 0].numpy(), parts["train_images"][kept])
    assert np.bincount(split.train.labels.numpy()).tolist() == [4] * 10
    assert not split.train.augment and not split.val.augment and not split.test.augment


def test_each_name_reads_its_own_folder(tmp_path: Path) -> None:
    for seed, (name, folder) in enumerate(FOLDERS.items()):
        write_set(tmp_path / folder / "raw", make_parts(seed), gz=True)
    for seed, loader in enumerate((load_mnist, load_fashion_mnist, load_kmnist)):
        split = loader(root=tmp_path, val_fraction=0.2)
        assert np.array_equal(split.test.images[:, 0].numpy(), make_parts(seed)["test_images"])
    assert {"mnist", "fashion_mnist", "kmnist"} <= set(datasets.available())


def test_plain_file_wins_over_gz(tmp_path: Path) -> None:
    plain, packed = make_parts(1), make_parts(2)
    folder = tmp_path / "MNIST" / "raw"
    write_set(folder, packed, gz=True)
    write_set(folder, plain, gz=False)  # torchvision keeps both after extracting
    (folder / "t10k-labels-idx1-ubyte").unlink()  # this one only as .gz
    split = load_mnist(root=tmp_path, val_fraction=0.2)
    assert np.array_equal(split.test.images[:, 0].numpy(), plain["test_images"])
    assert split.test.labels.tolist() == packed["test_labels"].tolist()


def test_same_seed_same_split(tmp_path: Path) -> None:
    write_set(tmp_path, make_parts(), gz=False)
    a, b, c = (load_mnist(seed=seed, root=tmp_path, val_fraction=0.2) for seed in (0, 0, 1))
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.val.images, c.val.images)


def test_too_few_samples_for_a_stratified_split(tmp_path: Path) -> None:
    write_set(tmp_path, make_parts(), gz=False)  # 50 training images, 10 classes
    message = one_line_error(load_mnist, root=tmp_path, val_fraction=0.1)
    assert message.startswith("--val-fraction 0.1 leaves 5 of 50 samples held out, fewer than the 10 classes")
    assert "kept for training" in one_line_error(load_mnist, root=tmp_path, val_fraction=0.9)
    assert len(load_mnist(root=tmp_path, val_fraction=0.8).train) == 10


# ---------------------------------------------------------------------------- serving batches
def test_memory_images_is_cifar_images() -> None:
    assert CifarImages is MemoryImages


def test_tensors_is_the_whole_split_unaugmented(tmp_path: Path) -> None:
    parts = make_parts()
    write_set(tmp_path, parts, gz=False)
    split = load_mnist(root=tmp_path, val_fraction=0.2, augment=True)
    x, y = split.train.tensors
    assert x.dtype == torch.float32 and x.shape == (40, 1, 28, 28) and torch.equal(y, split.train.labels)
    assert torch.equal(x, split.train.images.to(torch.float32) / 255)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    xt, yt = split.test.tensors
    assert np.array_equal(xt[:, 0].numpy(), scaled(parts["test_images"])) and yt.tolist() == parts["test_labels"].tolist()


def test_loader_takes_whole_batches(tmp_path: Path, monkeypatch) -> None:
    write_set(tmp_path, make_parts(), gz=True)
    split = load_mnist(root=tmp_path, val_fraction=0.2)

    def one_at_a_time(self, index):
        raise AssertionError("the DataLoader asked for one item at a time")

    monkeypatch.setattr(MemoryImages, "__getitem__", one_at_a_time)
    batches = list(make_loader(split.train, 16, shuffle=True, seed=3))
    assert [len(y) for _, y in batches] == [16, 16, 8]
    x, y = batches[0]
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(split.train.labels.tolist())


def test_augmentation_shifts_and_never_mirrors(tmp_path: Path) -> None:
    parts = make_parts()
    write_set(tmp_path, parts, gz=False)
    split = load_mnist(root=tmp_path, val_fraction=0.2, augment=True)
    train = split.train
    assert train.augment and train.flip_probability == 0.0 and train.padding == 2
    assert not split.val.augment and not split.test.augment
    torch.manual_seed(0)
    x, y = train.batch(range(40))
    assert torch.equal(y, train.labels)
    shifts = []
    for i in range(40):
        u = train.images[i, 0].numpy()
        padded = np.pad(u, 2)
        windows = {(r, s): padded[r : r + 28, s : s + 28] for r in range(5) for s in range(5)}
        matches = [key for key, w in windows.items() if np.array_equal(x[i, 0].numpy(), scaled(w))]
        mirrored = [key for key, w in windows.items() if np.array_equal(x[i, 0].numpy(), scaled(w[:, ::-1]))]
        assert len(matches) == 1 and not mirrored, i
        shifts.append(matches[0])
    assert sum(shift != (2, 2) for shift in shifts) >= 20  # most are shifted
    assert len(set(shifts)) >= 8


# ---------------------------------------------------------------------------- damaged files
GOOD_IMAGES = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
GOOD_LABELS = np.array([0, 9, 4], dtype=np.uint8)
PIXELS, LABELS = GOOD_IMAGES.tobytes(), GOOD_LABELS.tobytes()


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    ("target", "blob", "expected"),
    [
        ("labels", idx(2051, [3], LABELS), "magic 2051, expected 2049 (an IDX label file); it reads as an IDX image file"),
        ("images", idx(2049, [3, 28, 28], PIXELS), "magic 2049, expected 2051 (an IDX image file)"),
        ("images", idx(0x0802, [3, 784], PIXELS), "magic 2050, expected 2051 (an IDX image file); it reads as element type 0x08, 2 dim"),
        ("images", idx(0x0D03, [3, 28, 28], PIXELS), "magic 3331, expected 2051 (an IDX image file); it reads as element type 0x0d"),
        ("images", b"\x1f\x8b" + idx(2051, [3, 28, 28], PIXELS), "magic 529203200, expected 2051 (an IDX image file); it reads as not"),
        ("images", idx(2051, [3, 28, 27], PIXELS[: 3 * 28 * 27]), "images of 28×27 pixels, expected 28×28"),
        ("images", idx(2051, [3, 32, 32], bytes(3 * 32 * 32)), "images of 32×32 pixels, expected 28×28"),
        ("images", idx(2051, [3, 28, 28], PIXELS[:-1]), "2351 bytes after the 16-byte header, expected 2352 (3 images of 28 × 28); the file"),
        ("images", idx(2051, [3, 28, 28], PIXELS + b"\x00" * 5), "5 bytes more than the 2352 (3 images of 28 × 28) that its 16-byte header"),
        ("labels", idx(2049, [3], LABELS[:2]), "2 bytes after the 8-byte header, expected 3 (3 labels); the file is truncated"),
        ("labels", idx(2049, [3], LABELS + b"\x01"), "1 byte more than the 3 (3 labels) that its 8-byte header declares; expected"),
        ("images", idx(2051, [3, 28, 28], b""), "0 bytes after the 16-byte header, expected 2352"),
        ("images", idx(2051, [3, 28], b""), "the header ends after 12 bytes, expected 16"),
        ("images", b"\x00\x00", "2 bytes, too short for an IDX header"),
        ("images", idx(2051, [0, 28, 28], b""), "the header declares no images"),
        ("images", idx(2051, [4_000_000_000, 28, 28], PIXELS), "2352 bytes after the 16-byte header, expected 3136000000000 ("),
        ("labels", label_file(np.array([0, 10, 4])), "label 10 at item 1, expected 0 … 9"),
        ("labels", label_file(np.array([0, 9])), "2 labels for the 3 images of "),
        ("labels", label_file(np.array([0, 9, 4, 4])), "4 labels for the 3 images of "),
    ],
)
def test_damaged_files(tmp_path: Path, target: str, blob: bytes, expected: str, gz: bool) -> None:
    parts = make_parts()
    parts["test_images"], parts["test_labels"] = GOOD_IMAGES, GOOD_LABELS
    write_set(tmp_path, parts, gz)
    stem = "t10k-images-idx3-ubyte" if target == "images" else "t10k-labels-idx1-ubyte"
    path = write(tmp_path / stem, blob, gz)
    message = one_line_error(load_mnist, root=tmp_path, val_fraction=0.2)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert len(message) < 300 + 2 * len(str(path))


def test_broken_gzip(tmp_path: Path) -> None:
    good = gzip.compress(label_file(GOOD_LABELS))
    path = tmp_path / "labels.gz"
    path.write_bytes(good[: len(good) // 2])
    assert one_line_error(read_idx, path, "labels").startswith(f"{path}: not a readable gzip file (")
    path.write_bytes(label_file(GOOD_LABELS))  # not compressed, yet named .gz
    message = one_line_error(read_idx, path, "labels")
    assert message.startswith(f"{path}: not a readable gzip file (") and message.endswith("expected an IDX label file")
    assert read_idx(write(tmp_path / "labels", label_file(GOOD_LABELS), gz=True), "labels").tolist() == [0, 9, 4]


def test_missing_data(tmp_path: Path) -> None:
    message = one_line_error(load_mnist, root=tmp_path / "nowhere")
    assert f"no MNIST files in {tmp_path / 'nowhere'} (looked in {tmp_path / 'nowhere' / 'MNIST' / 'raw'}" in message
    assert "expected DIR/MNIST/raw/ holding train-images-idx3-ubyte[.gz]" in message
    assert "or these four files in DIR itself" in message and message.endswith("pass --data-dir DIR")
    assert "DIR/FashionMNIST/raw/" in one_line_error(load_fashion_mnist, root=tmp_path)
    assert "DIR/KMNIST/raw/" in one_line_error(load_kmnist, root=tmp_path)
    assert "no data folder was given" in one_line_error(load_mnist, root=None)
    write_set(tmp_path / "MNIST" / "raw", make_parts(), gz=True)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    message = one_line_error(load_mnist, root=tmp_path)
    assert message.startswith(f"{tmp_path / 'MNIST' / 'raw' / 't10k-labels-idx1-ubyte'}[.gz] is missing; expected DIR/MNIST/raw/")
    assert "FashionMNIST/raw" in one_line_error(load_fashion_mnist, root=tmp_path)  # MNIST's files are not Fashion-MNIST's


# ---------------------------------------------------------------------------- the real files
@pytest.mark.slow
def test_real_mnist() -> None:
    if not (REAL / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST files are not in {REAL}")
    start = time.perf_counter()
    split = load_mnist(seed=0, root=REAL, val_fraction=0.1)
    seconds = time.perf_counter() - start
    assert (len(split.train), len(split.val), len(split.test)) == (54_000, 6_000, 10_000)
    labels = torch.cat([split.train.labels, split.val.labels])
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(split.test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # stratified: each class's share of the validation split is its share of the training data
    assert np.abs(torch.bincount(split.val.labels).numpy() - np.bincount(labels.numpy()) / 10).max() <= 1
    for part in (split.train, split.val, split.test):
        assert part.images.dtype == torch.uint8 and int(part.images.min()) == 0 and int(part.images.max()) == 255
    x, y = split.test.tensors
    assert x.shape == (10_000, 1, 28, 28) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert int(y[0]) == 7 and int(split.test.labels[-1]) == 6  # the first and last t10k digits
    print(f"real MNIST read and split in {seconds:.2f} s")
    assert seconds < 30


def test_augment_and_train_fraction_through_the_registry(tmp_path: Path) -> None:
    """``datasets.load(..., augment=, train_fraction=)`` (the CLI's --augment and
    --train-fraction): the MNIST family trains unaugmented unless asked; digits has no
    augmentation to switch; a training fraction keeps a seeded random ⌈f·N⌉ of the training
    split and leaves validation and test whole."""
    from spikebits.evaluators import datasets

    write_set(tmp_path, make_parts(), gz=False)
    assert not datasets.load("mnist", root=tmp_path, val_fraction=0.2).train.augment
    assert datasets.load("mnist", root=tmp_path, val_fraction=0.2, augment=True).train.augment
    assert datasets.augments("cifar10") and datasets.augments("mnist") and not datasets.augments("digits")
    assert "digits has no training augmentation" in one_line_error(datasets.load, "digits", augment=False)
    whole = datasets.load("mnist", root=tmp_path, val_fraction=0.2, seed=3)
    part = datasets.load("mnist", root=tmp_path, val_fraction=0.2, seed=3, train_fraction=0.3)
    again = datasets.load("mnist", root=tmp_path, val_fraction=0.2, seed=3, train_fraction=0.3)
    assert len(whole.train) == 40 and len(part.train) == 12  # ⌈0.3 · 40⌉
    assert list(part.train.indices) == list(again.train.indices) == sorted(set(part.train.indices))
    x, y = next(iter(torch.utils.data.DataLoader(part.train, batch_size=12)))
    assert torch.equal(x, whole.train.batch(part.train.indices)[0]) and torch.equal(y, whole.train.labels[part.train.indices])
    assert len(part.val) == len(whole.val) and len(part.test) == len(whole.test)
    assert "at most 1" in one_line_error(datasets.load, "mnist", root=tmp_path, train_fraction=1.5)
