"""The run directory: what one training run leaves on disk, written so that a kill loses no finished work.

Layout::

    RUN_DIR/config.yaml     the resolved TrainConfig
    RUN_DIR/metrics.csv     one row per finished epoch (``epoch`` column, accuracy, energy and time columns)
    RUN_DIR/summary.json    status, hardware, final and best accuracy, energy- and time-to-target,
                            accelerator estimate
    RUN_DIR/checkpoint.pt   model, optimizer, scheduler, RNG states and the history, after every epoch
    RUN_DIR/model.pt        the final weights (a state_dict)
    RUN_DIR/heartbeat.json  energy spent in the epoch in progress, refreshed every half second

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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from powertrain._files import json_safe, write_atomic
from powertrain.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["EpochRecord", "RunDir", "write_atomic"]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch. Energies are joules, times seconds; ``energy_j`` and ``elapsed_s`` are cumulative."""

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
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class RunDir:
    """Reads and writes one run directory.

    Args:
        path: The directory; created when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.yaml")
    metrics_path = property(lambda self: self.path / "metrics.csv")
    summary_path = property(lambda self: self.path / "summary.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    model_path = property(lambda self: self.path / "model.pt")
    heartbeat_path = property(lambda self: self.path / "heartbeat.json")

    def create(self) -> None:
        """Make the directory; a directory that already holds a run is refused (use resume instead)."""
        if self.checkpoint_path.exists() or self.summary_path.exists():
            raise ConfigError(f"{self.path} already holds a run; continue it with --resume {self.path} or pick --out")
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, config: dict[str, Any]) -> None:
        """Store the resolved config as YAML."""
        write_atomic(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """The stored config dict; a missing or unreadable file is a ConfigError."""
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{self.path} is not a powertrain run directory (no config.yaml)") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{self.config_path} is damaged: expected a mapping")
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
        """The rows of ``metrics.csv`` as string dicts (empty when the file does not exist)."""
        if not self.metrics_path.exists():
            return []
        with self.metrics_path.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Store the JSON summary (NaN and infinity become null)."""
        write_atomic(self.summary_path, json.dumps(json_safe(summary), indent=2, sort_keys=False) + "\n")

    def read_summary(self) -> dict[str, Any]:
        """The JSON summary."""
        try:
            result: dict[str, Any] = json.loads(self.summary_path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{self.path} has no summary.json: is it a finished powertrain run?") from None
        return result

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Write the checkpoint atomically (plain tensors and containers, loadable with ``weights_only=True``)."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any]:
        """Read the checkpoint with ``weights_only=True``."""
        import torch

        if not self.checkpoint_path.exists():
            raise ConfigError(f"{self.path} has no checkpoint.pt to resume from")
        state: dict[str, Any] = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        return state

    def save_model(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Store the final weights."""
        import torch

        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        write_atomic(self.model_path, buffer.getvalue())

    def load_model_state(self) -> dict[str, torch.Tensor]:
        """The stored weights (``model.pt``, else the last checkpoint's), loaded with ``weights_only=True``."""
        import torch

        if self.model_path.exists():
            state: dict[str, torch.Tensor] = torch.load(self.model_path, map_location="cpu", weights_only=True)
            return state
        return dict(self.load_checkpoint()["model"])

    def write_heartbeat(self, *, epoch: int, energy_j: float, duration_s: float) -> None:
        """Record the energy spent so far in the unfinished ``epoch`` (often, so not fsynced)."""
        payload = {"epoch": epoch, "energy_j": energy_j, "duration_s": duration_s}
        write_atomic(self.heartbeat_path, json.dumps(payload), durable=False)

    def read_heartbeat(self) -> dict[str, Any] | None:
        """The last heartbeat, or None when there is none or it is unreadable."""
        try:
            data = json.loads(self.heartbeat_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def clear_heartbeat(self) -> None:
        """Remove the heartbeat once its epoch is in the checkpoint."""
        self.heartbeat_path.unlink(missing_ok=True)


def _csv_value(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6)) if abs(value) < 1e15 else repr(value)
    return value
