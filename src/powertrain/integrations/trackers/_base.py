"""The tracker protocol: one run in an experiment tracker (MLflow, TensorBoard, Weights & Biases).

A :class:`TrackerRun` is started from a :class:`RunInfo` by its backend's ``start`` and then receives parameters,
metrics keyed by epoch (or step), artifacts, child runs (a sweep's trials) and a final status. Each backend maps these
to its own conventions; every one of them honours its library's environment (``MLFLOW_TRACKING_URI``,
``WANDB_MODE``...). The same ``RunInfo.key`` always leads back to the same run, so a retried trial continues its run.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

__all__ = ["Axis", "RunInfo", "Status", "TrackerRun", "flat_params", "numeric_metrics", "safe_name"]

Status = Literal["completed", "failed", "interrupted"]
Axis = Literal["epoch", "step"]
Kind = Literal["run", "sweep", "trial"]


@dataclass(frozen=True)
class RunInfo:
    """What a tracker needs to know to start (or find again) one run.

    Attributes:
        name: The run's display name (a run folder's name, a trial's name, a study's name).
        key: Stable identity: starting a run with a key the tracker already holds continues that run.
        kind: ``"run"`` (one training run or command), ``"sweep"`` (a study's parent run) or ``"trial"``.
        params: The run's parameters (nested mappings are flattened as ``a.b``).
        tags: Extra text labels.
        folder: The run's local folder (TensorBoard's default log dir lives there; W&B's files too).
    """

    name: str
    key: str
    kind: Kind = "run"
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    folder: Path | None = None


class TrackerRun(ABC):
    """One run in one tracker. Backends raise whatever their library raises; :class:`Trackers` isolates failures.

    Contract: :meth:`log_metrics` takes numbers only (callers filter with :func:`numeric_metrics`); metric names
    carry their unit (``energy/epoch_j``); ``step`` is the epoch number (from 1) or the optimizer step.
    """

    backend: ClassVar[str]
    info: RunInfo

    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (flattened); a continued run keeps the values it had and notes changed ones."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float], *, step: int, axis: Axis = "epoch") -> None:
        """Record metric values at ``step`` (an epoch number, or an optimizer step when ``axis="step"``)."""

    @abstractmethod
    def log_artifact(self, path: Path) -> None:
        """Attach a file (``summary.json``) or a folder (the report) to the run."""

    @abstractmethod
    def child(self, info: RunInfo) -> TrackerRun:
        """Start (or find again, by ``info.key``) a run nested under this one: a sweep's trial."""

    @abstractmethod
    def finish(self, status: Status = "completed") -> None:
        """End the run with ``status``; a later start with the same key continues it."""

    @property
    def location(self) -> str:
        """Where to look at this run (a URL, a run id or a folder), for messages."""
        return self.info.name


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str | float | int | bool]:
    """Nested mappings flattened to ``a.b`` keys; lists and other values as text, numbers and booleans as they are."""
    out: dict[str, str | float | int | bool] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_params(value, prefix=f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is None:
            out[name] = "none"
        else:
            out[name] = str(value)
    return out


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` as floats (booleans, text, None and NaN are left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[key] = number
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+@:-]+")


def safe_name(text: str, *, limit: int = 120) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9._=+@:-]`` replaced by ``-`` (folder and tag safe)."""
    cleaned = _UNSAFE.sub("-", text).strip("-.") or "run"
    return cleaned[:limit]
