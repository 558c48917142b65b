"""Carbon figures of report entries: each trial's operational and embodied CO2e, and totals per study.

A run keeps the carbon settings it was recorded with (``summary.json`` ``carbon.settings``) unless the report is
asked for other ones (``powertrain report --country ...``); the figures are recomputed from the stored energy, run
time and hardware tag either way, so a study's total counts exactly the energy each trial spent.
"""

from __future__ import annotations

from typing import Any

from powertrain.carbon import CarbonSettings, carbon_footprint, energy_provenance, sum_footprints
from powertrain.report._model import ReportInput, StudyData, Trial

__all__ = ["CarbonView", "carbon_view"]


def _settings_of(trial: Trial, override: CarbonSettings | None) -> CarbonSettings:
    if override is not None:
        return override
    stored = ((trial.run.summary.get("carbon") or {}).get("settings") if trial.run else None) or {}
    try:
        return CarbonSettings(**{k: stored.get(k) for k in ("country", "region", "pue", "intensity_g_per_kwh")})
    except TypeError:  # pragma: no cover - a hand-edited summary
        return CarbonSettings()


def trial_footprint(trial: Trial, override: CarbonSettings | None = None) -> dict[str, Any]:
    """The carbon footprint of what ``trial`` spent (energy, run time, hardware)."""
    if trial.run is not None:
        provenance = energy_provenance(trial.run.sources, estimated=trial.run.estimated)
    else:
        provenance = {"kind": "recorded", "note": "energy as recorded by the study"}
    return carbon_footprint(
        energy_j=trial.spent_j,
        duration_s=trial.duration_s or 0.0,
        hardware=trial.hardware_info or {},
        settings=_settings_of(trial, override),
        energy_provenance=provenance,
    )


class CarbonView:
    """Footprints per entry and per group (a study, or the standalone runs), for the plots and tables."""

    def __init__(self, report: ReportInput, override: CarbonSettings | None) -> None:
        self.groups: list[tuple[str, list[tuple[Trial, dict[str, Any]]]]] = []
        if report.runs:
            from powertrain.report._model import run_as_trial

            runs = [run_as_trial(r) for r in report.runs]
            self.groups.append(("runs", [(t, trial_footprint(t, override)) for t in runs]))
        for study in report.studies:
            self.groups.append((_study_label(study), [(t, trial_footprint(t, override)) for t in study.trials]))

    def totals(self) -> list[tuple[str, dict[str, Any]]]:
        """(group label, summed footprint) per group."""
        return [(label, sum_footprints(fp for _, fp in entries)) for label, entries in self.groups]

    def overall(self) -> dict[str, Any]:
        """The sum over every entry of the report."""
        return sum_footprints(fp for _, entries in self.groups for _, fp in entries)

    def sample(self) -> dict[str, Any] | None:
        """One footprint, to show the settings and provenance behind the figures."""
        return next((fp for _, entries in self.groups for _, fp in entries), None)

    def distinct_settings(self) -> list[dict[str, Any]]:
        """Every distinct (intensity, PUE) source used, with its provenance."""
        seen: dict[str, dict[str, Any]] = {}
        for _, entries in self.groups:
            for _, fp in entries:
                op = fp["operational"]
                key = f"{op['intensity_provenance'].get('row')}|{op['intensity_g_per_kwh']}|{op['pue']}"
                seen.setdefault(key, op)
        return list(seen.values())

    def embodied_items(self) -> list[dict[str, Any]]:
        """Every distinct device row the embodied figures used, with its provenance."""
        seen: dict[str, dict[str, Any]] = {}
        for _, entries in self.groups:
            for _, fp in entries:
                for item in fp["embodied"]["items"]:
                    seen.setdefault(f"{item['device']}|{item['table_row']}", item)
        return list(seen.values())


def carbon_view(report: ReportInput, override: CarbonSettings | None = None) -> CarbonView:
    """Compute every entry's footprint once."""
    return CarbonView(report, override)


def _study_label(study: StudyData) -> str:
    return f"{study.kind} {study.name}"
