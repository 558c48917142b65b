"""The meter step's attribution check: two jobs on one GPU at once against one alone (bench/shared_device.py).

Each job runs under its own ``powertrain measure --attribution process``; on a GPU the meter splits the card's energy
between the processes on it by their NVML utilisation samples (docs/meter.md, "Attribution"). The target, as for
sweep workers and Ray Tune trials: the two jobs' energies together within 25 % of twice the job alone (whole-device
counting gives about 2).
"""

from __future__ import annotations

from typing import Any

from gpu_evidence_base import Command, Context, Figures, _fmt, _results, target

__all__ = ["SHARED_DEVICE_MAX", "shared_device_commands", "shared_device_figures"]

SHARED_DEVICE_MAX = 0.25  # |together / alone - 1|


def shared_device_commands(ctx: Context) -> list[Command]:
    """bench/shared_device.py: 2 rounds of 1,000 4096x4096 products a job on the GPU (a few on a CPU: dry run)."""
    out = ctx.work / "shared-device.json"
    if ctx.dry:
        sizes = ["--device", "cpu", "--size", "64", "--iters", "20", "--rounds", "1"]
    else:
        sizes = ["--device", "cuda", "--size", "4096", "--iters", "1000", "--rounds", "2"]
    argv = [ctx.python, "bench/shared_device.py", *sizes, "--limit-s", "40", "--out", str(out)]
    return [Command("shared-device", argv, 45, result=out)]


def shared_device_figures(commands: list[dict[str, Any]], ctx: Context) -> Figures:
    """Each round's energies (the jobs' own and the machine's) and the together / alone ratio; its target."""
    rows: list[list[Any]] = []
    targets: list[dict[str, Any]] = []
    notes: list[str] = []
    for label, result in _results(commands):
        if label != "shared-device":
            continue
        for i, r in enumerate(result.get("rounds") or [], 1):
            alone, together = r.get("alone") or {}, r.get("together") or []
            rows.append([i, _fmt(alone.get("energy_j"), ".1f"), _fmt(alone.get("machine_total_j"), ".1f"),
                         " + ".join(_fmt(j.get("energy_j"), ".1f") for j in together),
                         " + ".join(_fmt(j.get("machine_total_j"), ".1f") for j in together),
                         _fmt(r.get("ratio"), ".3f"), _fmt(r.get("machine_ratio"), ".3f")])  # fmt: skip
        median = result.get("median_ratio")
        targets.append(target("attribution: two jobs on one device at once, |together / 2 x alone - 1|",
                              None if median is None else abs(median - 1), SHARED_DEVICE_MAX))  # fmt: skip
        notes.append(f"shared device ({result.get('device')}): median together / alone {_fmt(median, '.3f')}, "
                     f"machine-wide {_fmt(result.get('median_machine_ratio'), '.3f')}; GPU attribution status: "
                     f"{', '.join(result.get('gpu_statuses') or []) or 'no GPU'}")  # fmt: skip
    columns = ["round", "alone J", "alone machine J", "together J", "together machine J", "together / alone",
               "machine-wide ratio"]  # fmt: skip
    return {"tables": [{"title": "two jobs on one device (attribution)", "columns": columns, "rows": rows}],
            "targets": targets, "notes": notes}  # fmt: skip
