"""Every registered data set through the command line, from a tiny folder in its real layout.

The table below has one row per data set: a writer that puts a few samples in the files and
folders the real download leaves (IDX files, CIFAR pickle batches, tonic's N-MNIST / DVS
Gesture / CIFAR10-DVS / N-Caltech101 / SHD layouts; digits and digits_events need none), the
validation share that leaves every class in both parts, and the type of training split the
loader returns. The tests iterate the registry itself, so a data set registered without a row
here fails (it is never skipped), and so does one whose folder cannot be read here (a missing
reader package is the loader's one-line error, shown in the failure).

- ``evaluate`` of one uniform config, with the data set's default model shrunk to width 0.25
  and one epoch of pretraining and fine-tuning, exits 0 and prints every metric key DESIGN.md
  fixes with real values; the costs equal ``--cost-only`` at the registered input shape.
- ``search`` (random, 2 trials) runs once per loader output type, not per data set, and so
  does ``evaluate`` on a training share (a Subset of that type) read by a loader worker.
- The loader's output type is checked against the table, so the searches cover every type.

The writers reuse the byte-level helpers of the loader tests (tests/evaluators). The network is
refused throughout (as in test_events, but local AF_UNIX sockets stay open: DataLoader
workers pass tensors through them): tonic must never download.
"""

from __future__ import annotations

import json
import math
import socket
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import Subset

from spikebits.evaluators import datasets, events

from cli_run import run_main
from test_cli_datasets import check_outputs, write_cifar10

sys.path.insert(0, str(Path(__file__).parents[2] / "evaluators"))
from test_cifar import batch_dict, dump  # noqa: E402
from test_events import aedat4, bin_events, write_shd  # noqa: E402
from test_mnist import FOLDERS, write_set  # noqa: E402

#: The metric keys DESIGN.md fixes (Core vocabulary, "Metrics keys"), and those of issue 30:
#: ``state_bits`` (the neuron-state memory, membrane bits U), ``cores_used`` and
#: ``core_memory_bits`` (the config placed on the run's chip, the generic ideal one by default).
METRIC_KEYS = {
    "accuracy", "test_accuracy", "bit_budget", "s_ace", "energy_pj", "size_bits", "state_bits", "firing_rate",
    "effective_resolution", "s_ace_active", "energy_pj_active", "cores_used", "core_memory_bits",
}
SMALL = ["--model-arg", "width=0.25", "--pretrain-epochs", "1", "--quiet", "--seed", "0", "--threads", "1"]




@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection off this machine or any tonic download attempt fails the test."""
    import tonic.dataset
    import tonic.download_utils

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    connect = socket.socket.connect

    def local_only(self: socket.socket, address) -> None:  # noqa: ANN001 - any address
        if self.family != getattr(socket, "AF_UNIX", None):
            refuse()
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive", refuse)
    monkeypatch.setattr(tonic.download_utils, "download_url", refuse)


# ---------------------------------------------------------------- tiny folders, real layouts


def write_nothing(root: Path) -> None:
    """digits and digits_events come with scikit-learn: no files."""


def write_idx(name: str) -> Callable[[Path], None]:
    """torchvision's layout, <root>/<Folder>/raw/*-ubyte: 50 training (5 a class), 20 test images."""

    def write(root: Path) -> None:
        rng = np.random.default_rng(1)
        parts = {
            "train_images": rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8),
            "train_labels": np.arange(50, dtype=np.uint8) % 10,
            "test_images": rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
            "test_labels": np.arange(20, dtype=np.uint8) % 10,
        }
        write_set(root / FOLDERS[name] / "raw", parts, gz=False)

    return write


def write_cifar10_small(root: Path) -> None:
    write_cifar10(root, per_batch=10, test=10)  # 50 training images, 5 a class


def write_cifar100(root: Path) -> None:
    """cifar-100-python/{train,test,meta}: 200 training images (2 a fine class), 20 test."""
    rng = np.random.default_rng(2)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for part, count in (("train", 200), ("test", 20)):
        labels = [i % 100 for i in range(count)]
        blob = batch_dict(rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8), labels, label_key=b"fine_labels", name=part.encode())
        blob[b"coarse_labels"] = [v // 5 for v in labels]
        dump(folder / part, blob)
    dump(folder / "meta", {b"fine_label_names": [b"c%d" % i for i in range(100)], b"coarse_label_names": [b"s%d" % i for i in range(20)]})


def write_nmnist(root: Path) -> None:
    """NMNIST/{Train,Test}/<digit>/*.bin: 2 training and 1 test recording a digit."""
    for part, per_digit in (("Train", 2), ("Test", 1)):
        for digit in range(10):
            folder = root / "NMNIST" / part / str(digit)
            folder.mkdir(parents=True)
            for k in range(per_digit):
                (folder / f"{k:05d}.bin").write_bytes(bin_events([(digit, k, 0, 0), (digit + 1, 3 * k, 1, 40), (20, 3 * digit, 1, 300)]))


def write_dvs_gesture(root: Path) -> None:
    """DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<light>/<label>.npy: 2 training users, 1 test user."""
    for part, users in (("ibmGestureTrain", ["user01_fluorescent", "user02_led"]), ("ibmGestureTest", ["user24_natural"])):
        for user in users:
            folder = root / "DVSGesture" / part / user
            folder.mkdir(parents=True)
            for label in range(11):  # columns x, y, p, t in ms
                np.save(folder / f"{label}.npy", np.array([[10 * label, 3, 0, 0], [label, 4 * label, 1, 2], [100, 100, 1, 9]], dtype=np.int64))


def write_cifar10_dvs(root: Path) -> None:
    """CIFAR10DVS/<class>/*.aedat4: 5 recordings a class (1 held out for test, 1 for validation)."""
    for c, name in enumerate(events.CIFAR10_DVS_CLASSES):
        folder = root / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(5):
            (folder / f"cifar10_{name}_{k}.aedat4").write_bytes(aedat4([(0, 10 * c, 60, True), (30, 61, 10 * c + k, False), (90, 100, 100, True)]))


def write_ncaltech101(root: Path) -> None:
    """NCALTECH101/Caltech101/<101 classes>/*.bin: 5 recordings a class (the fewest for which
    the fixed 20 % test share and a 25 % validation share hold every class)."""
    for c in range(101):
        folder = root / "NCALTECH101" / "Caltech101" / f"class{c:03d}"
        folder.mkdir(parents=True)
        for k in range(5):
            (folder / f"image_{k:04d}.bin").write_bytes(bin_events([(5, 7, 0, 0), (9 + c % 50, 8 + k, 1, 30), (60, 40, 0, 90)]))


def write_shd_files(root: Path) -> None:
    """SHD/{shd_train.h5,shd_test.h5}: 2 training and 1 test recording a class."""
    write_shd(root / "SHD" / "shd_train.h5", [([0.0, 0.1, 0.5], [30 * label, 30 * label + k, 600], label) for label in range(20) for k in range(2)])
    write_shd(root / "SHD" / "shd_test.h5", [([0.0, 0.2], [label, 600], label) for label in range(20)])


# ---------------------------------------------------------------- the table


TENSORS, MEMORY, STREAMED = "TensorDataset", "MemoryImages", "Subset[TonicFrames]"


@dataclass(frozen=True)
class Case:
    write: Callable[[Path], None]
    val_fraction: float
    #: The type of the loader's training split (what the training and activity code must read).
    kind: str


CASES: dict[str, Case] = {
    "digits": Case(write_nothing, 0.1, TENSORS),
    "digits_events": Case(write_nothing, 0.1, TENSORS),
    "mnist": Case(write_idx("mnist"), 0.2, MEMORY),
    "fashion_mnist": Case(write_idx("fashion_mnist"), 0.2, MEMORY),
    "kmnist": Case(write_idx("kmnist"), 0.2, MEMORY),
    "cifar10": Case(write_cifar10_small, 0.2, MEMORY),
    "cifar100": Case(write_cifar100, 0.5, MEMORY),
    "nmnist": Case(write_nmnist, 0.5, STREAMED),
    "dvs_gesture": Case(write_dvs_gesture, 0.5, STREAMED),
    "cifar10_dvs": Case(write_cifar10_dvs, 0.25, STREAMED),
    "ncaltech101": Case(write_ncaltech101, 0.25, STREAMED),
    "shd": Case(write_shd_files, 0.5, STREAMED),
}

#: One search per loader output type, on the cheapest data set of that type (cifar10 for the
#: in-memory images: the augmenting, 3-channel case that once crashed `evaluate`).
SEARCH_ON = {TENSORS: "digits", MEMORY: "cifar10", STREAMED: "nmnist"}


def case_of(name: str) -> Case:
    if name not in CASES:
        pytest.fail(f"data set {name!r} is registered but has no tiny folder in {Path(__file__).name}: add a writer to CASES")
    return CASES[name]


def data_folder(tmp_path: Path, name: str) -> tuple[Path, list[str]]:
    """A tiny folder for ``name`` and the CLI's data arguments for it."""
    case = case_of(name)
    root = tmp_path / "data"
    root.mkdir()
    case.write(root)
    return root, ["--dataset", name, "--data-dir", str(root), "--val-fraction", str(case.val_fraction)]


def kind_of(dataset) -> str:  # noqa: ANN001 - any map-style data set
    if isinstance(dataset, Subset):
        return f"Subset[{kind_of(dataset.dataset).removeprefix('Subset[').removesuffix(']')}]"
    return type(dataset).__name__


# ---------------------------------------------------------------- tests


def test_every_registered_data_set_has_a_row_and_every_type_a_search() -> None:
    assert sorted(CASES) == datasets.available(), "CASES must list exactly the registered data sets"
    assert {case.kind for case in CASES.values()} == set(SEARCH_ON)
    assert all(CASES[name].kind == kind for kind, name in SEARCH_ON.items())


@pytest.mark.parametrize("name", datasets.available())
def test_loader_output_type(tmp_path: Path, name: str) -> None:
    root, _ = data_folder(tmp_path, name)
    split = datasets.load(name, root=root, val_fraction=case_of(name).val_fraction)
    info = datasets.info(name)
    assert kind_of(split.train) == case_of(name).kind
    assert split.input_shape == info.input_shape and split.num_classes == info.num_classes
    for part in (split.train, split.val, split.test):
        x, y = part[0]
        assert tuple(x.shape) == info.input_shape and 0 <= int(y) < info.num_classes


@pytest.mark.parametrize("name", datasets.available())
def test_evaluate(capsys, tmp_path: Path, cache_dir: Path, name: str) -> None:
    root, data = data_folder(tmp_path, name)
    report = tmp_path / "report.json"
    code, out, err = run_main(
        capsys, "evaluate", *data, *SMALL, "--uniform", "4/4/1", "--epochs", "1", "--simulate-samples", "8", "--report", str(report),
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == METRIC_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert 0.0 < metrics["firing_rate"] <= 1.0
    assert metrics["bit_budget"] == 16.0 and metrics["effective_resolution"] > 0
    assert 0 < metrics["s_ace_active"] <= metrics["s_ace"] and 0 < metrics["energy_pj_active"] <= metrics["energy_pj"]
    assert metrics["size_bits"] > 0

    saved = json.loads(report.read_text())
    assert saved["metrics"] == metrics
    assert saved["activity"] and all(a["samples"] > 0 for a in saved["activity"].values())
    assert saved["neurobench"]["samples"] == min(8, saved["neurobench"]["samples"]) > 0
    assert "skipped" not in saved["hardware"] and saved["hardware"]["samples"] > 0

    # the model built on the loader's data has the registered input shape: same data-free costs
    code, cost_out, err = run_main(capsys, "evaluate", "--dataset", name, "--model-arg", "width=0.25", "--uniform", "4/4/1", "--cost-only")
    assert code == 0, err
    cost = json.loads(cost_out)
    assert {k: metrics[k] for k in cost} == cost
    assert f"input shape {','.join(map(str, datasets.info(name).input_shape))} ({name})" in err


@pytest.mark.parametrize("kind", sorted(SEARCH_ON))
def test_search_on_every_loader_type(capsys, tmp_path: Path, cache_dir: Path, kind: str) -> None:
    name = SEARCH_ON[kind]
    _, data = data_folder(tmp_path, name)
    out = tmp_path / "run"
    code, stdout, err = run_main(capsys, "search", *data, *SMALL, "--strategy", "random", "--trials", "2", "--epochs", "1", "--out", str(out))
    assert code == 0, err
    assert "test_accuracy" in stdout
    rows = check_outputs(out)
    assert sum(r["state"] == "COMPLETE" for r in rows) == 2
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["s_ace"] > 0 and 0.0 < row["firing_rate"] <= 1.0
    run = json.loads((out / "run.json").read_text())
    assert run["evaluator"]["input_shape"] == list(datasets.info(name).input_shape)
    assert run["evaluator"]["model"] == datasets.info(name).model


@pytest.mark.parametrize("kind", sorted(SEARCH_ON))
def test_evaluate_a_training_share_read_by_a_worker(capsys, tmp_path: Path, cache_dir: Path, kind: str) -> None:
    """--train-fraction wraps each type's training split in a Subset and --workers 1 sends it
    to a DataLoader worker by pickling: both must still train and score."""
    name = SEARCH_ON[kind]
    _, data = data_folder(tmp_path, name)
    code, out, err = run_main(
        capsys, "evaluate", *data, *SMALL, "--uniform", "2/2/2", "--epochs", "1", "--simulate-samples", "4",
        "--train-fraction", "0.5", "--workers", "1",
    )
    assert code == 0, err
    metrics = json.loads(out)
    assert set(metrics) == METRIC_KEYS and 0.0 <= metrics["accuracy"] <= 1.0 and metrics["s_ace"] > 0
