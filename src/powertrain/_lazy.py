"""Exports imported on first use, so that ``import powertrain`` and the CLI's fast commands do not load torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str], eager: Mapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import ``names[attr]`` (a module path) on first use.

    Args:
        package: The package's name, for the error of an unknown attribute.
        names: Attribute name -> the module that defines it.
        eager: The package's ``globals()``, listed by ``__dir__`` beside the lazy names.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__() -> list[str]:
        return sorted([*eager, *names])

    return __getattr__, __dir__
