"""What every config dataclass shares: a copy with the given changes, where None means "not given"."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["Replaceable"]

C = TypeVar("C", bound="Replaceable")


class Replaceable:
    """Mixin of a config dataclass: :meth:`replace` applies the changes a user gave (CLI flags, YAML overrides)."""

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied; ``None`` values are ignored (they mean "not given")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]
