"""Bounds on an architecture's size arguments, checked before anything is built.

Every built-in architecture takes its sizes as keyword arguments: channel widths, block
counts, an embedding size, heads, a hidden width. :func:`check_size_arguments` (called by
:func:`models.build` before the constructor) refuses in one line, naming the argument:

* a size below 1 (``widths=[0,16,16]``, ``depth=-2``): a constructor would build an empty
  layer or fail deep inside PyTorch;
* a size far above any real network: a width above :data:`MAX_WIDTH` channels (or features,
  heads, classes), more than :data:`MAX_DEPTH` blocks (:func:`check_total_depth`, called by
  the constructors that know their stages), a scale factor above :data:`MAX_SCALE`.

The bounds keep the *structure* cheap to build: building takes time per module even on
PyTorch's meta device (about 1 ms per synaptic layer), whatever the sizes. Whether a network
of allowed sizes fits in memory is the evaluators' memory estimate
(:mod:`evaluators.resources`), computed from that structure before any weight is allocated.

A leaf beside :mod:`models.registry`: it imports only :mod:`space`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from spikebits.space import ConfigError
from spikebits.space.config import short_repr

#: Widest channel count, feature count, head count or class count (a wide ResNet stage has
#: 2048 channels, an LLM's embedding 16,384).
MAX_WIDTH = 65536
#: Most blocks (residual blocks, transformer blocks) or plain layers of one network, all
#: stages together (ResNet-1202 for CIFAR has 600 blocks).
MAX_DEPTH = 1000
#: Largest width multiplier (``digits_cnn``: 32·width channels, so 2048 gives MAX_WIDTH) or MLP
#: ratio (``spikformer``, whose hidden width is checked against MAX_WIDTH itself).
MAX_SCALE = 2048

#: Arguments holding whole sizes (or lists of them, one per stage or layer) and their bound.
SIZE_ARGUMENTS: dict[str, int] = {
    "widths": MAX_WIDTH,
    "embed_dim": MAX_WIDTH,
    "heads": MAX_WIDTH,
    "head_width": MAX_WIDTH,
    "hidden": MAX_WIDTH,
    "num_classes": MAX_WIDTH,
    "in_channels": MAX_WIDTH,
    "image_size": MAX_WIDTH,
    "depth": MAX_DEPTH,
    "blocks": MAX_DEPTH,
}
#: Arguments holding a positive real multiplier.
SCALE_ARGUMENTS = ("width", "mlp_ratio")


class SizeError(ConfigError, ValueError):
    """A size argument out of bounds: a :class:`space.ConfigError` (one line, exit code 2) that
    is also the ``ValueError`` a constructor raises for arguments it refuses."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_sizes(key: str, value: Any, high: int) -> None:
    """``value`` of size argument ``key``: a whole number from 1 to ``high``, or a non-empty list
    of at most :data:`MAX_DEPTH` of them (None: the model's default)."""
    if value is None:
        return
    if not (_is_number(value) or isinstance(value, (list, tuple))):
        raise SizeError(f"{key} must be a whole number (or a list of them), got {short_repr(value)}")
    sizes = list(value) if isinstance(value, (list, tuple)) else [value]
    shown = short_repr(sizes if isinstance(value, (list, tuple)) else value)
    if isinstance(value, (list, tuple)):
        if not sizes:
            raise SizeError(f"{key} is empty; give at least one size")
        if len(sizes) > MAX_DEPTH:
            raise SizeError(f"{key} has {len(sizes)} entries, more than {MAX_DEPTH}; give fewer stages or layers")
    for size in sizes:
        if not _is_number(size) or not math.isfinite(size):
            raise SizeError(f"{key} must be whole numbers, got {shown}")
        if size < 1:
            raise SizeError(f"{key} must be >= 1, got {shown}; give positive sizes")
        if not float(size).is_integer():
            raise SizeError(f"{key} must be whole numbers, got {shown}")
        if size > high:
            raise SizeError(f"{key}={shown}: {short_repr(size)} is above {high}, the largest {key} allowed; give a smaller size")


def _check_scale(key: str, value: Any) -> None:
    if value is None:
        return
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise SizeError(f"{key} must be a number above 0, got {short_repr(value)}")
    if value > MAX_SCALE:
        raise SizeError(f"{key} = {short_repr(value)} is above {MAX_SCALE}, the largest {key} allowed; give a smaller one")


def check_size_arguments(kwargs: Mapping[str, Any]) -> None:
    """Refuse, in one line (:class:`SizeError`), a size argument of ``kwargs`` below 1 or above
    its bound (:data:`SIZE_ARGUMENTS`, :data:`SCALE_ARGUMENTS`); other arguments are the
    constructor's to check."""
    for key, value in kwargs.items():
        if key in SIZE_ARGUMENTS:
            _check_sizes(key, value, SIZE_ARGUMENTS[key])
        elif key in SCALE_ARGUMENTS:
            _check_scale(key, value)


def check_total_depth(total: int, what: str = "blocks") -> None:
    """A network of ``total`` blocks (all stages together) must have at most :data:`MAX_DEPTH`."""
    if total > MAX_DEPTH:
        raise SizeError(f"{what} add up to {total} blocks, more than {MAX_DEPTH}; use fewer blocks")


def check_width(value: int, what: str) -> None:
    """A width a constructor derives (``what``: how) must be at most :data:`MAX_WIDTH`."""
    if value > MAX_WIDTH:
        raise SizeError(f"{what} gives {value} features, above {MAX_WIDTH}; give a smaller one")
