"""Data sets: a registry of loaders returning a seeded train/test split as tensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from spikebits.space import DataError, unknown_name_error


@dataclass(frozen=True)
class DataSplit:
    """A data set ready for training: tensors in [0, 1], shape [N, C, H, W]."""

    name: str
    train: TensorDataset
    test: TensorDataset
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


def register_dataset(name: str, input_shape: tuple[int, ...], num_classes: int):
    """Register a loader ``fn(seed=, root=) -> DataSplit`` under ``name``."""

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


def load(name: str, *, seed: int = 0, root: str | Path | None = None) -> DataSplit:
    """Load data set ``name`` with a split seeded by ``seed`` (``root``: folder of files on disk)."""
    check_dataset(name)
    return _LOADERS[name](seed=seed, root=root)


@register_dataset("digits", (1, 16, 16), 10)
def load_digits(*, seed: int = 0, root: str | Path | None = None, size: int = 16, test_fraction: float = 0.2) -> DataSplit:
    """scikit-learn's 1,797 handwritten digits (8×8, 0–16), scaled to [0, 1] and upsampled
    bilinearly to ``size``×``size``; a stratified train/test split seeded by ``seed``."""
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
    return DataSplit(
        "digits",
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[test_idx], labels[test_idx]),
        (1, size, size),
        10,
    )
