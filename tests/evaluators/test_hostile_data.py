"""Hostile or degenerate data folders (issue 29): every file a loader reads must be a regular
file, checked before it is opened (a named pipe would block forever, a link to /dev/zero would
be read until memory runs out); events outside the sensor are refused with the file's name; a
split that cannot be made is a one-line error, never scikit-learn's ValueError.

Each data set is written in its real on-disk layout with the helpers of its own test module.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebits.evaluators import cifar, data, datasets, events, mnist
from spikebits.space import DataError

from test_cifar import cifar10_root, dump, one_line_error  # noqa: F401  (cifar10_root is a fixture)
from test_events import (  # noqa: F401  (the fixtures, no_network autouse among them)
    bin_events,
    caltech_root,
    cifar_dvs_root,
    full_dataset,
    gesture_root,
    item_of,
    nmnist_root,
    no_network,
    shd_root,
    write_shd,
)
from test_mnist import GOOD_LABELS, idx, label_file, make_parts, write_set

pytestmark = pytest.mark.timeout(20)  # a reader that blocks on a pipe fails here instead of hanging

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
needs_dev_zero = pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")

PIPE = "is a pipe, not a regular file: put the data file itself there"
DEVICE = "is a device (a link to {target}), not a regular file: put the data file itself there"
DAMAGED = "the file is damaged or of another data set: replace or remove it"


def make_fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def link_to(path: Path, target: str) -> Path:
    path.unlink(missing_ok=True)
    path.symlink_to(target)
    return path


# ---------------------------------------------------------------------------- the check itself
@needs_fifo
@needs_dev_zero
def test_the_data_file_check_opens_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"12345")
    assert data.data_file_problem(plain) is None
    assert data.read_data_file(plain, hint="h") == b"12345"
    assert data.data_file_problem(plain, limit=4) == "holds 5 bytes, more than the 4 a data file may hold: it is damaged or of another data set"
    assert data.data_file_problem(make_fifo(tmp_path / "pipe")) == PIPE
    assert data.data_file_problem(link_to(tmp_path / "zero", "/dev/zero")) == DEVICE.format(target="/dev/zero")
    assert data.data_file_problem(tmp_path) == "is a folder, not a regular file: put the data file itself there"
    assert data.data_file_problem(tmp_path / "nowhere") == "is missing"
    assert data.data_file_problem(link_to(tmp_path / "dangling", str(tmp_path / "gone"))) == f"is a link to the missing {tmp_path / 'gone'}"
    assert one_line_error(data.read_data_file, tmp_path / "pipe", hint="expected X") == f"{tmp_path / 'pipe'} {PIPE}; expected X"
    assert one_line_error(data.open_data_file, tmp_path / "zero", hint="expected X").endswith("not a regular file: put the data file itself there; expected X")
    assert one_line_error(data.read_data_file, plain, hint="expected X", limit=4).startswith(f"{plain} holds 5 bytes, more than the 4")


# ---------------------------------------------------------------------------- MNIST (IDX)
@needs_fifo
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_pipe_is_refused(tmp_path: Path, gz: bool) -> None:
    folder = tmp_path / "MNIST" / "raw"
    write_set(folder, make_parts(), gz=gz)
    name = "t10k-labels-idx1-ubyte" + (".gz" if gz else "")
    pipe = make_fifo(folder / name)
    message = one_line_error(datasets.load, "mnist", root=tmp_path, val_fraction=0.2)
    assert message.startswith(f"{pipe} {PIPE}; expected DIR/MNIST/raw/ holding train-images-idx3-ubyte[.gz]")
    assert message.endswith("pass --data-dir DIR")
    assert one_line_error(mnist.read_idx, pipe, "labels") == f"{pipe} {PIPE}; expected an IDX label file"


@needs_dev_zero
def test_mnist_link_to_an_endless_device_is_refused(tmp_path: Path) -> None:
    write_set(tmp_path, make_parts(), gz=True)
    zero = link_to(tmp_path / "train-images-idx3-ubyte", "/dev/zero")  # the plain name wins over .gz
    message = one_line_error(mnist.load_mnist, root=tmp_path, val_fraction=0.2)
    assert message.startswith(f"{zero} {DEVICE.format(target='/dev/zero')}; expected DIR/MNIST/raw/")
    gz = link_to(tmp_path / "t10k-images-idx3-ubyte.gz", "/dev/urandom")
    assert one_line_error(mnist.read_idx, gz, "images").startswith(f"{gz} {DEVICE.format(target='/dev/urandom')}; expected an IDX image file")


def test_gzip_is_decompressed_no_further_than_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 4 * 784)
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx(2051, [5, 28, 28], bytes(5 * 784))))  # declares more than the cap
    assert one_line_error(mnist.read_idx, path, "images") == (
        f"{path}: the header declares 3920 bytes (5 images of 28 × 28), more than the 3136 an IDX file may hold here; "
        "the file is damaged or not of this data set"
    )
    path.write_bytes(gzip.compress(idx(2049, [3], GOOD_LABELS.tobytes() + bytes(10_000))))  # a long tail, counted to the cap
    assert one_line_error(mnist.read_idx, path, "labels").startswith(f"{path}: at least 3136 bytes more than the 3 (3 labels)")
    path.write_bytes(gzip.compress(label_file(GOOD_LABELS)))
    assert mnist.read_idx(path, "labels").tolist() == [0, 9, 4]


def test_a_plain_idx_file_shorter_than_its_header_says_is_settled_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "images"
    path.write_bytes(idx(2051, [4_000_000_000, 28, 28], bytes(100)))
    assert one_line_error(mnist.read_idx, path, "images") == (
        f"{path}: 100 bytes after the 16-byte header, expected 3136000000000 (4000000000 images of 28 × 28); the file is truncated"
    )


# ---------------------------------------------------------------------------- CIFAR (pickles)
@needs_fifo
@needs_dev_zero
def test_cifar_pipe_and_device_are_refused(cifar10_root) -> None:
    root, *_ = cifar10_root
    folder = root / "cifar-10-batches-py"
    pipe = make_fifo(folder / "data_batch_2")
    message = one_line_error(cifar.load_cifar10, root=root)
    assert message.startswith(f"{pipe} {PIPE}; expected DIR/cifar-10-batches-py/data_batch_1 … data_batch_5 and test_batch")
    assert message.endswith("pass --data-root DIR")
    assert one_line_error(cifar.read_pickle, pipe) == f"{pipe} {PIPE}; expected a CIFAR batch"
    pipe.unlink()
    dump(folder / "data_batch_2", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]})
    zero = link_to(folder / "test_batch", "/dev/zero")
    assert one_line_error(cifar.load_cifar10, root=root).startswith(f"{zero} {DEVICE.format(target='/dev/zero')}; expected DIR/cifar-10")


@needs_fifo
def test_cifar_pipe_in_a_flat_folder_is_named(tmp_path: Path) -> None:
    make_fifo(tmp_path / "data_batch_1")  # the batches folder itself, holding only a pipe
    assert one_line_error(cifar.load_cifar10, root=tmp_path).startswith(f"{tmp_path / 'data_batch_1'} {PIPE}; expected")


def test_cifar_oversized_and_empty_batches(cifar10_root, monkeypatch: pytest.MonkeyPatch) -> None:
    root, *_ = cifar10_root
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    size = batch.stat().st_size
    monkeypatch.setattr(cifar, "MAX_PICKLE_BYTES", size - 1)
    message = one_line_error(cifar.load_cifar10, root=root)
    assert message.startswith(f"{batch} holds {size} bytes, more than the {size - 1} a data file may hold: it is damaged or of another")
    monkeypatch.undo()
    dump(batch, {b"data": np.zeros((0, 3072), np.uint8), b"labels": []})
    assert one_line_error(cifar.load_cifar10, root=root).startswith(f"{batch} is not a CIFAR batch: it holds no images; expected")


# ---------------------------------------------------------------------------- event sets: files
@needs_fifo
def test_nmnist_pipe_is_refused_at_load_and_at_read(nmnist_root: Path) -> None:
    recording = nmnist_root / "NMNIST" / "Test" / "4" / "00000.bin"
    make_fifo(recording)
    assert one_line_error(datasets.load, "nmnist", root=nmnist_root) == (
        f"nmnist: {recording} {PIPE}; expected <root>/NMNIST/{{Train,Test}}/<digit 0-9>/*.bin (tonic's layout: download it on a "
        "machine with internet with tonic.datasets.NMNIST(save_to=DIR, train=True) and (train=False), then copy DIR here); "
        "pass --data-root DIR"
    )
    recording.unlink()
    recording.write_bytes(bin_events([(1, 1, 0, 0)]))
    split = datasets.load("nmnist", root=nmnist_root, val_fraction=0.5)
    make_fifo(recording)  # swapped in after the layout was checked: refused when the item is read
    assert one_line_error(item_of, full_dataset(split, "test"), recording).startswith(f"nmnist: {recording} {PIPE}; expected <root>/NMNIST/")


@needs_dev_zero
def test_dvs_gesture_link_to_an_endless_device_is_refused(gesture_root: Path) -> None:
    recording = gesture_root / "DVSGesture" / "ibmGestureTrain" / "user02_led" / "3.npy"
    link_to(recording, "/dev/zero")
    assert one_line_error(datasets.load, "dvs_gesture", root=gesture_root).startswith(
        f"dvs_gesture: {recording} {DEVICE.format(target='/dev/zero')}; expected <root>/DVSGesture/"
    )
    recording.unlink()
    np.save(recording, np.array([[1, 1, 0, 0]], dtype=np.int64))
    split = datasets.load("dvs_gesture", root=gesture_root, val_fraction=0.5)
    link_to(recording, "/dev/urandom")
    assert one_line_error(item_of, full_dataset(split), recording).startswith(f"dvs_gesture: {recording} {DEVICE.format(target='/dev/urandom')}")


@needs_fifo
@needs_dev_zero
def test_cifar10_dvs_and_ncaltech101_devices_and_pipes(cifar_dvs_root: Path, caltech_root: Path) -> None:
    recording = cifar_dvs_root / "CIFAR10DVS" / "ship" / "cifar10_ship_1.aedat4"
    make_fifo(recording)
    assert one_line_error(datasets.load, "cifar10_dvs", root=cifar_dvs_root).startswith(f"cifar10_dvs: {recording} {PIPE}; expected <root>/CIFAR10DVS/")
    recording = caltech_root / "NCALTECH101" / "Caltech101" / "c042" / "image_0002.bin"
    link_to(recording, "/dev/urandom")
    assert one_line_error(datasets.load, "ncaltech101", root=caltech_root).startswith(
        f"ncaltech101: {recording} {DEVICE.format(target='/dev/urandom')}; expected <root>/NCALTECH101/Caltech101/"
    )


def test_an_oversized_recording_is_refused(nmnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_RECORDING_BYTES", 12)
    recording = nmnist_root / "NMNIST" / "Train" / "3" / "00000.bin"  # 4 events of 5 bytes
    message = one_line_error(datasets.load, "nmnist", root=nmnist_root)
    assert message.startswith(f"nmnist: {recording} holds 20 bytes, more than the 12 a data file may hold: it is damaged or of another data set;")


@needs_fifo
@needs_dev_zero
def test_shd_pipe_and_device_are_refused(shd_root: Path) -> None:
    test_file = make_fifo(shd_root / "SHD" / "shd_test.h5")
    assert one_line_error(datasets.load, "shd", root=shd_root).startswith(f"shd: {test_file} {PIPE}; expected <root>/SHD/{{shd_train.h5,shd_test.h5}}")
    train_file = shd_root / "SHD" / "shd_train.h5"
    train_file.rename(shd_root / "SHD" / "saved.h5")
    link_to(train_file, "/dev/zero")
    assert one_line_error(datasets.load, "shd", root=shd_root).startswith(f"shd: {train_file} {DEVICE.format(target='/dev/zero')}; expected")
    test_file.unlink()
    train_file.unlink()
    assert one_line_error(datasets.load, "shd", root=shd_root).startswith(f"shd: no file {train_file}; expected")


# ---------------------------------------------------------------------------- event sets: coordinates
def test_nmnist_coordinates_beyond_the_sensor(nmnist_root: Path) -> None:
    recording = nmnist_root / "NMNIST" / "Train" / "5" / "00001.bin"
    recording.write_bytes(bin_events([(3, 4, 0, 0), (200, 4, 1, 10)]))
    split = datasets.load("nmnist", root=nmnist_root, val_fraction=0.5)
    assert one_line_error(item_of, full_dataset(split), recording) == (
        f"events in {recording} have x = 200, outside the sensor's 0..33 (34×34, 2 polarities); {DAMAGED}"
    )
    recording.write_bytes(bin_events([(3, 34, 0, 0)]))
    assert "have y = 34, outside the sensor's 0..33 (34×34, 2 polarities)" in one_line_error(item_of, full_dataset(split), recording)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([-3, 9, 1, 0], "x = -3, outside the sensor's 0..127"),
        ([5, -1, 0, 0], "y = -1, outside the sensor's 0..127"),
        ([128, 9, 1, 0], "x = 128, outside the sensor's 0..127"),
        ([5, 200, 1, 0], "y = 200, outside the sensor's 0..127"),  # (tonic reads the polarity as a bool: never outside)
        ([5, 9, 1, -5], "t = -5000, before 0"),
    ],
)
def test_dvs_gesture_coordinates_outside_the_sensor(gesture_root: Path, row: list[int], expected: str) -> None:
    recording = gesture_root / "DVSGesture" / "ibmGestureTest" / "user24_natural" / "6.npy"
    split = datasets.load("dvs_gesture", root=gesture_root, val_fraction=0.5)
    np.save(recording, np.array([[1, 1, 0, 0], row], dtype=np.int64))  # columns x, y, p, t in ms
    message = one_line_error(item_of, full_dataset(split, "test"), recording)
    assert message == f"events in {recording} have {expected} (128×128, 2 polarities); {DAMAGED}"


def test_shd_units_and_times_outside_the_sensor(shd_root: Path) -> None:
    samples = [([0.0, 0.1], [label, 700], label) for label in range(20)]
    samples[3] = ([-0.5, 0.1], [3, 4], 3)
    write_shd(shd_root / "SHD" / "shd_test.h5", samples)
    split = datasets.load("shd", root=shd_root, val_fraction=0.5)
    test, file = split.test, shd_root / "SHD" / "shd_test.h5"
    assert one_line_error(test.__getitem__, 0) == f"events in {file} have unit = 700, outside the sensor's 0..699 (700 units); {DAMAGED}"
    assert one_line_error(test.__getitem__, 3) == f"events in {file} have t = -500000, before 0 (700 units); {DAMAGED}"


def test_cifar10_dvs_coordinates_outside_the_sensor(cifar_dvs_root: Path) -> None:
    pytest.importorskip("aedat")
    from test_events import aedat4

    recording = cifar_dvs_root / "CIFAR10DVS" / "bird" / "cifar10_bird_0.aedat4"
    recording.write_bytes(aedat4([(0, 60, 60, True), (10, -3, 60, False)]))
    split = events.load_cifar10_dvs(root=cifar_dvs_root, val_fraction=0.5, test_fraction=0.5)
    assert one_line_error(item_of, full_dataset(split), recording) == (
        f"events in {recording} have x = 65533, outside the sensor's 0..127 (128×128, 2 polarities); {DAMAGED}"
    )  # aedat decodes x as an unsigned 16-bit number: -3 reads as 65533


def test_frames_refuse_what_would_wrap_round() -> None:
    """Without the check, x = -1 lands silently in the frame's last column."""
    frames = events.EventFrames((34, 34, 2), 1, (34, 34))
    inside = np.array([(33, 0, 0, 0)], dtype=events.EVENT_DTYPE)
    assert frames(inside)[0, 0, 33] == 1.0
    wraps = np.array([(-1, 0, 0, 0)], dtype=events.EVENT_DTYPE)
    assert one_line_error(frames, wraps, "rec.bin") == f"events in rec.bin have x = -1, outside the sensor's 0..33 (34×34, 2 polarities); {DAMAGED}"
    bad_polarity = np.array([(1, 1, 0, 0), (2, 2, 5, 2)], dtype=events.EVENT_DTYPE)
    assert "have polarity = 2, outside the sensor's 0..1 (34×34, 2 polarities)" in one_line_error(frames, bad_polarity, "r")
    one_polarity = events.EventFrames((16, 16, 1), 1, (16, 16))
    mixed = np.array([(1, 1, 0, 0), (2, 2, 5, 1)], dtype=events.EVENT_DTYPE)
    assert one_line_error(one_polarity, mixed, "rec") == f"events in rec have polarities 0 and 1, but the sensor has one (16×16, 1 polarity); {DAMAGED}"
    floats = np.array([(0.0, 1, 1), (np.nan, 2, 1)], dtype=[("t", float), ("x", int), ("p", int)])
    assert "have t = nan, not finite (700 units)" in one_line_error(events.EventFrames((700, 1, 1), 2, (2, 700), audio=True), floats, "s.h5")
    canvas = events.EventFrames(None, 1, (8, 8))
    assert "have y = -2, below 0 (shifted to start at 0)" in one_line_error(canvas, np.array([(0, -2, 0, 0)], dtype=events.EVENT_DTYPE), "r")


# ---------------------------------------------------------------------------- splits
@pytest.mark.parametrize(
    ("labels", "fraction", "expected"),
    [
        ([0], 0.5, "--val-fraction 0.5 leaves 0 of 1 samples kept for training, and neither part may be empty; 1 samples are too few"),
        ([], 0.5, "--val-fraction 0.5: there are no samples to split; the data folder holds no training data"),
        ([0, 1, 2], 0.9, "--val-fraction 0.9 leaves 0 of 3 samples kept for training, and neither part may be empty; choose --val-fraction from 0.3334 to 0.6666"),
        ([0, 0, 1, 1], 0.1, "--val-fraction 0.1 leaves 1 of 4 samples held out, fewer than the 2 classes that a stratified split puts in each part; choose --val-fraction from 0.5 to 0.5"),
        ([0, 0, 1, 1, 2, 2], 0.5, None),  # 3 in each part, of 3 classes: enough
        ([0, 0, 1, 1, 2, 2, 3], 0.5, None),  # class 3 has one sample: a plain random split
        ([0, 0, 1, 1], 1.0, "--val-fraction must be between 0 and 1 (exclusive), not 1.0"),
        ([0, 0, 1, 1], float("nan"), "--val-fraction must be between 0 and 1 (exclusive), not nan"),
    ],
)
def test_split_sizes(labels: list[int], fraction: float, expected: str | None) -> None:
    if expected is None:
        kept, held = data.stratified_split(np.array(labels, dtype=np.int64), fraction, 0)
        assert len(kept) and len(held) and sorted([*kept, *held]) == list(range(len(labels)))
        return
    assert one_line_error(data.stratified_split, np.array(labels, dtype=np.int64), fraction, 0).startswith(expected)


def test_no_fraction_lets_a_scikit_learn_error_out() -> None:
    """Every fraction on a grid, on small label sets: a split, or a DataError; never a ValueError."""
    label_sets = [[0], [0, 1], [0, 0], [0, 0, 1], [0, 0, 1, 1], [0, 1, 2, 2, 2], list(np.arange(10).repeat(3))]
    for labels in label_sets:
        for fraction in np.linspace(0.001, 0.999, 61):
            try:
                kept, held = data.stratified_split(np.array(labels, dtype=np.int64), float(fraction), 1)
            except DataError as err:
                assert "\n" not in str(err)
                continue
            assert len(kept) and len(held)


def test_digits_extreme_fractions() -> None:
    assert one_line_error(datasets.load, "digits", val_fraction=0.999) == (
        "--val-fraction 0.999 leaves 1 of 1437 samples kept for training, fewer than the 10 classes that a stratified split puts "
        "in each part; choose --val-fraction from 0.007 to 0.993"
    )
    assert one_line_error(datasets.load, "digits", val_fraction=0.001).startswith("--val-fraction 0.001 leaves 2 of 1437 samples held out")
    from spikebits.evaluators.digits import load_digits

    assert one_line_error(load_digits, test_fraction=0.9999).startswith("test_fraction 0.9999 leaves 0 of 1797 samples kept for training")


def test_small_mnist_folder_and_held_out_test_share(tmp_path: Path, caltech_root: Path) -> None:
    parts = make_parts()
    parts["train_images"], parts["train_labels"] = parts["train_images"][:1], parts["train_labels"][:1]
    write_set(tmp_path, parts, gz=False)
    assert one_line_error(mnist.load_mnist, root=tmp_path, val_fraction=0.1).startswith(
        "--val-fraction 0.1 leaves 0 of 1 samples kept for training, and neither part may be empty; 1 samples are too few to split"
    )
    assert one_line_error(events.load_ncaltech101, root=caltech_root, test_fraction=1.5) == (
        "test_fraction must be between 0 and 1 (exclusive), not 1.5"
    )
    assert one_line_error(events.load_ncaltech101, root=caltech_root, test_fraction=0.999).startswith(
        "test_fraction 0.999 leaves 0 of 202 samples kept for training, fewer than the 101 classes"
    )


# ---------------------------------------------------------------------------- the command line
def run_cli(capsys, *argv: str) -> tuple[int, str]:
    from spikebits.search.cli import main

    code = main(list(argv))
    _, err = capsys.readouterr()
    return code, err


@needs_fifo
def test_cli_refuses_a_pipe_in_one_line(capsys, tmp_path: Path) -> None:
    write_set(tmp_path / "MNIST" / "raw", make_parts(), gz=True)
    pipe = make_fifo(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte")
    code, err = run_cli(capsys, "evaluate", "--dataset", "mnist", "--data-dir", str(tmp_path), "--uniform", "4/4/1", "--epochs", "0")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"spikebits: error: {pipe} {PIPE}; expected DIR/MNIST/raw/")


@needs_dev_zero
def test_cli_refuses_a_link_to_dev_zero_in_one_line(capsys, tmp_path: Path) -> None:
    write_set(tmp_path, make_parts(), gz=False)
    zero = link_to(tmp_path / "t10k-images-idx3-ubyte", "/dev/zero")
    code, err = run_cli(capsys, "evaluate", "--dataset", "mnist", "--data-dir", str(tmp_path), "--uniform", "4/4/1", "--epochs", "0")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"spikebits: error: {zero} {DEVICE.format(target='/dev/zero')}; expected DIR/MNIST/raw/")


def test_cli_refuses_an_extreme_val_fraction_in_one_line(capsys, tmp_path: Path) -> None:
    write_set(tmp_path, make_parts(), gz=False)
    code, err = run_cli(
        capsys, "evaluate", "--dataset", "mnist", "--data-dir", str(tmp_path), "--uniform", "4/4/1", "--epochs", "0", "--val-fraction", "0.999"
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err == (
        "spikebits: error: --val-fraction 0.999 leaves 0 of 50 samples kept for training, fewer than the 10 classes that a stratified "
        "split puts in each part; choose --val-fraction from 0.2 to 0.8\n"
    )


def test_a_gesture_file_outside_the_sensor_is_one_line_through_the_loader(gesture_root: Path) -> None:
    """Frames are made by the DataLoader that training uses; the error names the file there too."""
    recording = gesture_root / "DVSGesture" / "ibmGestureTest" / "user24_natural" / "0.npy"
    np.save(recording, np.array([[-3, 1, 0, 0]], dtype=np.int64))
    split = datasets.load("dvs_gesture", root=gesture_root, val_fraction=0.5)
    with pytest.raises(DataError, match=r"events in .*0\.npy have x = -3, outside the sensor's 0\.\.127"):
        next(iter(torch.utils.data.DataLoader(split.test, batch_size=11)))


@needs_fifo
def test_a_pipe_in_the_pretraining_cache_is_refused_without_blocking(tmp_path):
    # Issue 29: torch.load on a pipe in the cache folder blocked forever. The cached file is read
    # only when it is a regular file, and a path training would write that is not one is refused
    # before any training.
    from spikebits.evaluators import Evaluator
    from spikebits.space import OutputError

    Evaluator("digits_cnn", "digits", seed=0, epochs=1, pretrain_epochs=1, cache_dir=tmp_path).prepare()
    (cached,) = tmp_path.glob("digits_cnn-digits-seed0-*.pt")
    cached.unlink()
    os.mkfifo(cached)
    with pytest.raises(OutputError, match=f"the pretraining cache {cached} is a pipe"):
        Evaluator("digits_cnn", "digits", seed=0, epochs=1, pretrain_epochs=1, cache_dir=tmp_path).prepare()
