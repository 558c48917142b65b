"""A sweep's trials as stored: each one's parameters, state and the figures of its training run.

A trial records its run's cumulative figures (``energy_j``, ``duration_s``) and what earlier trials of the same run
already counted (``base_energy_j``), so its own share is the difference (:attr:`TrialRecord.spent_j`). Beside the
run's own energy it keeps the machine's (``machine_energy_j``), how it was attributed, the load from other processes
and its threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from powertrain.carbon import CarbonSettings, carbon_footprint, energy_provenance

__all__ = ["CSV_COLUMNS", "TrialRecord"]

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

    @classmethod
    def from_frozen(cls, trial: FrozenTrial) -> TrialRecord:
        """Read a FrozenTrial; a breadth-first round that handed its run to the next round has state ``paused``."""
        state = trial.state.name.lower()
        if trial.state == TrialState.PRUNED and trial.user_attrs.get("paused"):
            state = "paused"
        return cls(trial.number, state, dict(trial.params), trial.values, dict(trial.user_attrs))

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

    def carbon_settings(self) -> CarbonSettings:
        """Where this trial's electricity came from: its run config's country, region, PUE and intensity."""
        config = self.attrs.get("config") or {}
        return CarbonSettings(**{k: config.get(k) for k in _CARBON_KEYS})

    def carbon(self, settings: CarbonSettings | None = None) -> dict[str, Any] | None:
        """Operational and embodied CO2e of what this trial spent (:func:`powertrain.carbon.carbon_footprint`).

        Computed from the storage alone: the trial's spent energy, its run time and hardware, and ``settings`` (default:
        those its run was configured with). None for a trial that spent nothing yet (waiting).
        """
        if self.attrs.get("energy_j") is None:
            return None
        sources = self.attrs.get("energy_sources") or []
        return carbon_footprint(
            energy_j=self.spent_j,
            duration_s=float(self.attrs.get("duration_s") or 0.0),
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
