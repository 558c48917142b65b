"""What a report is made of: runs (read from run directories) and studies (a list of trials), source-agnostic.

Every loader (:mod:`powertrain.report._load`) turns its input into these objects, so the plots and templates never
depend on how a sweep, an EAT study or a transfer study stores its results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain.hardware import hardware_label

__all__ = ["Curve", "ReportInput", "RunData", "StudyData", "Trial"]

#: One point per finished epoch: (epoch, cumulative energy J, elapsed s, validation accuracy).
Curve = list[tuple[int, float, float, float]]


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass
class RunData:
    """One run directory: its config, summary and per-epoch metrics (numbers parsed, blanks as NaN)."""

    name: str
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    epochs: list[dict[str, float]]

    @property
    def energy_j(self) -> float | None:
        """The run's whole energy (training, evaluation and energy lost to interruptions), joules."""
        return _float((self.summary.get("energy") or {}).get("total_j"))

    @property
    def estimated(self) -> bool:
        """True when part of the energy is the CPU estimate rather than a measurement."""
        return bool((self.summary.get("energy") or {}).get("estimated"))

    @property
    def sources(self) -> list[str]:
        """The energy sources (sensor kinds) of the run."""
        return list((self.summary.get("energy") or {}).get("sources") or [])

    @property
    def hardware(self) -> str:
        """The hardware label."""
        return hardware_label(self.summary.get("hardware"))

    @property
    def curve(self) -> Curve:
        """Accuracy against cumulative energy, one point per epoch."""
        return [
            (int(e["epoch"]), e["energy_j"], e["elapsed_s"], e["val_accuracy"])
            for e in self.epochs
            if math.isfinite(e.get("val_accuracy", math.nan))
        ]

    def get(self, key: str) -> Any:
        """A summary value (None when missing)."""
        return self.summary.get(key)


@dataclass
class Trial:
    """One entry of a study: a run with the parameters that made it and the figures the study compares.

    ``spent_j`` is the energy this entry cost the study (a retried trial counts only its own part), ``energy_j`` the
    run's total. ``run`` is the run directory when it is readable from here.
    """

    name: str
    status: str
    params: dict[str, Any]
    final_accuracy: float | None
    energy_j: float | None
    spent_j: float
    energy_to_target_j: float | None
    duration_s: float | None
    hardware: str
    hardware_info: dict[str, Any] | None = None
    curve: Curve = field(default_factory=list)
    run: RunData | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudyData:
    """A study: its kind (``sweep``, ``eat``, ``transfer``, ``multitask``...), trials and kind-specific facts."""

    kind: str
    name: str
    path: Path
    trials: list[Trial]
    target_accuracy: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def spent_j(self) -> float:
        """What the whole study cost: the energy of every trial, finished, pruned, failed or lost."""
        return sum(t.spent_j for t in self.trials)


@dataclass
class ReportInput:
    """Everything one report shows: standalone runs and studies, in the order given."""

    runs: list[RunData] = field(default_factory=list)
    studies: list[StudyData] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def all_trials(self) -> list[Trial]:
        """Every standalone run (as a trial) and every study trial."""
        return [run_as_trial(r) for r in self.runs] + [t for s in self.studies for t in s.trials]


def run_as_trial(run: RunData) -> Trial:
    """A standalone run seen as a one-trial entry (for hardware comparisons and carbon totals)."""
    s = run.summary
    return Trial(
        name=run.name,
        status=str(s.get("status", "unknown")),
        params={},
        final_accuracy=_float(s.get("final_accuracy")),
        energy_j=run.energy_j,
        spent_j=run.energy_j or 0.0,
        energy_to_target_j=_float(s.get("energy_to_target_j")),
        duration_s=_float(s.get("duration_s")),
        hardware=run.hardware,
        hardware_info=s.get("hardware"),
        curve=run.curve,
        run=run,
    )
