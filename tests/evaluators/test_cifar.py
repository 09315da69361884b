"""CIFAR-10 / CIFAR-100 loaders: small files in the real python-pickle layout, written here."""

from __future__ import annotations

import copyreg
import os
import pickle
import pickletools
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from spikebits.evaluators import datasets
from spikebits.evaluators.cifar import CifarImages, crop_and_flip, load_cifar10, load_cifar100, read_batch, read_pickle
from spikebits.evaluators.datasets import stratified_split
from spikebits.evaluators.training import accuracy, make_loader
from spikebits.space import DataError

# The standard constants, written out here so that the test also pins them.
MEAN10, STD10 = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2470, 0.2435, 0.2616])
MEAN100, STD100 = np.array([0.5071, 0.4865, 0.4409]), np.array([0.2673, 0.2564, 0.2762])

TRAIN_PER_BATCH, TEST_SIZE = 20, 10


def normalised(u: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """By hand, in float64: (u / 255 − μ_c) / σ_c for u of shape [..., 3, 32, 32]."""
    return (u.astype(np.float64) / 255.0 - mean[:, None, None]) / std[:, None, None]


def dump(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def batch_dict(images: np.ndarray, labels: list[int], label_key: bytes = b"labels", name: bytes = b"batch") -> dict:
    n = len(images)
    return {
        b"batch_label": name,
        label_key: labels,
        b"data": images.reshape(n, 3072),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """5 training batches of 20 images (10 per class overall) and a test batch of 10, random
    pixels from a fixed seed (so that no two crops of an image are alike)."""
    rng = np.random.default_rng(1234)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train_images = rng.integers(0, 256, size=(5 * TRAIN_PER_BATCH, 3, 32, 32), dtype=np.uint8)
    train_labels = np.array([(7 * i + 3) % 10 for i in range(5 * TRAIN_PER_BATCH)])
    for b in range(5):
        sl = slice(b * TRAIN_PER_BATCH, (b + 1) * TRAIN_PER_BATCH)
        dump(folder / f"data_batch_{b + 1}", batch_dict(train_images[sl], [int(v) for v in train_labels[sl]]))
    test_images = rng.integers(0, 256, size=(TEST_SIZE, 3, 32, 32), dtype=np.uint8)
    test_labels = np.array([9, 0, 8, 1, 7, 2, 6, 3, 5, 4])
    dump(folder / "test_batch", batch_dict(test_images, [int(v) for v in test_labels]))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    dump(folder / "batches.meta", {b"num_cases_per_batch": TRAIN_PER_BATCH, b"label_names": names, b"num_vis": 3072})
    return tmp_path, train_images, train_labels, test_images, test_labels


def test_cifar10_shapes_labels_and_normalised_values(cifar10_root) -> None:
    root, train_images, train_labels, test_images, test_labels = cifar10_root
    split = datasets.load("cifar10", seed=3, root=root)
    assert (split.name, split.input_shape, split.num_classes) == ("cifar10", (3, 32, 32), 10)
    assert datasets.info("cifar10").input_shape == (3, 32, 32)
    assert (len(split.train), len(split.val), len(split.test)) == (90, 10, 10)

    x, y = split.test[4]
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 32, 32)
    assert y.dtype == torch.int64 and y.ndim == 0 and int(y) == 7
    assert [int(split.test[i][1]) for i in range(TEST_SIZE)] == [9, 0, 8, 1, 7, 2, 6, 3, 5, 4]
    np.testing.assert_allclose(x.numpy(), normalised(test_images[4], MEAN10, STD10), rtol=0, atol=1e-5)
    # a known pixel, worked out: (u / 255 − 0.4914) / 0.2470 for the red channel
    u = int(test_images[4, 0, 5, 6])
    assert float(x[0, 5, 6]) == pytest.approx((u / 255 - 0.4914) / 0.2470, abs=1e-5)

    kept, held = stratified_split(train_labels, 0.1, 3)
    assert len(held) == 10 and sorted(train_labels[held].tolist()) == list(range(10))  # one per class
    for j, i in enumerate(held):
        xv, yv = split.val[j]
        assert int(yv) == train_labels[i]
        np.testing.assert_allclose(xv.numpy(), normalised(train_images[i], MEAN10, STD10), rtol=0, atol=1e-5)
    # the training part holds the other 90 images, in file order
    assert torch.equal(split.train.labels, torch.from_numpy(train_labels[kept]))
    assert torch.equal(split.train.images, torch.from_numpy(train_images[kept]))
    assert np.bincount(split.train.labels.numpy()).tolist() == [9] * 10


def test_root_may_be_the_batches_folder(cifar10_root) -> None:
    root, _, _, test_images, test_labels = cifar10_root
    split = load_cifar10(seed=0, root=root / "cifar-10-batches-py", val_fraction=0.2)
    assert (len(split.train), len(split.val)) == (80, 20)
    assert split.test.labels.tolist() == test_labels.tolist()
    assert torch.equal(split.test.images, torch.from_numpy(test_images))


def test_val_and_test_are_never_augmented(cifar10_root) -> None:
    root, *_ = cifar10_root
    split = load_cifar10(root=root)
    assert split.train.augment and not split.val.augment and not split.test.augment
    torch.manual_seed(0)
    first = split.val.batch(range(10))[0]
    torch.manual_seed(1)
    assert torch.equal(first, split.val.batch(range(10))[0])


def test_crop_and_flip_by_hand() -> None:
    image = torch.tensor([[[[1, 2], [3, 4]]]], dtype=torch.uint8).repeat(2, 1, 1, 1)
    offsets = torch.tensor([[0, 0], [2, 1]])
    flips = torch.tensor([False, True])
    out = crop_and_flip(image, offsets, flips, padding=1)
    # padded: [[0,0,0,0],[0,1,2,0],[0,3,4,0],[0,0,0,0]]
    assert out[0, 0].tolist() == [[0, 0], [0, 1]]  # window at (0, 0)
    assert out[1, 0].tolist() == [[4, 3], [0, 0]]  # window at (2, 1) = [[3,4],[0,0]], mirrored
    centre = crop_and_flip(image, torch.tensor([[1, 1], [1, 1]]), torch.tensor([False, False]), padding=1)
    assert torch.equal(centre, image)


def candidates(u: np.ndarray, padding: int = 4) -> dict[tuple[int, int, bool], np.ndarray]:
    """Every crop (and its mirror) of uint8 image u [3, 32, 32] zero-padded, made with numpy."""
    padded = np.pad(u, ((0, 0), (padding, padding), (padding, padding)))
    out = {}
    for r in range(2 * padding + 1):
        for s in range(2 * padding + 1):
            window = padded[:, r : r + 32, s : s + 32]
            out[(r, s, False)] = window
            out[(r, s, True)] = window[:, :, ::-1]
    return out


def test_augmentation_only_shifts_and_flips(cifar10_root) -> None:
    _, train_images, train_labels, _, _ = cifar10_root
    data = CifarImages(
        torch.from_numpy(train_images[:24]),
        torch.from_numpy(train_labels[:24]),
        MEAN10.tolist(),
        STD10.tolist(),
        augment=True,
        generator=torch.Generator().manual_seed(5),
    )
    x, y = data.batch(range(24))
    assert y.tolist() == train_labels[:24].tolist()
    found = []
    for i in range(24):
        matches = [
            key
            for key, window in candidates(train_images[i]).items()
            if np.abs(x[i].numpy() - normalised(window, MEAN10, STD10)).max() < 1e-5
        ]
        assert len(matches) == 1, f"image {i}: {len(matches)} matching crops"
        found.append(matches[0])
    shifts = [(r, s) for r, s, _ in found]
    assert sum(shift != (4, 4) for shift in shifts) >= 12  # most windows are off centre
    assert 4 <= sum(flip for *_, flip in found) <= 20  # about half are mirrored
    # an off-centre window shows the black padding, normalised: (0 − μ_c) / σ_c
    i = next(k for k, (r, _, _) in enumerate(found) if r == 0)
    np.testing.assert_allclose(x[i, :, :4, :].numpy(), np.broadcast_to((-MEAN10 / STD10)[:, None, None], (3, 4, 32)), atol=1e-6)


def test_augmentation_is_reproducible(cifar10_root) -> None:
    root, *_ = cifar10_root
    split = load_cifar10(seed=0, root=root)

    def epoch(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)  # what training.train does before its loop
        return [x for x, _ in make_loader(split.train, 32, shuffle=True, seed=seed)]

    a, b, c = epoch(7), epoch(7), epoch(8)
    assert [t.shape[0] for t in a] == [32, 32, 26]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])
    # single items and batches draw the same numbers in the same order
    generator = torch.Generator().manual_seed(2)
    data = CifarImages(split.train.images[:3], split.train.labels[:3], MEAN10, STD10, augment=True, generator=generator)
    single = data[1][0]
    data.generator.manual_seed(2)
    assert torch.equal(single, data.__getitems__([1])[0][0])
    # the same seed gives the same split; another seed another one
    again, other = load_cifar10(seed=0, root=root), load_cifar10(seed=1, root=root)
    assert torch.equal(again.val.images, split.val.images)
    assert not torch.equal(other.val.images, split.val.images)


def test_workers_do_not_repeat_crops(cifar10_root) -> None:
    _, train_images, _, _, _ = cifar10_root
    same = torch.from_numpy(train_images[:1]).repeat(8, 1, 1, 1)
    data = CifarImages(same, torch.zeros(8, dtype=torch.int64), MEAN10, STD10, augment=True, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(data, batch_size=4, shuffle=False, num_workers=2, generator=torch.Generator().manual_seed(0))
    first, second = [x for x, _ in loader]  # one batch from each worker
    assert first.shape == (4, 3, 32, 32)
    assert not torch.equal(first, second)
    again = [x for x, _ in DataLoader(data, batch_size=4, num_workers=2, generator=torch.Generator().manual_seed(0))]
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])


def test_training_helpers_accept_the_split(cifar10_root) -> None:
    root, _, _, test_images, test_labels = cifar10_root
    split = load_cifar10(root=root)
    x, y = next(iter(make_loader(split.train, 16, shuffle=True)))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (16,) and y.dtype == torch.int64
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))
    acc = accuracy(model, split.test, batch_size=4)
    with torch.no_grad():
        inputs = torch.tensor(normalised(test_images, MEAN10, STD10), dtype=torch.float32)
        expected = float((model(inputs).argmax(1).numpy() == test_labels).mean())
    assert acc == pytest.approx(expected)


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train_images = rng.integers(0, 256, size=(200, 3, 32, 32), dtype=np.uint8)
    fine = [(37 * i) % 100 for i in range(200)]  # two per class
    test_images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    test_fine = [99, 0, 42, 57, 13, 80]
    for name, images, labels in (("train", train_images, fine), ("test", test_images, test_fine)):
        blob = batch_dict(images, labels, label_key=b"fine_labels", name=name.encode())
        blob[b"coarse_labels"] = [v // 5 for v in labels]
        dump(folder / name, blob)
    dump(folder / "meta", {b"fine_label_names": [b"c%d" % i for i in range(100)], b"coarse_label_names": [b"s%d" % i for i in range(20)]})

    split = load_cifar100(seed=0, root=tmp_path, val_fraction=0.5)
    assert (split.name, split.num_classes, split.input_shape) == ("cifar100", 100, (3, 32, 32))
    assert (len(split.train), len(split.val), len(split.test)) == (100, 100, 6)
    assert sorted(split.val.labels.tolist()) == list(range(100))
    assert split.test.labels.tolist() == test_fine
    x, y = split.test[3]
    assert int(y) == 57
    np.testing.assert_allclose(x.numpy(), normalised(test_images[3], MEAN100, STD100), rtol=0, atol=1e-5)
    assert float(x[2, 0, 0]) == pytest.approx((int(test_images[3, 2, 0, 0]) / 255 - 0.4409) / 0.2762, abs=1e-5)
    dump(folder / "test", batch_dict(test_images, test_fine))  # CIFAR-10's key: b"labels"
    assert "no 'fine_labels' entry" in one_line_error(load_cifar100, root=folder, val_fraction=0.5)


def python2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch as Python 2's cPickle (protocol 2) wrote the real files: keys and raw pixels as
    BINSTRING (Python 2 str), the array built by numpy.core.multiarray._reconstruct."""

    def string(b: bytes) -> bytes:
        return b"T" + struct.pack("<i", len(b)) + b

    out = b"\x80\x02}(" + string(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
    out += b"(K\x01M" + struct.pack("<H", len(data)) + b"M" + struct.pack("<H", 3072) + b"\x86"
    out += b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R(K\x03" + string(b"|")
    out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    out += b"\x89" + string(data.tobytes()) + b"tb"
    out += string(b"labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return out + b"u."


def test_reads_a_python2_pickle(tmp_path: Path) -> None:
    data = np.arange(3 * 3072, dtype=np.int64).reshape(3, 3072).astype(np.uint8)
    (tmp_path / "batch").write_bytes(python2_pickle(data, [4, 0, 9]))
    images, labels = read_batch(tmp_path / "batch", "labels", 10)
    assert images.dtype == np.uint8 and images.shape == (3, 3, 32, 32)
    assert labels.tolist() == [4, 0, 9]
    # channel-major rows: value k of a row is channel k // 1024, row (k % 1024) // 32, column k % 32
    assert images[1, 2, 3, 4] == (3072 + 2 * 1024 + 3 * 32 + 4) % 256
    assert np.array_equal(images.reshape(3, 3072), data)


# ---------------------------------------------------------------------------- errors
def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_data(tmp_path: Path, cifar10_root) -> None:
    message = one_line_error(load_cifar10, root=tmp_path / "nowhere")
    assert "nowhere" in message
    assert "cifar-10-batches-py/data_batch_1 … data_batch_5 and test_batch" in message
    assert "cs.toronto.edu/~kriz/cifar.html" in message and message.endswith("pass --data-root DIR")
    assert "no data folder" in one_line_error(load_cifar10, root=None)
    assert "cifar-100-python/train and test" in one_line_error(load_cifar100, root=tmp_path / "nowhere")
    root, *_ = cifar10_root
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert "data_batch_3 is missing" in one_line_error(load_cifar10, root=root)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("truncated", "truncated or corrupted"),
        ({b"data": np.zeros((20, 3072), np.uint8), b"label": [0] * 20}, "no 'labels' entry"),
        ({b"data": np.zeros((20, 3000), np.uint8), b"labels": [0] * 20}, "'data' is a uint8 array of shape [20, 3000]"),
        ({b"data": np.zeros((20, 3072), np.float32), b"labels": [0] * 20}, "'data' is a float32 array"),
        ({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 19}, "19 labels for 20 images"),
        ({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0] * 19 + [10]}, "label 10 is outside 0 … 9"),
        ({b"data": np.zeros((20, 3072), np.uint8), b"labels": [0.0] * 20}, "'labels' is not a list of ints"),
        ([1, 2, 3], "it holds a list, not a dict"),
    ],
)
def test_malformed_batch(cifar10_root, content, expected: str) -> None:
    root, *_ = cifar10_root
    path = root / "cifar-10-batches-py" / "data_batch_2"
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:
        dump(path, content)
    message = one_line_error(load_cifar10, root=root)
    assert str(path) in message and expected in message
    assert message.endswith("pass --data-root DIR")


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


def test_forbidden_pickle_is_refused_without_running_it(cifar10_root) -> None:
    root, *_ = cifar10_root
    marker = root / "executed"
    path = root / "cifar-10-batches-py" / "test_batch"
    dump(path, {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 10, b"x": _Exploit(marker)})
    message = one_line_error(load_cifar10, root=root)
    assert f"{path} is not a CIFAR batch: its pickle refers to {os.system.__module__}.system, which is refused" in message
    assert not marker.exists()
    dump(path, _Eval())
    # protocol 2 writes builtins.eval under its Python 2 name
    assert "its pickle refers to __builtin__.eval, which is refused" in one_line_error(load_cifar10, root=root)


# ---------------------------------------------------------------------------- the pickle reader
def opcodes(blob: bytes) -> set[str]:
    return {op.name for op, _, _ in pickletools.genops(blob)}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_reads_back_equal(tmp_path: Path, protocol: int) -> None:
    rng = np.random.default_rng(protocol)
    images = rng.integers(0, 256, size=(7, 3, 32, 32), dtype=np.uint8)
    labels = [3, 1, 4, 1, 5, 9, 2]
    blob = batch_dict(images, labels)
    blob[b"coarse_labels"] = [v // 5 for v in labels]
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump(blob, f, protocol=protocol)
    got_images, got_labels = read_batch(path, "labels", 10)
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 3, 32, 32)
    assert np.array_equal(got_images, images) and got_labels.tolist() == labels
    assert got_images.flags.writeable and got_images.flags.c_contiguous
    # str keys work too, and so do the meta files (read here without the batch checks)
    (tmp_path / "str_keys").write_bytes(pickle.dumps({"data": images.reshape(7, 3072), "labels": labels}, protocol=protocol))
    assert np.array_equal(read_batch(tmp_path / "str_keys", "labels", 10)[0], images)
    meta = {b"num_cases_per_batch": 10000, b"label_names": [b"airplane", b"automobile"], b"num_vis": 3072, "t": (1.5, None, True, "é")}
    (tmp_path / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    assert read_pickle(tmp_path / "batches.meta") == meta


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_other_dtypes_byte_orders_and_layouts(tmp_path: Path, protocol: int) -> None:
    arrays = {
        "big_endian_labels": np.array([[9, -2], [2**40, 0]], dtype=">i8"),
        "big_endian_floats": np.array([1.5, -0.25, 1e300], dtype=">f8"),
        "little_floats": np.linspace(0, 1, 6, dtype="<f4").reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(12, dtype="<i2").reshape(3, 4)),
        "transposed": np.arange(24, dtype=np.uint16).reshape(2, 3, 4).transpose(1, 0, 2),
        "empty": np.zeros((0, 3072), np.uint8),
        "scalar": np.array(7, dtype="u4"),
    }
    path = tmp_path / "arrays"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    got = read_pickle(path)
    assert got.keys() == arrays.keys()
    for key, expected in arrays.items():
        value = got[key]
        assert isinstance(value, np.ndarray) and value.shape == expected.shape, key
        assert value.dtype == expected.dtype.newbyteorder("=") and value.dtype.isnative, key
        assert np.array_equal(value, expected), key
    assert torch.equal(torch.from_numpy(got["big_endian_labels"]), torch.tensor([[9, -2], [2**40, 0]]))
    path.write_bytes(pickle.dumps({"a": arrays["fortran"], "b": arrays["fortran"]}, protocol=protocol))
    shared = read_pickle(path)
    assert shared["a"] is shared["b"]  # one array, as the pickle has it


def test_only_the_restricted_unpickler_is_used(tmp_path: Path, monkeypatch, cifar10_root) -> None:
    """pickle's unrestricted loaders are never called; the reader's own Unpickler subclass is."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was asked to load a file without restrictions")

    for name in ("load", "loads", "_Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    root, _, _, test_images, test_labels = cifar10_root
    split = load_cifar10(root=root)
    assert torch.equal(split.test.images, torch.from_numpy(test_images))
    data = np.arange(3072, dtype=np.int64).reshape(1, 3072).astype(np.uint8)
    (tmp_path / "py2").write_bytes(python2_pickle(data, [7]))
    assert read_batch(tmp_path / "py2", "labels", 10)[1].tolist() == [7]


class _Shell:
    """os.system(command) when unpickled, by REDUCE of a GLOBAL (STACK_GLOBAL from protocol 4)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _NewObj:
    """Runs its command in ``__new__``, which NEWOBJ calls."""

    def __new__(cls, command: str):
        os.system(command)
        return super().__new__(cls)

    def __reduce__(self):
        return (copyreg.__newobj__, (type(self), self.command))


def _new_obj(command: str) -> _NewObj:
    obj = object.__new__(_NewObj)
    obj.command = command
    return obj


class _EvalShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (eval, (f"__import__('os').system({self.command!r})",))


def _inst(command: str) -> bytes:
    """Protocol 0: INST calls os.system(command) by name."""
    return b"(S'" + command.encode() + b"'\nios\nsystem\n."


SYSTEM = f"{os.system.__module__}.system"
PAYLOADS = {
    "GLOBAL": (lambda c: pickle.dumps({b"data": b"", b"labels": [], b"x": _Shell(c)}, protocol=2), "GLOBAL", SYSTEM),
    "STACK_GLOBAL": (lambda c: pickle.dumps({b"data": b"", b"x": _Shell(c)}, protocol=4), "STACK_GLOBAL", SYSTEM),
    "INST": (_inst, "INST", "os.system"),
    "NEWOBJ": (lambda c: pickle.dumps([_new_obj(c)], protocol=2), "NEWOBJ", f"{_NewObj.__module__}._NewObj"),
    "REDUCE eval": (lambda c: pickle.dumps(_EvalShell(c), protocol=3), "REDUCE", "builtins.eval"),
    "REDUCE eval, protocol 2": (lambda c: pickle.dumps(_EvalShell(c), protocol=2), "REDUCE", "__builtin__.eval"),
}


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path: Path, case: str) -> None:
    make, opcode, refers_to = PAYLOADS[case]
    # the payload is live: pickle itself would run it
    live = tmp_path / "ran_under_pickle"
    live_blob = make(f"touch {live}")
    assert opcode in opcodes(live_blob)
    pickle.loads(live_blob)
    assert live.exists()

    marker = tmp_path / "ran_under_read_batch"
    path = tmp_path / "batch"
    path.write_bytes(make(f"touch {marker}"))
    message = one_line_error(read_batch, path, "labels", 10, expected="EXPECTED")
    assert f"{path} is not a CIFAR batch: its pickle refers to {refers_to}, which is refused; EXPECTED" == message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("blob", "refers_to"),
    [
        (b"\x80\x02X\x01\x00\x00\x00aQ.", "a persistent id"),  # BINPERSID
        (b"P1\n.", "a persistent id"),  # PERSID
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", "os.system"),
        (b"\x80\x02csubprocess\nPopen\n.", "subprocess.Popen"),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R.", "numpy.dtype('O8')"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R.", "_codecs.encode with encoding 'utf-8'"),
        (b"\x80\x02c__builtin__\nbytes\nK\x05\x85R.", "bytes called with arguments a CIFAR batch never holds"),  # bytes(5)
        (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01b\x87R.",
         "numpy's _reconstruct called with arguments a CIFAR batch never holds"),  # a shape of 10**9, not numpy's (0,)
    ],
)
def test_other_refusals(tmp_path: Path, blob: bytes, refers_to: str) -> None:
    (tmp_path / "batch").write_bytes(blob)
    message = one_line_error(read_batch, tmp_path / "batch", "labels", 10)
    assert message.endswith(f"its pickle refers to {refers_to}, which is refused")


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        # numpy.ndarray is a token that only numpy's _reconstruct takes: neither NEWOBJ nor REDUCE makes an array of it
        (b"\x80\x02cnumpy\nndarray\nK\x00\x85\x81.", "is not a readable CIFAR batch (truncated or corrupted: UnpicklingError: NEWOBJ class argument"),
        (b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85R.", "is not a readable CIFAR batch (truncated or corrupted: TypeError: "),
        (b"\x80\x02\x82\x07.", "is not a readable CIFAR batch (truncated or corrupted: ValueError: unregistered extension code 7)"),  # EXT1
        (b"\x80\x02cnumpy\ndtype\n.", "is not a CIFAR batch: it holds a method, not a dict"),  # a global on its own
        (b"\x80\x04\x8f.", "is not a CIFAR batch: it holds a set, not a dict"),  # EMPTY_SET
    ],
)
def test_other_pickles_are_not_batches(tmp_path: Path, blob: bytes, reason: str) -> None:
    (tmp_path / "batch").write_bytes(blob)
    message = one_line_error(read_batch, tmp_path / "batch", "labels", 10, expected="EXPECTED")
    assert message.startswith(f"{tmp_path / 'batch'} ") and reason in message and message.endswith("; EXPECTED")


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    (tmp_path / "batch").write_bytes(pickle.dumps({b"data": np.array([1, "x"], dtype=object), b"labels": []}, protocol=2))
    assert "refers to numpy.dtype('O8'), which is refused" in one_line_error(read_batch, tmp_path / "batch", "labels", 10)


def test_flags_a_pickle_sets_on_a_dtype_never_reach_an_array(tmp_path: Path) -> None:
    """numpy's dtype.__setstate__ takes the flags in the pickle as given; flag 1 (NPY_ITEM_REFCOUNT)
    on a u8 dtype would make numpy treat the file's bytes as pointers to Python objects."""
    blob = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
    blob += b"(K\x01K\x01\x85cnumpy\ndtype\nU\x02u8K\x00K\x01\x87R"  # version 1, shape (1,), dtype u8 ...
    blob += b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x01tb"  # ... whose state sets flag 1
    blob += b"\x89" + binstring(struct.pack("<Q", 16)) + b"tb."
    (tmp_path / "array").write_bytes(blob)
    array = read_pickle(tmp_path / "array")
    assert array.dtype == np.dtype("<u8") and array.dtype.flags == 0 and not array.dtype.hasobject
    assert array.tolist() == [16] and array.copy().tolist() == [16]


@pytest.mark.parametrize("protocol", [2, 5, "python2"])
def test_truncated_anywhere_is_one_line(tmp_path: Path, protocol) -> None:
    data = np.arange(2 * 3072).reshape(2, 3072).astype(np.uint8)
    if protocol == "python2":
        blob = python2_pickle(data, [1, 2])
    else:
        blob = pickle.dumps(batch_dict(data.reshape(2, 3, 32, 32), [1, 2]), protocol=protocol)
    path = tmp_path / "batch"
    for cut in sorted({0, 1, 2, 3, 10, 40, 100, 200, len(blob) // 2, len(blob) - 200, len(blob) - 2, len(blob) - 1}):
        path.write_bytes(blob[:cut])
        message = one_line_error(read_batch, path, "labels", 10, expected="EXPECTED")
        assert f"{path} is not a readable CIFAR batch (truncated or corrupted: " in message, cut
        assert message.endswith("; EXPECTED") and len(message) < 400 + len(str(path)), cut
    path.write_bytes(blob)
    assert read_batch(path, "labels", 10)[1].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("blob", "reasons"),
    [  # pickle's own reasons (one of those that Python versions give)
        (b"\x80\x02h\x05.", ["Memo value not found at index 5"]),
        (b"\x80\x02\x85.", ["stack underflow"]),
        (b"\x80\x02e.", ["could not find MARK"]),
        (b"\x80\x02K\x00K\x01K\x02s.", ["'int' object does not support item assignment"]),  # SETITEM on an int
        (b"\x80\x02\xff.", [r"invalid load key, '\xff'"]),
        (b"\x80\x05\x95\x00\x00\x00\x00\x00\x00\x01\x00}.", ["pickle data was truncated"]),  # a frame of 2**48 bytes
        (b"\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x00abc.", ["MemoryError", "pickle data was truncated"]),  # BINBYTES8 of 2**56 bytes
        (b"\x80\x02}K\x01b.", ["state is not a dictionary"]),  # BUILD on a dict
        (b"\x80\x09.", ["unsupported pickle protocol: 9"]),
    ],
)
def test_corrupted_streams(tmp_path: Path, blob: bytes, reasons: list[str]) -> None:
    (tmp_path / "batch").write_bytes(blob)
    message = one_line_error(read_batch, tmp_path / "batch", "labels", 10)
    assert "is not a readable CIFAR batch (truncated or corrupted: " in message
    assert any(reason in message for reason in reasons), message


def _array_pickle(shape: tuple[int, int], raw: bytes) -> bytes:
    """A uint8 array as Python 2 wrote it, whose state declares ``shape``; ``raw`` holds the
    opcodes that push its data."""
    out = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
    out += b"(K\x01J" + struct.pack("<i", shape[0]) + b"J" + struct.pack("<i", shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    return out + b"\x89" + raw + b"tb"


def binstring(data: bytes) -> bytes:
    return b"T" + struct.pack("<i", len(data)) + data


def test_sizes_larger_than_the_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "batch"
    # 2·10^9 × 3072 bytes declared in a file of some hundred bytes: refused before allocating
    path.write_bytes(b"\x80\x02}U\x04data" + _array_pickle((2_000_000_000, 3072), binstring(b"\x00" * 10)) + b"s.")
    message = one_line_error(read_batch, path, "labels", 10)
    assert "truncated or corrupted: an array of 6144000000000 bytes declared" in message
    # one raw string used by several arrays through the memo (BINPUT 7, then BINGET 7): the
    # arrays may not take more bytes than the file has
    raw = bytes(range(256)) * 12
    first = _array_pickle((1, 3072), binstring(raw) + b"q\x07")
    again = _array_pickle((1, 3072), b"h\x07")
    path.write_bytes(b"\x80\x02](" + first + again + b"e.")
    assert "array data of 3072 bytes is more than the file of" in one_line_error(read_batch, path, "labels", 10)
    path.write_bytes(b"\x80\x02](" + first + b"e.")  # the array once reads
    assert read_pickle(path)[0].tobytes() == raw
