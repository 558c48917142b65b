"""A planned run's cost before committing to it: train its first steps, forecast the whole run, keep nothing.

:func:`dry_run` builds what the config names, trains ``steps`` steps in three consecutive meter windows (the first one
is the warm-up, left out of the rate), evaluates a few batches, and hands the windows to
:func:`powertrain.forecast.estimate_from_steps`. No run directory is written and nothing joins a study
(CLI: ``powertrain train --dry-run-steps N``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from powertrain.meters import Attribution, EnergyMeter, Sensor
from powertrain.training.accounting import Totals
from powertrain.training.build import build_parts
from powertrain.training.config import TrainConfig
from powertrain.training.device import resolve_device, seed_everything
from powertrain.training.epoch import train_epoch
from powertrain.training.progress import QuietReporter

__all__ = ["DryRun", "dry_run"]


@dataclass(frozen=True)
class DryRun:
    """What :func:`dry_run` measured and forecast.

    Attributes:
        estimate: The planned run's forecast (:class:`~powertrain.forecast.StepsEstimate`).
        windows: The measured ``(steps, energy_j, seconds)`` windows, warm-up first.
        eval_batches: Evaluation batches measured (of ``eval_batches_per_epoch``).
        eval_energy_j: The forecast energy of one full evaluation pass (joules).
        sources: The energy sources (``cpu:estimate``, ``nvml:counter``...); ``estimated`` when any is an estimate.
        attribution: Whose energy the windows are (the run's ``attribution``, as a run of the config measures it:
            by default its own process tree's share, so the forecast is of the run's energy, not the machine's).
    """

    estimate: Any
    windows: list[tuple[int, float, float]]
    eval_batches: int
    eval_batches_per_epoch: int
    eval_energy_j: float
    sources: list[str]
    estimated: bool
    attribution: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        est = self.estimate
        return {
            "epochs": est.epochs, "energy_j": list(est.energy_j), "duration_s": list(est.duration_s),
            "epoch_energy_j": est.epoch_energy_j, "steps_seen": est.steps_seen,
            "steps_per_epoch": est.steps_per_epoch, "level": est.level, "windows": self.windows,
            "eval_batches": self.eval_batches, "eval_batches_per_epoch": self.eval_batches_per_epoch,
            "eval_energy_j": self.eval_energy_j, "sources": self.sources, "estimated": self.estimated,
            "attribution": self.attribution,
        }  # fmt: skip


class _First:
    """The first ``n`` batches of a loader, with the loader's ``set_epoch``."""

    def __init__(self, loader: Any, n: int) -> None:
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(iter(self.loader), self.n)


def dry_run(config: TrainConfig, *, steps: int = 30, sensors: Sequence[Sensor] | None = None,
            attribution: Attribution | None = None) -> DryRun:  # fmt: skip
    """Train the first ``steps`` steps of ``config`` (at most one epoch) and forecast the planned run's cost.

    The steps are measured as the run would be (``config.attribution``, or ``attribution``: tests pass a scripted
    scope), so the forecast is of the run's own energy.

    Raises:
        ValueError: ``steps`` below 3 (a warm-up window and two to compare).
    """
    from powertrain.forecast import estimate_from_steps

    if steps < 3:
        raise ValueError(f"a dry run needs at least 3 steps, not {steps}")
    device = resolve_device(config.device)
    seed_everything(config.seed)
    parts = build_parts(config, device)
    per_epoch = len(parts.train_loader)
    steps = min(steps, per_epoch)
    sizes = [max(1, steps // 3), max(1, steps // 3)]
    sizes.append(max(1, steps - sum(sizes)))
    totals = Totals()
    meter = EnergyMeter(sensors, gpu_indices=config.gpu_indices if sensors is None else None,
                        sample_period_s=config.meter_interval_s, sync_cuda=device.type == "cuda",
                        attribution=attribution if attribution is not None else config.attribution)  # fmt: skip
    windows: list[tuple[int, float, float]] = []
    parts.train_loader.set_epoch(0)
    if parts.penalty is not None:
        parts.penalty.set_epoch(0, steps_per_epoch=max(1, per_epoch))
    batches = iter(parts.train_loader)
    with meter:
        for index, size in enumerate(sizes):
            chunk = list(itertools.islice(batches, size))
            if not chunk:
                break
            phase = train_epoch(dataclasses.replace(parts, train_loader=chunk), config, meter, QuietReporter(),
                                index + 1, totals)  # fmt: skip
            windows.append((len(chunk), phase.energy_j, phase.duration_s))
        eval_total = len(parts.test_loader)
        eval_batches = min(eval_total, max(1, steps // 4))
        with meter.window("eval") as window:
            parts.criterion.evaluate(parts.model, _First(parts.test_loader, eval_batches), amp=config.amp)
        scale = eval_total / eval_batches
        eval_j, eval_s = window.measurement.energy_j * scale, window.measurement.duration_s * scale
        sources = sorted(set(window.measurement.source_by_device.values()) | totals.sources)
    estimate = estimate_from_steps(windows, steps_per_epoch=per_epoch, epochs=config.epochs, eval_energy_j=eval_j,
                                   eval_time_s=eval_s)  # fmt: skip
    return DryRun(estimate, windows, eval_batches, eval_total, eval_j, sources, totals.estimated,
                  dict(window.measurement.attribution))  # fmt: skip
