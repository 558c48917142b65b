"""The run directory: what one training run leaves on disk, written so that a kill loses no finished work.

Layout::

    RUN_DIR/config.yaml     the resolved TrainConfig
    RUN_DIR/metrics.csv     one row per finished epoch (``epoch`` column, accuracy, energy and time columns)
    RUN_DIR/summary.json    status, hardware, final and best accuracy, energy- and time-to-target,
                            accelerator estimate
    RUN_DIR/checkpoint.pt   model, optimizer, scheduler, RNG states and the history, after every epoch
    RUN_DIR/model.pt        the final weights (a state_dict)
    RUN_DIR/heartbeat.json  energy spent in the epoch in progress (training and evaluation), refreshed every
                            half second by a background thread, tagged with the writing process's session id
    RUN_DIR/.lock           held (flock) by the one process training the run

Every file is written to a temporary name and renamed into place, so a reader never sees half a file. The
checkpoint is the source of truth: ``metrics.csv`` is rewritten from its history on resume, so no epoch is
counted twice. Energy spent in an epoch that a kill interrupted is read back from the heartbeat and carried
into the total as ``lost_energy_j``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from powertrain._files import dump_yaml, json_safe, read_yaml, write_atomic
from powertrain._records import check_fields, load_torch, read_heartbeat, read_summary
from powertrain.errors import ConfigError, DamagedFileError, OutputError

if TYPE_CHECKING:
    import torch

__all__ = ["EpochRecord", "RunDir", "write_atomic"]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch (``epoch`` counts from 1); joules and seconds, ``energy_j``/``elapsed_s`` cumulative.

    ``tasks`` holds each task's ``val_loss`` and ``val_accuracy`` for a multitask model (empty otherwise; in
    ``metrics.csv`` one JSON cell); ``val_accuracy`` is then the worst task's.
    """

    epoch: int
    complete: bool
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    train_energy_j: float
    eval_energy_j: float
    energy_j: float
    train_time_s: float
    eval_time_s: float
    elapsed_s: float
    avg_power_w: float
    images_per_s: float
    eat_density: float
    energy_source: str
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def columns(cls) -> list[str]:
        """CSV column names, in order."""
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data or f.default_factory is MISSING})


class RunDir:
    """Reads and writes one run directory.

    Args:
        path: The directory; created when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    config_path = property(lambda self: self.path / "config.yaml")
    metrics_path = property(lambda self: self.path / "metrics.csv")
    summary_path = property(lambda self: self.path / "summary.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    model_path = property(lambda self: self.path / "model.pt")
    heartbeat_path = property(lambda self: self.path / "heartbeat.json")
    lock_path = property(lambda self: self.path / ".lock")

    def check_creatable(self) -> None:
        """Refuse, creating nothing, a path that is a file or a directory that already holds a run."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"--out {self.path} is a file; give a folder for the run")
        if self.checkpoint_path.exists() or self.summary_path.exists():
            raise ConfigError(f"{self.path} already holds a run; continue it with --resume {self.path} or pick --out")
        blocker = next((p for p in self.path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise OutputError(f"cannot create run folder {self.path}: {blocker} is a file")

    def create(self) -> None:
        """Make the directory; a directory that already holds a run is refused (use resume instead)."""
        self.check_creatable()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create run folder {self.path}: {exc.strerror or exc}") from None

    def check_is_run(self) -> None:
        """Refuse a path that is not a run directory (missing, a file, or without config.yaml)."""
        if not self.path.exists():
            raise ConfigError(f"{self.path} does not exist: give the folder of a powertrain run")
        if not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file, not a run directory: give the folder a run wrote")
        if not self.config_path.is_file():
            raise ConfigError(f"{self.path} is not a powertrain run directory (no config.yaml)")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this run for one process: a second ``train`` or ``--resume`` of the same folder is refused."""
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write in run folder {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(f"{self.path} is in use by another powertrain process; wait for it or stop it") from None
        try:
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def write_config(self, config: dict[str, Any]) -> None:
        """Store the resolved config as YAML."""
        write_atomic(self.config_path, dump_yaml(config))

    def read_config(self) -> dict[str, Any]:
        """The stored config dict; a missing, unreadable or malformed file is a one-line ConfigError."""
        self.check_is_run()
        try:
            data = read_yaml(self.config_path, what="run config")
        except ConfigError as exc:
            raise DamagedFileError(f"{exc}; the run cannot be resumed") from None
        if not isinstance(data, dict):
            raise DamagedFileError(f"{self.config_path} is damaged: expected a mapping of option: value")
        return data

    def write_metrics(self, history: list[EpochRecord]) -> None:
        """Rewrite ``metrics.csv`` from the whole history (a few hundred rows at most, so rewriting is cheap)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EpochRecord.columns(), lineterminator="\n")
        writer.writeheader()
        for record in history:
            writer.writerow({k: _csv_value(v) for k, v in record.to_dict().items()})
        write_atomic(self.metrics_path, buffer.getvalue())

    def read_metrics(self) -> list[dict[str, str]]:
        """The raw rows of ``metrics.csv`` as text (empty when missing or unreadable): to count finished epochs.

        Readers of the figures use :func:`powertrain._records.read_metrics`, which checks every cell.
        """
        try:
            with self.metrics_path.open(newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error):
            return []

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Store the JSON summary (NaN and infinity become null)."""
        write_atomic(self.summary_path, json.dumps(json_safe(summary), indent=2, sort_keys=False) + "\n")

    def read_summary(self) -> dict[str, Any]:
        """The JSON summary, its fields' kinds checked; a missing or damaged file is a one-line ConfigError."""
        if not self.summary_path.exists():
            raise ConfigError(f"{self.path} has no summary.json: is it a finished powertrain run?")
        return read_summary(self.summary_path)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the checkpoint atomically (plain tensors and containers, loadable with ``weights_only=True``)."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any]:
        """Read the checkpoint with ``weights_only=True``; a truncated or foreign file is a DamagedFileError."""
        if not self.checkpoint_path.exists():
            raise ConfigError(f"{self.path} has no checkpoint.pt to resume from")
        state = load_torch(self.checkpoint_path, "checkpoint")
        missing = [k for k in _CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
        if missing:
            raise DamagedFileError(
                f"{self.checkpoint_path} is not a powertrain checkpoint (missing {', '.join(missing)}); "
                "the run cannot be resumed from it"
            )
        check_fields(state, _CHECKPOINT_FIELDS, path=self.checkpoint_path, what="checkpoint")
        if not all(isinstance(r, dict) for r in state["history"]):
            raise DamagedFileError(f"checkpoint {self.checkpoint_path} is damaged: history must be a list of epochs")
        result: dict[str, Any] = state
        return result

    def save_model(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Store the final weights."""
        import torch

        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        write_atomic(self.model_path, buffer.getvalue())

    def load_model_state(self) -> dict[str, torch.Tensor]:
        """The stored weights (``model.pt``, else the last checkpoint's), loaded with ``weights_only=True``."""
        if self.model_path.exists():
            state = load_torch(self.model_path, "weights file")
            if not isinstance(state, dict):
                raise DamagedFileError(f"{self.model_path} does not hold a state_dict of weights")
            return state
        return dict(self.load_checkpoint()["model"])

    def write_heartbeat(
        self,
        *,
        epoch: int,
        energy_j: float,
        duration_s: float,
        by_device_j: dict[str, float] | None = None,
        session: str | None = None,
        machine_energy_j: float | None = None,
    ) -> None:
        """Record the energy spent so far in the unfinished ``epoch`` (1-based; often, so not fsynced).

        ``energy_j`` is the run's (attributed) energy, ``machine_energy_j`` the machine's over the same time.
        """
        payload: dict[str, Any] = {"epoch": epoch, "energy_j": energy_j, "duration_s": duration_s}
        if machine_energy_j is not None:
            payload["machine_energy_j"] = machine_energy_j
        if by_device_j is not None:
            payload["by_device_j"] = by_device_j
        if session is not None:
            payload["session"] = session
        write_atomic(self.heartbeat_path, json.dumps(json_safe(payload)), durable=False)

    def read_heartbeat(self) -> dict[str, Any] | None:
        """The last heartbeat, or None when there is none or it is damaged (logged: see :func:`read_heartbeat`)."""
        return read_heartbeat(self.heartbeat_path)

    def clear_heartbeat(self) -> None:
        """Remove the heartbeat once its epoch is in the checkpoint."""
        self.heartbeat_path.unlink(missing_ok=True)


_CHECKPOINT_KEYS = ("epoch", "model", "history")
_CHECKPOINT_FIELDS = {
    "epoch": ("int", True),
    "model": ("dict", True),
    "history": ("list", True),
    "lost_energy_j": ("number", False),
    "lost_time_s": ("number", False),
    "totals": ("dict", False),
}


def _csv_value(value: object) -> object:
    if isinstance(value, dict):
        return json.dumps(json_safe(value), sort_keys=True) if value else ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)  # full precision: the trackers and summary get the same joules
    return value
