"""The same command measured with the machine otherwise idle and with every core kept busy by other processes.

Attribution's acceptance test (issue 18): a run's energy must not depend on what else the machine does. Each
repeat runs COMMAND under ``powertrain measure`` twice, once as it is ("idle": whatever the machine does anyway)
and once beside ``--busy`` processes that spin ``while True: pass`` (killed right after), order rotated every
repeat. The table gives, per condition, the run's attributed energy (``measurement.energy_j``), the machine-wide
figure (``machine_total_j``: what powertrain reported before attribution), the run's CPU seconds, the other
processes' load and the wall time, and the busy / idle ratios of the medians.

With ``--summary PATH`` the run's own result (a ``summary.json`` that COMMAND writes, e.g. ``powertrain train``)
is read too, and its ``energy.total_j`` (or ``energy_j``) and ``energy.energy_to_target_j`` are compared the same way.

Usage: ``python bench/contention.py --repeats 3 --busy 2 --out bench/results/contention-loop.json -- python -c
"x = 0\\nfor i in range(30_000_000): x += i"``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _harness import hardware, load_average, write_report

FIELDS = ("energy_j", "machine_total_j", "run_cpu_s", "others_load", "duration_s")


def spin(count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` processes that keep one CPU each busy."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def one_run(command: list[str], busy: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Measure COMMAND once, beside ``busy`` spinning processes; return the figures."""
    out = folder / "measure.json"
    if args.summary:
        shutil.rmtree(Path(args.summary).parent, ignore_errors=True)
    spinners = spin(busy)
    try:
        time.sleep(0.5 if busy else 0.0)  # let the spinners reach full speed
        load = os.getloadavg()[0]
        cmd = [sys.executable, "-m", "powertrain", "measure", "--out", str(out), "--", *command]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    finally:
        stop(spinners)
    m = json.loads(out.read_text())["measurement"]
    row = {
        "busy": busy,
        "load_1min": load,
        "energy_j": m["energy_j"],
        "machine_total_j": m["machine_total_j"],
        "run_cpu_s": m["conditions"]["run_cpu_s"],
        "others_load": m["conditions"]["others_load"],
        "duration_s": m["duration_s"],
    }
    if args.summary:
        summary = json.loads(Path(args.summary).read_text())
        energy = summary.get("energy", {})
        row["summary_energy_j"] = energy.get("total_j", summary.get("energy_j"))
        row["summary_machine_total_j"] = energy.get("machine_total_j")
        row["summary_energy_to_target_j"] = summary.get("energy_to_target_j")
        row["summary_final_accuracy"] = summary.get("final_accuracy")
    return row


def _median(rows: list[dict[str, Any]], busy: int, field: str) -> float | None:
    values = [r[field] for r in rows if r["busy"] == busy and r.get(field) is not None]
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="spinning processes (default: CPUs)")
    parser.add_argument("--summary", default=None, help="a summary.json COMMAND writes (read after each run)")
    parser.add_argument("--name", default="command", help="a name for the table and the JSON")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("missing COMMAND after --")
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for busy in ((0, args.busy) if repeat % 2 == 0 else (args.busy, 0)):
                rows.append({"repeat": repeat, **one_run(command, busy, args, Path(tmp))})
                if args.out is not None:  # what is measured so far survives an interruption
                    write_report(args.out, bench="contention", device="cpu", settings={}, rows=rows, partial=True)
    summary_fields = ("summary_energy_j", "summary_energy_to_target_j", "summary_final_accuracy")
    fields = [*FIELDS, *(f for f in summary_fields if args.summary)]
    medians = {cond: {f: _median(rows, b, f) for f in fields} for cond, b in (("idle", 0), ("busy", args.busy))}
    ratios = {f: _ratio(medians["busy"][f], medians["idle"][f]) for f in fields}
    table = Table(title=f"{args.name}: idle vs {args.busy} busy processes ({args.repeats} repeats, medians)")
    for column in ("figure", "idle", "busy", "busy / idle"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for f in fields:
        ratio = "" if ratios[f] is None or f == "others_load" else f"{ratios[f]:.3f}"
        table.add_row(f, _fmt(medians["idle"][f]), _fmt(medians["busy"][f]), ratio)
    console = Console()
    console.print(table)
    console.print(f"load average {load_before} -> {load_average()}; {hardware()['cpu_model']}")
    write_report(
        args.out,
        bench="contention",
        device="cpu",
        settings={**vars(args), "command": command},
        rows=rows,
        medians=medians,
        ratios=ratios,
        load_before=load_before,
        load_after=load_average(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
