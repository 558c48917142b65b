"""A sweep's trials as stored, and how each configuration's attempts and rounds add up to its run.

A configuration (one run directory) may take several trials: a lost attempt and its retry, or the rounds of a
breadth-first sweep. Each records the run's cumulative figures (``energy_j``, ``duration_s``) and, from the moment it
is created, what earlier trials of the same run already counted (``base_energy_j``, ``base_duration_s``), so a
trial's own share is the difference (:attr:`TrialRecord.spent_j`, :attr:`TrialRecord.spent_s`) and the shares of a
configuration add up to its run's own total. :func:`chains` groups the trials of each configuration; the results
file its energy under the state its last trial ended in. Beside the run's own energy a trial keeps the
machine's (``machine_energy_j``), how it was attributed, the load from other processes and its threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from powertrain.carbon import CarbonSettings, carbon_footprint, energy_provenance

__all__ = ["CSV_COLUMNS", "MERGED_FROM", "TrialRecord", "chains"]

#: system attribute of a merged trial: ``<source study's identity>#<number>`` (:mod:`~powertrain.study.engine.merge`)
MERGED_FROM = "powertrain:merged_from"

CSV_COLUMNS = [
    "number", "run_name", "state", "train_status", "hardware", "energy_to_target_j", "time_to_target_s",
    "epochs_to_target", "final_accuracy", "best_accuracy", "energy_j", "spent_j", "lost_energy_j", "duration_s",
    "accel_energy_ratio", "operational_kg_co2e", "embodied_kg_co2e", "machine_energy_j", "attribution", "others_load",
    "threads", "params", "curve",
]  # fmt: skip
_CARBON_COLUMNS = ("operational_kg_co2e", "embodied_kg_co2e")
_CARBON_KEYS = ("country", "region", "pue", "intensity_g_per_kwh")
_CURVE_KEYS = ("epoch", "energy_j", "elapsed_s", "val_accuracy")


@dataclass(frozen=True)
class TrialRecord:
    """One trial as stored: its parameters, state and the figures of its training run (user attributes)."""

    number: int
    state: str
    params: dict[str, Any]
    values: list[float] | None
    attrs: dict[str, Any]
    origin: str = ""  # the study a merged trial came from ("" for the study's own trials)

    @classmethod
    def from_frozen(cls, trial: FrozenTrial) -> TrialRecord:
        """Read a FrozenTrial; a breadth-first round that handed its run to the next round has state ``paused``."""
        state = trial.state.name.lower()
        if trial.state == TrialState.PRUNED and trial.user_attrs.get("paused"):
            state = "paused"
        origin = str(trial.system_attrs.get(MERGED_FROM) or "").rpartition("#")[0]
        return cls(trial.number, state, dict(trial.params), trial.values, dict(trial.user_attrs), origin)

    def get(self, key: str) -> Any:
        """A user attribute, None when missing."""
        return self.attrs.get(key)

    @property
    def spent_j(self) -> float:
        """Energy this trial itself spent (its run's energy minus what an earlier attempt already counted).

        Zero while it waits: a retry or a next round carries its predecessor's figures, which that one counts.
        """
        total = self.attrs.get("energy_j")
        if total is None or self.state == "waiting":
            return 0.0
        return max(0.0, float(total) - float(self.attrs.get("base_energy_j") or 0.0))

    @property
    def spent_s(self) -> float:
        """Run time of this trial itself (its run's duration minus what an earlier attempt or round already counted).

        Trials made by powertrain before ``base_duration_s`` existed: the base is read off the curve, at the point
        where the run had spent ``base_energy_j``.
        """
        total = self.attrs.get("duration_s")
        if total is None or self.state == "waiting":
            return 0.0
        base = self.attrs.get("base_duration_s")
        if base is None:
            base = self._curve_time_at(float(self.attrs.get("base_energy_j") or 0.0))
        return max(0.0, float(total) - float(base))

    def _curve_time_at(self, energy_j: float) -> float:
        times = [float(p[2]) for p in self.get("curve") or [] if len(p) > 2 and float(p[1]) <= energy_j * (1 + 1e-9)]
        return max(times, default=0.0) if energy_j > 0 else 0.0

    @property
    def chain(self) -> tuple[str, str]:
        """Which configuration this trial belongs to: its source study (merged trials) and its run's name."""
        return self.origin, str(self.attrs.get("run_name") or f"trial-{self.number:04d}")  # the engine's default

    def carbon_settings(self) -> CarbonSettings:
        """Where this trial's electricity came from: its run config's country, region, PUE and intensity."""
        config = self.attrs.get("config") or {}
        return CarbonSettings(**{k: config.get(k) for k in _CARBON_KEYS})

    def carbon(self, settings: CarbonSettings | None = None) -> dict[str, Any] | None:
        """Operational and embodied CO2e of what this trial spent (:func:`powertrain.carbon.carbon_footprint`).

        Computed from the storage alone: the trial's spent energy and run time (both differenced: a retry or a next
        round counts only its own part), its hardware, and ``settings`` (default: those its run was configured with).
        None for a trial that spent nothing yet (waiting).
        """
        if self.attrs.get("energy_j") is None:
            return None
        sources = self.attrs.get("energy_sources") or []
        return carbon_footprint(
            energy_j=self.spent_j,
            duration_s=self.spent_s,
            hardware=self.attrs.get("hardware_info") or {},
            settings=settings or self.carbon_settings(),
            energy_provenance=energy_provenance(sources, estimated=bool(self.attrs.get("energy_estimated"))),
        )

    def to_dict(self, carbon_settings: CarbonSettings | None = None) -> dict[str, Any]:
        """The JSON export of this trial (``carbon_settings`` overrides the run's own for the CO2e figures)."""
        keys = [c for c in CSV_COLUMNS if c not in ("number", "state", "params", "spent_j", "curve", *_CARBON_COLUMNS)]
        carbon = self.carbon(carbon_settings)
        return {
            "number": self.number,
            "state": self.state,
            "params": self.params,
            "values": self.values,
            **{k: self.attrs.get(k) for k in keys},
            "spent_j": self.spent_j,
            "spent_s": self.spent_s,
            "operational_kg_co2e": carbon["operational_kg_co2e"] if carbon else None,
            "embodied_kg_co2e": carbon["embodied_kg_co2e"] if carbon else None,
            "carbon": carbon,
            "reached_target": self.attrs.get("reached_target"),
            "curve": [dict(zip(_CURVE_KEYS, p, strict=False)) for p in self.get("curve") or []],
            "config": self.attrs.get("config"),
            "hardware_info": self.attrs.get("hardware_info"),
            "error": self.attrs.get("error"),
            "forecast": self.attrs.get("forecast"),
            "pruned_on_forecast": self.attrs.get("pruned_on_forecast"),
        }


def chains(trials: Iterable[TrialRecord]) -> dict[tuple[str, str], list[TrialRecord]]:
    """The trials of each configuration (:attr:`TrialRecord.chain`), in the order they were made."""
    out: dict[tuple[str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: (t.origin, t.number)):
        out.setdefault(t.chain, []).append(t)
    return out


def head(chain: list[TrialRecord]) -> TrialRecord | None:
    """The trial a configuration stands at: its last one that is not waiting (None while only waiting ones exist)."""
    return next((t for t in reversed(chain) if t.state != "waiting"), None)
