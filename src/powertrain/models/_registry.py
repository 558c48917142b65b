"""The model registry at the bottom of :mod:`powertrain.models`: every family registers itself here by name.

Nothing here imports a family: each family module imports :func:`register_model` from this one, and
``powertrain/models/__init__.py`` imports the families from an explicit list, so the registry is full whenever
:mod:`powertrain.models` has been imported.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from powertrain.errors import ConfigError
from powertrain.registry import Registry

__all__ = ["create_model", "list_models", "register_model"]

ModelFactory = Callable[..., nn.Module]
_REGISTRY: Registry[ModelFactory] = Registry("model")


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering ``fn(*, num_classes, in_channels, image_size, **kw) -> nn.Module`` as ``name``."""
    return _REGISTRY.register(name)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return _REGISTRY.names()


def create_model(
    name: str, *, num_classes: int, in_channels: int = 3, image_size: int = 32, **kwargs: Any
) -> nn.Module:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models`.
        num_classes: Outputs of the classifier (>= 1).
        in_channels: Channels of the input images (>= 1).
        image_size: Height and width of the input images in pixels (>= 8).
        **kwargs: Model options (``hidden_sizes`` for ``mlp``); None values are dropped.

    Raises:
        UnknownNameError: ``name`` is not registered.
        ConfigError: A size is out of range or an option is unknown to the model.
    """
    factory = _REGISTRY.get(name)
    for key, value, low in (
        ("num_classes", num_classes, 1),
        ("in_channels", in_channels, 1),
        ("image_size", image_size, 8),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{key} must be an integer >= {low}, got {value!r}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    accepted = [
        p for p in inspect.signature(factory).parameters if p not in ("num_classes", "in_channels", "image_size")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(f"model {name!r} does not take {unknown}; it takes {accepted or 'no options'}")
    return factory(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)
