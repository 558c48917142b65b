"""One epoch's training half: the steps, inside one meter window, with a host sync only every half second.

Every :data:`REFRESH_S` seconds the loop syncs with the device once, to check the loss for NaN, refresh the
display, and compare the meter's running total with the energy budget.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from powertrain.meters import EnergyMeter
from powertrain.training.accounting import Phase, Totals
from powertrain.training.build import RunParts
from powertrain.training.config import TrainConfig
from powertrain.training.device import autocast
from powertrain.training.progress import ProgressReporter

__all__ = ["REFRESH_S", "divergence_reason", "train_epoch"]

REFRESH_S = 0.5  # how often the display, the heartbeat, the budget and the NaN check (one host sync) run


def train_epoch(
    parts: RunParts,
    config: TrainConfig,
    meter: EnergyMeter,
    reporter: ProgressReporter,
    epoch: int,
    totals: Totals,
) -> Phase:
    """Train ``parts.model`` for one epoch in the meter window ``train:EPOCH``; count it in ``totals``."""
    model, loader, optimizer, scaler, penalty = (
        parts.model, parts.train_loader, parts.optimizer, parts.scaler, parts.penalty,
    )  # fmt: skip
    model.train()
    phase = Phase()
    loss_sum = torch.zeros((), device=parts.device, dtype=torch.float64)
    correct = torch.zeros((), device=parts.device, dtype=torch.int64)
    density_sum = torch.zeros((), device=parts.device, dtype=torch.float64)
    meter.begin(f"train:{epoch}")
    refreshed = time.monotonic()
    with penalty if penalty is not None else contextlib.nullcontext():
        for step, (x, y) in enumerate(loader, start=1):
            with autocast(parts.device, config.amp):
                out = model(x)
                loss = parts.criterion.loss(out, y)
                objective = loss + penalty.value() if penalty is not None else loss
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(objective).backward()
            try:
                scaler.step(optimizer)
            except RuntimeError as exc:  # an lr beyond float32 overflows inside the optimizer's update
                if "overflow" not in str(exc):
                    raise
                phase.diverged = True
                phase.reason = f"the optimizer overflowed in epoch {epoch}: lr {config.lr:g} is too large for float32"
                break
            scaler.update()
            parts.schedule.step_batch()
            loss_sum += loss.detach().double() * y.numel()
            correct += parts.criterion.correct(out.detach(), y)
            if penalty is not None:
                density_sum += penalty.last_density.double() * y.numel()
            phase.samples += y.numel()

            now = time.monotonic()
            if now - refreshed < REFRESH_S and step < len(loader):
                continue
            refreshed = now
            running_loss = float(loss_sum) / phase.samples  # the one host sync per refresh
            if not math.isfinite(running_loss):
                phase.diverged = True
                break
            live_energy_j = totals.live_base_j + meter.energy_j()
            budget = config.energy_budget_j
            if budget is not None and live_energy_j >= budget and step < len(loader):
                phase.complete = False
                break
            reporter.update(
                step,
                loss=running_loss,
                accuracy=int(correct) / phase.samples,
                power_w=meter.power_w(),
                energy_j=live_energy_j,
            )
    measurement = meter.end(f"train:{epoch}")
    phase.energy_j, phase.duration_s = measurement.energy_j, measurement.duration_s
    phase.sources.update(measurement.source_by_device.values())
    totals.add(measurement, phase="train")
    if phase.samples:
        phase.loss = float(loss_sum) / phase.samples
        phase.accuracy = int(correct) / phase.samples
        if penalty is not None:
            phase.density = float(density_sum) / phase.samples
    phase.diverged = phase.diverged or not math.isfinite(phase.loss)
    return phase


def divergence_reason(phase: Phase, epoch: int, config: TrainConfig, val_loss: float) -> str:
    """Why a run diverged in ``epoch``, and what to do about it."""
    if phase.reason:
        return str(phase.reason)
    where = "training loss" if phase.diverged else "validation loss"
    return (
        f"the {where} became {'NaN' if phase.loss != phase.loss or val_loss != val_loss else 'infinite'} in epoch "
        f"{epoch} (lr {config.lr:g}); lower the learning rate or use amp off"
    )
