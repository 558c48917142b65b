"""Is a spread in a run's energy the work's own CPU time, or attribution? The same work beside different neighbours.

Two goals of issue 18 compare the same fixed work measured twice (idle vs both cores busy; five repeats) and ask
for its energy to stay within a few per cent. With no energy sensor the run's energy is its CPU seconds x watts
per busy core, so a spread can come from two places: attribution counting the run's CPU time wrongly, or the work
itself taking more or less CPU time for the same instructions (a neighbour on the other logical CPU sharing the
core's units or the cache, time slices refilling caches, the host's load behind a virtual CPU). This bench
separates the two. Each repeat runs COMMAND once per condition (order rotated every repeat), pinned to CPU 0,
under ``powertrain measure`` through ``bench/_rusage.py``, which writes the kernel's own account of the command's
CPU time (``os.wait4``). Conditions (``--conditions``, comma-separated):

- ``none``: nothing of ours beside it (whatever else the machine does);
- ``spin-other``: a ``while True: pass`` pinned to CPU 1, running at the same time as the command;
- ``spin-same``: the same spinner pinned to CPU 0: it shares the command's CPU in time slices;
- ``torch-other``: a one-thread PyTorch loop of 512x512 matrix products pinned to CPU 1 (cache- and memory-heavy);
- ``spin-both``: two unpinned spinners (``bench/contention.py``'s "busy").

Per condition: the kernel's CPU seconds of the command (median and min-max over repeats), attributed CPU seconds
/ the kernel's (attribution's own error; 1.000 is exact), the attributed energy, the wall time, the steal time
and the other processes' load. Needs at least two logical CPUs.

Usage: ``python bench/cpu_speed.py --repeats 5 --out bench/results/cpu-speed-loop.json -- python -c
"x = 0\\nfor i in range(30_000_000): x += i"``
"""

from __future__ import annotations

import argparse
import json
import os
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

HERE = Path(__file__).resolve().parent
SPIN = "import os\nos.sched_setaffinity(0, {%d})\nwhile True: pass"
TORCH = ("import os, torch\nos.sched_setaffinity(0, {%d})\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\n"
         "while True: a @ a")  # fmt: skip
NEIGHBOURS: dict[str, list[str]] = {
    "none": [],
    "spin-other": [SPIN % 1],
    "spin-same": [SPIN % 0],
    "torch-other": [TORCH % 1],
    "spin-both": ["while True: pass", "while True: pass"],
}
FIELDS = ("kernel_cpu_s", "attributed_over_kernel", "energy_j", "duration_s", "steal_s", "others_load")


def steal_s() -> float:
    """The machine's steal time so far, in seconds (/proc/stat, all CPUs)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def one_run(command: list[str], condition: str, folder: Path) -> dict[str, Any]:
    """Measure COMMAND once on CPU 0 beside the condition's neighbours; return the figures."""
    neighbours = [subprocess.Popen([sys.executable, "-c", code]) for code in NEIGHBOURS[condition]]  # noqa: S603
    try:
        time.sleep(0.5 if neighbours else 0.0)  # let them reach full speed (torch: import it)
        if condition == "torch-other":
            time.sleep(1.5)
        out, usage = folder / "measure.json", folder / "rusage.json"
        steal_before = steal_s()
        cmd = [sys.executable, "-m", "powertrain", "measure", "--out", str(out), "--",
               sys.executable, str(HERE / "_rusage.py"), str(usage), "0", "--", *command]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        steal = steal_s() - steal_before
    finally:
        for process in neighbours:
            process.kill()
        for process in neighbours:
            process.wait()
    m = json.loads(out.read_text())["measurement"]
    kernel = json.loads(usage.read_text())
    kernel_s = kernel["cpu_s"] + kernel["wrapper_cpu_s"]
    return {
        "condition": condition,
        "kernel_cpu_s": kernel["cpu_s"],
        "wrapper_cpu_s": kernel["wrapper_cpu_s"],
        "involuntary_switches": kernel["involuntary_switches"],
        "attributed_cpu_s": m["conditions"]["run_cpu_s"],
        "attributed_over_kernel": m["conditions"]["run_cpu_s"] / kernel_s if kernel_s else None,
        "energy_j": m["energy_j"],
        "machine_total_j": m["machine_total_j"],
        "duration_s": m["duration_s"],
        "steal_s": steal,
        "others_load": m["conditions"]["others_load"],
    }


def summarise(rows: list[dict[str, Any]], conditions: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per condition and field: median, min and max over the repeats."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for condition in conditions:
        result[condition] = {}
        for field in FIELDS:
            values = [r[field] for r in rows if r["condition"] == condition and r.get(field) is not None]
            if values:
                result[condition][field] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return result


def print_table(name: str, summary: dict[str, dict[str, dict[str, float]]], repeats: int) -> None:
    baseline = summary.get("none", {}).get("kernel_cpu_s", {}).get("median")
    table = Table(title=f"{name}: pinned to CPU 0, {repeats} repeats, median [min-max]")
    for column in ("condition", *FIELDS, "CPU s / none"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for condition, fields in summary.items():
        cells = [f"{f['median']:.3f} [{f['min']:.3f}-{f['max']:.3f}]" if f else "-"
                 for f in (fields.get(field) for field in FIELDS)]  # fmt: skip
        cpu = fields.get("kernel_cpu_s", {}).get("median")
        table.add_row(condition, *cells, f"{cpu / baseline:.3f}" if cpu and baseline else "-")
    Console(width=200).print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--conditions", default="none,spin-other,spin-same,torch-other,spin-both")
    parser.add_argument("--name", default="command", help="a name for the table and the JSON")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if not command:
        parser.error("missing COMMAND after --")
    if unknown := [c for c in conditions if c not in NEIGHBOURS]:
        parser.error(f"unknown condition {unknown[0]!r}; choose from {', '.join(NEIGHBOURS)}")
    if len(os.sched_getaffinity(0)) < 2 or not {0, 1} <= os.sched_getaffinity(0):
        parser.error("needs logical CPUs 0 and 1")
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            shift = repeat % len(conditions)
            for condition in conditions[shift:] + conditions[:shift]:
                rows.append({"repeat": repeat, **one_run(command, condition, Path(tmp))})
                if args.out is not None:  # what is measured so far survives an interruption
                    write_report(args.out, bench="cpu_speed", device="cpu", settings={}, rows=rows, partial=True)
    summary = summarise(rows, conditions)
    print_table(args.name, summary, args.repeats)
    Console().print(f"load average {load_before} -> {load_average()}; {hardware()['cpu_model']}")
    write_report(args.out, bench="cpu_speed", device="cpu", settings={**vars(args), "command": command},
                 rows=rows, summary=summary, load_before=load_before, load_after=load_average())  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
