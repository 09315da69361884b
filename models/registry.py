"""Architecture registry: ``build("resnet20", num_classes=10)`` (timm style).

A leaf: it imports no model code. Each architecture file imports :func:`register` and
registers its constructor; :mod:`spikebits.models` imports those files so that every built-in
architecture is registered before :func:`build` is called.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from spikebits.space import unknown_name_error

#: A constructor: keyword arguments in, a network (a ``models.SpikingNetwork``) out.
Constructor = Callable[..., nn.Module]

_REGISTRY: dict[str, Constructor] = {}


def register(name: str) -> Callable[[Constructor], Constructor]:
    """Decorator: make an architecture constructor available to :func:`build` as ``name``."""

    def deco(fn: Constructor) -> Constructor:
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_REGISTRY)


def build(name: str, **kwargs) -> nn.Module:
    """Build the architecture ``name``; unknown names raise a one-line :class:`UnknownNameError`.

    The network's ``arch`` is set to ``(name, kwargs)`` so a structural copy can be rebuilt."""
    if name not in _REGISTRY:
        raise unknown_name_error("model", name, available())
    model = _REGISTRY[name](**kwargs)
    model.arch = (name, dict(kwargs))
    return model
