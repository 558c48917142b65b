"""Training engine: one measured, resumable training run.

Example:
    >>> from powertrain import TrainConfig, train
    >>> config = TrainConfig(dataset="fashion-mnist", model="lenet5", epochs=2, target_accuracy=0.85)
    >>> result = train(config)  # doctest: +SKIP
    >>> result.status, result.summary["energy_to_target_j"]  # doctest: +SKIP

Errors: :class:`~powertrain.errors.ConfigError` for bad values, :class:`~powertrain.errors.UnknownNameError` for unknown
datasets or models, :class:`~powertrain.errors.DataNotFoundError` for missing data.
"""

from powertrain.training.config import TrainConfig, load_config
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
