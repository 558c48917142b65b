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

from typing import TYPE_CHECKING

from powertrain._lazy import lazy_exports
from powertrain.training.config import TrainConfig, load_config

if TYPE_CHECKING:
    from powertrain.training.build import build_model, load_data
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
    "build_model",
    "estimate_run",
    "evaluate",
    "load_config",
    "load_data",
    "load_run_model",
    "train",
]

# Everything that needs torch is imported on first use: `powertrain.training.config` stays light for the CLI.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RESUMABLE_FIELDS": "powertrain.training.resume",
        "Status": "powertrain.training.loop",
        "TrainResult": "powertrain.training.loop",
        "evaluate": "powertrain.training.loop",
        "train": "powertrain.training.loop",
        "build_model": "powertrain.training.build",
        "load_data": "powertrain.training.build",
        "estimate_run": "powertrain.training.restore",
        "load_run_model": "powertrain.training.restore",
        "EpochRecord": "powertrain.training.rundir",
        "RunDir": "powertrain.training.rundir",
    },
    globals(),
)
