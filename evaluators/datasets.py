"""Data sets: a registry of loaders returning seeded train / validation / test splits.

Every loader returns a :class:`DataSplit` of three map-style datasets yielding
``(x, y)`` with ``x`` a float32 tensor of the registered input shape ``(C, H, W)`` and ``y``
a 0-dim int64 class index. The validation split is carved from the training data
(:func:`stratified_split`, seeded, ``val_fraction``) unless the data set ships one; the
test split is only read to report (DESIGN: honest accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from spikebits.space import DataError, unknown_name_error


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


_LOADERS: dict[str, Callable[..., DataSplit]] = {}
_INFO: dict[str, DatasetInfo] = {}


#: Default share of the training data held out for validation.
VAL_FRACTION = 0.1


def register_dataset(name: str, input_shape: tuple[int, ...], num_classes: int):
    """Register a loader ``fn(*, seed, root, val_fraction) -> DataSplit`` under ``name``."""

    def deco(fn: Callable[..., DataSplit]) -> Callable[..., DataSplit]:
        _LOADERS[name] = fn
        _INFO[name] = DatasetInfo(name, tuple(input_shape), num_classes)
        return fn

    return deco


def info(name: str) -> DatasetInfo:
    """Input shape and class count of ``name`` (no data is read)."""
    check_dataset(name)
    return _INFO[name]


def available() -> list[str]:
    return sorted(_LOADERS)


def check_dataset(name: str) -> None:
    if name not in _LOADERS:
        raise unknown_name_error("data set", name, available())


def load(name: str, *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION) -> DataSplit:
    """Load data set ``name`` with splits seeded by ``seed`` (``root``: folder of files on disk;
    ``val_fraction``: share of the training data held out for validation)."""
    check_dataset(name)
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"--val-fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    return _LOADERS[name](seed=seed, root=root, val_fraction=val_fraction)


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


@register_dataset("digits", (1, 16, 16), 10)
def load_digits(
    *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION, size: int = 16, test_fraction: float = 0.2
) -> DataSplit:
    """scikit-learn's 1,797 handwritten digits (8×8, 0–16), scaled to [0, 1] and upsampled
    bilinearly to ``size``×``size``; a stratified train/test split seeded by ``seed``, then
    ``val_fraction`` of the training part held out for validation (stratified, same seed)."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    try:
        bunch = sk_load_digits()
    except Exception as err:  # pragma: no cover - sklearn ships this file
        raise DataError(f"cannot read scikit-learn's digits data ({err}); reinstall scikit-learn") from None
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    idx = torch.arange(len(labels)).numpy()
    train_idx, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels.numpy())
    kept, held = stratified_split(labels[train_idx].numpy(), val_fraction, seed)
    train_idx, val_idx = train_idx[kept], train_idx[held]
    return DataSplit(
        "digits",
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[val_idx], labels[val_idx]),
        TensorDataset(images[test_idx], labels[test_idx]),
        (1, size, size),
        10,
    )
