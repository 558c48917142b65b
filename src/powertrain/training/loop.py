"""The training loop: one measured, resumable run, top to bottom.

``train(config)`` builds what the config names (:mod:`~powertrain.training.build`), takes back a checkpoint when it
resumes (:mod:`~powertrain.training.resume`), trains for ``config.epochs`` epochs inside an
:class:`~powertrain.meters.EnergyMeter`, evaluates after every epoch, and writes the run directory
(:mod:`powertrain.training.rundir`). Each epoch's training phase (:mod:`~powertrain.training.epoch`) and its
evaluation are two back-to-back meter windows, which add up exactly to the whole.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from powertrain import _killpoints as killpoints
from powertrain._files import remove_stale_temps
from powertrain.errors import ConfigError, Terminated, raise_terminated
from powertrain.meters import Attribution, EnergyMeter, Sensor
from powertrain.training._heartbeat import Heartbeat
from powertrain.training.accounting import Totals, make_checkpoint, make_record, make_summary
from powertrain.training.build import RunParts, build_parts, estimate_accelerator
from powertrain.training.config import TrainConfig
from powertrain.training.device import resolve_device, seed_everything
from powertrain.training.epoch import REFRESH_S, divergence_reason, train_epoch
from powertrain.training.forecasts import RunForecasts
from powertrain.training.objective import Objective
from powertrain.training.outputs import RunOutputs
from powertrain.training.progress import ProgressReporter, QuietReporter
from powertrain.training.resume import RESUMABLE_FIELDS, check_new_run, open_run, take_back
from powertrain.training.rundir import EpochRecord, RunDir
from powertrain.training.transfer import load_init_state

if TYPE_CHECKING:
    from powertrain.integrations.trackers import Trackers

__all__ = ["RESUMABLE_FIELDS", "EpochCallback", "Status", "TrainResult", "evaluate", "train"]

log = logging.getLogger(__name__)

Status = Literal["completed", "reached_target", "budget_exhausted", "diverged", "interrupted", "pruned", "failed"]

#: ``on_epoch(record, totals)``: called after every finished, checkpointed epoch; returning True stops the run
#: with status ``"pruned"``.
EpochCallback = Callable[[EpochRecord, Totals], "bool | None"]


@dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, how it ended, the per-epoch history, the summary and the model."""

    run_dir: Path
    status: Status
    history: list[EpochRecord]
    summary: dict[str, Any]
    model: nn.Module = field(repr=False)


def train(
    config: TrainConfig | None = None,
    *,
    resume: str | Path | None = None,
    sensors: Sequence[Sensor] | None = None,
    reporter: ProgressReporter | None = None,
    on_epoch: EpochCallback | None = None,
    trackers: Trackers | None = None,
    serve: str | None = None,
    attribution: Attribution | None = None,
) -> TrainResult:
    """Train one model and measure its energy.

    Args:
        config: The run's configuration. With ``resume`` it may be None (the stored config is used) or change only
            :data:`RESUMABLE_FIELDS` (for example more ``epochs``).
        resume: A run directory whose checkpoint to continue. Epochs already finished are not run or counted again;
            energy spent in an epoch that was interrupted is added to the total as lost energy.
        sensors: Energy sensors for the meter; default: every sensor found on this machine.
        attribution: Whose energy, instead of ``config.attribution`` (tests pass a scripted scope).
        reporter: Live display; default: none.
        on_epoch: Called as ``on_epoch(record, totals)`` after every epoch that finished and was checkpointed (and
            after ``metrics.csv`` and the summary were updated), with the epoch's :class:`EpochRecord` and the run's
            running :class:`~powertrain.training.accounting.Totals`. Returning True stops the run there with status
            ``"pruned"``: the summary is final, the model is saved, and every epoch run is counted (a resume with
            more ``epochs`` continues it). Not called for an epoch that ended the run (target reached, budget spent,
            diverged). An exception it raises propagates; the finished epochs stay in the checkpoint.
        trackers: The run's tracker runs (a sweep's trial: a child of its parent run); default: ``config.log``'s
            trackers, keyed by the run folder so that a resume continues them. Each epoch's figures, the run's
            config, ``summary.json`` and the final status go there (:mod:`powertrain.training.outputs`).
        serve: ``[HOST:]PORT``: serve the run's energy, power, epoch and accuracy to Prometheus while it runs
            (bound to 127.0.0.1 unless a host is given; port 0: any free port).

    Returns:
        The :class:`TrainResult`. The same facts are in the run directory.

    Raises:
        ConfigError: A bad configuration value, or a resume that changes a fixed field.
        UnknownNameError: An unknown dataset or model.
        DataNotFoundError: The dataset is not on disk.
    """
    parts = None
    if resume is None and config is not None:
        # validate, then act: the data, the model (and pretrained weights) are built before the run directory
        # exists, so a bad dataset or model option, missing data or a bad init_from leaves nothing behind
        config = config.replace(out=str(check_new_run(config)))
        init_state = load_init_state(config.init_from) if config.init_from else None
        parts = _build(config, init_state)
    run, config, state = open_run(config, resume)
    outputs = RunOutputs(config, run, trackers=trackers, serve=serve)
    outputs.check()
    with run.locked(), _terminate_on_sigterm(), _torch_threads(config.threads):
        scope = attribution if attribution is not None else config.attribution
        return _train_locked(
            run, config, state, (sensors, scope), reporter or QuietReporter(), on_epoch, parts, outputs
        )


def _build(config: TrainConfig, init_state: dict[str, torch.Tensor] | None = None) -> RunParts:
    device = resolve_device(config.device)
    seed_everything(config.seed)
    return build_parts(config, device, init_state)


def _train_locked(
    run: RunDir,
    config: TrainConfig,
    state: dict[str, Any] | None,
    measured: tuple[Sequence[Sensor] | None, Attribution | str],
    reporter: ProgressReporter,
    on_epoch: EpochCallback | None,
    parts: RunParts | None = None,
    outputs: RunOutputs | None = None,
) -> TrainResult:
    remove_stale_temps(run.path)
    if parts is None:
        parts = _build(config)
    history, done, totals = take_back(run, parts, state)
    sensors, attribution = measured
    meter = EnergyMeter(
        sensors,
        gpu_indices=config.gpu_indices if sensors is None else None,
        sample_period_s=config.meter_interval_s,
        sync_cuda=parts.device.type == "cuda",
        attribution=attribution,
    )
    live = _Live(run, config, parts, meter, totals, history, checkpointed=done,
                 outputs=outputs or RunOutputs(config, run))  # fmt: skip
    live.forecasts = RunForecasts(config.target_accuracy, config.epochs, stop_at_target=config.stop_at_target,
                                  saved=_saved_forecasts(run) if state is not None else None)  # fmt: skip
    live.forecasts.update(history)
    totals.live_base_j = totals.energy_j  # the meter's own total counts from here
    reporter.start(total_epochs=config.epochs, first_epoch=done)
    try:
        with meter, Heartbeat(run, meter, interval_s=_heartbeat_interval(config)) as heartbeat:
            live.write_summary("running", final=False)
            live.outputs.start(meter, history)
            status, reason = _epochs(live, done + 1, heartbeat, reporter, on_epoch)
    except KeyboardInterrupt as exc:
        live.record_end("interrupted", signal=_signal_name(exc))
        reporter.stop()
        raise
    except BaseException as exc:
        live.record_end("failed", error=f"{type(exc).__name__}: {_first_line(exc)}")
        reporter.stop()
        raise
    reporter.stop()
    return _finish(live, status, reason)


def _epochs(
    live: _Live, first: int, heartbeat: Heartbeat, reporter: ProgressReporter, on_epoch: EpochCallback | None
) -> tuple[Status, str | None]:
    """Train and evaluate epoch after epoch from ``first``; returns how the run ended and why (for a divergence)."""
    run, config, parts, meter, totals, history = (
        live.run, live.config, live.parts, live.meter, live.totals, live.history,
    )  # fmt: skip
    for epoch in range(first, config.epochs + 1):  # epochs count from 1
        killpoints.reached("epoch", epoch, run.path)  # fault tests only (inert)
        heartbeat.begin_epoch(epoch)
        if parts.penalty is not None:
            parts.penalty.set_epoch(epoch - 1, steps_per_epoch=max(1, len(parts.train_loader)))  # 0-based
        parts.train_loader.set_epoch(epoch - 1)
        reporter.start_epoch(epoch, len(parts.train_loader))
        phase = train_epoch(parts, config, meter, reporter, epoch, totals)
        parts.schedule.step_epoch()
        heartbeat.flush()  # the training phase's energy is on disk, however short the epoch
        with meter.window(f"eval:{epoch}") as window:
            evaluation = parts.criterion.evaluate(parts.model, parts.test_loader, amp=config.amp)
        totals.add(window.measurement)
        record = make_record(epoch, phase, window.measurement, evaluation.loss, evaluation.accuracy, parts.optimizer,
                             totals)  # fmt: skip
        history.append(parts.criterion.annotate(record, evaluation))
        reporter.end_epoch(history[-1])
        latest = live.forecasts.update(history)
        ahead = latest is not None and not latest.reached and latest.epochs_seen < latest.planned_epochs
        if ahead and hasattr(reporter, "forecast"):
            reporter.forecast(latest)  # the live line: where the run is heading
        live.outputs.epoch(history[-1], forecast=latest)
        if phase.diverged or not math.isfinite(evaluation.loss):
            run.write_metrics(history)
            return "diverged", divergence_reason(phase, epoch, config, evaluation.loss)
        if phase.complete:
            run.save_checkpoint(make_checkpoint(parts, epoch, history, totals))
            killpoints.reached("checkpoint", epoch, run.path)  # fault tests only (inert)
            live.checkpointed = epoch
            heartbeat.checkpointed()
        run.write_metrics(history)
        budget_j = config.energy_budget_j
        if not phase.complete or (budget_j is not None and totals.energy_j >= budget_j):
            return "budget_exhausted", None
        target = config.target_accuracy
        if config.stop_at_target and target is not None and evaluation.accuracy >= target:
            return "reached_target", None
        live.write_summary("running", final=False)
        if on_epoch is not None and on_epoch(history[-1], totals) is True:
            return "pruned", None
    return "completed", None


def _finish(live: _Live, status: Status, reason: str | None) -> TrainResult:
    """Save the model, write the final summary (with the accelerator estimate when asked) and return the result."""
    run, config, parts = live.run, live.config, live.parts
    if status != "diverged":
        run.save_model({k: v.detach().cpu() for k, v in parts.model.state_dict().items()})
    live.write_summary(status, final=True, **({"reason": reason} if reason else {}))
    if status == "diverged":
        log.warning("run diverged: %s", reason)
    if config.estimate_batch_size > 0 and status != "diverged":
        live.summary["accelerator"] = estimate_accelerator(parts.model, parts.bundle, config, parts.device)
        run.write_summary(live.summary)
    live.outputs.end(status)
    return TrainResult(run_dir=run.path, status=status, history=live.history, summary=live.summary, model=parts.model)


@dataclass
class _Live:
    """A run in progress: what its summary is written from, and how many epochs its checkpoint holds."""

    run: RunDir
    config: TrainConfig
    parts: RunParts
    meter: EnergyMeter
    totals: Totals
    history: list[EpochRecord]
    checkpointed: int  # epochs in checkpoint.pt: what an interruption keeps
    outputs: RunOutputs
    summary: dict[str, Any] = field(default_factory=dict)
    forecasts: RunForecasts | None = None
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def write_summary(self, status: str, *, final: bool, **extra: Any) -> None:
        """Rewrite ``summary.json`` with ``status`` (and ``extra`` keys)."""
        config, history = self.config, self.history
        summary = make_summary(config, self.run, history, self.totals, status, self.meter, self.started_at, final=final)
        summary["warnings"] = list(self.parts.warnings)
        summary.update(self.parts.criterion.summary(history, config.target_accuracy))  # per task, for multitask
        if self.forecasts is not None and config.target_accuracy is not None:
            summary["forecasts"] = self.forecasts.to_list()[: len(history)]
        summary.update(extra)
        self.summary.clear()
        self.summary.update(summary)
        self.run.write_summary(self.summary)

    def record_end(self, status: str, **extra: Any) -> None:
        """Record how the run ended, as far as the disk allows (a full disk must not hide the original error).

        It reports exactly what a resume will find: the checkpointed epochs (the one in flight is redone).
        """
        del self.history[self.checkpointed :]
        try:
            self.run.write_metrics(self.history)
        except OSError:
            pass
        try:
            self.write_summary(status, final=True, **extra)
        except OSError:
            log.warning("could not record status %s in %s (the disk may be full)", status, self.run.summary_path)
        self.outputs.end(status, linger=False)


def _saved_forecasts(run: RunDir) -> list[dict[str, Any]] | None:
    """The forecasts an earlier process of this run wrote into its summary (a resume makes no forecast twice)."""
    try:
        saved = run.read_summary().get("forecasts")
    except (ConfigError, OSError):  # a missing or damaged summary only costs making them again
        return None
    return saved if isinstance(saved, list) else None


def _heartbeat_interval(config: TrainConfig) -> float:
    """Seconds between heartbeats: as often as the meter has new energy (at most every 0.5 s, at least 0.05 s apart).

    Energy spent in an epoch before its first heartbeat is lost to a kill, so short epochs need a short interval.
    """
    return min(REFRESH_S, max(config.meter_interval_s, 0.05))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _signal_name(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` PyTorch CPU threads (None: leave PyTorch's setting), restoring it afterwards."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`~powertrain.errors.Terminated` while training, where nobody else handles it.

    Schedulers (SLURM, Kubernetes) stop jobs with SIGTERM; like Ctrl-C it then keeps the checkpointed epochs and
    records status ``interrupted``. Only the main thread can install handlers, and a handler already installed (the
    CLI's, or the caller's own) is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def evaluate(model: nn.Module, loader: Any, *, amp: str = "off") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``loader`` (the worst task's for a multitask model)."""
    evaluation = Objective(model).evaluate(model, loader, amp=amp)
    return evaluation.loss, evaluation.accuracy
