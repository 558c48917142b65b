"""Bring a finished run back: its model with the trained weights, and the accelerator estimate over a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from torch import nn

from powertrain.training.build import build_model, load_data
from powertrain.training.config import TrainConfig
from powertrain.training.device import resolve_device
from powertrain.training.rundir import RunDir

__all__ = ["estimate_run", "load_run_model"]


def load_run_model(
    run_dir: str | Path, *, device: str = "cpu", data_dir: str | None = None
) -> tuple[nn.Module, TrainConfig, object]:
    """The trained model of ``run_dir`` in eval mode, its config, and its dataset bundle.

    Args:
        run_dir: A run directory written by :func:`~powertrain.train`.
        device: Where to put the model (``auto``, ``cpu``, ``cuda``...).
        data_dir: Where the run's dataset lives, if not where it was during training.

    Raises:
        ConfigError: ``run_dir`` is not a run directory or holds no weights.
    """
    from powertrain.errors import DamagedFileError

    run = RunDir(run_dir)
    config = TrainConfig.from_dict(run.read_config()).validate()
    state = run.load_model_state()  # before the data: a damaged file is found at once
    bundle = load_data(config, data_dir=data_dir)
    model = build_model(config, bundle.info)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DamagedFileError(f"the weights in {run.path} do not fit its {config.model} model: {reason}") from None
    return model.to(resolve_device(device)).eval(), config, bundle


def estimate_run(
    run_dir: str | Path,
    *,
    batch_size: int = 512,
    mode: Literal["reference", "layerwise", "ops"] = "reference",
    device: str = "auto",
    data_dir: str | None = None,
    max_batches: int | None = None,
    per_sample: bool = True,
):  # -> DatasetEnergyEstimate
    """EAT's accelerator energy estimate of a trained run over its dataset's test split.

    Args:
        run_dir: The run directory.
        batch_size: Batch size of the estimate (the ratio depends on it; EAT used 512).
        mode: ``reference`` (Sponge Examples' ASIC model), ``layerwise`` or ``ops`` (docs/eat.md).
        device: Where to run the model.
        data_dir: Where the dataset lives, if moved.
        max_batches: Estimate over at most this many batches.
        per_sample: Also compute each sample's ratio (batch size 1 view).

    Returns:
        A :class:`~powertrain.accel.DatasetEnergyEstimate`.
    """
    from powertrain.accel import estimate_dataset
    from powertrain.errors import ConfigError

    if batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer, not {batch_size}")
    model, config, bundle = load_run_model(run_dir, device=device, data_dir=data_dir)
    param = next(model.parameters())
    _, loader = bundle.loaders(  # type: ignore[attr-defined]
        batch_size=batch_size, eval_batch_size=batch_size, device=param.device, seed=config.seed, augment=False
    )
    return estimate_dataset(model, loader, mode=mode, max_batches=max_batches, per_sample=per_sample)
