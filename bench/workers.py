"""One sweep run by one worker against the same sweep run by N workers on this machine: cost, best setup, wall time.

Attribution's goal for concurrent workers (issue 18): N workers sharing one machine each charge their trials only
their own energy, so the study's total stays the same as with one worker (no joule counted N times), and the workers
share the cores (``--workers-per-host N``: each trial gets cores / N PyTorch threads) instead of oversubscribing them,
so the sweep finishes sooner. Runs ``powertrain sweep run CONFIG`` once with one worker (its default threads: all
cores), then N workers at once on one new SQLite study, and prints the study totals, the best setup and its
energy-to-target, and the wall times, with the ratios N workers / one.

``--threads-per-trial T`` gives every trial of both runs T PyTorch threads: the like-for-like comparison of the
energy (the same work per trial, so the same CPU time when nothing else differs). Without it the single worker's
trials use all cores and the N workers' cores / N, so the work differs (two OpenMP threads on a core someone else
uses spin and wait, and the run is charged that CPU time). Every trial's own CPU seconds, wall time, threads and
other processes' load (from its ``summary.json``) go into the JSON, so a miss can be traced to the trials.

Usage: ``python bench/workers.py examples/sweeps/lr-batch-grid.yaml --workers 2 --threads-per-trial 1
--out bench/results/workers-cpu.json``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _harness import hardware, load_average, write_report


def trial_rows(out: Path, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per trial: its energy, wall time, own CPU seconds, threads and the other processes' load (from summary.json)."""
    rows = []
    for trial in trials:
        summary_path = out / "runs" / str(trial.get("run_name")) / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        conditions = summary.get("conditions") or {}
        rows.append({
            "run_name": trial.get("run_name"),
            "energy_j": trial.get("energy_j"),
            "machine_energy_j": trial.get("machine_energy_j"),
            "duration_s": trial.get("duration_s"),
            "epochs": len(trial.get("curve") or []),
            "run_cpu_s": conditions.get("run_cpu_s"),
            "others_cpu_s": conditions.get("others_cpu_s"),
            "threads": conditions.get("threads", trial.get("threads")),
            "others_load": trial.get("others_load"),
        })  # fmt: skip
    return rows


def run_sweep(config: Path, out: Path, workers: int, threads_per_trial: int | None = None) -> dict[str, Any]:
    """Run the sweep with ``workers`` concurrent workers into ``out``; return its results and the wall time."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "powertrain", "sweep", "run", str(config), "--out", str(out), "--study", out.name,
           "--quiet", "--workers-per-host", str(workers)]  # fmt: skip
    if threads_per_trial is not None:
        cmd += ["--threads-per-trial", str(threads_per_trial)]
    load = os.getloadavg()[0]
    started = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]  # noqa: S603
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed ({proc.returncode}): {err.decode()[-2000:]}")
    wall_s = time.monotonic() - started
    results = json.loads((out / "results.json").read_text())
    best = results.get("best") or {}
    trials = [t for t in results["trials"] if t.get("energy_j") is not None]
    rows = trial_rows(out, trials)
    return {
        "workers": workers,
        "wall_s": wall_s,
        "load_1min_before": load,
        "total_j": results["energy"]["total_j"],
        "machine_j": sum(float(t.get("machine_energy_j") or 0.0) for t in trials),
        "best": best.get("run_name"),
        "best_energy_to_target_j": results.get("best_energy_to_target_j"),
        "threads": sorted({t.get("threads") for t in trials if t.get("threads") is not None}),
        "others_load": [t.get("others_load") for t in trials],
        "run_cpu_s": sum(float(r["run_cpu_s"] or 0.0) for r in rows),
        "trials": rows,
        "attribution": results.get("attribution"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the sweep YAML")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads-per-trial",
        type=int,
        default=None,
        help="PyTorch threads of every trial of both runs (default: cores / workers)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep both study folders here (default: a temp dir)")
    args = parser.parse_args()
    if args.threads_per_trial is not None and args.threads_per_trial < 1:
        parser.error("--threads-per-trial must be at least 1")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep.resolve() if args.keep else Path(tmp)
        one = run_sweep(args.config.resolve(), where / "one-worker", 1, args.threads_per_trial)
        many = run_sweep(args.config.resolve(), where / f"{args.workers}-workers", args.workers, args.threads_per_trial)
    table = Table(title=f"{args.config.name}: 1 worker against {args.workers} workers on one machine")
    for column in ("figure", "1 worker", f"{args.workers} workers", "ratio"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for key in ("total_j", "best_energy_to_target_j", "wall_s", "machine_j", "run_cpu_s"):
        a, b = one[key], many[key]
        table.add_row(key, f"{a:.1f}", f"{b:.1f}", f"{b / a:.3f}" if a else "-")
    table.add_row("best setup", str(one["best"]), str(many["best"]), "same" if one["best"] == many["best"] else "DIFF")
    table.add_row("threads per trial", str(one["threads"]), str(many["threads"]), "")
    console = Console()
    console.print(table)
    console.print(f"load average {load_before} -> {load_average()}; {hardware()['cpu_model']}")
    write_report(args.out, bench="workers", device="cpu", settings=vars(args), one=one, many=many,
                 load_before=load_before, load_after=load_average())  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
