"""Architecture registry: ``build("resnet20", num_classes=10)`` (timm style).

A leaf: it imports no model code. Each architecture file imports :func:`register` and
registers its constructor; :mod:`spikebits.models` imports those files so that every built-in
architecture is registered before :func:`build` is called.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from spikebits.models.limits import check_size_arguments
from spikebits.space import ConfigError, unknown_name_error

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


def build(name: str, *, input_shape: tuple[int, ...] | None = None, **kwargs) -> nn.Module:
    """Build the architecture ``name``; unknown names raise a one-line :class:`UnknownNameError`.

    ``input_shape`` (C, H, W of one sample, square images) is the same as
    ``in_channels=C, image_size=H``, which every built-in architecture takes. The network's
    ``arch`` is set to ``(name, kwargs)`` so a structural copy can be rebuilt. Size arguments
    below 1 or far above any real network are refused before the constructor runs
    (:func:`models.limits.check_size_arguments`)."""
    if name not in _REGISTRY:
        raise unknown_name_error("model", name, available())
    if input_shape is not None:
        shape = tuple(int(n) for n in input_shape)
        if len(shape) != 3 or shape[1] != shape[2] or min(shape) < 1:
            raise ConfigError(f"input_shape must be C,H,W with H = W >= 1, got {','.join(map(str, shape))}")
        if {"in_channels", "image_size"} & set(kwargs):
            raise ConfigError("give input_shape or in_channels/image_size, not both")
        kwargs = {**kwargs, "in_channels": shape[0], "image_size": shape[1]}
    check_size_arguments(kwargs)
    model = _REGISTRY[name](**kwargs)
    model.arch = (name, dict(kwargs))
    return model
