"""What a :class:`~powertrain.training.TrainConfig` names, built: the data, the model, and everything that trains it.

:func:`load_data` and :func:`build_model` are what a study's preflight, a restored run and the training loop share;
:func:`build_parts` puts together one run's model, loaders, optimizer, schedule, gradient scaler, EAT penalty and
objective; :func:`estimate_accelerator` is the accelerator estimate a run ends with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from powertrain.errors import ConfigError
from powertrain.training.config import TrainConfig
from powertrain.training.objective import Objective
from powertrain.training.optim import Schedule, make_optimizer, make_schedule
from powertrain.training.transfer import prepare_model

__all__ = ["RunParts", "build_model", "build_parts", "estimate_accelerator", "load_data", "make_penalty"]

log = logging.getLogger(__name__)


def load_data(config: TrainConfig, *, data_dir: str | None = None) -> Any:
    """The dataset bundle ``config`` names (``data_dir`` overrides the config's, for a moved dataset)."""
    from powertrain.data import load_dataset

    folder = data_dir or config.data_dir
    if folder is not None and not config.download and not Path(folder).expanduser().is_dir():
        what = "is a file, not a folder" if Path(folder).expanduser().exists() else "does not exist"
        raise ConfigError(f"data_dir {folder} {what}; point --data-dir at the folder holding the dataset")
    return load_dataset(
        config.dataset,
        data_dir=data_dir or config.data_dir,
        image_size=config.image_size,
        channels=config.channels,
        subset=config.subset,
        test_subset=config.test_subset,
        download=config.download,
        seed=config.seed,
        **config.dataset_options,
    )


def build_model(config: TrainConfig, info: Any) -> nn.Module:
    """A fresh model as ``config`` names it, shaped for the dataset described by ``info``."""
    from powertrain.models import create_model

    options = dict(config.model_options)
    if config.model == "multitask" and getattr(info, "tasks", None) and options.get("heads") is None:
        options["heads"] = [classes for _, classes in info.tasks]  # one head per task of the data
    return create_model(
        config.model,
        num_classes=info.num_classes,
        in_channels=info.in_channels,
        image_size=info.image_size,
        **options,
    )


def make_penalty(model: nn.Module, config: TrainConfig) -> Any:
    """EAT's activation penalty on ``model`` (:class:`~powertrain.sparsity.EATPenalty`), or None without EAT."""
    if config.eat_lambda <= 0:
        return None
    from powertrain.sparsity import EATPenalty

    return EATPenalty(
        model,
        lam=config.eat_lambda,
        sigma=config.eat_sigma,
        layers=config.eat_layers,
        normalization=config.eat_normalization,
        lam_warmup_epochs=config.eat_warmup_epochs,
        penalize_eval=config.eat_penalize_eval,
    )


@dataclass
class RunParts:
    """Everything one run trains with, on its device."""

    device: torch.device
    bundle: Any
    train_loader: Any
    test_loader: Any
    model: nn.Module
    criterion: Objective
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    penalty: Any
    warnings: list[str]


def build_parts(
    config: TrainConfig, device: torch.device, init_state: Mapping[str, torch.Tensor] | None = None
) -> RunParts:
    """Load the data and build the model (from ``init_state`` when given) and what trains it, on ``device``."""
    bundle = load_data(config)
    warnings = _size_warnings(config, bundle.info)
    for line in warnings:
        log.warning(line)
    train_loader, test_loader = bundle.loaders(
        batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size,
        device=device,
        workers=config.workers,
        on_device=config.data_on_device,
        seed=config.seed,
        augment=config.augment,
    )
    model = build_model(config, bundle.info)
    criterion = prepare_model(model, config, bundle.info, init_state)
    model = model.to(device)
    optimizer = make_optimizer(model, config)
    return RunParts(
        device=device,
        bundle=bundle,
        train_loader=train_loader,
        test_loader=test_loader,
        model=model,
        criterion=criterion,
        optimizer=optimizer,
        schedule=make_schedule(optimizer, config, steps_per_epoch=len(train_loader)),
        scaler=torch.amp.GradScaler(device.type, enabled=config.amp == "fp16"),
        penalty=make_penalty(model, config),
        warnings=warnings,
    )


def _size_warnings(config: TrainConfig, info: Any) -> list[str]:
    warnings = []
    if config.subset is not None and info.train_size < config.subset:
        warnings.append(
            f"subset {config.subset} is larger than the {info.train_size} training samples of {config.dataset}; "
            f"all {info.train_size} are used"
        )
    if config.test_subset is not None and info.test_size < config.test_subset:
        warnings.append(
            f"test_subset {config.test_subset} is larger than the {info.test_size} test samples of {config.dataset}; "
            f"all {info.test_size} are used"
        )
    return warnings


def estimate_accelerator(model: nn.Module, bundle: Any, config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """EAT's accelerator energy ratio of the trained model on the test split (batch ``estimate_batch_size``)."""
    from powertrain.accel import estimate_dataset

    _, loader = bundle.loaders(
        batch_size=config.batch_size,
        eval_batch_size=config.estimate_batch_size,
        device=device,
        workers=config.workers,
        on_device=config.data_on_device,
        seed=config.seed,
        augment=False,
    )
    # eager counting: compiling the counting kernels (10-40 s on CUDA) costs more than ~20 batches of estimate
    result = estimate_dataset(
        model,
        loader,
        mode=config.estimate_mode,
        max_batches=config.estimate_max_batches,
        per_sample=False,
        backend="eager",
    )
    out: dict[str, Any] = result.to_dict()
    return out
