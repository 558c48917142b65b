"""The report's content, independent of its format: headline figures, sections of plots and tables, provenance.

:func:`build_sections` turns a :class:`ReportInput` into plain data (strings and :class:`Plot` objects) that the HTML
and Markdown templates render; nothing here knows about HTML.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from powertrain.report import _plots_forecast as pf
from powertrain.report import _plots_runs as pr
from powertrain.report import _plots_studies as ps
from powertrain.report._carbon import CarbonView
from powertrain.report._figure import Plot
from powertrain.report._model import ReportInput, RunData, StudyData, Trial
from powertrain.report._plots_runs import format_energy, format_mass

__all__ = ["SECTION_BUILDERS", "Card", "Section", "SectionBuilder", "Table", "build_sections", "headline",
           "register_section"]  # fmt: skip


@dataclass
class Table:
    """A table of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Section:
    """A titled part of the report: an intro line, plots and tables."""

    key: str
    title: str
    intro: str = ""
    plots: list[Plot] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Card:
    """A headline figure."""

    label: str
    value: str
    detail: str = ""


#: ``build(study, entries) -> [Plot | Table, ...]``: what a kind of study adds to its section; ``entries`` pairs each
#: trial with its carbon footprint (``operational_kg_co2e``, ``embodied_kg_co2e``...). None entries are skipped.
SectionBuilder = Callable[[StudyData, list[tuple[Trial, dict[str, Any]]]], Sequence["Plot | Table | None"]]
SECTION_BUILDERS: dict[str, SectionBuilder] = {}


def register_section(kind: str, build: SectionBuilder) -> None:
    """Add plots and tables to the section of every study of ``kind`` (after the generic ones; one builder per kind).

    Example (a plug-in kind, with its loader registered by :func:`~powertrain.report.register_loader`)::

        def transfer_section(study, entries):
            with new_figure() as fig:
                fig.axes[0].bar(...)
                return [to_plot(fig, "gain", "Fine-tuning gain", "what it shows"), Table("Tasks", cols, rows)]

        register_section("transfer", transfer_section)
    """
    SECTION_BUILDERS[kind] = build


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())) or "-"


def headline(report: ReportInput, carbon: CarbonView) -> list[Card]:
    """The figures at the top: energy, the two CO2e figures, and the studies' key results."""
    total = carbon.overall()
    trials = report.all_trials()
    estimated = any(t.run is not None and t.run.estimated for t in trials)
    cards = [
        Card("energy, everything in this report", format_energy(total["energy_j"]),
             f"{total['energy_j'] / 3.6e6:.4g} kWh over {total['count']} run(s)"
             + (", partly estimated (no energy sensor)" if estimated else "")),
        Card("operational CO2e", format_mass(total["operational_kg_co2e"]), "energy x PUE x grid intensity"),
        Card("embodied CO2e", format_mass(total["embodied_kg_co2e"]), "hardware manufacturing share; not included "
             "in operational"),
    ]  # fmt: skip
    hits = [t for t in trials if t.energy_to_target_j is not None]
    if hits:
        best = min(hits, key=lambda t: t.energy_to_target_j or math.inf)
        cards.append(Card("best energy to target", format_energy(best.energy_to_target_j), best.name))
    for study in report.studies:
        reached = sorted(t.energy_to_target_j for t in study.trials if t.energy_to_target_j is not None)
        if study.kind == "sweep" and len(reached) >= 2:
            cards.append(Card("worst / best energy to target", f"{reached[-1] / reached[0]:.2f}x",
                              f"{len(reached)} of {len(study.trials)} trials reached the target ({study.name})"))
        eat = [t for t in study.trials if t.extra.get("decrease_pct") is not None and not t.extra.get("standard")]
        if eat:
            picked = [t for t in eat if t.extra.get("selected")] if study.kind == "eat" else eat
            for t in picked[:2]:
                cards.append(Card(f"EAT accelerator energy, {t.extra['model']}",
                                  f"{-t.extra['decrease_pct']:+.1f}%",
                                  f"ratio {_num(t.extra.get('energy_ratio'))} vs standard, setting "
                                  f"{t.extra['setting']}"))  # fmt: skip
    return cards


def _run_rows(entries: list[tuple[Trial, dict[str, Any]]]) -> list[list[str]]:
    rows = []
    for t, fp in entries:
        run = t.run
        source = _source(run) if run else "-"
        accel = (run.summary.get("accelerator") or {}).get("mean_ratio") if run else None
        rows.append([t.name, t.status, _pct(t.final_accuracy), format_energy(t.energy_j), source,
                     format_energy(t.energy_to_target_j), _num(t.duration_s, 1), _num(accel),
                     format_mass(fp["operational_kg_co2e"]), format_mass(fp["embodied_kg_co2e"])])  # fmt: skip
    return rows


def _source(run: RunData) -> str:
    names = ["CPU estimate" if s == "estimated" else s for s in run.sources] or ["none"]
    return ", ".join(names) + (" (partly estimated)" if run.estimated and len(names) > 1 else "")


RUN_COLUMNS = ["run", "status", "final accuracy", "energy", "energy source", "energy to target", "time (s)",
               "accel. ratio", "operational CO2e", "embodied CO2e"]  # fmt: skip


def _runs_section(runs: list[RunData], entries: list[tuple[Trial, dict[str, Any]]]) -> Section:
    target = next((r.summary.get("target_accuracy") for r in runs if r.summary.get("target_accuracy")), None)
    plots = [pr.power_over_time(runs), pr.energy_per_epoch(runs),
             pr.accuracy_vs_energy([(r.name, r.curve) for r in runs], target=target),
             pf.forecast_vs_actual(runs)]  # fmt: skip
    return Section("runs", "Runs", f"{len(runs)} run directories." if len(runs) != 1 else "One run directory.",
                   [p for p in plots if p],
                   [Table("Runs", RUN_COLUMNS, _run_rows(entries))])  # fmt: skip


def _study_section(index: int, study: StudyData, entries: list[tuple[Trial, dict[str, Any]]]) -> Section:
    plots: list[Plot | None] = []
    tables: list[Table] = []
    key = f"study{index}"
    compares_eat = any(t.extra.get("standard") for t in study.trials) and any(
        t.extra.get("energy_ratio") is not None and not t.extra.get("standard") for t in study.trials
    )
    if study.kind == "eat" or compares_eat:
        plots += [ps.eat_ratios(study), ps.eat_firing_rates(study)]
        shown = [t.run for t in study.trials if t.run and (t.extra.get("standard") or t.extra.get("selected"))][:4]
        rows = [[t.name, t.status, _pct(t.final_accuracy), _num(t.extra.get("energy_ratio")),
                 _num(t.extra.get("decrease_pct"), 1), format_energy(t.energy_j),
                 _num(t.extra.get("inference_j_per_1k")), "yes" if t.extra.get("selected") else ""]
                for t in study.trials]  # fmt: skip
        tables.append(Table("Standard against EAT", ["model / setting", "status", "accuracy", "accel. energy ratio",
                                                     "decrease %", "training energy", "inference J / 1000 images",
                                                     "selected"], rows,
                            "Energy ratio: modelled zero-skipping over dense accelerator energy at the batch size "
                            "shown in the plot (EAT's Table 1 figure)."))  # fmt: skip
    else:
        reached = sorted((t for t in study.trials if t.energy_to_target_j is not None),
                         key=lambda t: t.energy_to_target_j or 0.0)  # fmt: skip
        shown = [t.run for t in (reached[:1] + reached[-1:] if len(reached) > 1 else reached) if t.run]
        plots += [ps.energy_heatmap(study), ps.spread(study), ps.search_cost(study), ps.transfer_break_even(study)]
        rows = [[t.name, t.status, _params(t.params), _pct(t.final_accuracy), format_energy(t.energy_to_target_j),
                 format_energy(t.spent_j), _num(t.duration_s, 1), format_mass(fp["operational_kg_co2e"]),
                 format_mass(fp["embodied_kg_co2e"])] for t, fp in entries]  # fmt: skip
        tables.append(Table("Trials", ["trial", "status", "parameters", "final accuracy", "energy to target",
                                       "energy spent", "time (s)", "operational CO2e", "embodied CO2e"], rows))
    plugin = SECTION_BUILDERS.get(study.kind)
    if plugin is not None:
        for item in plugin(study, entries):
            if isinstance(item, Table):
                tables.append(item)
            elif item is not None:
                plots.append(item)
    plots += [pf.eat_tradeoff(study) if (study.kind == "eat" or compares_eat) else ps.pareto_front(study)]
    best = min((t for t in study.trials if t.energy_to_target_j is not None),
               key=lambda t: t.energy_to_target_j or math.inf, default=None)  # fmt: skip
    curves = [(t.name, t.curve) for t in study.trials]
    plots.append(pr.accuracy_vs_energy(curves, target=study.target_accuracy or _run_target(study),
                                       key=f"{key}-curves", highlight=best.name if best else None))  # fmt: skip
    if shown:
        unique = list({id(r): r for r in shown}.values())
        plots += [pr.energy_per_epoch(unique), pr.power_over_time(unique)]
    intro = (f"{len(study.trials)} trial(s); the study cost {format_energy(study.spent_j)} in all, every trial "
             f"counted (finished, pruned, failed). Folder: {study.path}")  # fmt: skip
    pruning = study.facts.get("pruning") or {}
    if pruning.get("not_spent_forecast_j") is not None:
        intro += (f". Without pruning, by the forecasts of {pruning['forecast_trials']} of its "
                  f"{pruning['pruned_trials']} pruned setups, the grid would have cost about "
                  f"{format_energy(study.spent_j + pruning['not_spent_forecast_j'])} (each stopped setup's measured "
                  f"energy per epoch x its planned epochs gives "
                  f"{format_energy(study.spent_j + pruning['not_spent_upper_j'])})")  # fmt: skip
    return Section(key, f"{study.kind.upper() if study.kind == 'eat' else study.kind.capitalize()} study: "
                   f"{study.name}", intro, [_rekey(p, key) for p in plots if p], tables)  # fmt: skip


def _run_target(study: StudyData) -> float | None:
    return next((t.run.summary.get("target_accuracy") for t in study.trials if t.run), None)


def _rekey(plot: Plot, prefix: str) -> Plot:
    return Plot(f"{prefix}-{plot.key}", plot.title, plot.caption, plot.data_uri, plot.width_px, plot.height_px)


def build_sections(report: ReportInput, carbon: CarbonView) -> list[Section]:
    """Every section in order: runs, each study, hardware comparison, carbon."""
    sections: list[Section] = []
    groups = dict(carbon.groups)
    if report.runs:
        sections.append(_runs_section(report.runs, groups["runs"]))
    for index, study in enumerate(report.studies):
        sections.append(_study_section(index, study, carbon.groups[index + (1 if report.runs else 0)][1]))
    hardware = ps.hardware_comparison(report.all_trials())
    if hardware:
        sections.append(Section("hardware", "Hardware comparison", "Results from several machines, merged.",
                                [hardware]))  # fmt: skip
    sections.append(_carbon_section(carbon))
    return sections


def _carbon_section(carbon: CarbonView) -> Section:
    plot = pr.carbon_bars(carbon.totals())
    places = []
    for op in carbon.distinct_settings():
        ip, pp = op["intensity_provenance"], op["pue_provenance"]
        places.append([f"{op['intensity_g_per_kwh']:g} gCO2e/kWh", _where(ip), f"{op['pue']:g}", _where(pp)])
    devices = []
    for item in carbon.embodied_items():
        p = item["provenance"]
        devices.append([item["device"], item["table_row"] + (" (default)" if item["matched"] == "default" else ""),
                        f"{item['device_kg_co2e']:g}", f"{item['lifetime_years']:g}", _where(p)])  # fmt: skip
    totals = [[label, format_energy(t["energy_j"]), format_mass(t["operational_kg_co2e"]),
               format_mass(t["embodied_kg_co2e"])] for label, t in carbon.totals()]  # fmt: skip
    return Section(
        "carbon", "Carbon",
        "Operational emissions = energy (kWh) x PUE x grid carbon intensity; embodied emissions = each device's "
        "manufacturing kgCO2e x run time / its lifetime. Both from tables shipped with powertrain (docs/carbon.md); "
        "they are shown side by side and never added together.",
        [plot] if plot else [],
        [Table("CO2e per part of this report", ["part", "energy", "operational CO2e", "embodied CO2e"], totals),
         Table("Grid intensity and PUE used", ["intensity", "from", "PUE", "from"], places),
         Table("Embodied emissions: devices", ["device", "table row", "kgCO2e per device", "lifetime (years)", "from"],
               devices)],
    )  # fmt: skip


def _where(provenance: dict[str, Any]) -> str:
    if provenance.get("kind") == "user":
        return "value given by the user"
    parts = [f"{provenance.get('table')} row {provenance.get('row')}"]
    if provenance.get("year"):
        parts.append(str(provenance["year"]))
    parts.append(str(provenance.get("source", "")))
    if provenance.get("licence"):
        parts.append(f"licence: {provenance['licence']}")
    if provenance.get("note"):
        parts.append(str(provenance["note"]))
    return "; ".join(p for p in parts if p)
