"""A training run's energy figures from scripted sensors and a fake clock: exact joules for tracker tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from powertrain.integrations import EnergyTracker
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor

__all__ = ["scripted_epochs"]


def scripted_epochs(
    folder: Path, accuracies: Sequence[float] = (0.5, 0.7, 0.9), *, power_w: float = 100.0, epoch_s: float = 2.0,
    target: float = 0.8,
) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:  # fmt: skip
    """Epoch figures (EnergyTracker.end_epoch), the summary and its file for a run at ``power_w`` with these accuracies.

    Epoch ``e`` costs ``power_w * epoch_s`` joules; the summary is written to ``folder/summary.json``.
    """
    clock = FakeClock()
    sensor = ScriptedCounterSensor(lambda t: power_w * t, clock=clock)
    tracker = EnergyTracker(sensors=[sensor], sample_period_s=None, clock=clock, carbon=True,
                            target_metric="val_accuracy", target=target).start()  # fmt: skip
    epochs = []
    for epoch, accuracy in enumerate(accuracies, start=1):
        tracker.begin_epoch(epoch)
        clock.advance(epoch_s)
        epochs.append({**tracker.end_epoch({"val_accuracy": accuracy}), "val_accuracy": accuracy})
    path = folder / "summary.json"
    summary = tracker.finish(path=path)
    return epochs, summary, path
