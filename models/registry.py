"""Architecture registry: ``build("resnet20", num_classes=10)`` (timm style)."""

from __future__ import annotations

from collections.abc import Callable

from spikebits.models.network import SpikingNetwork
from spikebits.space import unknown_name_error

_REGISTRY: dict[str, Callable[..., SpikingNetwork]] = {}


def register(name: str) -> Callable[[Callable[..., SpikingNetwork]], Callable[..., SpikingNetwork]]:
    """Decorator: make an architecture constructor available to :func:`build` as ``name``."""

    def deco(fn: Callable[..., SpikingNetwork]) -> Callable[..., SpikingNetwork]:
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str, **kwargs) -> SpikingNetwork:
    """Build the architecture ``name``; unknown names raise a one-line :class:`UnknownNameError`."""
    if name not in _REGISTRY:
        raise unknown_name_error("model", name, available())
    model = _REGISTRY[name](**kwargs)
    model.arch = (name, dict(kwargs))
    return model
