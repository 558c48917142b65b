"""What every step of the GPU evidence run (scripts/gpu_evidence.py) is made of.

The run's context, a command, a step, a target verdict, and small formatting helpers shared by the step modules.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Command", "Context", "Figures", "Step", "target"]


@dataclass
class Context:
    """What every step needs to know about this run."""

    python: str
    work: Path
    dry: bool
    root: Path
    has_gpu: bool = False
    env: dict[str, str] = field(default_factory=dict)
    limit_factor: float = 1.0  # every limit times this (the dry run's: room for a busy CPU, see gpu_evidence.py)


@dataclass
class Command:
    """One program run of a step; ``result`` is the JSON it writes (read even when it fails or times out)."""

    label: str
    argv: list[str]
    limit_s: float
    result: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


Figures = dict[str, Any]  # {"tables": [{title, columns, rows}], "targets": [...], "notes": [...], "markdown": str}


@dataclass
class Step:
    """A named step: its time limit, its commands, and how its figures are read."""

    name: str
    title: str
    limit_s: int
    commands: Callable[[Context], list[Command]]
    figures: Callable[[list[dict[str, Any]], Context], Figures]
    needs_gpu: bool = False
    after: tuple[str, ...] = ()  # steps whose results this one reads: it starts once they have ended

    def skip_reason(self, ctx: Context) -> str:
        """Why this step cannot run here ('' when it can)."""
        return "no GPU" if self.needs_gpu and (ctx.dry or not ctx.has_gpu) else ""


def target(what: str, value: float | None, limit: float, *, at_most: bool = True, fmt: str = ".3f") -> dict:
    """One target verdict: ``met`` is None when the figure is missing."""
    met = None if value is None else (value <= limit if at_most else value >= limit)
    shown = "-" if value is None else format(value, fmt)
    return {"what": what, "value": value, "shown": shown, "limit": f"{'<=' if at_most else '>='} {limit}", "met": met}


def _median(values: list[float] | None) -> float | None:
    values = [v for v in values or [] if v is not None]
    return statistics.median(values) if values else None


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec) if isinstance(value, (int, float)) else str(value)


def _results(commands: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(c["label"], c.get("result")) for c in commands if c.get("result") is not None]
