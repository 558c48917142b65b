"""Bookkeeping of a training run: running energy totals, epoch records, the summary and the checkpoint state."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import torch

from powertrain._openmp import wait_policy
from powertrain.carbon import carbon_footprint, energy_provenance
from powertrain.hardware import describe_hardware
from powertrain.meters import EnergyMeter, Measurement
from powertrain.meters.measurement import LEGACY_ATTRIBUTION
from powertrain.training.config import TrainConfig
from powertrain.training.device import rng_state
from powertrain.training.ledger import RESULTS_SCHEMA, EnergyLedger
from powertrain.training.rundir import EpochRecord, RunDir

if TYPE_CHECKING:
    from powertrain.training.build import RunParts

__all__ = ["RESULTS_SCHEMA", "Phase", "Totals", "make_checkpoint", "make_record", "make_summary"]


@dataclass
class Totals(EnergyLedger):
    """The run's energy account (:class:`~powertrain.training.ledger.EnergyLedger`) plus what resumes carry over.

    Attributes:
        lost_energy_j: Energy of interrupted epochs (their last heartbeat), counted once.
        lost_by_device_j: The same, per device.
        live_base_j: What earlier processes counted, under the live meter's own total.
        counted_heartbeats: Sessions whose interrupted epoch is already counted.
        processes: How many processes trained the run.
    """

    lost_energy_j: float = 0.0
    live_base_j: float = 0.0
    lost_by_device_j: dict[str, float] = field(default_factory=dict)
    counted_heartbeats: list[str] = field(default_factory=list)
    processes: int = 1

    @property
    def train_energy_j(self) -> float:
        """Joules of the epochs' training phases."""
        return self.phase_energy_j.get("train", 0.0)

    @property
    def eval_energy_j(self) -> float:
        """Joules of the epochs' evaluations."""
        return self.phase_energy_j.get("eval", 0.0)

    @classmethod
    def from_history(
        cls,
        history: list[EpochRecord],
        lost_energy_j: float,
        lost_time_s: float,
        saved: dict[str, Any] | None = None,
    ) -> Totals:
        """Totals of a resumed run: the finished epochs plus the energy and time lost to interrupted ones.

        ``saved`` is the checkpoint's ``totals`` entry (per-device energy, sources, failures and processes of every
        earlier process); checkpoints written before it existed give the energy totals only.
        """
        totals = cls(lost_energy_j=lost_energy_j)
        totals.phase_energy_j = {
            "train": sum(r.train_energy_j for r in history),
            "eval": sum(r.eval_energy_j for r in history),
        }
        totals.energy_j = totals.train_energy_j + totals.eval_energy_j + lost_energy_j
        totals.elapsed_s = sum(r.train_time_s + r.eval_time_s for r in history) + lost_time_s
        for r in history:
            totals.sources.update(s for s in r.energy_source.split("+") if s and s != "none")
        if saved:
            totals.by_device_j = {str(k): float(v) for k, v in dict(saved.get("by_device_j", {})).items()}
            totals.lost_by_device_j = {str(k): float(v) for k, v in dict(saved.get("lost_by_device_j", {})).items()}
            totals.sources.update(str(s) for s in saved.get("sources", []))
            totals.estimated = bool(saved.get("estimated", False))
            totals.failed = {str(k): str(v) for k, v in dict(saved.get("failed", {})).items()}
            totals.counted_heartbeats = [str(s) for s in saved.get("counted_heartbeats", [])]
            totals.processes = int(saved.get("processes", 1))
        attributed = dict((saved or {}).get("attributed") or {})
        totals.machine_energy_j = float(attributed.get("machine_energy_j", totals.energy_j))
        totals.machine_by_device_j = {
            str(k): float(v) for k, v in dict(attributed.get("machine_by_device_j", totals.by_device_j)).items()
        }
        totals.dynamic_j = float(attributed.get("dynamic_j", totals.energy_j))
        totals.static_j = float(attributed.get("static_j", 0.0))
        totals.attribution = dict(attributed.get("attribution") or ({} if attributed else LEGACY_ATTRIBUTION))
        totals.cpu_s = {str(k): float(v) for k, v in dict(attributed.get("cpu_s", {})).items()}
        return totals

    def add_lost(self, beat: dict[str, Any]) -> None:
        """Count an interrupted epoch's heartbeat (energy, time, per device) as lost, once per writing process."""
        session = beat.get("session")
        if session is not None:
            if session in self.counted_heartbeats:
                return
            self.counted_heartbeats.append(str(session))
        self.lost_energy_j += beat["energy_j"]
        self.energy_j += beat["energy_j"]
        self.machine_energy_j += float(beat.get("machine_energy_j", beat["energy_j"]))
        self.dynamic_j += beat["energy_j"]
        self.elapsed_s += beat["duration_s"]
        for device, joules in beat.get("by_device_j", {}).items():
            self.by_device_j[device] = self.by_device_j.get(device, 0.0) + float(joules)
            self.lost_by_device_j[device] = self.lost_by_device_j.get(device, 0.0) + float(joules)

    def saved(self) -> dict[str, Any]:
        """What the checkpoint keeps of these totals beyond the epoch records (see :meth:`from_history`)."""
        return {
            "by_device_j": dict(self.by_device_j),
            "lost_by_device_j": dict(self.lost_by_device_j),
            "sources": sorted(self.sources),
            "estimated": self.estimated,
            "failed": dict(self.failed),
            "counted_heartbeats": list(self.counted_heartbeats),
            "processes": self.processes,
            "attributed": {
                "machine_energy_j": self.machine_energy_j,
                "machine_by_device_j": dict(self.machine_by_device_j),
                "dynamic_j": self.dynamic_j,
                "static_j": self.static_j,
                "attribution": dict(self.attribution),
                "cpu_s": dict(self.cpu_s),
            },
        }

    def add(self, m: Measurement, *, phase: Literal["train", "eval"] = "eval") -> None:
        """Count a closed window's measurement toward the run (and its phase)."""
        self.count_measurement(m, phase)


@dataclass
class Phase:
    """The training half of one epoch."""

    loss: float = float("nan")
    accuracy: float = float("nan")
    energy_j: float = 0.0
    duration_s: float = 0.0
    samples: int = 0
    density: float = float("nan")
    sources: set[str] = field(default_factory=set)
    complete: bool = True
    diverged: bool = False
    reason: str | None = None


def make_record(
    epoch: int,
    phase: Phase,
    eval_m: Measurement,
    val_loss: float,
    val_accuracy: float,
    optimizer: torch.optim.Optimizer,
    totals: Totals,
) -> EpochRecord:
    """The :class:`EpochRecord` of an epoch from its training phase and its evaluation window."""
    sources = sorted(phase.sources | set(eval_m.source_by_device.values()))
    duration_s = phase.duration_s + eval_m.duration_s
    return EpochRecord(
        epoch=epoch,
        complete=phase.complete and not phase.diverged,
        train_loss=phase.loss,
        train_accuracy=phase.accuracy,
        val_loss=val_loss,
        val_accuracy=val_accuracy,
        lr=float(optimizer.param_groups[0]["lr"]),
        train_energy_j=phase.energy_j,
        eval_energy_j=eval_m.energy_j,
        energy_j=totals.energy_j,
        train_time_s=phase.duration_s,
        eval_time_s=eval_m.duration_s,
        elapsed_s=totals.elapsed_s,
        avg_power_w=(phase.energy_j + eval_m.energy_j) / duration_s if duration_s > 0 else float("nan"),
        images_per_s=phase.samples / phase.duration_s if phase.duration_s > 0 else float("nan"),
        eat_density=phase.density,
        energy_source="+".join(sources) or "none",
    )


def make_summary(
    config: TrainConfig,
    run: RunDir,
    history: list[EpochRecord],
    totals: Totals,
    status: str,
    meter: EnergyMeter,
    started_at: str,
    *,
    final: bool,
) -> dict[str, Any]:
    """The run's ``summary.json`` content; every figure covers the whole run, across all its processes."""
    from importlib.metadata import version

    finished = [r for r in history if math.isfinite(r.val_accuracy)]
    best = max(finished, key=lambda r: r.val_accuracy, default=None)
    target = config.target_accuracy
    hit = next((r for r in finished if target is not None and r.val_accuracy >= target), None)
    hardware = describe_hardware()
    described = meter.describe()
    return {
        "schema_version": RESULTS_SCHEMA,
        "status": status,
        "final": final,
        "run_dir": str(run.path),
        "powertrain_version": version("powertrain"),
        "started_at": started_at,
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "hardware": hardware,
        "meter": described,
        "epochs_completed": sum(r.complete for r in history),
        "final_accuracy": finished[-1].val_accuracy if finished else None,
        "best_accuracy": best.val_accuracy if best else None,
        "best_epoch": best.epoch if best else None,  # epochs count from 1
        "target_accuracy": target,
        "reached_target": hit is not None,
        "energy_to_target_j": hit.energy_j if hit else None,
        "time_to_target_s": hit.elapsed_s if hit else None,
        "epochs_to_target": hit.epoch if hit else None,
        "energy": energy_section(totals),
        "conditions": run_conditions(config, totals, described),
        "duration_s": totals.elapsed_s,
        "carbon": carbon_footprint(
            energy_j=totals.energy_j,
            duration_s=totals.elapsed_s,
            hardware=hardware,
            settings=config.carbon_settings(),
            energy_provenance=energy_provenance(totals.sources, estimated=totals.estimated),
        ),
        "accelerator": None,
    }


def make_checkpoint(parts: RunParts, epoch: int, history: list[EpochRecord], totals: Totals) -> dict[str, Any]:
    """The checkpoint state after ``epoch`` epochs (plain containers: loadable with ``weights_only=True``)."""
    schedule = parts.schedule
    return {
        "epoch": epoch,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": schedule.scheduler.state_dict() if schedule.scheduler is not None else {},
        "scaler": parts.scaler.state_dict(),
        "history": [r.to_dict() for r in history],
        "lost_energy_j": totals.lost_energy_j,
        "lost_time_s": totals.elapsed_s - sum(r.train_time_s + r.eval_time_s for r in history),
        "totals": totals.saved(),
        "rng": rng_state(),
    }


def energy_section(totals: Totals) -> dict[str, Any]:
    """``summary["energy"]``: the run's attributed joules (``total_j``) with the machine's beside them."""
    return {
        "total_j": totals.energy_j,
        "train_j": totals.train_energy_j,
        "eval_j": totals.eval_energy_j,
        "lost_j": totals.lost_energy_j,
        "machine_total_j": totals.machine_energy_j,
        "unattributed_j": totals.unattributed_j,
        "dynamic_j": totals.dynamic_j,
        "static_j": totals.static_j,
        "attribution": {
            **(totals.attribution or LEGACY_ATTRIBUTION),
            "covers": "every process that trained the run, plus energy of interrupted epochs (lost_j)",
        },
        "by_device_j": totals.by_device_j,
        "machine_by_device_j": totals.machine_by_device_j,
        "lost_by_device_j": totals.lost_by_device_j,
        "processes": totals.processes,
        "sources": sorted(totals.sources),
        "estimated": totals.estimated,
        "failed_sensors": totals.failed,
    }


def run_conditions(config: TrainConfig, totals: Totals, described: dict[str, Any]) -> dict[str, Any]:
    """What the run was measured under: CPU load of other processes, threads, CPU frequency, GPU clocks."""
    return {
        **totals.conditions(),
        "threads": torch.get_num_threads(),
        "threads_set": config.threads,
        "omp_wait_policy": wait_policy(),
        **described.get("conditions", {}),
    }
