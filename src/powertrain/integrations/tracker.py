"""EnergyTracker: the energy bookkeeping of a training run driven by someone else's loop.

The Lightning and Hugging Face callbacks are thin adapters over this class, and a hand-written ``torchrun`` loop
can use it directly. The run's timeline is cut into back-to-back meter windows (**segments**) at the points the
loop reports: an epoch's end, an evaluation's start and end, a log line. Segments add up exactly to the run, so
"energy so far" at any cut is exact, and energy-to-target is the energy up to the cut after the evaluation that
first reached the target.

Under ``torch.distributed`` every cut is a collective call: each rank measures only the sensors it owns (see
:mod:`powertrain.integrations.distributed`), and the figures of a segment are gathered and summed across ranks,
so every figure describes the whole job. Rank 0 writes the summary.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from powertrain._files import json_safe, write_atomic
from powertrain.errors import ConfigError
from powertrain.integrations._carbon import Carbon, CarbonAccount, CarbonHook
from powertrain.integrations._forecast import ForecastLog
from powertrain.integrations._segments import Segment, all_gather, local_part, merge_parts
from powertrain.integrations._steps import StepWindows
from powertrain.integrations._summary import tracker_summary
from powertrain.integrations.distributed import Claim, Ranks, claim_sensors, job_pids, ranks
from powertrain.integrations.trackers._energy import tracker_log
from powertrain.meters import Attribution, EnergyMeter, Measurement, ProcessTree, discover_sensors, make_attribution
from powertrain.meters.base import Clock, Sensor
from powertrain.meters.window import Window
from powertrain.training.ledger import EnergyLedger

__all__ = ["Carbon", "CarbonHook", "EnergyTracker", "Segment"]


@dataclass
class _Epoch:
    number: int
    start_energy_j: float
    start_elapsed_s: float


class EnergyTracker(StepWindows):
    """Energy per epoch, per step (optionally), to a target, and in total, for any training loop.

    Usage (every call is collective under ``torch.distributed``: call it on every rank, in the same order)::

        tracker = EnergyTracker(target_metric="val_accuracy", target=0.9).start()
        for epoch in range(1, epochs + 1):
            tracker.begin_epoch(epoch)
            for batch in loader:
                with tracker.step():               # only timestamps; resolved at flush_steps()
                    train_step(batch)
            tracker.cut("train")
            accuracy = evaluate()
            tracker.cut("eval")
            figures = tracker.end_epoch({"val_accuracy": accuracy})   # epoch_energy_j, energy_j, ...
        summary = tracker.finish(path="runs/a/energy_summary.json")   # rank 0 writes it

    Args:
        sensors: Sensors this process could read (yours to close). Default: discovered, limited to ``gpu_indices``.
        gpu_indices: CUDA GPUs this process uses (default: every visible GPU when single-process, else none).
        target_metric: Name of the metric that defines "reached the target" (e.g. ``"val_accuracy"``).
        target: The value that metric must reach.
        mode: ``"max"``: reached when ``metric >= target``; ``"min"``: when ``metric <= target`` (a loss).
        carbon: CO2e: True (default: powertrain.carbon's world-average grid intensity and industry-average PUE,
            labelled so), a ``CarbonSettings`` (country, cloud region, PUE, intensity), False/None (none), or
            ``(energy_j, duration_s) -> {"co2e_kg": ...}``. Log figures get ``co2e_kg`` (operational, for the run
            so far and per epoch); the summary gets the footprint (operational and embodied, never summed).
        sample_period_s: The meter's sampling period (None: manual sampling, tests).
        clock: The meter's clock (tests pass a fake one).
        host_id: This machine's identity for sensor ownership (default: the kernel's boot id).
        framework: Recorded in the summary (``"lightning"``, ``"huggingface"``, ``"pytorch"``).
        planned_epochs: The epochs the run may train: with an accuracy-like target (``mode="max"``) every observed
            epoch gets a forecast (:attr:`forecasts`, ``forecast`` in the epoch's figures and the summary).
        log: Experiment trackers for the figures (``mlflow``, ``tensorboard``, ``wandb``; ``NAME:OPTION``): rank 0
            logs each epoch's figures and metrics, then the summary file and the status (docs/integrations.md).
        run_name: The tracker run's name and key (default: the framework and the start time).
        run_params: Parameters for the tracker run (hyperparameters).
        attribution: Whose energy: ``"process"`` (default: this rank's process tree; under ``torch.distributed``
            every rank measures its own share of its host and the shares are summed, so the job counts each joule
            once), ``"cgroup"``/``"cgroup:PATH"``, ``"machine"`` (every sensor in full, claimed once per host),
            or an :class:`~powertrain.meters.Attribution`.

    Raises:
        ConfigError: A target without a metric name or the reverse, a bad ``mode``, or an unknown or missing
            tracker in ``log``.
    """

    def __init__(
        self,
        *,
        sensors: Sequence[Sensor] | None = None,
        gpu_indices: Sequence[int] | None = None,
        target_metric: str | None = None,
        target: float | None = None,
        mode: Literal["max", "min"] = "max",
        carbon: Carbon = True,
        sample_period_s: float | None = 0.1,
        clock: Clock = time.monotonic,
        host_id: str | None = None,
        framework: str = "pytorch",
        planned_epochs: int | None = None,
        log: Sequence[str] = (),
        run_name: str | None = None,
        run_params: Mapping[str, Any] | None = None,
        attribution: Attribution | str | None = None,
    ) -> None:
        if (target_metric is None) != (target is None):
            raise ConfigError("give both target_metric and target (or neither)")
        if target is not None and not (isinstance(target, (int, float)) and math.isfinite(target)):
            raise ConfigError(f"target must be a finite number, not {target!r}")
        if mode not in ("max", "min"):
            raise ConfigError(f"mode must be 'max' or 'min', not {mode!r}")
        self.target_metric, self.target, self.mode = target_metric, target, mode
        self.forecasts = ForecastLog(target if mode == "max" else None, planned_epochs)
        self.carbon, self.framework = CarbonAccount(carbon), framework
        self._sensors, self._gpu_indices = sensors, gpu_indices
        self._sample_period_s, self._clock, self._host_id = sample_period_s, clock, host_id
        self._attribution = attribution if isinstance(attribution, Attribution) else None
        self.attribution_kind = make_attribution(attribution).kind if self._attribution is None else attribution.kind
        self._attribution_word = attribution
        self.ranks: Ranks = Ranks()
        self._claim: Claim | None = None
        self._created: list[Sensor] = []
        self._meter: EnergyMeter | None = None
        self._scope: Any = None
        self._window: Window | None = None
        self._serial = 0
        self._steps: list[tuple[int, Window]] = []
        self._step_scope: Any = None
        self._step_count = 0
        self._epoch: _Epoch | None = None
        self.segments: list[Segment] = []
        self.epochs: list[dict[str, Any]] = []
        self.ledger = EnergyLedger()  #: the run's energy up to the last cut (the same account as train()'s)
        self.reached: dict[str, Any] | None = None
        self.started_at: str | None = None
        self._hosts: list[dict[str, Any]] | None = None
        self._log = tracker_log(log, run_name or f"{framework}-{datetime.now():%Y%m%d-%H%M%S}", run_params)

    # -- lifecycle -------------------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran and :meth:`finish` did not."""
        return self._meter is not None

    def start(self) -> EnergyTracker:
        """Claim this rank's sensors (collective), start the meter and the first segment."""
        if self._meter is not None:
            return self
        self.ranks = ranks()
        candidates = self._sensors
        if candidates is None:
            gpus = self._gpu_indices
            if gpus is None and self.ranks.world_size > 1:
                gpus = []  # a rank measures the GPU it uses, never every visible one
            candidates = self._created = discover_sensors(gpu_indices=gpus, clock=self._clock)
        split_host = self.attribution_kind != "machine"
        self._claim = claim_sensors(candidates, host_id=self._host_id, job=self.ranks, split_host=split_host)
        for sensor in self._claim.dropped:
            if sensor in self._created:
                sensor.close()
        scope = self._attribution or make_attribution(self._attribution_word)
        if isinstance(scope, ProcessTree):  # the job's other ranks on this host are not "others" on a shared GPU
            scope.also = job_pids(self.ranks, self._host_id)
        self._meter = EnergyMeter(
            self._claim.owned, sample_period_s=self._sample_period_s, clock=self._clock, attribution=scope
        )
        self._meter.start()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._open_segment()
        if self._log is not None:
            self._log.start(active=self.ranks.is_zero)
        return self

    def _open_segment(self) -> None:
        assert self._meter is not None  # noqa: S101 - internal invariant
        self._serial += 1
        self._scope = self._meter.window(f"powertrain-segment-{self._serial}")
        self._window = self._scope.__enter__()

    def _close(self) -> None:
        for sensor in self._created:
            sensor.close()
        self._created = []

    # -- segments --------------------------------------------------------------------------------------------
    def cut(self, phase: str = "train") -> Segment:
        """End the current segment (labelled ``phase``) and start the next one; collective.

        Returns:
            The ended segment's figures, summed over every rank.
        """
        if self._meter is None or self._window is None:
            raise RuntimeError("EnergyTracker.cut() before start() or after finish()")
        scope, window = self._scope, self._window
        scope.__exit__(None, None, None)
        self._open_segment()
        return self._account(phase, self._gather(window.measurement))

    def _gather(self, m: Measurement) -> list[dict[str, Any]]:
        assert self._claim is not None  # noqa: S101 - internal invariant
        return all_gather(local_part(m, self._claim.labels, owns_sensors=bool(self._claim.owned)), self.ranks)

    def _account(self, phase: str, parts: list[dict[str, Any]]) -> Segment:
        segment = merge_parts(phase, parts)
        self.segments.append(segment)
        self.ledger.count(
            phase, energy_j=segment.energy_j, duration_s=segment.duration_s, by_device_j=segment.energy_by_device_j,
            by_component_j=segment.energy_by_component_j, source_by_device=segment.sources,
            estimated=segment.estimated, failed=segment.failed_sensors, warnings=segment.warnings,
            machine_j=segment.machine_j, machine_by_device_j=segment.machine_by_device_j, dynamic_j=segment.dynamic_j,
            static_j=segment.static_j, attribution=segment.attribution, cpu_s=segment.cpu_s,
        )  # fmt: skip
        return segment

    @property
    def energy_j(self) -> float:
        """Joules of the run up to the last cut, over every rank."""
        return self.ledger.energy_j

    @property
    def elapsed_s(self) -> float:
        """Seconds of the run up to the last cut."""
        return self.ledger.elapsed_s

    @property
    def phase_energy_j(self) -> dict[str, float]:
        """Joules per phase up to the last cut."""
        return self.ledger.phase_energy_j

    # -- epochs and the target -------------------------------------------------------------------------------
    def begin_epoch(self, epoch: int | None = None) -> None:
        """Mark the start of an epoch (numbered from 1; default: the previous one plus one). No sensor read.

        The epoch's energy is counted from the last cut, so anything between that cut and this call belongs to it.
        """
        number = epoch if epoch is not None else (self.epochs[-1]["epoch"] + 1 if self.epochs else 1)
        self._epoch = _Epoch(number, self.energy_j, self.elapsed_s)

    def end_epoch(self, metrics: Mapping[str, Any] | None = None, *, phase: str = "train") -> dict[str, Any]:
        """Cut (collective), close the epoch and check ``metrics`` against the target.

        Returns:
            The epoch's figures: ``epoch``, ``epoch_energy_j``, ``epoch_duration_s``, ``epoch_power_w``,
            ``energy_j`` and ``duration_s`` (the run so far), ``energy_to_target_j`` once reached, and the
            carbon figures (``epoch_co2e_kg``, ...) when a carbon hook is set.
        """
        self.cut(phase)
        epoch = self._epoch or _Epoch(len(self.epochs) + 1, 0.0, 0.0)
        self._epoch = None
        energy_j = self.energy_j - epoch.start_energy_j
        duration_s = self.elapsed_s - epoch.start_elapsed_s
        figures: dict[str, Any] = {
            "epoch": epoch.number,
            "epoch_energy_j": energy_j,
            "epoch_duration_s": duration_s,
            "epoch_power_w": energy_j / duration_s if duration_s > 0 else 0.0,
            "energy_j": self.energy_j,
            "duration_s": self.elapsed_s,
        }
        figures.update({f"epoch_{k}": v for k, v in self._carbon(energy_j, duration_s).items()})
        if metrics:
            self.observe(metrics, epoch=epoch.number)
        if self.reached is not None:
            figures["energy_to_target_j"] = self.reached["energy_to_target_j"]
        if self.forecasts.latest is not None and self.forecasts.latest.epochs_seen == epoch.number:
            figures["forecast"] = self.forecasts.latest.to_dict()
        self.epochs.append(figures)
        if self._log is not None:
            self._log.epoch(figures, metrics)
        return figures

    def observe(self, metrics: Mapping[str, Any], *, epoch: int | None = None, step: int | None = None) -> bool:
        """Check the target metric against the energy up to the last cut; True when it is reached for the first time.

        Call it right after the :meth:`cut` that ends the evaluation which produced ``metrics``.
        """
        if self.target_metric is None or self.target is None:
            return False
        value = _number(metrics.get(self.target_metric))
        if value is not None and epoch is not None:  # where the run is heading (an accuracy-like target only)
            self.forecasts.record(epoch, value, self.energy_j, self.elapsed_s)
        if self.reached is not None:
            return False
        if value is None:
            return False
        hit = value >= self.target if self.mode == "max" else value <= self.target
        if hit:
            self.reached = {
                "metric": self.target_metric,
                "value": value,
                "energy_to_target_j": self.energy_j,
                "time_to_target_s": self.elapsed_s,
                "epochs_to_target": epoch if epoch is not None else (self._epoch.number if self._epoch else None),
                "step": step,
            }
        return hit

    def _carbon(self, energy_j: float, duration_s: float) -> dict[str, Any]:
        return self.carbon.figures(energy_j, duration_s)

    # -- resuming --------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The totals up to the last cut, as plain containers (for a framework's checkpoint)."""
        ledger = self.ledger
        return {
            "energy_j": ledger.energy_j,
            "elapsed_s": ledger.elapsed_s,
            "phase_energy_j": dict(ledger.phase_energy_j),
            "by_device": dict(ledger.by_device_j),
            "by_component": dict(ledger.by_component_j),
            "sources": dict(ledger.source_by_device),
            "failed": dict(ledger.failed),
            "warnings": list(ledger.warnings),
            "epochs": [dict(e) for e in self.epochs],
            "reached": dict(self.reached) if self.reached else None,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state` (before :meth:`start`): a resumed run counts what it had already spent.

        Energy spent after the checkpoint by the run that was interrupted is not in the state, so it is lost,
        never counted twice.
        """
        if self._meter is not None:
            raise RuntimeError("EnergyTracker.load_state() after start()")
        sources = dict(state.get("sources", {}))
        self.ledger = EnergyLedger(
            energy_j=float(state.get("energy_j", 0.0)),
            elapsed_s=float(state.get("elapsed_s", 0.0)),
            phase_energy_j=dict(state.get("phase_energy_j", {})),
            by_device_j=dict(state.get("by_device", {})),
            by_component_j=dict(state.get("by_component", {})),
            source_by_device=sources,
            sources=set(sources.values()),
            estimated="estimated" in sources.values(),
            failed=dict(state.get("failed", {})),
            warnings=dict.fromkeys(state.get("warnings", [])),
        )
        self.epochs = [dict(e) for e in state.get("epochs", [])]
        reached = state.get("reached")
        self.reached = dict(reached) if reached else None

    # -- results ---------------------------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The run so far, up to the last cut: ``energy_j``, ``duration_s``, ``power_w``, target and carbon."""
        figures: dict[str, Any] = {
            "energy_j": self.energy_j,
            "duration_s": self.elapsed_s,
            "power_w": self.energy_j / self.elapsed_s if self.elapsed_s > 0 else 0.0,
        }
        if self.reached is not None:
            figures["energy_to_target_j"] = self.reached["energy_to_target_j"]
        figures.update(self._carbon(self.energy_j, self.elapsed_s))
        return figures

    def summary(self, status: str = "completed") -> dict[str, Any]:
        """The run's summary (JSON-ready) up to the last cut."""
        return tracker_summary(self, status)

    def finish(self, *, path: Path | str | None = None, status: str = "completed") -> dict[str, Any]:
        """Cut the last segment (collective), stop the meter, and write the summary on rank 0.

        With ``status`` other than ``"completed"`` (the run failed or was interrupted) nothing collective
        happens: the tail since the last cut is counted for this rank only, and the summary says so.

        Args:
            path: Where rank 0 writes the summary JSON (atomically); None: not written.
            status: ``"completed"``, ``"failed"`` or ``"interrupted"``.

        Returns:
            The summary (on every rank).
        """
        if self._meter is None:
            raise RuntimeError("EnergyTracker.finish() before start() or called twice")
        if status == "completed":
            self.cut("other")
            self._hosts = self._gather_hosts()
        else:
            self._scope.__exit__(None, None, None)
            assert self._window is not None  # noqa: S101 - internal invariant
            local = self._gather_local_only(self._window.measurement)
            self._account("other", [local])
        self.step_end()
        self._meter.close()
        self._meter = None
        self._close()
        summary = self.summary(status)
        if status != "completed" and self.ranks.world_size > 1:
            summary["warnings"].append(
                f"the run ended with status {status!r}: energy after the last cut is rank {self.ranks.rank}'s only"
            )
        if path is not None and self.ranks.is_zero:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, json.dumps(json_safe(summary), indent=2) + "\n")
        if self._log is not None:
            self._log.finish(path, status, summary)
        return summary

    def _gather_hosts(self) -> list[dict[str, Any]]:
        """The hardware tag of every distinct host of the job, rank 0's first (collective)."""
        from powertrain.hardware import describe_hardware

        everyone = all_gather(describe_hardware(), self.ranks)
        by_host: dict[Any, dict[str, Any]] = {}
        for hardware in everyone:
            by_host.setdefault(hardware.get("hostname"), hardware)
        return list(by_host.values())

    def _gather_local_only(self, m: Measurement) -> dict[str, Any]:
        active, self.ranks = self.ranks, Ranks(self.ranks.rank, self.ranks.world_size, False)
        try:
            return self._gather(m)[0]
        finally:
            self.ranks = active


def _number(value: Any) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
