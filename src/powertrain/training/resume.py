"""Opening a run directory, new or resumed: what a resume may change, and what it takes back from the checkpoint.

A resume continues from ``checkpoint.pt``: the finished epochs are not run or counted again, and the energy of an
epoch that was interrupted (its last heartbeat) is added to the run's total as lost energy, once.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from powertrain.errors import ConfigError, DamagedFileError
from powertrain.training.accounting import Totals, make_checkpoint
from powertrain.training.build import RunParts
from powertrain.training.config import TrainConfig
from powertrain.training.device import restore_rng
from powertrain.training.rundir import EpochRecord, RunDir

__all__ = ["RESUMABLE_FIELDS", "check_new_run", "open_run", "stored_config", "take_back"]

log = logging.getLogger(__name__)

#: Fields that may change when a run is resumed; every other field must match the stored config.
RESUMABLE_FIELDS = frozenset(
    {
        "epochs",
        "log",
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
        "threads",
    }
)


def stored_config(run: RunDir) -> TrainConfig:
    """The run directory's config; a run recorded before attribution existed keeps ``attribution: machine``.

    Its energy is machine-wide, so a resume must go on measuring the machine, or the totals would mix the two.
    """
    data = run.read_config()
    if isinstance(data, dict) and "attribution" not in data:
        data = {**data, "attribution": "machine"}
    return TrainConfig.from_dict(data)


def open_run(
    config: TrainConfig | None, resume: str | Path | None
) -> tuple[RunDir, TrainConfig, dict[str, Any] | None]:
    """The run directory (created, or the one to resume), the run's config and its checkpoint state (None: new).

    Raises:
        ConfigError: No config and nothing to resume, a resume that changes a field outside
            :data:`RESUMABLE_FIELDS`, or a run without checkpoint that records finished work.
    """
    if resume is None:
        if config is None:
            raise ConfigError("train() needs a config, or resume=RUN_DIR")
        run = RunDir(check_new_run(config))
        run.create()
        run.write_config(config.to_dict())
        return run, config, None
    run = RunDir(resume)
    stored = stored_config(run)
    if config is not None:
        changed = sorted(
            k for k, v in config.to_dict().items() if v != getattr(stored, k) and k not in RESUMABLE_FIELDS
        )
        if changed == ["attribution"]:
            raise ConfigError(
                f"{run.path} was measured with attribution {stored.attribution}; resume it with --attribution "
                f"{stored.attribution} (a run never mixes machine-wide and attributed energy), or start a new run"
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


def check_new_run(config: TrainConfig) -> Path:
    """Validate ``config`` for a new run and check, creating nothing, that its folder can hold one; returns the folder.

    The folder is ``config.out``, or ``runs/<dataset>-<model>-<time>`` when it has none.

    Raises:
        ConfigError: A bad value, or a folder that already holds a run (resume it instead).
        OutputError: ``out`` is a file.
    """
    config.validate()
    run = RunDir(config.out or _default_out(config))
    run.check_creatable()
    return run.path


def take_back(run: RunDir, parts: RunParts, state: dict[str, Any] | None) -> tuple[list[EpochRecord], int, Totals]:
    """Load the checkpoint into ``parts`` and count an interrupted epoch as lost; returns (history, epochs, totals).

    A resume persists its start (and the lost energy just counted) before the heartbeat is replaced, so a second
    interruption of the same epoch cannot drop the first one's joules; a fresh run has no checkpoint until its
    first epoch is finished.

    Raises:
        DamagedFileError: The checkpoint does not fit this run's model and config.
    """
    history: list[EpochRecord] = []
    done = 0  # epochs in the checkpoint
    totals = Totals()
    if state is not None:
        try:
            history, done, totals = _load_state(parts, state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DamagedFileError(
                f"{run.checkpoint_path} does not fit this run's model and config ({str(exc).splitlines()[0][:160]})"
            ) from None
        totals.processes += 1
    beat = run.read_heartbeat()
    if beat is not None and beat["epoch"] > done:  # the epoch after the checkpoint was interrupted
        before_j = totals.lost_energy_j
        totals.add_lost(beat)
        if state is None:  # the process that wrote it was killed before its first checkpoint: count it too
            totals.processes += 1
        if totals.lost_energy_j > before_j:
            log.info("epoch %d was interrupted after %.1f J; counted as lost energy", beat["epoch"], beat["energy_j"])
    if state is not None or beat is not None:
        run.save_checkpoint(make_checkpoint(parts, done, history, totals))
    run.clear_heartbeat()
    run.write_metrics(history)
    return history, done, totals


def _load_state(parts: RunParts, state: dict[str, Any]) -> tuple[list[EpochRecord], int, Totals]:
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.schedule.scheduler is not None and state.get("scheduler"):
        parts.schedule.scheduler.load_state_dict(state["scheduler"])
    parts.scaler.load_state_dict(state["scaler"])
    history = [EpochRecord.from_dict(r) for r in state["history"]]
    if history and history[0].epoch == 0:  # checkpoints of powertrain <= 0.1 counted epochs from 0
        history = [dataclasses.replace(r, epoch=r.epoch + 1) for r in history]
    totals = Totals.from_history(
        history, float(state["lost_energy_j"]), float(state["lost_time_s"]), state.get("totals")
    )
    restore_rng(state["rng"])
    return history, int(state["epoch"]), totals


def _refuse_resume_without_checkpoint(run: RunDir) -> None:
    """A run without checkpoint.pt may restart only if it finished nothing: never retrain over a finished record."""
    finished = len(run.read_metrics())
    if finished == 0 and run.summary_path.exists():
        try:
            finished = int(run.read_summary().get("epochs_completed") or 0)
        except (ConfigError, TypeError, ValueError):
            finished = 1  # a summary we cannot read: assume it records work
    if finished or run.model_path.exists():
        raise DamagedFileError(
            f"{run.path} has no checkpoint.pt but records finished work ({finished} epoch(s)"
            f"{', model.pt' if run.model_path.exists() else ''}); resuming would retrain it from scratch and overwrite "
            "metrics.csv and summary.json: restore checkpoint.pt, or start a new run with --out"
        )


def _default_out(config: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = config.dataset.replace(":", "-").replace("/", "_")
    return Path("runs") / f"{name}-{config.model}-{stamp}"
