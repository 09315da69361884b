"""Data sets: a registry of loaders returning seeded train / validation / test splits.

``load(name, seed=, root=, val_fraction=, augment=, train_fraction=)`` returns a
:class:`DataSplit`; ``info(name)`` gives the input shape, class count and default model
without reading any data. Registered: ``digits`` (:mod:`evaluators.digits`), ``mnist``,
``fashion_mnist`` and ``kmnist`` (:mod:`evaluators.mnist`), ``cifar10`` and ``cifar100``
(:mod:`evaluators.cifar`), the event and audio spike sets (:mod:`evaluators.events`). See
:mod:`evaluators.data` for the split every loader returns.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

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
from spikebits import models
from spikebits.models import SpikingNetwork
from spikebits.space import ConfigError, DataError, unknown_name_error

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


#: Largest side (and channel count) of an input: far above any data set's (ImageNet 224, an
#: event camera 1280), small enough that a model built for it stays a count, not an overflow.
MAX_INPUT_SIZE = 16384


def check_input_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """``shape`` as C,H,W: three whole sizes from 1 to :data:`MAX_INPUT_SIZE`; else a one-line
    :class:`space.ConfigError`."""
    sizes = tuple(shape)
    if len(sizes) != 3 or not all(isinstance(n, int) and 1 <= n for n in sizes):
        raise ConfigError(f"input shape {','.join(map(str, sizes))} is not C,H,W with three positive sizes; write for example 3,32,32")
    if max(sizes) > MAX_INPUT_SIZE:
        raise ConfigError(f"input shape {','.join(map(str, sizes))} has a size above {MAX_INPUT_SIZE}; give the data set's real C,H,W")
    return sizes  # type: ignore[return-value]


def model_arguments(
    dataset: str, input_shape: Sequence[int] | None = None, model_kwargs: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], tuple[int, int, int]]:
    """An architecture's keyword arguments for ``dataset``'s inputs, and the input shape C,H,W:
    ``num_classes`` from the data set, ``in_channels`` and ``image_size`` from ``input_shape``
    (default: the data set's), then ``model_kwargs`` (``--model-arg``). Derived here once for
    the evaluator and the command line."""
    shape = check_input_shape([int(n) for n in (input_shape or info(dataset).input_shape)])
    kwargs = {"num_classes": info(dataset).num_classes, "in_channels": shape[0], "image_size": shape[-1], **(model_kwargs or {})}
    return kwargs, shape  # type: ignore[return-value]


def build_structure(model: str, kwargs: Mapping[str, Any]) -> SpikingNetwork:
    """``model`` built on PyTorch's meta device (no memory, no arithmetic): its structure, for
    layer specs and spaces. Arguments the architecture refuses are a one-line
    :class:`space.ConfigError` that names them."""
    if model not in models.available():
        raise unknown_name_error("model", model, models.available())
    try:
        with torch.device("meta"):
            return models.build(model, **kwargs)
    except TypeError as err:
        bad = str(err).rsplit(" ", 1)[-1].strip("'\"") if "unexpected keyword" in str(err) else ""
        what = f"does not take {bad!r}" if bad else f"cannot be built with these arguments ({err})"
        raise ConfigError(f"--model-arg: {model} {what}; see its docstring for the arguments it takes") from None
    except ValueError as err:
        raise ConfigError(f"--model-arg: {model}: {err}") from None


def available() -> list[str]:
    return sorted(LOADERS)


def check_dataset(name: str) -> None:
    if name not in LOADERS:
        raise unknown_name_error("data set", name, available())


def augments(name: str) -> bool:
    """Whether data set ``name`` offers training augmentation (its loader takes ``augment``)."""
    check_dataset(name)
    return "augment" in inspect.signature(LOADERS[name]).parameters


def load(
    name: str,
    *,
    seed: int = 0,
    root: str | Path | None = None,
    val_fraction: float = VAL_FRACTION,
    augment: bool | None = None,
    train_fraction: float = 1.0,
) -> DataSplit:
    """Load data set ``name`` with splits seeded by ``seed`` (``root``: folder of files on disk;
    ``val_fraction``: share of the training data held out for validation).

    ``augment``: None, the data set's own default (CIFAR: random crops and flips; the MNIST
    family, digits: none); True or False to switch its augmentation on or off (a one-line
    error for a data set that has none). ``train_fraction`` (0 < f ≤ 1): train on a seeded
    random ⌈f·N⌉ of the training split (validation and test stay whole)."""
    check_dataset(name)
    if not 0.0 < train_fraction <= 1.0:
        raise DataError(f"--train-fraction must be above 0 and at most 1, not {train_fraction}")
    kwargs = {}
    if augment is not None:
        if not augments(name):
            raise DataError(f"data set {name} has no training augmentation to switch {'on' if augment else 'off'}; drop --augment")
        kwargs["augment"] = augment
    split = LOADERS[name](seed=seed, root=root, val_fraction=check_val_fraction(val_fraction), **kwargs)
    if train_fraction < 1.0:
        keep = math.ceil(train_fraction * len(split.train))
        order = torch.randperm(len(split.train), generator=torch.Generator().manual_seed(seed))[:keep].sort().values
        split = dataclasses.replace(split, train=Subset(split.train, order.tolist()))
    return split
