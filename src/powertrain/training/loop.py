"""The training loop: one measured, resumable run, top to bottom.

``train(config)`` loads the data and the model, trains for ``config.epochs`` epochs inside an
:class:`~powertrain.meters.EnergyMeter`, evaluates after every epoch, and writes the run directory
(:mod:`powertrain.training.rundir`). Each epoch's training phase and its evaluation are two back-to-back meter
windows, which add up exactly to the whole. Every half second the loop syncs with the device once, to check the loss
for NaN, refresh the display and the heartbeat, and compare the meter's running total with the energy budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from powertrain._files import remove_stale_temps
from powertrain.errors import ConfigError, DamagedFileError, Terminated, raise_terminated
from powertrain.meters import EnergyMeter, Sensor
from powertrain.training._heartbeat import Heartbeat
from powertrain.training.accounting import Phase, Totals, make_checkpoint, make_record, make_summary, restore_rng
from powertrain.training.config import TrainConfig
from powertrain.training.objective import Objective
from powertrain.training.optim import make_optimizer, make_schedule
from powertrain.training.progress import ProgressReporter, QuietReporter
from powertrain.training.rundir import EpochRecord, RunDir
from powertrain.training.transfer import load_init_state, prepare_model

__all__ = ["RESUMABLE_FIELDS", "EpochCallback", "Status", "TrainResult", "train"]

log = logging.getLogger(__name__)

Status = Literal["completed", "reached_target", "budget_exhausted", "diverged", "interrupted", "pruned", "failed"]

#: ``on_epoch(record, totals)``: called after every finished, checkpointed epoch; returning True stops the run
#: with status ``"pruned"``.
EpochCallback = Callable[[EpochRecord, Totals], "bool | None"]

#: Fields that may change when a run is resumed; every other field must match the stored config.
RESUMABLE_FIELDS = frozenset(
    {
        "epochs",
        "target_accuracy",
        "stop_at_target",
        "energy_budget_j",
        "estimate_batch_size",
        "estimate_max_batches",
        "workers",
        "device",
        "data_dir",
        "download",
        "data_on_device",
        "meter_interval_s",
        "gpu_indices",
        "out",
        "country",
        "region",
        "pue",
        "intensity_g_per_kwh",
    }
)
_REFRESH_S = 0.5  # how often the display, the heartbeat, the budget and the NaN check (one host sync) run


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
) -> TrainResult:
    """Train one model and measure its energy.

    Args:
        config: The run's configuration. With ``resume`` it may be None (the stored config is used) or change only
            :data:`RESUMABLE_FIELDS` (for example more ``epochs``).
        resume: A run directory whose checkpoint to continue. Epochs already finished are not run or counted again;
            energy spent in an epoch that was interrupted is added to the total as lost energy.
        sensors: Energy sensors for the meter; default: every sensor found on this machine.
        reporter: Live display; default: none.
        on_epoch: Called as ``on_epoch(record, totals)`` after every epoch that finished and was checkpointed (and
            after ``metrics.csv`` and the summary were updated), with the epoch's :class:`EpochRecord` and the run's
            running :class:`~powertrain.training.accounting.Totals`. Returning True stops the run there with status
            ``"pruned"``: the summary is final, the model is saved, and every epoch run is counted (a resume with
            more ``epochs`` continues it). Not called for an epoch that ended the run (target reached, budget spent,
            diverged). An exception it raises propagates; the finished epochs stay in the checkpoint.

    Returns:
        The :class:`TrainResult`. The same facts are in the run directory.

    Raises:
        ConfigError: A bad configuration value, or a resume that changes a fixed field.
        UnknownNameError: An unknown dataset or model.
        DataNotFoundError: The dataset is not on disk.
    """
    # pretrained weights are read before the run directory exists, so a bad init_from leaves nothing behind
    init_state = load_init_state(config.init_from) if resume is None and config and config.init_from else None
    run, config, state = _open_run(config, resume)
    with run.locked(), _terminate_on_sigterm():
        return _train_locked(run, config, state, sensors, reporter or QuietReporter(), on_epoch, init_state)


def _train_locked(
    run: RunDir,
    config: TrainConfig,
    state: dict[str, Any] | None,
    sensors: Sequence[Sensor] | None,
    reporter: ProgressReporter,
    on_epoch: EpochCallback | None,
    init_state: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    remove_stale_temps(run.path)
    device = resolve_device(config.device)
    _seed_everything(config.seed)

    bundle = load_data(config)
    info = bundle.info
    warnings: list[str] = []
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
    model = build_model(config, info)
    criterion = prepare_model(model, config, info, init_state)
    model = model.to(device)
    optimizer = make_optimizer(model, config)
    schedule = make_schedule(optimizer, config, steps_per_epoch=len(train_loader))
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    penalty = _make_penalty(model, config)

    history: list[EpochRecord] = []
    done = 0  # epochs in the checkpoint
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if schedule.scheduler is not None and state.get("scheduler"):
                schedule.scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            history = [EpochRecord.from_dict(r) for r in state["history"]]
            if history and history[0].epoch == 0:  # checkpoints of powertrain <= 0.1 counted epochs from 0
                history = [dataclasses.replace(r, epoch=r.epoch + 1) for r in history]
            done = int(state["epoch"])
            totals = Totals.from_history(
                history, float(state["lost_energy_j"]), float(state["lost_time_s"]), state.get("totals")
            )
            restore_rng(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DamagedFileError(
                f"{run.checkpoint_path} does not fit this run's model and config ({str(exc).splitlines()[0][:160]})"
            ) from None
        totals.processes += 1
    else:
        totals = Totals()
    beat = run.read_heartbeat()
    if beat is not None and beat["epoch"] > done:  # the epoch after the checkpoint was interrupted
        before_j = totals.lost_energy_j
        totals.add_lost(beat)
        if state is None:  # the process that wrote it was killed before its first checkpoint: count it too
            totals.processes += 1
        if totals.lost_energy_j > before_j:
            log.info("epoch %d was interrupted after %.1f J; counted as lost energy", beat["epoch"], beat["energy_j"])
    if state is not None or beat is not None:
        # a resume persists its start (and the lost energy just counted) before the heartbeat is replaced, so a
        # second interruption of the same epoch cannot drop the first one's joules; a fresh run has no checkpoint
        # until its first epoch is finished
        run.save_checkpoint(make_checkpoint(model, optimizer, schedule, scaler, done, history, totals))
    run.clear_heartbeat()
    run.write_metrics(history)

    status: Status = "completed"
    reason: str | None = None
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meter = EnergyMeter(
        sensors,
        gpu_indices=config.gpu_indices if sensors is None else None,
        sample_period_s=config.meter_interval_s,
        sync_cuda=device.type == "cuda",
    )
    summary: dict[str, Any] = {}

    def write_summary(current: str, *, final: bool, **extra: Any) -> None:
        summary.clear()
        summary.update(make_summary(config, run, history, totals, current, meter, started_at, final=final))
        summary["warnings"] = list(warnings)
        summary.update(criterion.summary(history, config.target_accuracy))  # per task, for a multitask model
        summary.update(extra)
        run.write_summary(summary)

    totals.live_base_j = totals.energy_j  # the meter's own total counts from here
    checkpointed = done  # epochs in checkpoint.pt: what an interruption keeps
    reporter.start(total_epochs=config.epochs, first_epoch=done)
    try:
        with meter, Heartbeat(run, meter, interval_s=_heartbeat_interval(config)) as heartbeat:
            write_summary("running", final=False)
            for epoch in range(done + 1, config.epochs + 1):  # epochs count from 1
                heartbeat.begin_epoch(epoch)
                if penalty is not None:
                    penalty.set_epoch(epoch - 1, steps_per_epoch=max(1, len(train_loader)))  # 0-based
                train_loader.set_epoch(epoch - 1)
                reporter.start_epoch(epoch, len(train_loader))
                phase = _train_epoch(
                    model,
                    train_loader,
                    optimizer,
                    schedule,
                    scaler,
                    penalty,
                    config,
                    device,
                    meter,
                    reporter,
                    epoch,
                    totals,
                    criterion,
                )
                schedule.step_epoch()
                with meter.window(f"eval:{epoch}") as window:
                    evaluation = criterion.evaluate(model, test_loader, amp=config.amp)
                val_loss, val_accuracy = evaluation.loss, evaluation.accuracy
                totals.add(window.measurement)
                record = make_record(epoch, phase, window.measurement, val_loss, val_accuracy, optimizer, totals)
                record = criterion.annotate(record, evaluation)
                history.append(record)
                reporter.end_epoch(record)
                if phase.diverged or not math.isfinite(val_loss):
                    status = "diverged"
                    reason = _divergence_reason(phase, epoch, config, val_loss)
                elif not phase.complete:
                    status = "budget_exhausted"
                else:
                    run.save_checkpoint(make_checkpoint(model, optimizer, schedule, scaler, epoch, history, totals))
                    checkpointed = epoch
                    heartbeat.checkpointed()
                run.write_metrics(history)
                if (
                    status == "completed"
                    and config.energy_budget_j is not None
                    and totals.energy_j >= config.energy_budget_j
                ):
                    status = "budget_exhausted"
                reached = config.target_accuracy is not None and val_accuracy >= config.target_accuracy
                if status == "completed" and config.stop_at_target and reached:
                    status = "reached_target"
                if status != "completed":
                    break
                write_summary("running", final=False)
                if on_epoch is not None and on_epoch(record, totals) is True:
                    status = "pruned"
                    break
    except KeyboardInterrupt as exc:
        # report exactly what a resume will find: the checkpointed epochs (the one in flight is redone)
        del history[checkpointed:]
        _record_end(run, history, write_summary, "interrupted", signal=_signal_name(exc))
        reporter.stop()
        raise
    except BaseException as exc:
        del history[checkpointed:]
        _record_end(run, history, write_summary, "failed", error=f"{type(exc).__name__}: {_first_line(exc)}")
        reporter.stop()
        raise
    reporter.stop()

    if status != "diverged":
        run.save_model({k: v.detach().cpu() for k, v in model.state_dict().items()})
    extra = {"reason": reason} if reason else {}
    write_summary(status, final=True, **extra)
    if status == "diverged":
        log.warning("run diverged: %s", reason)
    if config.estimate_batch_size > 0 and status != "diverged":
        summary["accelerator"] = _estimate_accelerator(model, bundle, config, device)
        run.write_summary(summary)
    return TrainResult(run_dir=run.path, status=status, history=history, summary=summary, model=model)


def _heartbeat_interval(config: TrainConfig) -> float:
    """Seconds between heartbeats: as often as the meter has new energy (at most every 0.5 s, at least 0.05 s apart).

    Energy spent in an epoch before its first heartbeat is lost to a kill, so short epochs need a short interval.
    """
    return min(_REFRESH_S, max(config.meter_interval_s, 0.05))


def _record_end(run: RunDir, history: list[EpochRecord], write_summary: Any, status: str, **extra: Any) -> None:
    """Record how the run ended, as far as the disk allows (a full disk must not hide the original error)."""
    try:
        run.write_metrics(history)
    except OSError:
        pass
    try:
        write_summary(status, final=True, **extra)
    except OSError:
        log.warning("could not record status %s in %s (the disk may be full)", status, run.summary_path)


def _divergence_reason(phase: Any, epoch: int, config: TrainConfig, val_loss: float) -> str:
    if phase.reason:
        return str(phase.reason)
    where = "training loss" if phase.diverged else "validation loss"
    return (
        f"the {where} became {'NaN' if phase.loss != phase.loss or val_loss != val_loss else 'infinite'} in epoch "
        f"{epoch} (lr {config.lr:g}); lower the learning rate or use amp off"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _signal_name(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


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


def _train_epoch(
    model: nn.Module,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    scaler: torch.amp.GradScaler,
    penalty: Any,
    config: TrainConfig,
    device: torch.device,
    meter: EnergyMeter,
    reporter: ProgressReporter,
    epoch: int,
    totals: Totals,
    criterion: Objective,
) -> Phase:
    model.train()
    phase = Phase()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    density_sum = torch.zeros((), device=device, dtype=torch.float64)
    meter.begin(f"train:{epoch}")
    refreshed = time.monotonic()
    with penalty if penalty is not None else contextlib.nullcontext():
        for step, (x, y) in enumerate(loader, start=1):
            with _autocast(device, config.amp):
                out = model(x)
                loss = criterion.loss(out, y)
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
            schedule.step_batch()
            loss_sum += loss.detach().double() * y.numel()
            correct += criterion.correct(out.detach(), y)
            if penalty is not None:
                density_sum += penalty.last_density.double() * y.numel()
            phase.samples += y.numel()

            now = time.monotonic()
            if now - refreshed < _REFRESH_S and step < len(loader):
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


def _estimate_accelerator(model: nn.Module, bundle: Any, config: TrainConfig, device: torch.device) -> dict[str, Any]:
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


def _open_run(
    config: TrainConfig | None, resume: str | Path | None
) -> tuple[RunDir, TrainConfig, dict[str, Any] | None]:
    if resume is None:
        if config is None:
            raise ConfigError("train() needs a config, or resume=RUN_DIR")
        config.validate()
        run = RunDir(config.out or _default_out(config))
        run.create()
        run.write_config(config.to_dict())
        return run, config, None
    run = RunDir(resume)
    stored = TrainConfig.from_dict(run.read_config())
    if config is not None:
        changed = sorted(
            k for k, v in config.to_dict().items() if v != getattr(stored, k) and k not in RESUMABLE_FIELDS
        )
        if changed:
            raise ConfigError(f"cannot change {', '.join(changed)} when resuming {run.path}; start a new run instead")
        stored = stored.replace(**{k: getattr(config, k) for k in RESUMABLE_FIELDS if k != "out"})
    stored.out = str(run.path)
    stored.validate()
    if run.checkpoint_path.exists():
        state: dict[str, Any] | None = run.load_checkpoint()
    else:
        _refuse_resume_without_checkpoint(run)
        state = None
    run.write_config(stored.to_dict())
    return run, stored, state


def _refuse_resume_without_checkpoint(run: RunDir) -> None:
    """A run without checkpoint.pt may restart only if it finished nothing: never retrain over a finished record."""
    finished = len(run.read_metrics())
    if finished == 0 and run.summary_path.exists():
        try:
            finished = int(run.read_summary().get("epochs_completed") or 0)
        except (ConfigError, TypeError, ValueError):
            finished = 1  # a summary we cannot read: assume it records work
    if finished or run.model_path.exists():
        raise ConfigError(
            f"{run.path} has no checkpoint.pt but records finished work ({finished} epoch(s)"
            f"{', model.pt' if run.model_path.exists() else ''}); resuming would retrain it from scratch and overwrite "
            "metrics.csv and summary.json: restore checkpoint.pt, or start a new run with --out"
        )


def _default_out(config: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = config.dataset.replace(":", "-").replace("/", "_")
    return Path("runs") / f"{name}-{config.model}-{stamp}"


def _make_penalty(model: nn.Module, config: TrainConfig) -> Any:
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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name} asked for, but CUDA is not available here; use --device cpu")
    return device


@contextlib.contextmanager
def _autocast(device: torch.device, amp: str) -> Iterator[None]:
    if amp == "off":
        yield
        return
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
