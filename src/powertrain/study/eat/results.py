"""An EAT study's results, written in one place: ``results.json`` and ``results.md`` (rewritten after every trial).

:class:`EatResultsWriter` rebuilds the per-model tables (:mod:`~powertrain.study.eat.table`) from the finished
runs and writes both files atomically; :func:`render_markdown` and :func:`summary_lines` are the Markdown and the
plain-text conclusions (the CLI prints the latter).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from powertrain._files import json_safe, write_atomic
from powertrain.hardware import hardware_label
from powertrain.study.eat.config import EatStudyConfig, inference_key
from powertrain.study.eat.table import EAT_CIFAR10_TABLE1, ModelTable, RunRecord, build_table, row_cells, table_columns

__all__ = ["EatResultsWriter", "EatStudyResult", "render_markdown", "summary_lines"]


@dataclass
class EatStudyResult:
    """What :func:`run_eat_study` returns; the same facts are in ``OUT/results.json``.

    Attributes:
        out: The study folder.
        config: The study's config.
        records: One per (model, setting), standard first within each model.
        tables: Per model, the table with the selected setting and the goal check.
        goal_met: True when every model meets the goal, False when one does not, None when undecidable.
        hardware: Where it ran.
    """

    out: Path
    config: EatStudyConfig
    records: list[RunRecord]
    tables: dict[str, ModelTable]
    goal_met: bool | None
    hardware: dict[str, Any]

    @property
    def results_json(self) -> Path:
        """``OUT/results.json``."""
        return self.out / "results.json"

    @property
    def results_md(self) -> Path:
        """``OUT/results.md``: the tables in markdown, ready for docs/."""
        return self.out / "results.md"


@dataclass
class EatResultsWriter:
    """The study's results so far: the finished runs' records, whether every run is in, and the sweep's CO2e."""

    config: EatStudyConfig
    out: Path
    hardware: dict[str, Any]
    records: list[RunRecord] = field(default_factory=list)
    complete: bool = False
    carbon: dict[str, Any] | None = None

    def write(self) -> EatStudyResult:
        """Rebuild the tables from the records and rewrite results.json and results.md atomically."""
        config = self.config
        tables = {
            model: build_table(
                model,
                [r for r in self.records if r.model == model],
                accuracy_tolerance=config.accuracy_tolerance,
                goal_decrease_pct=config.goal_decrease_pct,
                goal_max_accuracy_drop=config.goal_max_accuracy_drop,
            )
            for model in config.models
            if any(r.model == model for r in self.records)
        }
        verdicts = [t.goal["met"] for t in tables.values()]
        goal_met = None if not verdicts or None in verdicts else all(verdicts)
        result = EatStudyResult(self.out, config, list(self.records), tables, goal_met, self.hardware)
        payload = {
            "study": "eat",
            "complete": self.complete,
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": config.to_dict(),
            "hardware": self.hardware,
            "inference_config": inference_key(config),
            "runs": [r.to_dict() for r in self.records],
            "carbon": self.carbon,  # the sweep's CO2e totals (SweepResult.carbon): every trial's spent energy
            "tables": {model: t.to_dict() for model, t in tables.items()},
            "goal": {
                "decrease_pct": config.goal_decrease_pct,
                "max_accuracy_drop": config.goal_max_accuracy_drop,
                "met": goal_met,
            },
            "eat_cifar10_table1": {m: {"standard": s, "eat": e} for m, (s, e) in EAT_CIFAR10_TABLE1.items()},
        }
        write_atomic(result.results_json, json.dumps(json_safe(payload), indent=2) + "\n")
        write_atomic(result.results_md, render_markdown(result, complete=self.complete))
        return result


def render_markdown(result: EatStudyResult, *, complete: bool = True) -> str:
    """The study's results as markdown, ready to paste into docs/."""
    config, train = result.config, result.config.train
    size = f"{train.image_size or 'native'}x{train.image_size or 'native'}x{train.channels or 'native'}"
    subset = f", {train.subset} training / {train.test_subset or 'all'} test images" if train.subset else ""
    lines = [
        f"## EAT study: {train.dataset} {size}{subset}, {train.epochs} epochs, seed {config.seed}",
        "",
        f"Machine: {hardware_label(result.hardware, cpu=True)}. Study folder: `{result.out}` (config in `study.yaml`).",
        f"Training: batch {train.batch_size}, {train.optimizer} lr {train.lr:g} "
        f"({train.lr_schedule} x{train.lr_gamma:g} per epoch), weight decay {train.weight_decay:g}, "
        f"amp {train.amp}; EAT penalty on `{train.eat_layers}`.",
        f"Selection rule: lowest energy ratio within {100 * config.accuracy_tolerance:g} point(s) of standard accuracy."
        f" Goal: at least {config.goal_decrease_pct:g}% lower energy ratio than standard training at no more than "
        f"{100 * config.goal_max_accuracy_drop:g} point(s) of accuracy lost.",
        "",
    ]
    if not complete:
        done = len(result.records)
        planned = len(config.models) * len(config.all_settings)
        lines += [f"**Partial results** ({done} of {planned} runs; inference energy may be missing).", ""]
    for model, table in result.tables.items():
        columns = table_columns(table)
        lines += [f"### {model}", "", _md_row(columns), _md_row(["---"] * len(columns))]
        lines += [_md_row(row_cells(row)) for row in table.rows]
        lines += ["", *summary_lines(table), ""]
    if result.goal_met is not None:
        lines.append(f"**Goal met for every model: {'yes' if result.goal_met else 'no'}.**")
    lines += [
        "",
        "Columns: accuracy is the final test accuracy; Δ acc is in points against standard training; the energy ratio "
        "is EAT's modelled zero-skipping accelerator energy over dense "
        f"({train.estimate_mode} mode, mean over test batches of the "
        "given size), and decrease is relative to standard training's ratio; training energy is measured over the "
        "whole run (source in brackets); inference J/1k img is measured over repeated passes over the test split "
        "(± the spread between rounds), `vs standard` its relative difference. `*` marks the selected setting.",
        "",
    ]
    return "\n".join(lines)


def summary_lines(table: ModelTable) -> list[str]:
    """Plain-text conclusions of one model's table: selection, goal, EAT's figures and the inference measurement."""
    rows = {row.setting: row for row in table.rows}
    out: list[str] = []
    chosen = rows.get(table.selected or "")
    if chosen is None:
        out.append("Selected: none (no finished standard run to compare with).")
    elif chosen.lam == 0:
        out.append("Selected: standard (no EAT setting has a lower energy ratio within the accuracy tolerance).")
    else:
        out.append(
            f"Selected: **{chosen.setting}**: ratio {chosen.energy_ratio:.3f} ({chosen.decrease_pct:.1f}% lower), "
            f"accuracy {chosen.accuracy_change_points:+.2f} points."
        )
    goal = table.goal
    if goal["met"] is not None:
        best = (
            f" (best within the accuracy limit: {goal['setting']}, {goal['decrease_pct']:.1f}% lower ratio, "
            f"{goal['accuracy_change_points']:+.2f} points)"
            if goal["setting"]
            else ""
        )
        out.append(f"Goal met: **{'yes' if goal['met'] else 'no'}**{best}.")
    reference = EAT_CIFAR10_TABLE1.get(table.model)
    if reference:
        (acc0, r0), (acc1, r1) = reference
        out.append(
            f"EAT on CIFAR-10 (Table 1): accuracy {acc0:.2f} -> {acc1:.2f} ({100 * (acc1 - acc0):+.0f} points), "
            f"ratio {r0:.2f} -> {r1:.2f} ({100 * (1 - r1 / r0):.1f}% lower)."
        )
    out += _inference_lines(table)
    return out


def _inference_lines(table: ModelTable) -> list[str]:
    measured = [row for row in table.rows if row.inference]
    if not measured:
        return []
    standard = next((row for row in measured if row.lam == 0), None)
    first = measured[0].inference
    text = f"Measured inference energy ({first['source']}, {first['component']}):"
    if standard is not None:
        inf = standard.inference
        text += (
            f" standard {inf['j_per_1k_images']:.3f} J per 1000 images at {inf['avg_power_w']:.1f} W, "
            f"{inf['images_per_s']:,.0f} images/s"
        )
    diffs = [row.inference_diff_pct for row in measured if row.inference_diff_pct is not None]
    if diffs:
        text += "; EAT settings " + ", ".join(f"{d:+.1f}%" for d in diffs)
        noise = _noise_pct(measured)
        if noise is not None:
            text += f" (round-to-round spread {noise:.1f}%)"
    return [text + "."]


def _noise_pct(rows: list[Any]) -> float | None:
    spreads = [
        100 * row.inference["j_per_1k_images_std"] / row.inference["j_per_1k_images"]
        for row in rows
        if row.inference.get("j_per_1k_images_std") is not None and row.inference["j_per_1k_images"]
    ]
    return statistics.fmean(spreads) if spreads else None


def _md_row(cells: Any) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
