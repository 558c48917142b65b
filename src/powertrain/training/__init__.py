"""Training engine: one measured, resumable training run.

Example:
    >>> from powertrain import TrainConfig, train
    >>> config = TrainConfig(dataset="fashion-mnist", model="lenet5", epochs=2, target_accuracy=0.85)
    >>> result = train(config)  # doctest: +SKIP
    >>> result.status, result.summary["energy_to_target_j"]  # doctest: +SKIP

Errors: :class:`~powertrain.errors.ConfigError` for bad values, :class:`~powertrain.errors.UnknownNameError` for unknown
datasets or models, :class:`~powertrain.errors.DataNotFoundError` for missing data.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from powertrain.training.config import TrainConfig, load_config

if TYPE_CHECKING:
    from powertrain.training.loop import RESUMABLE_FIELDS, Status, TrainResult, evaluate, train
    from powertrain.training.restore import estimate_run, load_run_model
    from powertrain.training.rundir import EpochRecord, RunDir

__all__ = [
    "RESUMABLE_FIELDS",
    "EpochRecord",
    "RunDir",
    "Status",
    "TrainConfig",
    "TrainResult",
    "estimate_run",
    "evaluate",
    "load_run_model",
    "load_config",
    "train",
]

# Everything that needs torch is imported on first use: `powertrain.training.config` stays light for the CLI.
_LAZY = {
    "RESUMABLE_FIELDS": "loop",
    "Status": "loop",
    "TrainResult": "loop",
    "evaluate": "loop",
    "train": "loop",
    "estimate_run": "restore",
    "load_run_model": "restore",
    "EpochRecord": "rundir",
    "RunDir": "rundir",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'powertrain.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"powertrain.training.{_LAZY[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
