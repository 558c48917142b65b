"""Where a run's figures go besides its folder: experiment trackers and a Prometheus endpoint.

``TrainConfig.log`` (``powertrain train --log mlflow``) starts the run in those trackers, keyed by its folder so that a
resume continues the same tracker run; a sweep hands its trial's run in (``train(..., trackers=...)``, a child of the
sweep's parent). ``train(..., serve="[HOST:]PORT")`` (``--serve``) exposes the run's energy to Prometheus. Neither ever
stops training: a tracker that fails is reported once and dropped, and the exporter only reads the meter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from powertrain.training.config import TrainConfig
from powertrain.training.rundir import EpochRecord, RunDir

if TYPE_CHECKING:
    from powertrain.integrations.prometheus import EnergyExporter
    from powertrain.integrations.trackers import RunLog, Trackers
    from powertrain.meters import EnergyMeter

__all__ = ["RunOutputs", "run_key"]

log = logging.getLogger(__name__)


def run_key(run: RunDir) -> str:
    """A standalone run's tracker key: its folder (resolved), so ``--resume`` finds the same tracker run again."""
    return f"run:{run.path.resolve()}"


class RunOutputs:
    """The trackers and the exporter of one training run (either may be absent: then every call does nothing).

    Args:
        config: The run's config (``log``: tracker names; the params logged; the target; carbon settings).
        run: The run directory.
        trackers: A tracker run handed in by a sweep (a trial's child run); used instead of ``config.log``.
        serve: ``[HOST:]PORT`` for a Prometheus endpoint (None: none).
    """

    def __init__(self, config: TrainConfig, run: RunDir, *, trackers: Trackers | None = None,
                 serve: str | None = None) -> None:  # fmt: skip
        self.config, self.run = config, run
        self._given, self._serve = trackers, serve
        self.log: RunLog | None = None
        self.exporter: EnergyExporter | None = None
        self._ended = False

    def check(self) -> None:
        """Fail early, before any training, on a bad ``--serve`` or a tracker whose library is missing."""
        if self._serve is not None:
            from powertrain.integrations.prometheus import parse_serve

            parse_serve(self._serve)
        if self.config.log and self._given is None:
            from powertrain.integrations.trackers import check_installed

            check_installed(self.config.log)

    def start(self, meter: EnergyMeter, history: Sequence[EpochRecord]) -> None:
        """Start the trackers' run (continued on a resume) and the exporter; ``history``: epochs already logged."""
        from powertrain.integrations.trackers import RunInfo, RunLog

        settings = self.config.carbon_settings()
        if self._given is not None or self.config.log:
            params = {k: v for k, v in self.config.to_dict().items() if k != "log"}
            info = RunInfo(name=self.run.path.name, key=run_key(self.run), params=params, folder=self.run.path)
            if self._given is not None:
                self.log = RunLog(self._given, target_accuracy=self.config.target_accuracy, carbon=settings)
            else:
                self.log = RunLog.start(self.config.log, info, target_accuracy=self.config.target_accuracy,
                                        carbon=settings)  # fmt: skip
            self.log.seen(r.to_dict() for r in history)
        if self._serve is not None:
            from powertrain.integrations.prometheus import EnergyExporter, parse_serve

            host, port = parse_serve(self._serve)
            self.exporter = EnergyExporter(meter, run=self.run.path.name, host=host, port=port).start()
            log.info("serving Prometheus metrics on %s", self.exporter.url)

    def epoch(self, record: EpochRecord, *, forecast: Any = None, energy_to_target_j: float | None = None) -> None:
        """One finished epoch: metrics and the forecast to target (if any) to the trackers, progress to the exporter."""
        if self.log is not None:
            self.log.epoch(record.to_dict(), extra=_forecast_metrics(forecast))
        if self.exporter is not None:
            reached = self.log.energy_to_target_j if self.log is not None else energy_to_target_j
            self.exporter.update(epoch=record.epoch, accuracy=record.val_accuracy, energy_to_target_j=reached)

    def end(self, status: str, *, linger: bool = True) -> None:
        """The run ended with ``status``: attach ``summary.json``, end the tracker runs, serve the final figures.

        With ``linger`` (a run that ended by itself) the exporter waits for one scrape of the final figures (a few
        seconds at most); an interrupted or failed run closes it at once.
        """
        if self._ended:
            return
        self._ended = True
        if self.log is not None:
            self.log.finish(status, artifacts=[self.run.summary_path])
        if self.exporter is not None:
            try:
                if linger:
                    self.exporter.finish()
            finally:
                self.exporter.close()


def _forecast_metrics(forecast: Any) -> dict[str, float]:
    """``forecast/...`` metrics of a :class:`~powertrain.forecast.Forecast` (none before it exists or once reached).

    An end of ``inf`` (not within the planned epochs) is left out by the trackers, which log finite numbers only.
    """
    if forecast is None or getattr(forecast, "reached", True):
        return {}
    energy, epoch = forecast.energy_j, forecast.epoch
    return {
        "forecast/energy_to_target_j": energy.median, "forecast/energy_to_target_low_j": energy.low,
        "forecast/energy_to_target_high_j": energy.high, "forecast/epochs_to_target": epoch.median,
        "forecast/probability": forecast.probability,
    }  # fmt: skip
