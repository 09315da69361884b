"""The data-set registry and the split every loader returns (a leaf: loaders import it,
:mod:`evaluators.datasets` puts them together behind ``load`` and ``info``).

Every loader returns a :class:`DataSplit` of three map-style datasets yielding
``(x, y)`` with ``x`` a float32 tensor of the registered input shape ``(C, H, W)`` and ``y``
a 0-dim int64 class index. The validation split is carved from the training data
(:func:`stratified_split`, seeded, ``val_fraction``) unless the data set ships one; the
test split is only read to report (DESIGN: honest accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from spikebits.space import DataError


@dataclass(frozen=True)
class DataSplit:
    """A data set ready for training: three map-style datasets of ``(x, y)`` pairs.

    ``train`` may augment (random crops and flips for CIFAR); ``val`` and ``test`` never do.
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


#: Name → loader and name → shape/classes, filled by :func:`register_dataset`.
LOADERS: dict[str, Callable[..., DataSplit]] = {}
INFO: dict[str, DatasetInfo] = {}


#: Default share of the training data held out for validation.
VAL_FRACTION = 0.1


def register_dataset(name: str, input_shape: tuple[int, ...], num_classes: int):
    """Register a loader ``fn(*, seed, root, val_fraction) -> DataSplit`` under ``name``."""

    def deco(fn: Callable[..., DataSplit]) -> Callable[..., DataSplit]:
        LOADERS[name] = fn
        INFO[name] = DatasetInfo(name, tuple(input_shape), num_classes)
        return fn

    return deco


def check_val_fraction(val_fraction: float) -> float:
    """``val_fraction`` if it lies strictly between 0 and 1; else a one-line :class:`DataError`."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"--val-fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    return float(val_fraction)


def stratified_split(labels: Sequence[int] | np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held-out) index arrays: ``fraction`` of each class held out, seeded by ``seed``.

    Classes too small to split (one sample) stay whole in the kept part."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    stratify = labels if len(counts) and counts[counts > 0].min() >= 2 else None
    kept, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(kept), np.sort(held)


def first_samples(data: Dataset, limit: int) -> tuple:
    """The first ``limit`` samples of a map-style dataset as two stacked tensors ``(x, y)``."""
    import torch

    count = min(int(limit), len(data))  # type: ignore[arg-type]
    if count < 1:
        raise ValueError("the dataset is empty")
    items = [data[i] for i in range(count)]
    return torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])
