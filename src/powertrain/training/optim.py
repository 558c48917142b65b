"""Optimizers and learning-rate schedules named in :class:`~powertrain.training.config.TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from powertrain.training.config import TrainConfig

__all__ = ["Schedule", "make_optimizer", "make_schedule"]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam or AdamW over every parameter, with ``config.weight_decay``."""
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


@dataclass
class Schedule:
    """A learning-rate scheduler and when to step it (after every batch, or after every epoch)."""

    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    per_batch: bool

    def step_batch(self) -> None:
        """Call after each optimizer step."""
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()

    def step_epoch(self) -> None:
        """Call after each epoch."""
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()


def make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, *, steps_per_epoch: int) -> Schedule:
    """The schedule named by ``config.lr_schedule``.

    ``exponential`` multiplies the rate by ``lr_gamma`` after every epoch (EAT: 0.95), ``step`` every ``lr_step_epochs``
    epochs, ``cosine`` anneals to zero over ``epochs``, and ``onecycle`` is stepped per batch over the whole run.
    """
    sched = torch.optim.lr_scheduler
    name = config.lr_schedule
    if name == "constant":
        return Schedule(None, per_batch=False)
    if name == "exponential":
        return Schedule(sched.ExponentialLR(optimizer, gamma=config.lr_gamma), per_batch=False)
    if name == "step":
        return Schedule(
            sched.StepLR(optimizer, step_size=config.lr_step_epochs, gamma=config.lr_gamma), per_batch=False
        )
    if name == "cosine":
        return Schedule(sched.CosineAnnealingLR(optimizer, T_max=config.epochs), per_batch=False)
    total = max(1, config.epochs * steps_per_epoch)
    return Schedule(sched.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total), per_batch=True)
