"""The transfer and multitask studies in the report, through the plug-in mechanism (register_loader/register_section).

A transfer or multitask study folder holds ``results.json`` (``"kind": "transfer"`` or ``"multitask"``) and one sweep
folder per stage (``pretrain/``, ``finetune/``, ``scratch/``; ``multitask/``, ``single/``). The study's trials are its
stages' trials, read with the sweep loader (each stage's ``results.json`` export, so every attempt's energy is
counted), named ``<stage>/<run>``; its facts are the study's ``results.json``. The sections add, per target and
fine-tuning mode, the break-even plot (cumulative energy of N downstream tasks, from scratch against pretraining
once and fine-tuning, every seed and their mean) and energy-to-target bars; for a multitask study, the energy until
every task is on target, one shared model against one model per task, and per task. Nothing here runs training code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from powertrain._records import read_results
from powertrain.report._figure import Plot, new_figure, to_plot
from powertrain.report._load import is_sweep, register_loader, sweep_from_dict
from powertrain.report._model import StudyData, Trial
from powertrain.report._plots_runs import format_energy
from powertrain.report._sections import Table, register_section

__all__ = ["is_multitask_study", "is_transfer_study", "load_study_of_stages"]

_STAGES = {"transfer": ("pretrain", "finetune", "scratch"), "multitask": ("multitask", "single")}


def _results(path: Path) -> dict[str, Any] | None:
    file = path / "results.json"
    return read_results(file) if file.is_file() else None


def is_transfer_study(path: Path) -> bool:
    """A transfer study folder: ``results.json`` with ``"kind": "transfer"``."""
    data = _results(path)
    return data is not None and data.get("kind") == "transfer"


def is_multitask_study(path: Path) -> bool:
    """A multitask study folder: ``results.json`` with ``"kind": "multitask"``."""
    data = _results(path)
    return data is not None and data.get("kind") == "multitask"


def load_study_of_stages(path: Path) -> StudyData:
    """A transfer or multitask study: its stages' trials (``<stage>/<run>``) and its results as facts."""
    data = _results(path) or {}
    kind = str(data.get("kind"))
    trials: list[Trial] = []
    for stage in _STAGES.get(kind, ()):
        folder = path / stage
        export = _results(folder)
        if export is None or not is_sweep(folder):
            continue
        for trial in sweep_from_dict(export, folder).trials:
            trial.name = f"{stage}/{trial.name}"
            trial.params = {"stage": stage, **{k: v for k, v in trial.params.items() if k != "run"}}
            trials.append(trial)
    target = data.get("target_accuracy")
    if target is None and data.get("comparisons"):
        target = data["comparisons"][0].get("target_accuracy")
    return StudyData(kind=kind, name=str(data.get("study") or path.name), path=path, trials=trials,
                     target_accuracy=target, facts=data)  # fmt: skip


def _mean(stat: dict[str, Any] | None) -> float | None:
    return None if not stat else float(stat["mean"])


def _stat(stat: dict[str, Any] | None, unit: str = "") -> str:
    if not stat:
        return "-"
    if unit == "J":
        text = format_energy(stat["mean"])
        return text if stat["n"] == 1 else f"{text} ± {format_energy(stat['std'])} (n={stat['n']})"
    sep = " " if unit else ""
    if stat["n"] == 1:
        return f"{stat['mean']:.3g}{sep}{unit}"
    return f"{stat['mean']:.3g} ± {stat['std']:.2g}{sep}{unit} (n={stat['n']})"


def _scale(values: list[float]) -> tuple[float, str]:
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if top >= 3.6e6:
        return 3.6e6, "kWh"
    if top >= 1e3:
        return 1e3, "kJ"
    return 1.0, "J"


def break_even_plot(comp: dict[str, Any], index: int) -> Plot:
    """Cumulative energy of N downstream tasks for one target and mode: every seed (thin) and the mean (thick)."""
    rows = comp["rows"]
    seeds = []
    for row in rows:
        pre = row.get("pretrain_energy_j")
        ft = (row.get("finetune") or {}).get("energy_to_target_j")
        sc = (row.get("scratch") or {}).get("energy_to_target_j")
        if pre is not None and ft is not None and sc is not None:
            seeds.append((row["seed"], float(pre), float(ft), float(sc), row.get("break_even_tasks")))
    be = comp["summary"].get("break_even_tasks")
    n_even = _mean(be)
    crossing = comp["summary"].get("break_even_tasks_of_means")  # where the two mean lines cross
    top = max([s[4] for s in seeds if s[4]] + [n_even or 0.0, crossing or 0.0])
    n_max = max(3, math.ceil(1.5 * top)) if top > 0 else 5
    ns = list(range(n_max + 1))
    with new_figure() as fig:
        ax = fig.axes[0]
        if seeds:
            scale, unit = _scale([n_max * s[3] for s in seeds] + [s[1] + n_max * s[2] for s in seeds])
            for k, (_seed, pre, ft, sc, _) in enumerate(seeds):
                label = k == 0
                ax.plot(ns, [n * sc / scale for n in ns], color="#2563eb", alpha=0.35, linewidth=0.8,
                        label="from scratch, each seed" if label else None)  # fmt: skip
                ax.plot(ns, [(pre + n * ft) / scale for n in ns], color="#ea580c", alpha=0.35, linewidth=0.8,
                        label="pretrain once + fine-tune, each seed" if label else None)  # fmt: skip
            mean = [sum(s[i] for s in seeds) / len(seeds) for i in (1, 2, 3)]
            ax.plot(ns, [n * mean[2] / scale for n in ns], color="#2563eb", linewidth=2, marker="o", markersize=3,
                    label="from scratch, mean")  # fmt: skip
            ax.plot(ns, [(mean[0] + n * mean[1]) / scale for n in ns], color="#ea580c", linewidth=2, marker="o",
                    markersize=3, label="pretrain once + fine-tune, mean")  # fmt: skip
            if crossing is not None:
                ax.axvline(crossing, color="#6b7280", linestyle="--", linewidth=1, label="the means cross")
            for k, (_seed, _pre, _ft, _sc, n_seed) in enumerate(s for s in seeds if s[4] is not None):
                ax.axvline(n_seed, ymax=0.06, color="#111827", linewidth=2,
                           label="break-even of a seed" if k == 0 else None)  # fmt: skip
            if be and be["n"] > 1:
                ax.axvspan(be["min"], be["max"], color="#9ca3af", alpha=0.2, linewidth=0)
            ax.set_ylabel(f"cumulative energy to target ({unit})")
            ax.legend(loc="upper left")
        else:  # no seed has both energies-to-target: show what there is (from scratch) and say why
            scratch = [float(r["scratch"]["energy_to_target_j"]) for r in rows
                       if (r.get("scratch") or {}).get("energy_to_target_j") is not None]  # fmt: skip
            scale, unit = _scale([n_max * v for v in scratch] or [0.0])
            if scratch:
                mean = sum(scratch) / len(scratch)
                ax.plot(ns, [n * mean / scale for n in ns], color="#2563eb", linewidth=2, marker="o", markersize=3,
                        label="from scratch, mean")  # fmt: skip
                ax.legend(loc="upper left")
            ax.text(0.5, 0.55, comp.get("verdict") or "no break-even", ha="center", va="center", wrap=True,
                    transform=ax.transAxes, color="#b91c1c")  # fmt: skip
            ax.set_ylabel(f"cumulative energy to target ({unit})")
        ax.set_xlabel("downstream tasks N")
        if n_even is None:
            title = "no break-even"
        elif be and be["n"] < len(rows):
            title = f"break-even in {be['n']} of {len(rows)} seeds ({_stat(be)} tasks)"
        else:
            title = f"break-even after {_stat(be)} tasks"
        ax.set_title(f"{comp['target']}, {comp['mode']}: {title}")
        caption = (
            f"Energy to reach {comp.get('target_accuracy')} accuracy on N downstream tasks like {comp['target']}: "
            f"training each from scratch against pretraining once and fine-tuning ({comp['mode']}); measured "
            "energies-to-target (J), thin lines one per seed, thick the mean; dashed: where the means cross (mean "
            "pretraining energy / mean saving), ticks: each seed's break-even, band: their range. "
            f"{comp.get('verdict') or ''}"
        )
        return to_plot(fig, f"transfer-break-even-{index}", f"Break-even: {comp['target']} / {comp['mode']}",
                       caption)  # fmt: skip


def energy_to_target_bars(comps: list[dict[str, Any]], pretrain: dict[str, Any] | None) -> Plot | None:
    """Mean energy-to-target (error bar: std over seeds) of fine-tuning and from scratch, per target and mode."""
    labels, ft, ft_err, sc, sc_err = [], [], [], [], []
    for comp in comps:
        s = comp["summary"]
        labels.append(f"{comp['target']}\n{comp['mode']}")
        for stat, vals, errs in ((s["finetune_energy_to_target_j"], ft, ft_err),
                                 (s["scratch_energy_to_target_j"], sc, sc_err)):  # fmt: skip
            vals.append(stat["mean"] if stat else math.nan)
            errs.append(stat["std"] if stat else 0.0)
    if not labels or all(math.isnan(v) for v in ft + sc):
        return None
    with new_figure(height_in=3.4) as fig:
        ax = fig.axes[0]
        scale, unit = _scale(ft + sc + ([pretrain["mean"]] if pretrain else []))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], [v / scale for v in ft], 0.4, yerr=[e / scale for e in ft_err],
               label="fine-tune", color="#ea580c", capsize=3)  # fmt: skip
        ax.bar([x + 0.2 for x in xs], [v / scale for v in sc], 0.4, yerr=[e / scale for e in sc_err],
               label="from scratch", color="#2563eb", capsize=3)  # fmt: skip
        if pretrain:
            ax.axhline(pretrain["mean"] / scale, color="#6b7280", linestyle=":", linewidth=1,
                       label="pretraining (once)")  # fmt: skip
        for x, value in enumerate(ft):
            if math.isnan(value):
                ax.text(x - 0.2, 0, "not\nreached", ha="center", va="bottom", fontsize=8, color="#b91c1c")
        top = max([v + e for v, e in zip(ft + sc, ft_err + sc_err, strict=True) if not math.isnan(v)]
                  + ([pretrain["mean"]] if pretrain else []))  # fmt: skip
        ax.set_ylim(0, 1.3 * top / scale)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_xticks(list(xs), labels)
        ax.set_ylabel(f"energy to target ({unit})")
        ax.legend(loc="upper right")
        ax.set_title("Energy to target: fine-tuning against training from scratch")
        return to_plot(fig, "transfer-energy-to-target", "Energy to target",
                       "Mean measured energy-to-target (J) over seeds, error bars one standard deviation; a missing "
                       "bar never reached the target. Dotted: the pretraining energy, paid once.")  # fmt: skip


def transfer_section(study: StudyData, entries: list[tuple[Trial, dict[str, Any]]]) -> list[Plot | Table | None]:
    """Break-even per target and mode, energy-to-target bars, and the comparison table."""
    facts = study.facts
    comps = list(facts.get("comparisons") or [])
    pretrain = (facts.get("pretrain") or {}).get("energy_j")
    items: list[Plot | Table | None] = [break_even_plot(c, i) for i, c in enumerate(comps)]
    items.append(energy_to_target_bars(comps, pretrain))
    rows = []
    for c in comps:
        s = c["summary"]
        rows.append([c["target"], c["mode"], str(c.get("target_accuracy")), _stat(pretrain, "J"),
                     _stat(s["finetune_energy_to_target_j"], "J"), _stat(s["finetune_time_to_target_s"], "s"),
                     _stat(s["finetune_epochs_to_target"]), _stat(s["scratch_energy_to_target_j"], "J"),
                     _stat(s["scratch_time_to_target_s"], "s"), _stat(s["scratch_epochs_to_target"]),
                     _stat(s["saved_j"], "J"), _stat(s["break_even_tasks"]), c.get("verdict") or ""])  # fmt: skip
    columns = [
        "target", "mode", "target accuracy", "pretraining", "fine-tune: energy to target", "time", "epochs",
        "scratch: energy to target", "time", "epochs", "saved per task", "break-even tasks", "verdict",
    ]  # fmt: skip
    note = (f"Mean ± standard deviation over seeds {facts.get('seeds')}; energies measured per run "
            f"(sources: {', '.join(facts.get('energy_sources') or []) or '-'}). Break-even: pretraining energy / "
            "energy saved per task, per seed.")  # fmt: skip
    items.append(Table("Transfer: fine-tuning against training from scratch", columns, rows, note))
    return items


def multitask_bars(facts: dict[str, Any]) -> Plot | None:
    """Energy until every task is on target: one multitask model against one model per task (stacked by task)."""
    s = facts.get("summary") or {}
    multi = s.get("multitask_energy_to_target_j")
    per_task = facts.get("per_task") or {}
    singles = {n: _mean(t.get("single_energy_to_target_j")) for n, t in per_task.items()}
    if multi is None and not any(v is not None for v in singles.values()):
        return None
    with new_figure(height_in=3.4) as fig:
        ax = fig.axes[0]
        scale, unit = _scale([multi["mean"] if multi else 0.0, sum(v or 0.0 for v in singles.values())])
        if multi:
            ax.bar([0], [multi["mean"] / scale], 0.5, yerr=[multi["std"] / scale], capsize=3, color="#ea580c",
                   label="one multitask model")  # fmt: skip
        bottom = 0.0
        colours = ["#2563eb", "#16a34a", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563"]
        for k, (name, value) in enumerate(singles.items()):
            if value is None:
                continue
            ax.bar([1], [value / scale], 0.5, bottom=[bottom / scale], label=f"alone: {name}",
                   color=colours[k % len(colours)])  # fmt: skip
            bottom += value
        separate = s.get("separate_energy_to_target_j")
        if separate:
            ax.errorbar([1], [separate["mean"] / scale], yerr=[separate["std"] / scale], color="#111827", capsize=3)
        ax.set_xticks([0, 1], ["one shared model", "one model per task"])
        ax.set_ylabel(f"energy until every task is on target ({unit})")
        ax.legend(loc="upper right")
        ax.set_title(facts.get("verdict") or "Multitask against one model per task")
        return to_plot(fig, "multitask-energy", "Multitask: energy until every task is on target",
                       f"Mean measured energy (J) until every task reaches {facts.get('target_accuracy')} accuracy, "
                       "over seeds (error bars: standard deviation; the separate models' bar is stacked by task, "
                       "its error bar on their per-seed sum). A missing bar never brought every task to the "
                       "target.")  # fmt: skip


def multitask_section(study: StudyData, entries: list[tuple[Trial, dict[str, Any]]]) -> list[Plot | Table | None]:
    """Total energy of one shared model against one per task, and the per-task table."""
    facts = study.facts
    s = facts.get("summary") or {}
    totals = Table(
        "Multitask: energy until every task is on target",
        ["", "energy", "time", "reached"],
        [
            [
                "one multitask model",
                _stat(s.get("multitask_energy_to_target_j"), "J"),
                _stat(s.get("multitask_time_to_target_s"), "s"),
                f"{s.get('multitask_reached')}/{s.get('runs')}",
            ],
            [
                "one model per task (sum)",
                _stat(s.get("separate_energy_to_target_j"), "J"),
                _stat(s.get("separate_time_to_target_s"), "s"),
                f"{s.get('separate_reached')}/{s.get('runs')}",
            ],
        ],  # fmt: skip
        f"{facts.get('verdict') or ''} Saved by sharing: {_stat(s.get('saved_j'), 'J')}; ratio multitask / separate "
        f"{_stat(s.get('ratio'))}. Seeds {facts.get('seeds')}.",
    )
    per_task = Table(
        "Multitask: per task",
        [
            "task",
            "shared model: epochs to target",
            "shared model: energy at that epoch",
            "alone: energy to target",
            "alone: epochs",
            "alone: final accuracy",
            "shared: final accuracy",
        ],  # fmt: skip
        [
            [
                name,
                _stat(t.get("multitask_epochs_to_target")),
                _stat(t.get("multitask_energy_to_target_j"), "J"),
                _stat(t.get("single_energy_to_target_j"), "J"),
                _stat(t.get("single_epochs_to_target")),
                _stat(t.get("single_final_accuracy")),
                _stat(t.get("multitask_final_accuracy")),
            ]
            for name, t in (facts.get("per_task") or {}).items()
        ],  # fmt: skip
        "The shared model's energy at a task's target is its cumulative energy (all tasks) at that epoch.",
    )
    return [multitask_bars(facts), totals, per_task]


register_loader("transfer", is_transfer_study, load_study_of_stages)
register_loader("multitask", is_multitask_study, load_study_of_stages)
register_section("transfer", transfer_section)
register_section("multitask", multitask_section)
