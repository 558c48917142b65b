"""What a framework callback (Lightning, Hugging Face) is asked to measure, and the tracker it starts from that.

Both callbacks take the same options, check them at construction (a bad target or carbon setting fails before any
training) and build one :class:`~powertrain.integrations.EnergyTracker` per run from them; only the framework's own
facts (its devices, planned epochs, run name and parameters) differ.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from powertrain.integrations._carbon import Carbon
from powertrain.integrations.tracker import EnergyTracker
from powertrain.meters.attribution import Attribution
from powertrain.meters.base import Clock, Sensor

__all__ = ["TrackerOptions"]


class TrackerOptions:
    """The options shared by the framework callbacks (documented on each callback)."""

    def __init__(
        self,
        *,
        target_metric: str | None,
        target: float | None,
        mode: Literal["max", "min"],
        log_steps: bool,
        carbon: Carbon,
        summary_path: Path | str | None,
        sensors: Sequence[Sensor] | None,
        sample_period_s: float | None,
        clock: Clock = time.monotonic,
        log: Sequence[str],
        attribution: Attribution | str | None,
    ) -> None:
        EnergyTracker(target_metric=target_metric, target=target, mode=mode, carbon=carbon, attribution=attribution)
        if log:
            from powertrain.integrations.trackers import check_installed

            check_installed(log)
        self.log_to = list(log)
        self.target_metric, self.target, self.mode = target_metric, target, mode
        self.log_steps, self.carbon = log_steps, carbon
        self.summary_path = None if summary_path is None else Path(summary_path)
        self._sensors, self._sample_period_s, self._clock = sensors, sample_period_s, clock
        self._attribution = attribution
        self.tracker: EnergyTracker | None = None
        self.summary: dict[str, Any] | None = None

    def _new_tracker(
        self,
        *,
        framework: str,
        gpus: list[int],
        target_metric: str | None,
        planned_epochs: int | None = None,
        run_name: Any = None,
        run_params: Any = None,
    ) -> EnergyTracker:
        """The run's tracker (not started); ``run_name``/``run_params`` may be callables, asked only when logging."""
        logging = bool(self.log_to)
        return EnergyTracker(
            sensors=self._sensors,
            gpu_indices=None if self._sensors is not None else gpus,
            target_metric=target_metric,
            target=self.target,
            mode=self.mode,
            carbon=self.carbon,
            sample_period_s=self._sample_period_s,
            clock=self._clock,
            framework=framework,
            planned_epochs=planned_epochs,
            log=self.log_to,
            run_name=(run_name() if callable(run_name) else run_name) if logging else None,
            run_params=(run_params() if callable(run_params) else run_params) if logging else None,
            attribution=self._attribution,
        )
