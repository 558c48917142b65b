"""Import an optional library, or say in one line how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from powertrain.errors import ConfigError

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ConfigError naming the extra that installs it.

    Raises:
        ConfigError: The module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{module} is not installed: pip install 'powertrain[{extra}]' to use powertrain.integrations ({exc})"
        ) from exc
