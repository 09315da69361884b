"""Data sets: a registry of loaders returning seeded train / validation / test splits.

``load(name, seed=, root=, val_fraction=)`` returns a :class:`DataSplit`; ``info(name)`` gives
the input shape and class count without reading any data. Registered: ``digits``
(:mod:`evaluators.digits`), ``cifar10`` and ``cifar100`` (:mod:`evaluators.cifar`), the event
and audio spike sets (:mod:`evaluators.events`). See :mod:`evaluators.data` for the split
every loader returns.
"""

from __future__ import annotations

from pathlib import Path

from spikebits.evaluators import cifar, digits, events, mnist  # noqa: F401  (each registers its data sets)
from spikebits.evaluators.data import (
    INFO,
    LOADERS,
    VAL_FRACTION,
    DataSplit,
    DatasetInfo,
    check_val_fraction,
    register_dataset,
    stratified_split,
)
from spikebits.evaluators.digits import load_digits
from spikebits.space import unknown_name_error

__all__ = [
    "VAL_FRACTION",
    "DataSplit",
    "DatasetInfo",
    "available",
    "check_dataset",
    "info",
    "load",
    "load_digits",
    "register_dataset",
    "stratified_split",
]


def info(name: str) -> DatasetInfo:
    """Input shape and class count of ``name`` (no data is read)."""
    check_dataset(name)
    return INFO[name]


def available() -> list[str]:
    return sorted(LOADERS)


def check_dataset(name: str) -> None:
    if name not in LOADERS:
        raise unknown_name_error("data set", name, available())


def load(name: str, *, seed: int = 0, root: str | Path | None = None, val_fraction: float = VAL_FRACTION) -> DataSplit:
    """Load data set ``name`` with splits seeded by ``seed`` (``root``: folder of files on disk;
    ``val_fraction``: share of the training data held out for validation)."""
    check_dataset(name)
    return LOADERS[name](seed=seed, root=root, val_fraction=check_val_fraction(val_fraction))
