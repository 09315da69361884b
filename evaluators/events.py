"""Event-camera and audio spike data sets through tonic, read from a local folder.

Registered data sets (``datasets.load(name, root=DIR)``), with their default input shapes::

    dvs_gesture    (8, 32, 32)   11 classes   DVS128 Gesture, 128×128 sensor summed to 32×32
    nmnist         (8, 34, 34)   10 classes   N-MNIST, 34×34 sensor kept
    cifar10_dvs    (8, 48, 48)   10 classes   CIFAR10-DVS, 128×128 sensor summed to 48×48
    ncaltech101    (8, 48, 48)  101 classes   N-Caltech101, each recording padded to a square, to 48×48
    shd            (1, 20, 140)  20 classes   Spiking Heidelberg Digits, 700 units summed to 140
    digits_events  (4, 16, 16)   10 classes   scikit-learn's digits, Poisson-coded into events (offline)

The first five read the files that ``tonic.datasets.<Class>(save_to=DIR)`` leaves after download
and extraction, from ``DIR`` (``--data-root DIR``); nothing is ever downloaded (tonic's own
download is switched off, and a missing or malformed layout is a one-line :class:`DataError`
naming the layout)::

    DIR/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label 0-10>.npy
    DIR/NMNIST/{Train,Test}/<digit 0-9>/*.bin
    DIR/CIFAR10DVS/<class airplane … truck>/*.aedat4        (needs the ``aedat`` package)
    DIR/NCALTECH101/Caltech101/<101 class folders>/*.bin     (class index: sorted folder names)
    DIR/SHD/{shd_train.h5,shd_test.h5}

These stream from disk: tonic reads one recording per ``__getitem__`` and :class:`EventFrames`
frames it, so a ``DataLoader`` with workers parallelises the reading. Every recording file (and
SHD's HDF5 files) must be a regular file, checked when the layout is checked and again before
tonic opens it (a named pipe would block the reader, a link to ``/dev/zero`` never ends), and
every event must lie on the sensor (:func:`check_events`); either problem is a one-line
:class:`DataError` naming the file. CIFAR10-DVS and
N-Caltech101 ship no test split: :data:`TEST_FRACTION` of each class is held out (stratified,
seeded). Validation is always carved from the training part (``stratified_split``,
``val_fraction``, same seed).

Frame layout (the networks take ``[C, H, W]``): the recording is cut into ``bins`` equal time bins
and the events of each (bin, polarity, pixel) counted by ``tonic.transforms.ToFrame``; time bins
are stacked into channels, **channel = bin · polarities + polarity**. Counts are summed over each
output pixel's area and scaled by ``log1p(c) / max log1p(c)`` per sample (see
:func:`normalise_counts`). SHD has no y: its frame is ``(1, bins, channels)``, time down the
height, frequency unit ``u`` in column ``u // 5``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset

from spikebits.evaluators.data import MAX_DATA_FILE_BYTES, VAL_FRACTION, DataSplit, data_file_problem, register_dataset, stratified_split
from spikebits.evaluators.digits import load_digits
from spikebits.space import ConfigError, DataError, one_line

#: Time bins per recording for the camera data sets (stacked into channels).
FRAME_BINS = 4
#: Time bins per SHD recording (the height of its frame).
SHD_BINS = 20
#: SHD's 700 cochlea units summed in groups of 700 / SHD_CHANNELS = 5.
SHD_CHANNELS = 140
#: Share of each class held out for testing where the data set ships no test split.
TEST_FRACTION = 0.2
#: digits_events: length of each Poisson-coded recording, in microseconds.
DIGITS_DURATION_US = 100_000
#: digits_events: expected events of a pixel of intensity 1 over the whole recording.
DIGITS_EVENTS_PER_PIXEL = 20.0
#: Largest recording file read (tonic reads one whole, then widens it): an N-MNIST recording is
#: about 20 kB, a DVS Gesture or CIFAR10-DVS one a few MB. (SHD's one HDF5 file per split may
#: reach :data:`~spikebits.evaluators.data.MAX_DATA_FILE_BYTES`; h5py reads it piecewise.)
MAX_RECORDING_BYTES = 1 << 30
#: tonic's event layout for x, y, t, p streams (``tonic.datasets.NMNIST.dtype``).
EVENT_DTYPE = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])

CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class _Source:
    """Where tonic keeps one data set and how to get it."""

    tonic_class: str
    layout: str
    download: str


_SOURCES: dict[str, _Source] = {
    "dvs_gesture": _Source(
        "DVSGesture",
        "<root>/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label 0-10>.npy",
        "tonic.datasets.DVSGesture(save_to=DIR, train=True) and (train=False)",
    ),
    "nmnist": _Source(
        "NMNIST", "<root>/NMNIST/{Train,Test}/<digit 0-9>/*.bin", "tonic.datasets.NMNIST(save_to=DIR, train=True) and (train=False)"
    ),
    "cifar10_dvs": _Source(
        "CIFAR10DVS", "<root>/CIFAR10DVS/<class airplane … truck>/*.aedat4", "tonic.datasets.CIFAR10DVS(save_to=DIR)"
    ),
    "ncaltech101": _Source(
        "NCALTECH101",
        "<root>/NCALTECH101/Caltech101/<101 class folders>/*.bin, Caltech101.zip unzipped in place",
        "tonic.datasets.NCALTECH101(save_to=DIR)",
    ),
    "shd": _Source("SHD", "<root>/SHD/{shd_train.h5,shd_test.h5}", "tonic.datasets.SHD(save_to=DIR, train=True) and (train=False)"),
}


def _layout_error(name: str, problem: str) -> DataError:
    source = _SOURCES[name]
    return DataError(
        f"{name}: {problem}; expected {source.layout} (tonic's layout: download it on a machine with internet "
        f"with {source.download}, then copy DIR here); pass --data-root DIR"
    )


# --------------------------------------------------------------------------------------------
# Frames


def normalise_counts(counts: Tensor) -> Tensor:
    """``x = log1p(c) / max log1p(c)`` over the whole sample (all zeros stay zeros).

    ``c`` are event counts per (channel, pixel); the result lies in [0, 1], the busiest pixel of
    the sample at 1, so long and short recordings (and hot pixels) land on one scale."""
    x = torch.log1p(counts.to(torch.float32))
    top = x.max() if x.numel() else x.new_zeros(())
    return x / top if top > 0 else x


def sum_resize(counts: Tensor, size: tuple[int, int]) -> Tensor:
    """Counts ``(C, H, W)`` → ``(C, h, w)``, each output pixel the sum over its share of the input:
    ``adaptive_avg_pool2d(c, (h, w)) · (H·W) / (h·w)``. When ``h`` divides ``H`` and ``w``
    divides ``W`` this is the exact sum over ``(H/h)×(W/w)`` blocks (up to rounding)."""
    height, width = counts.shape[-2:]
    if (height, width) == tuple(size):
        return counts
    return F.adaptive_avg_pool2d(counts, tuple(size)) * (height * width / (size[0] * size[1]))


def _first_outside(values: np.ndarray, size: int | None):  # noqa: ANN202 - a value of the array's type, or None
    """The first value of ``values`` that is not finite, below 0, or (``size`` given) ``size`` or more; else None."""
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        return values[~np.isfinite(values)][0]
    low, high = values.min(), values.max()
    if low < 0:
        return low
    return high if size is not None and high >= size else None


def check_events(events: np.ndarray, sensor_size: tuple[int, int, int] | None, source: str, *, audio: bool = False) -> None:
    """Refuse a recording whose events lie outside the sensor: ``x`` (an audio set's unit) in
    ``0 … W − 1``, ``y`` in ``0 … H − 1``, polarity ``p`` in ``0 … P − 1`` (one value when P = 1),
    and time ``t`` finite and at least 0. With ``sensor_size`` None (recordings of any extent,
    shifted to start at 0) only ``x, y ≥ 0`` and ``p`` in 0 … 1 are checked. Without this a
    negative coordinate would wrap round the frame (numpy's negative indexing) and a large
    one end in a bare IndexError; here either is a one-line :class:`DataError` naming
    ``source`` (the recording's file) and the sensor size."""
    width, height, polarities = sensor_size if sensor_size is not None else (None, None, 2)
    plural = "polarity" if polarities == 1 else "polarities"
    sensor = f"{width} units" if audio else f"{width}×{height}, {polarities} {plural}" if width else "shifted to start at 0"
    damaged = "the file is damaged or of another data set: replace or remove it"
    names = events.dtype.names or ()
    for label, field, size in (("unit" if audio else "x", "x", width), ("y", "y", height), ("polarity", "p", polarities), ("t", "t", None)):
        if field not in names or (field == "p" and polarities == 1):
            continue
        bad = _first_outside(events[field], size)
        if bad is None:
            continue
        if not np.isfinite(bad):
            where = "not finite"
        else:
            where = "before 0" if label == "t" else f"outside the sensor's 0..{size - 1}" if size else "below 0"
        raise DataError(f"events in {source} have {label} = {bad}, {where} ({sensor}); {damaged}")
    if polarities == 1 and "p" in names and events["p"].min() != events["p"].max():
        both = f"{events['p'].min()} and {events['p'].max()}"
        raise DataError(f"events in {source} have polarities {both}, but the sensor has one ({sensor}); {damaged}")


def _square_canvas(events: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Centre a recording of any extent (coordinates from 0) on a square sensor of side max(W, H)."""
    width = int(events["x"].max()) + 1
    height = int(events["y"].max()) + 1
    side = max(width, height)
    events = events.copy()
    events["x"] += (side - width) // 2
    events["y"] += (side - height) // 2
    return events, (side, side, 2)


@dataclass(frozen=True)
class EventFrames:
    """One event recording (tonic's structured array) → a float32 tensor for a network.

    With ``t₀`` the first event's time and ``w = (t_last − t₀) // bins + 1`` (or, with
    ``duration_us``, ``t₀ = 0`` and ``w = ⌈duration_us / bins⌉``), event ``(x, y, t, p)`` falls
    in time bin ``b = (t − t₀) // w`` and ``tonic.transforms.ToFrame`` counts it at
    ``[b, p, y, x]``: every event is counted (with ``duration_us``, those at ``bins · w`` or
    later are dropped). Events outside the sensor, or before time 0, are refused first
    (:func:`check_events`). Then:

    - camera (events with y): channel ``b · P + p`` of a ``(bins · P, H, W)`` stack, summed to
      ``size = (h, w)`` (:func:`sum_resize`);
    - audio (no y, ``x`` = unit): ``(P, bins, X)``, summed to ``size = (bins, channels)``;

    and scaled by :func:`normalise_counts`. ``sensor_size`` is tonic's ``(W, H, P)``; ``None``
    centres each recording on a square of side max(W, H) of its own extent, P = 2
    (N-Caltech101). ``denoise_us`` applies ``tonic.transforms.Denoise(filter_time=denoise_us)``
    first (off by default: it loops over events in Python).
    """

    sensor_size: tuple[int, int, int] | None
    bins: int
    size: tuple[int, int]
    audio: bool = False
    denoise_us: float | None = None
    duration_us: int | None = None

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise DataError(f"time bins must be at least 1, not {self.bins}")
        if self.audio and self.size[0] != self.bins:
            raise DataError(f"an audio frame's height is its time bins ({self.bins}), not {self.size[0]}")

    @property
    def polarities(self) -> int:
        return 2 if self.sensor_size is None else self.sensor_size[2]

    @property
    def output_shape(self) -> tuple[int, int, int]:
        channels = self.polarities if self.audio else self.bins * self.polarities
        return (channels, *self.size)

    def __call__(self, events: np.ndarray, source: str = "the recording") -> Tensor:
        """The frame of ``events``; events outside the sensor are a one-line :class:`DataError`
        naming ``source`` (:func:`check_events`)."""
        import tonic.transforms as transforms

        if len(events):
            check_events(events, self.sensor_size, source, audio=self.audio)
        if self.denoise_us is not None and len(events):
            events = transforms.Denoise(filter_time=self.denoise_us)(events)
        if len(events) == 0:
            return torch.zeros(self.output_shape)
        times = events["t"]
        if np.any(times[1:] < times[:-1]):
            events = events[np.argsort(times, kind="stable")]
            times = events["t"]
        sensor = self.sensor_size
        if sensor is None:
            events, sensor = _square_canvas(events)
        if self.duration_us is None:
            start = int(times[0])
            width = (int(times[-1]) - start) // self.bins + 1
        else:
            start, width = 0, -(-int(self.duration_us) // self.bins)
        to_frame = transforms.ToFrame(
            sensor_size=tuple(sensor), time_window=width, start_time=start, end_time=start + self.bins * width
        )
        counts = torch.from_numpy(np.asarray(to_frame(events), dtype=np.float32))
        if self.audio:  # (bins, P, X) → (P, bins, X)
            counts = counts.permute(1, 0, 2)
        else:  # (bins, P, H, W) → (bins · P, H, W)
            counts = counts.reshape(self.bins * sensor[2], sensor[1], sensor[0])
        return normalise_counts(sum_resize(counts, self.size)).contiguous()


# --------------------------------------------------------------------------------------------
# Reading tonic's files without downloading


@functools.cache
def _offline_tonic_class(class_name: str) -> type:
    """tonic's data set class that never downloads.

    tonic checks a data set by its downloaded archive and a minimum file count, and downloads
    when either is missing; spikebits checks the extracted layout itself before opening it, so
    the check passes and a download attempt is an error. The subclass keeps tonic's class name:
    tonic reads from ``save_to/<class name>``."""
    import tonic.datasets

    def _check_exists(self) -> bool:
        return True

    def download(self) -> None:
        raise DataError(f"tonic.datasets.{class_name} tried to download; spikebits reads local files only: pass --data-root DIR")

    base = getattr(tonic.datasets, class_name)
    return type(class_name, (base,), {"_check_exists": _check_exists, "download": download, "__module__": __name__})


def _open_tonic(name: str, root: str, **kwargs: Any) -> Any:
    """tonic's data set ``name`` under ``root`` (layout already checked)."""
    cls = _offline_tonic_class(_SOURCES[name].tonic_class)
    try:
        return cls(save_to=root, **kwargs)
    except DataError:
        raise
    except Exception as err:  # tonic indexes the folder tree with bare int() / dict look-ups
        raise _layout_error(name, f"tonic cannot index {root} ({one_line(err, with_type=True)})") from None


class TonicFrames(Dataset):
    """One split of a tonic data set, streamed from disk: item ``i`` is tonic's recording ``i``,
    framed by ``frames``, with label ``labels[i]`` (``files[i]`` names its file in errors).

    ``open_source()`` builds the tonic data set; it is rebuilt lazily in a worker process that
    received this object by pickling (tonic's instances hold no open files). Before tonic opens
    ``files[i]`` it must be a regular file (not a pipe or a device, after following links) of
    at most ``file_limit`` bytes (:func:`~spikebits.evaluators.data.data_file_problem`)."""

    def __init__(
        self,
        name: str,
        open_source: Callable[[], Any],
        labels: Sequence[int] | np.ndarray,
        files: Sequence[str],
        frames: EventFrames,
        source: Any = None,
        file_limit: int = MAX_RECORDING_BYTES,
    ) -> None:
        self.name = name
        self.file_limit = file_limit
        self.open_source = open_source
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.files = list(files)
        self.frames = frames
        self._source = source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        index = range(len(self))[index]
        problem = data_file_problem(self.files[index], self.file_limit)
        if problem is not None:
            raise _layout_error(self.name, f"{self.files[index]} {problem}")
        if self._source is None:
            self._source = self.open_source()
        try:
            events, _ = self._source[index]
        except DataError:
            raise
        except Exception as err:
            raise _layout_error(self.name, f"cannot read {self.files[index]} ({one_line(err, with_type=True)}); truncated or not this format") from None
        return self.frames(events, self.files[index]), self.labels[index]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_source"] = None
        return state


def _location(name: str, root: str | Path | None) -> Path:
    if root is None:
        raise _layout_error(name, "no data folder given")
    folder = Path(root).expanduser() / _SOURCES[name].tonic_class
    if not folder.is_dir():
        raise _layout_error(name, f"no folder {folder}")
    return folder


def _class_folders(name: str, folder: Path, suffix: str) -> set[str]:
    """Names of ``folder``'s sub-folders holding ``*suffix`` files; such a file elsewhere is an
    error, and so is one that is not a regular file (a pipe, a device, a folder, after following
    links) or larger than :data:`MAX_RECORDING_BYTES`."""
    if not folder.is_dir():
        raise _layout_error(name, f"no folder {folder}")
    found: set[str] = set()
    for path in folder.rglob(f"*{suffix}"):
        if path.parent.parent != folder:
            raise _layout_error(name, f"unexpected file {path}")
        problem = data_file_problem(path, MAX_RECORDING_BYTES)
        if problem is not None:
            raise _layout_error(name, f"{path} {problem}")
        found.add(path.parent.name)
    if not found:
        raise _layout_error(name, f"no {suffix} files under {folder}")
    return found


def _check_classes(name: str, folder: Path, found: set[str], expected: Sequence[str], suffix: str, noun: str) -> None:
    """``found`` (:func:`_class_folders` of ``folder``) is exactly the ``expected`` class
    folders; else an error naming the unexpected ones, or the missing ones (``noun``: what a
    class is, "digit(s)")."""
    unexpected = sorted(found - set(expected))
    if unexpected:
        raise _layout_error(name, f"unexpected folder(s) {', '.join(unexpected)} in {folder}")
    missing = [c for c in expected if c not in found]
    if missing:
        raise _layout_error(name, f"no {suffix} files for {noun} {', '.join(missing)} in {folder}")


def _streamed(name: str, root: Path, frames: EventFrames, labels: Callable[[Any], Sequence[int]], **kwargs: Any) -> TonicFrames:
    """Open tonic's data set ``name`` and wrap it as a :class:`TonicFrames`."""
    opener = functools.partial(_open_tonic, name, str(root), **kwargs)
    source = opener()
    files = getattr(source, "data", None) or []
    targets = labels(source)
    limit = MAX_RECORDING_BYTES
    if len(files) != len(targets):
        where = Path(getattr(source, "location_on_system", root)) / getattr(source, "data_filename", "")
        files, limit = [str(where)] * len(targets), MAX_DATA_FILE_BYTES  # SHD: one HDF5 file
    return TonicFrames(name, opener, targets, files, frames, source=source, file_limit=limit)


def _train_and_test(
    name: str, root: Path, frames: EventFrames, labels: Callable[[Any, bool], Sequence[int]], *, seed: int, val_fraction: float, classes: int
) -> DataSplit:
    """A data set that tonic ships with a train and a test split: both streamed from ``root``
    (``labels(source, train)`` gives a split's labels), validation carved from training."""
    train = _streamed(name, root, frames, lambda s: labels(s, True), train=True)
    test = _streamed(name, root, frames, lambda s: labels(s, False), train=False)
    return _split(name, train, test, train.labels.numpy(), seed=seed, val_fraction=val_fraction, frames=frames, classes=classes)


def _split(
    name: str, train: Dataset, test: Dataset, train_labels: np.ndarray, *, seed: int, val_fraction: float, frames: EventFrames, classes: int
) -> DataSplit:
    kept, held = stratified_split(train_labels, val_fraction, seed)
    return DataSplit(name, Subset(train, kept.tolist()), Subset(train, held.tolist()), test, frames.output_shape, classes)


def _split_with_test(
    name: str,
    root: Path,
    frames: EventFrames,
    labels: Callable[[Any], Sequence[int]],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    classes: int,
) -> DataSplit:
    """A data set that tonic ships as one split: streamed from ``root`` (``labels(source)``
    gives its labels), ``test_fraction`` of each class held out for testing and validation
    carved from the rest (both stratified, seeded)."""
    full = _streamed(name, root, frames, labels)
    targets = full.labels.numpy()
    rest, test = stratified_split(targets, test_fraction, seed, option="test_fraction")
    kept, held = stratified_split(targets[rest], val_fraction, seed)
    return DataSplit(
        name,
        Subset(full, rest[kept].tolist()),
        Subset(full, rest[held].tolist()),
        Subset(full, test.tolist()),
        frames.output_shape,
        classes,
    )


# --------------------------------------------------------------------------------------------
# Camera data sets


@dataclass(frozen=True)
class CameraSet:
    """One event-camera data set, declared once; :func:`camera_loader` makes its loader.

    ``sensor``: (W, H, polarities) of its camera, or None when recordings differ in size
    (each is then shifted to start at 0 and centred on a square of side max(W, H));
    ``size``: the default output side; ``layout(folder) -> labels``: checks the files under
    tonic's folder (one-line errors naming what is wrong) and returns the labels of a tonic
    data set; ``test_fraction``: None for a set that tonic ships with its own test split,
    else the default share of each class held out for testing (stratified, seeded)."""

    name: str
    sensor: tuple[int, int, int] | None
    size: int
    classes: int
    layout: Callable[[Path], Callable[[Any], Sequence[int]]]
    test_fraction: float | None
    description: str


def camera_loader(spec: CameraSet) -> Callable[..., DataSplit]:
    """Register and return the loader of ``spec``: ``bins`` time bins, 2 polarities, the
    sensor summed to ``size``×``size`` (:class:`EventFrames`), validation carved from
    training; a ``test_fraction`` for a set that ships its own test split is a one-line
    :class:`space.ConfigError`."""

    def load(
        *,
        seed: int = 0,
        root: str | Path | None = None,
        val_fraction: float = VAL_FRACTION,
        bins: int = FRAME_BINS,
        size: int = spec.size,
        denoise_us: float | None = None,
        test_fraction: float | None = spec.test_fraction,
    ) -> DataSplit:
        if spec.test_fraction is None and test_fraction is not None:
            raise ConfigError(f"{spec.name} ships its own test split; drop test_fraction")
        folder = _location(spec.name, root)
        labels = spec.layout(folder)
        frames = EventFrames(spec.sensor, bins, (size, size), denoise_us=denoise_us)
        if spec.test_fraction is None:
            return _train_and_test(
                spec.name, folder.parent, frames, lambda s, _: labels(s), seed=seed, val_fraction=val_fraction, classes=spec.classes
            )
        return _split_with_test(
            spec.name, folder.parent, frames, labels, seed=seed, val_fraction=val_fraction,
            test_fraction=TEST_FRACTION if test_fraction is None else test_fraction, classes=spec.classes,
        )

    load.__name__ = load.__qualname__ = f"load_{spec.name}"
    load.__doc__ = spec.description
    return register_dataset(spec.name, (2 * FRAME_BINS, spec.size, spec.size), spec.classes)(load)


def _targets(source: Any) -> Sequence[int]:
    return source.targets


def _dvs_gesture_layout(folder: Path) -> Callable[[Any], Sequence[int]]:
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        users = _class_folders("dvs_gesture", folder / split, ".npy")
        for path in (folder / split).iterdir():
            if path.is_dir() and not re.fullmatch(r"user\d+_.+", path.name):
                raise _layout_error("dvs_gesture", f"unexpected folder {path}")
        for user in users:
            for path in (folder / split / user).glob("*.npy"):
                if not (path.stem.isdigit() and int(path.stem) < 11):
                    raise _layout_error("dvs_gesture", f"unexpected file {path} (a label 0-10 is its name)")
    return _targets


def _nmnist_layout(folder: Path) -> Callable[[Any], Sequence[int]]:
    for split in ("Train", "Test"):
        digits = _class_folders("nmnist", folder / split, ".bin")
        _check_classes("nmnist", folder / split, digits, "0123456789", ".bin", "digit(s)")
    return _targets


def _cifar10_dvs_layout(folder: Path) -> Callable[[Any], Sequence[int]]:
    classes = _class_folders("cifar10_dvs", folder, ".aedat4")
    _check_classes("cifar10_dvs", folder, classes, CIFAR10_DVS_CLASSES, ".aedat4", "class(es)")
    if importlib.util.find_spec("aedat") is None:  # tonic reads AEDAT4 with it
        raise DataError("cifar10_dvs needs the aedat package to read its .aedat4 files: pip install aedat")
    return _targets


def _ncaltech101_layout(folder: Path) -> Callable[[Any], Sequence[int]]:
    classes = sorted(_class_folders("ncaltech101", folder / "Caltech101", ".bin"))
    if len(classes) != 101:
        raise _layout_error("ncaltech101", f"{len(classes)} class folders with .bin files in {folder / 'Caltech101'}, not 101")
    index = {name: i for i, name in enumerate(classes)}
    return lambda source: [index[t] for t in source.targets]


load_dvs_gesture = camera_loader(CameraSet(
    "dvs_gesture", (128, 128, 2), 32, 11, _dvs_gesture_layout, None,
    """IBM DVS128 Gesture (tonic's preprocessed version, 11 classes, labels from file names):
    ``bins`` time bins per recording, 2 polarities, 128×128 summed to ``size``×``size``.""",
))
load_nmnist = camera_loader(CameraSet(
    "nmnist", (34, 34, 2), 34, 10, _nmnist_layout, None,
    """N-MNIST (saccades over MNIST digits, ATIS 34×34): ``bins`` time bins, 2 polarities,
    summed to ``size``×``size`` (kept at 34 by default).""",
))
load_cifar10_dvs = camera_loader(CameraSet(
    "cifar10_dvs", (128, 128, 2), 48, 10, _cifar10_dvs_layout, TEST_FRACTION,
    """CIFAR10-DVS (tonic's AEDAT4 version, 1,000 recordings per class): ``bins`` time bins,
    2 polarities, 128×128 summed to ``size``×``size``; ``test_fraction`` of each class held out
    for testing (stratified, seeded).""",
))
load_ncaltech101 = camera_loader(CameraSet(
    "ncaltech101", None, 48, 101, _ncaltech101_layout, TEST_FRACTION,
    """N-Caltech101 (101 folders: 100 object classes and BACKGROUND_Google; class index = the
    folder's place in sorted order): recordings differ in size, so each is shifted to start at
    0 (tonic), centred on a square of side max(W, H) and summed to ``size``×``size``; ``bins``
    time bins, 2 polarities; ``test_fraction`` of each class held out for testing.""",
))


# --------------------------------------------------------------------------------------------
# Audio


def _shd_labels(path: Path) -> np.ndarray:
    """Labels of one SHD file, after checking that it holds what tonic reads."""
    import h5py

    problem = data_file_problem(path, MAX_DATA_FILE_BYTES)
    if problem == "is missing":
        raise _layout_error("shd", f"no file {path}")
    if problem is not None:
        raise _layout_error("shd", f"{path} {problem}")
    try:
        with h5py.File(path, "r") as file:
            labels = np.asarray(file["labels"][()], dtype=np.int64)
            lengths = {len(file["spikes/times"]), len(file["spikes/units"]), len(labels)}
            for key in ("extra/keys", "extra/speaker"):
                file[key]
    except (OSError, KeyError) as err:
        raise _layout_error("shd", f"{path} is not a complete SHD file ({one_line(err, with_type=True)})") from None
    if len(lengths) != 1:
        raise _layout_error("shd", f"{path}: spikes/times, spikes/units and labels differ in length")
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= 20:
        raise _layout_error("shd", f"{path}: labels must be 0-19 (and at least one sample)")
    return labels


@register_dataset("shd", (1, SHD_BINS, SHD_CHANNELS), 20)
def load_shd(
    *,
    seed: int = 0,
    root: str | Path | None = None,
    val_fraction: float = VAL_FRACTION,
    bins: int = SHD_BINS,
    channels: int = SHD_CHANNELS,
) -> DataSplit:
    """Spiking Heidelberg Digits (spoken digits 0-9 in English and German, 700 cochlea units):
    frame ``(1, bins, channels)``, time down the height, the units summed in ``channels``
    groups (700 → 140: unit ``u`` in column ``u // 5``)."""
    folder = _location("shd", root)
    labels = {split: _shd_labels(folder / f"shd_{split}.h5") for split in ("train", "test")}
    frames = EventFrames((700, 1, 1), bins, (bins, channels), audio=True)
    return _train_and_test(
        "shd", folder.parent, frames, lambda _, train: labels["train" if train else "test"], seed=seed, val_fraction=val_fraction, classes=20
    )


# --------------------------------------------------------------------------------------------
# Offline: Poisson-coded digits


def poisson_events(
    image: np.ndarray | Tensor,
    rng: np.random.Generator,
    *,
    duration_us: int = DIGITS_DURATION_US,
    events_per_pixel: float = DIGITS_EVENTS_PER_PIXEL,
) -> np.ndarray:
    """Rate (Poisson) coding of an image ``(H, W)`` with intensities in [0, 1].

    Pixel ``(y, x)`` of intensity ``I`` fires a Poisson process of rate
    ``I · events_per_pixel / duration_us`` over ``[0, duration_us)``: ``N ~ Poisson(I ·
    events_per_pixel)`` events at independent uniform integer times. One polarity (``p = 0``).
    Returns tonic's structured array (:data:`EVENT_DTYPE`: x, y, t, p), sorted by time."""
    from tonic.io import make_structured_array

    intensity = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    counts = rng.poisson(intensity * events_per_pixel).ravel()
    pixel = np.repeat(np.arange(counts.size), counts)
    times = rng.integers(0, duration_us, size=pixel.size)
    order = np.argsort(times, kind="stable")
    y, x = np.divmod(pixel[order], intensity.shape[1])
    return make_structured_array(x, y, times[order], np.zeros_like(x), dtype=EVENT_DTYPE)


@register_dataset("digits_events", (FRAME_BINS, 16, 16), 10)
def load_digits_events(
    *,
    seed: int = 0,
    root: str | Path | None = None,
    val_fraction: float = VAL_FRACTION,
    bins: int = FRAME_BINS,
    duration_us: int = DIGITS_DURATION_US,
    events_per_pixel: float = DIGITS_EVENTS_PER_PIXEL,
) -> DataSplit:
    """scikit-learn's digits as event streams, the offline event data set: the 16×16 images and
    splits of ``digits`` (same seed), each image Poisson-coded (:func:`poisson_events`, seeded by
    ``seed``) and framed by the same :class:`EventFrames` as the camera sets, over the fixed
    window ``[0, duration_us)``: ``(bins, 16, 16)``, one polarity. Kept in memory (1,797 samples)."""
    base = load_digits(seed=seed, root=root, val_fraction=val_fraction, size=16)
    frames = EventFrames((16, 16, 1), bins, (16, 16), duration_us=duration_us)
    splits = []
    for part, dataset in enumerate((base.train, base.val, base.test)):
        images, labels = dataset.tensors
        rng = np.random.default_rng([seed, part])
        x = torch.stack(
            [frames(poisson_events(image[0].numpy(), rng, duration_us=duration_us, events_per_pixel=events_per_pixel)) for image in images]
        )
        splits.append(TensorDataset(x, labels))
    return DataSplit("digits_events", *splits, frames.output_shape, 10)
