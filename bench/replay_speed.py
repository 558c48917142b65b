"""How long ``powertrain sweep replay`` takes on a 12-setup grid (issue 21's goal: under 2 s), and where the time goes.

For each study folder or CSV trace: the whole command as a user runs it (``python -m powertrain sweep replay PATH``,
default orders, every rule), ``--repeats`` times in fresh processes (wall clock, median and max), then in one process
the phases: reading the grid straight from the study's SQLite file against reading it through Optuna's storage (the
fallback, and what every read cost before), each in fresh processes with their imports, and the replay itself (in
this process) with cold and warm forecast caches. Load average
before and after, so a figure on a busy machine says so. No training runs.

Example:
    python bench/replay_speed.py studies/lr-batch-grid studies/lr-batch-grid-long \
        --out bench/results/replay-speed-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from powertrain.hardware import describe_hardware


def fresh_s(argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``argv`` in fresh processes (imports included, as a user pays them)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=300)
        times.append(time.perf_counter() - started)
    return times


def phases_s(path: str, repeats: int) -> dict[str, Any]:
    """Reading the grid in a fresh process (SQLite directly, through Optuna), and the replay in this one."""
    from powertrain.study.replay import read_trace, replay

    out: dict[str, Any] = {}
    if Path(path, "study.db").is_file():
        db = str(Path(path, "study.db"))
        fast = ("from pathlib import Path; from powertrain.study.replay._sqlite import read_sqlite_trials; "
                f"read_sqlite_trials(Path({db!r}))")
        slow = f"from powertrain.study.engine.results import load_sweep; load_sweep({path!r})"
        out["read_sqlite_s"] = statistics.median(fresh_s([sys.executable, "-c", fast], repeats))
        out["read_optuna_s"] = statistics.median(fresh_s([sys.executable, "-c", slow], repeats))
    trace = read_trace(path)
    for name in ("replay_cold_s", "replay_warm_s"):
        started = time.perf_counter()
        replay(trace)
        out[name] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="study folders or CSV traces (12 setups for the goal)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per path")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for path in args.paths:
        times = fresh_s([sys.executable, "-m", "powertrain", "sweep", "replay", path], args.repeats)
        rows.append({"path": path, "command_s": times, "median_s": statistics.median(times), "max_s": max(times),
                     **phases_s(path, args.repeats)})  # fmt: skip
    load_after = os.getloadavg()
    table = Table(title=f"sweep replay (100 orders, every rule), {args.repeats} fresh processes each; load average "
                        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")  # fmt: skip
    for column in ("grid", "command: median (max)", "read in a fresh process: SQLite / Optuna", "replay: cold / warm"):
        table.add_column(column, justify="left" if column == "grid" else "right")
    for r in rows:
        read = f"{r['read_sqlite_s']:.2f} / {r['read_optuna_s']:.2f} s" if "read_sqlite_s" in r else "- (a CSV trace)"
        table.add_row(Path(r["path"]).name, f"{r['median_s']:.2f} s ({r['max_s']:.2f} s)", read,
                      f"{r['replay_cold_s']:.2f} / {r['replay_warm_s']:.2f} s")  # fmt: skip
    Console().print(table)
    if args.out:
        report = {"bench": "replay_speed", "repeats": args.repeats, "load_average_before": load_before,
                  "load_average_after": load_after, "results": rows, "measured_on": describe_hardware()}  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
