"""Event data sets read through tonic from tiny files written by hand in tonic's on-disk layout.

Each data set gets a few recordings in its real file format (N-MNIST / N-Caltech101 40-bit
events, DVS Gesture .npy, CIFAR10-DVS AEDAT4, SHD HDF5); one recording per set holds known
events whose frame is worked out by hand. The network is switched off throughout: tonic must
never try to download.
"""

from __future__ import annotations

import pickle
import socket
import struct
import urllib.request
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikebits.evaluators import datasets, events
from spikebits.space import DataError

torch.set_num_threads(1)

LOG2 = float(np.log1p(1.0) / np.log1p(2.0))  # one event where the busiest pixel has two


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection or tonic download attempt fails the test."""
    import tonic.dataset
    import tonic.download_utils

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive", refuse)
    monkeypatch.setattr(tonic.download_utils, "download_url", refuse)


def full_dataset(split: datasets.DataSplit, part: str = "train") -> events.TonicFrames:
    subset = getattr(split, part)
    return subset.dataset if isinstance(subset, torch.utils.data.Subset) else subset


def item_of(dataset: events.TonicFrames, file: Path) -> tuple[torch.Tensor, torch.Tensor]:
    (index,) = [i for i, name in enumerate(dataset.files) if Path(name) == file]
    return dataset[index]


def expect_frame(x: torch.Tensor, values: dict[tuple[int, int, int], float]) -> None:
    """``x`` is zero except at the given (channel, row, column) entries."""
    expected = torch.zeros_like(x)
    for where, value in values.items():
        expected[where] = value
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-6)


def check_items(split: datasets.DataSplit) -> None:
    for part in (split.train, split.val, split.test):
        x, y = part[0]
        assert x.shape == split.input_shape and x.dtype == torch.float32
        assert y.shape == () and y.dtype == torch.int64
        assert 0 <= int(y) < split.num_classes
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


# ---------------------------------------------------------------- N-MNIST and N-Caltech101 .bin


def bin_events(rows: list[tuple[int, int, int, int]]) -> bytes:
    """N-MNIST's 40-bit events (x, y, p, t µs): x, y, then p in bit 39 and t in bits 38-16."""
    out = bytearray()
    for x, y, p, t in rows:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


NMNIST_KNOWN = [(3, 5, 1, 10), (3, 5, 1, 20), (10, 20, 0, 250), (33, 33, 0, 399)]


@pytest.fixture
def nmnist_root(tmp_path: Path) -> Path:
    for split, per_digit in (("Train", 2), ("Test", 1)):
        for digit in range(10):
            folder = tmp_path / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for k in range(per_digit):
                (folder / f"{k:05d}.bin").write_bytes(bin_events([(digit, k, 0, 0), (digit + 1, k, 1, 40)]))
    (tmp_path / "NMNIST" / "Train" / "3" / "00000.bin").write_bytes(bin_events(NMNIST_KNOWN))
    return tmp_path


def test_nmnist_frames_labels_and_splits(nmnist_root: Path) -> None:
    split = datasets.load("nmnist", root=nmnist_root, seed=0, val_fraction=0.5)
    assert split.input_shape == datasets.info("nmnist").input_shape == (8, 34, 34)
    assert (len(split.train), len(split.val), len(split.test)) == (10, 10, 10)
    check_items(split)
    full = full_dataset(split)
    assert [int(Path(f).parent.name) for f in full.files] == full.labels.tolist()
    x, y = item_of(full, nmnist_root / "NMNIST" / "Train" / "3" / "00000.bin")
    assert int(y) == 3
    # t₀ = 10, w = (399 − 10) // 4 + 1 = 98: bins 0, 0, 2, 3; channel = bin · 2 + p
    expect_frame(x, {(1, 5, 3): 1.0, (4, 20, 10): LOG2, (6, 33, 33): LOG2})
    assert sorted(set(full_dataset(split, "test").labels.tolist())) == list(range(10))


def test_plain_tonic_would_download(nmnist_root: Path) -> None:
    """The guard is needed: tonic itself wants its archive and 10,000 files, and downloads."""
    import tonic.datasets

    with pytest.raises(AssertionError, match="network access attempted"):
        tonic.datasets.NMNIST(save_to=str(nmnist_root), train=True)


def test_nmnist_split_is_seeded(nmnist_root: Path) -> None:
    a = datasets.load("nmnist", root=nmnist_root, seed=0, val_fraction=0.5)
    b = datasets.load("nmnist", root=nmnist_root, seed=0, val_fraction=0.5)
    c = datasets.load("nmnist", root=nmnist_root, seed=1, val_fraction=0.5)
    assert a.val.indices == b.val.indices
    assert a.val.indices != c.val.indices


def test_nmnist_pickles_for_loader_workers(nmnist_root: Path) -> None:
    split = datasets.load("nmnist", root=nmnist_root, val_fraction=0.5)
    copy = pickle.loads(pickle.dumps(split.train))
    torch.testing.assert_close(copy[3][0], split.train[3][0])
    batch, labels = next(iter(torch.utils.data.DataLoader(split.test, batch_size=4)))
    assert batch.shape == (4, 8, 34, 34) and labels.shape == (4,)


def test_nmnist_truncated_file(nmnist_root: Path) -> None:
    bad = nmnist_root / "NMNIST" / "Train" / "3" / "00000.bin"
    bad.write_bytes(bin_events(NMNIST_KNOWN)[:12])
    split = datasets.load("nmnist", root=nmnist_root, val_fraction=0.5)
    with pytest.raises(DataError, match=r"cannot read .*00000\.bin.*NMNIST/\{Train,Test\}/<digit 0-9>/\*\.bin") as err:
        item_of(full_dataset(split), bad)
    assert "\n" not in str(err.value)


def test_nmnist_missing_layout(nmnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = tmp_path_factory.mktemp("empty")
    layout = r"expected <root>/NMNIST/\{Train,Test\}/<digit 0-9>/\*\.bin .*tonic\.datasets\.NMNIST\(save_to=DIR.*--data-root DIR"
    with pytest.raises(DataError, match=f"no folder .*NMNIST; {layout}"):
        datasets.load("nmnist", root=empty)
    with pytest.raises(DataError, match="no data folder given"):
        datasets.load("nmnist")
    for path in (nmnist_root / "NMNIST" / "Test" / "7").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=f"no .bin files for digit\\(s\\) 7 in .*Test; {layout}"):
        datasets.load("nmnist", root=nmnist_root)
    for folder in (nmnist_root / "NMNIST" / "Test").iterdir():
        for path in folder.iterdir():
            path.unlink()
    with pytest.raises(DataError, match=f"no .bin files under .*Test; {layout}"):
        datasets.load("nmnist", root=nmnist_root)


CALTECH_CLASSES = ["accordion", "BACKGROUND_Google", "Faces_easy"] + [f"c{i:03d}" for i in range(98)]


@pytest.fixture
def caltech_root(tmp_path: Path) -> Path:
    for name in CALTECH_CLASSES:
        folder = tmp_path / "NCALTECH101" / "Caltech101" / name
        folder.mkdir(parents=True)
        for k in (1, 2):
            (folder / f"image_{k:04d}.bin").write_bytes(bin_events([(5, 7, 0, 0), (9, 8, 1, 30)]))
    # 96 × 48 after tonic's shift to 0; centred on a 96 × 96 square (y + 24), then summed 2 × 2
    known = [(10, 20, 1, 0), (11, 21, 1, 5), (105, 67, 0, 100)]
    (tmp_path / "NCALTECH101" / "Caltech101" / "accordion" / "image_0001.bin").write_bytes(bin_events(known))
    return tmp_path


def test_ncaltech101_frames_labels_and_splits(caltech_root: Path) -> None:
    split = events.load_ncaltech101(root=caltech_root, seed=0, val_fraction=0.5, test_fraction=0.5)
    assert split.input_shape == datasets.info("ncaltech101").input_shape == (8, 48, 48)
    assert (len(split.train), len(split.val), len(split.test)) == (50, 51, 101)
    assert sorted(full_dataset(split).labels[split.test.indices].tolist()) == list(range(101))
    check_items(split)
    x, y = item_of(full_dataset(split), caltech_root / "NCALTECH101" / "Caltech101" / "accordion" / "image_0001.bin")
    assert int(y) == sorted(CALTECH_CLASSES).index("accordion") == 2
    # shifted (0, 0), (1, 1), (95, 47); canvas y + 24; out (x // 2, y // 2): (0, 12), (0, 12), (47, 35)
    # t₀ = 0, w = 100 // 4 + 1 = 26: bins 0, 0, 3
    expect_frame(x, {(1, 12, 0): 1.0, (6, 35, 47): LOG2})


def test_ncaltech101_needs_101_classes(caltech_root: Path) -> None:
    for path in (caltech_root / "NCALTECH101" / "Caltech101" / "c050").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"100 class folders .*not 101; expected <root>/NCALTECH101/Caltech101/"):
        datasets.load("ncaltech101", root=caltech_root)


# ---------------------------------------------------------------- DVS Gesture .npy


@pytest.fixture
def gesture_root(tmp_path: Path) -> Path:
    for split, users in (("ibmGestureTrain", ["user01_fluorescent", "user02_led"]), ("ibmGestureTest", ["user24_natural"])):
        for user in users:
            folder = tmp_path / "DVSGesture" / split / user
            folder.mkdir(parents=True)
            for label in range(11):  # columns x, y, p, t in ms
                np.save(folder / f"{label}.npy", np.array([[label, 3, 0, 0], [label, 4, 1, 2]], dtype=np.int64))
    known = np.array([[5, 9, 1, 0], [6, 10, 1, 1], [127, 0, 0, 7]], dtype=np.int64)
    np.save(tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "4.npy", known)
    return tmp_path


def test_dvs_gesture_frames_labels_and_splits(gesture_root: Path) -> None:
    split = datasets.load("dvs_gesture", root=gesture_root, seed=0, val_fraction=0.5)
    assert split.input_shape == datasets.info("dvs_gesture").input_shape == (8, 32, 32)
    assert (len(split.train), len(split.val), len(split.test)) == (11, 11, 11)
    check_items(split)
    full = full_dataset(split)
    assert [int(Path(f).stem) for f in full.files] == full.labels.tolist()
    x, y = item_of(full, gesture_root / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "4.npy")
    assert int(y) == 4
    # t = 0, 1000, 7000 µs: w = 7000 // 4 + 1 = 1751, bins 0, 0, 3; 128 → 32 sums 4 × 4 blocks
    expect_frame(x, {(1, 2, 1): 1.0, (6, 0, 31): LOG2})


def test_dvs_gesture_bad_layout(gesture_root: Path) -> None:
    np.save(gesture_root / "DVSGesture" / "ibmGestureTest" / "user24_natural" / "11.npy", np.zeros((1, 4), dtype=np.int64))
    with pytest.raises(DataError, match=r"unexpected file .*11\.npy .*expected <root>/DVSGesture/"):
        datasets.load("dvs_gesture", root=gesture_root)
    (gesture_root / "DVSGesture" / "ibmGestureTest" / "user24_natural" / "11.npy").unlink()
    (gesture_root / "DVSGesture" / "ibmGestureTest" / "readme").mkdir()
    with pytest.raises(DataError, match=r"unexpected folder .*readme; expected"):
        datasets.load("dvs_gesture", root=gesture_root)


def test_dvs_gesture_truncated_file(gesture_root: Path) -> None:
    bad = gesture_root / "DVSGesture" / "ibmGestureTest" / "user24_natural" / "2.npy"
    bad.write_bytes(bad.read_bytes()[:100])
    split = datasets.load("dvs_gesture", root=gesture_root, val_fraction=0.5)
    with pytest.raises(DataError, match=r"cannot read .*2\.npy .*expected <root>/DVSGesture/"):
        item_of(full_dataset(split, "test"), bad)


# ---------------------------------------------------------------- CIFAR10-DVS AEDAT4


def aedat4(rows: list[tuple[int, int, int, bool]], cut: int | None = None) -> bytes:
    """An AEDAT4 file with one uncompressed event packet (t, x, y, on), as ``aedat`` decodes it:
    magic line, IOHeader flatbuffer (XML stream description), then [stream id, size, packet]."""
    xml = (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/"><attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
        '<attr key="sizeX" type="int">128</attr><attr key="sizeY" type="int">128</attr></node></node></node></dv>'
    ).encode()
    # IOHeader: root → table at 24; vtable at 8 (compression, file_data_position, description)
    header = struct.pack("<I4s5H6x", 24, b"IOHE", 10, 20, 4, 8, 16)
    header += struct.pack("<iiqI", 16, 0, -1, 4) + struct.pack("<I", len(xml)) + xml + b"\0"
    header += bytes(-len(header) % 4)
    # EventPacket: root → table at 16; vtable at 8 (elements); vector of 16-byte Event structs at 28
    packet = struct.pack("<I4s3H2xiI4xI", 16, b"EVTS", 6, 8, 4, 8, 8, len(rows))
    packet += b"".join(struct.pack("<qhh?3x", t, x, y, on) for t, x, y, on in rows)
    packet = struct.pack("<I", len(packet)) + packet  # size-prefixed
    data = b"#!AER-DAT4.0\r\n" + struct.pack("<I", len(header)) + header + struct.pack("<II", 0, len(packet)) + packet
    return data[:cut]


@pytest.fixture
def cifar_dvs_root(tmp_path: Path) -> Path:
    for name in events.CIFAR10_DVS_CLASSES:
        folder = tmp_path / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(2):
            (folder / f"cifar10_{name}_{k}.aedat4").write_bytes(aedat4([(0, 60, 60, True), (30, 61, 60, False)]))
    known = [(10, 1, 1, True), (20, 1, 1, True), (50, 127, 127, False)]
    (tmp_path / "CIFAR10DVS" / "cat" / "cifar10_cat_0.aedat4").write_bytes(aedat4(known))
    return tmp_path


def test_cifar10_dvs_frames_labels_and_splits(cifar_dvs_root: Path) -> None:
    pytest.importorskip("aedat")
    split = events.load_cifar10_dvs(root=cifar_dvs_root, seed=0, val_fraction=0.5, test_fraction=0.5)
    assert split.input_shape == datasets.info("cifar10_dvs").input_shape == (8, 48, 48)
    assert (len(split.train), len(split.val), len(split.test)) == (5, 5, 10)
    check_items(split)
    full = full_dataset(split)
    assert [events.CIFAR10_DVS_CLASSES[label] for label in full.labels] == [Path(f).parent.name for f in full.files]
    x, y = item_of(full, cifar_dvs_root / "CIFAR10DVS" / "cat" / "cifar10_cat_0.aedat4")
    assert int(y) == 3
    # t₀ = 10, w = 40 // 4 + 1 = 11: bins 0, 0, 3. 128 → 48: output 0 sums input 0-2 and output
    # 47 input 125-127 (3 × 3 pixels), scaled by the area ratio: c · (128² / 48²) / 9 = c · 64 / 81
    high, low = np.log1p(2 * 64 / 81), np.log1p(64 / 81)
    expect_frame(x, {(1, 0, 0): 1.0, (6, 47, 47): float(low / high)})


def test_cifar10_dvs_truncated_file(cifar_dvs_root: Path) -> None:
    pytest.importorskip("aedat")
    bad = cifar_dvs_root / "CIFAR10DVS" / "dog" / "cifar10_dog_1.aedat4"
    bad.write_bytes(aedat4([(0, 1, 1, True), (5, 2, 2, False)], cut=-20))
    split = events.load_cifar10_dvs(root=cifar_dvs_root, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DataError, match=r"cannot read .*cifar10_dog_1\.aedat4 .*expected <root>/CIFAR10DVS/"):
        item_of(full_dataset(split), bad)


def test_cifar10_dvs_layout_and_aedat(cifar_dvs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (cifar_dvs_root / "CIFAR10DVS" / "frog").iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"no .aedat4 files for class\(es\) frog in .*CIFAR10DVS; expected <root>/CIFAR10DVS/"):
        datasets.load("cifar10_dvs", root=cifar_dvs_root)
    (cifar_dvs_root / "CIFAR10DVS" / "frog" / "x.aedat4").write_bytes(aedat4([(0, 1, 1, True)]))
    monkeypatch.setitem(__import__("sys").modules, "aedat", None)
    with pytest.raises(DataError, match="pip install aedat"):
        datasets.load("cifar10_dvs", root=cifar_dvs_root)


# ---------------------------------------------------------------- SHD HDF5


def write_shd(path: Path, samples: list[tuple[list[float], list[int], int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        times = file.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = file.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float32)
            units[i] = np.asarray(u, dtype=np.uint16)
        file["labels"] = np.array([label for _, _, label in samples], dtype=np.uint16)
        file["extra/keys"] = np.array([f"digit-{k}".encode() for k in range(20)])
        file["extra/speaker"] = np.zeros(len(samples), dtype=np.uint16)


@pytest.fixture
def shd_root(tmp_path: Path) -> Path:
    known = ([0.0, 0.0005, 0.5, 0.999], [0, 4, 5, 699], 7)
    others = [([0.0, 0.1], [label * 30, label * 30 + 1], label) for label in range(20) for _ in range(2)]
    train = [known] + others[:14] + others[15:]  # the known sample is one of label 7's two
    write_shd(tmp_path / "SHD" / "shd_train.h5", train)
    write_shd(tmp_path / "SHD" / "shd_test.h5", [([0.0, 0.2], [label, 600], label) for label in range(20)])
    return tmp_path


def test_shd_frames_labels_and_splits(shd_root: Path) -> None:
    split = datasets.load("shd", root=shd_root, seed=0, val_fraction=0.5)
    assert split.input_shape == datasets.info("shd").input_shape == (1, 20, 140)
    assert (len(split.train), len(split.val), len(split.test)) == (20, 20, 20)
    check_items(split)
    assert full_dataset(split, "test").labels.tolist() == list(range(20))
    x, y = full_dataset(split)[0]
    assert int(y) == 7
    # t = 0, 500, 500000, 999000 µs: w = 999000 // 20 + 1 = 49951, bins 0, 0, 10, 19; column u // 5
    expect_frame(x, {(0, 0, 0): 1.0, (0, 10, 1): LOG2, (0, 19, 139): LOG2})


def test_shd_bad_files(shd_root: Path) -> None:
    test_file = shd_root / "SHD" / "shd_test.h5"
    test_file.write_bytes(test_file.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"shd_test\.h5 is not a complete SHD file .*expected <root>/SHD/\{shd_train\.h5,shd_test\.h5\}"):
        datasets.load("shd", root=shd_root)
    test_file.unlink()
    with pytest.raises(DataError, match=r"no file .*shd_test\.h5; expected .*tonic\.datasets\.SHD\(save_to=DIR"):
        datasets.load("shd", root=shd_root)
    with h5py.File(test_file, "w") as file:
        file["labels"] = np.zeros(1, dtype=np.uint16)
    with pytest.raises(DataError, match="not a complete SHD file"):
        datasets.load("shd", root=shd_root)


# ---------------------------------------------------------------- frames and digits_events


def test_normalise_and_sum_resize_by_hand() -> None:
    counts = torch.tensor([[[0.0, 1.0], [3.0, 0.0]]])
    torch.testing.assert_close(events.normalise_counts(counts), torch.tensor([[[0.0, 0.5], [1.0, 0.0]]]))
    assert torch.equal(events.normalise_counts(torch.zeros(2, 3, 3)), torch.zeros(2, 3, 3))
    blocks = torch.arange(16.0).reshape(1, 4, 4)
    torch.testing.assert_close(events.sum_resize(blocks, (2, 2)), torch.tensor([[[10.0, 18.0], [42.0, 50.0]]]))


def test_frames_of_an_empty_recording() -> None:
    frames = events.EventFrames((34, 34, 2), 4, (34, 34))
    assert torch.equal(frames(np.zeros(0, dtype=events.EVENT_DTYPE)), torch.zeros(8, 34, 34))


def test_denoise_drops_isolated_events() -> None:
    """tonic's Denoise keeps an event when a 4-neighbour fired within filter_time before it."""
    stream = np.array([(5, 5, 100, 0), (6, 5, 105, 0), (20, 20, 200, 1)], dtype=events.EVENT_DTYPE)
    x = events.EventFrames((34, 34, 2), 4, (34, 34), denoise_us=10)(stream)
    expect_frame(x, {(0, 5, 6): 1.0})  # only (6, 5) survives: one event, bin 0, polarity 0


@pytest.fixture(scope="module")
def digits_events() -> datasets.DataSplit:
    return datasets.load("digits_events", seed=0)


def test_digits_events_shapes_and_splits(digits_events: datasets.DataSplit) -> None:
    digits = datasets.load("digits", seed=0)
    assert digits_events.input_shape == datasets.info("digits_events").input_shape == (events.FRAME_BINS, 16, 16)
    for ours, theirs in zip((digits_events.train, digits_events.val, digits_events.test), (digits.train, digits.val, digits.test)):
        assert len(ours) == len(theirs)
        assert torch.equal(ours.tensors[1], theirs.tensors[1])
    check_items(digits_events)


def test_digits_events_are_seeded(digits_events: datasets.DataSplit) -> None:
    again = datasets.load("digits_events", seed=0)
    assert torch.equal(again.train.tensors[0], digits_events.train.tensors[0])
    image = np.full((16, 16), 0.5)
    a = events.poisson_events(image, np.random.default_rng([0, 0]))
    b = events.poisson_events(image, np.random.default_rng([0, 0]))
    c = events.poisson_events(image, np.random.default_rng([1, 0]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_poisson_events_follow_brightness() -> None:
    image = np.tile(np.linspace(0.0, 1.0, 16), (16, 1))  # brightness grows with x
    stream = events.poisson_events(image, np.random.default_rng(0))
    assert stream.dtype.names == ("x", "y", "t", "p")
    assert np.all(np.diff(stream["t"]) >= 0) and stream["t"].max() < events.DIGITS_DURATION_US
    assert not np.any(stream["x"] == 0)  # intensity 0: no events
    per_column = np.bincount(stream["x"], minlength=16)
    expected = image.sum(0) * events.DIGITS_EVENTS_PER_PIXEL
    assert abs(per_column.sum() - expected.sum()) < 4 * np.sqrt(expected.sum())
    assert per_column[12:].mean() > 2 * per_column[1:5].mean()
    assert np.corrcoef(per_column, expected)[0, 1] > 0.95


def test_digits_events_frames_follow_brightness(digits_events: datasets.DataSplit) -> None:
    digits = datasets.load("digits", seed=0)
    frames = digits_events.train.tensors[0].sum(1)  # activity per pixel, summed over time bins
    images = digits.train.tensors[0][:, 0]
    bright, dark = images > 0.6, images < 0.05
    assert frames[bright].mean() > 3 * frames[dark].mean()


def test_a_camera_set_is_one_declaration_with_one_loader_signature():
    # Every camera set's loader takes the same keywords, with its own defaults; a held-out
    # test share for a set that ships its own test split is refused before any file is read.
    import inspect

    from spikebits.space import ConfigError

    loaders = (events.load_dvs_gesture, events.load_nmnist, events.load_cifar10_dvs, events.load_ncaltech101)
    names = {tuple(inspect.signature(f).parameters) for f in loaders}
    assert names == {("seed", "root", "val_fraction", "bins", "size", "denoise_us", "test_fraction")}
    assert [inspect.signature(f).parameters["size"].default for f in loaders] == [32, 34, 48, 48]
    assert [inspect.signature(f).parameters["test_fraction"].default for f in loaders] == [None, None, events.TEST_FRACTION, events.TEST_FRACTION]
    for loader in loaders[:2]:
        with pytest.raises(ConfigError, match="ships its own test split; drop test_fraction"):
            loader(test_fraction=0.3)

