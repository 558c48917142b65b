"""The transfer and multitask results, written in one place: ``results.json`` (strict JSON) and ``results.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from powertrain._files import json_safe, write_atomic
from powertrain.hardware import hardware_label

__all__ = ["markdown", "write_results"]


def write_results(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``out/results.json`` and ``out/results.md``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    write_atomic(json_path, json.dumps(json_safe(results), indent=2) + "\n")
    write_atomic(md_path, markdown(results))
    return json_path, md_path


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (the same figures as the JSON)."""
    lines = [f"# {results['kind'].capitalize()} study `{results['study']}`", ""]
    lines.append(
        f"Hardware: {hardware_label(results.get('hardware'), cpu=True)}. Energy sources: "
        f"{', '.join(results.get('energy_sources') or []) or 'none'}"
        + (" (a labelled estimate, no energy sensor)" if "estimated" in (results.get("energy_sources") or []) else "")
        + f". Seeds: {results.get('seeds')}. All runs together: {_j(results.get('total_energy_j'))}."
    )
    lines.append("")
    if results["kind"] == "transfer":
        lines += _transfer(results)
    else:
        lines += _multitask(results)
    return "\n".join(lines) + "\n"


def _transfer(results: dict[str, Any]) -> list[str]:
    pre = results["pretrain"]
    if pre.get("task"):
        head = f"Pretraining on `{pre['task']}`: {_stat(pre.get('energy_j'), 'J')} per run."
    else:
        known = pre.get("energy_j")
        head = f"Pretrained weights from `{pre.get('pretrained')}`: " + (
            f"their pretraining energy is given as {_stat(known, 'J')}." if known else "pretraining energy unknown."
        )
    lines = [head, ""]
    lines.append(
        "| target | mode | target acc. | fine-tune: energy to target | epochs | from scratch: energy to target | "
        "epochs | saved per task | break-even tasks | reached (ft / scratch) |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for comp in results["comparisons"]:
        s = comp["summary"]
        lines.append(
            f"| {comp['target']} | {comp['mode']} | {comp['target_accuracy']} | "
            f"{_stat(s['finetune_energy_to_target_j'], 'J')} | {_stat(s['finetune_epochs_to_target'], '')} | "
            f"{_stat(s['scratch_energy_to_target_j'], 'J')} | {_stat(s['scratch_epochs_to_target'], '')} | "
            f"{_stat(s['saved_j'], 'J')} | {_stat(s['break_even_tasks'], '')} | "
            f"{s['finetune_reached']}/{s['runs']} / {s['scratch_reached']}/{s['runs']} |"
        )
    lines += ["", "Per seed:", ""]
    lines.append("| target | mode | seed | pretrain | fine-tune E2T | scratch E2T | saved | break-even | note |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for comp in results["comparisons"]:
        for row in comp["rows"]:
            ft, sc = row.get("finetune") or {}, row.get("scratch") or {}
            be = row.get("break_even_tasks")
            lines.append(
                f"| {comp['target']} | {comp['mode']} | {row['seed']} | {_j(row.get('pretrain_energy_j'))} | "
                f"{_j(ft.get('energy_to_target_j'))} | {_j(sc.get('energy_to_target_j'))} | "
                f"{_j(row.get('saved_j'))} | {f'{be:.2f}' if be is not None else '-'} | {row.get('note') or ''} |"
            )
    lines += [""] + [f"- {c['target']} / {c['mode']}: {c['verdict']}" for c in results["comparisons"]]
    return lines


def _multitask(results: dict[str, Any]) -> list[str]:
    s = results["summary"]
    lines = [
        f"Trunk `{results['trunk']}`, tasks {', '.join(results['tasks'])}, target accuracy "
        f"{results['target_accuracy']} on every task.",
        "",
        "| | energy until every task is on target | time | reached |",
        "| --- | --- | --- | --- |",
        f"| one multitask model | {_stat(s['multitask_energy_to_target_j'], 'J')} | "
        f"{_stat(s['multitask_time_to_target_s'], 's')} | {s['multitask_reached']}/{s['runs']} |",
        f"| one model per task (sum) | {_stat(s['separate_energy_to_target_j'], 'J')} | "
        f"{_stat(s['separate_time_to_target_s'], 's')} | {s['separate_reached']}/{s['runs']} |",
        "",
        f"Energy saved by sharing: {_stat(s['saved_j'], 'J')}; multitask / separate: {_stat(s['ratio'], '')}.",
        "",
        "| task | multitask: epochs to target | multitask: energy at that epoch | alone: energy to target | epochs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, t in results["per_task"].items():
        lines.append(
            f"| {name} | {_stat(t['multitask_epochs_to_target'], '')} | {_stat(t['multitask_energy_to_target_j'], 'J')}"
            f" | {_stat(t['single_energy_to_target_j'], 'J')} | {_stat(t['single_epochs_to_target'], '')} |"
        )
    lines += ["", results.get("verdict", "")]
    return lines


def _stat(stat: dict[str, Any] | None, unit: str) -> str:
    if not stat:
        return "not reached" if unit == "J" else "-"
    sep = " " if unit else ""
    if stat["n"] == 1:
        return f"{stat['mean']:.3g}{sep}{unit}"
    return f"{stat['mean']:.3g} ± {stat['std']:.2g}{sep}{unit} (n={stat['n']})"


def _j(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} J"
