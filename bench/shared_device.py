"""Two jobs on one device at once against one job alone: does each job's `powertrain measure` count only its own share?

Examples:
    python bench/shared_device.py --device cuda --out bench/results/shared-device-gpu.json   # the GPU evidence step
    python bench/shared_device.py --device cpu --rounds 1 --iters 20 --size 128              # a quick check on a CPU

The job is a fixed amount of work (``--iters`` matrix products of ``--size`` x ``--size`` on ``--device``, one
PyTorch thread), run under ``powertrain measure --attribution process --out FILE -- python -c JOB``. Each round runs,
in an order that alternates between rounds:

    alone      one job
    together   two jobs at the same time, each under its own `measure` (they share the GPU, or the CPU's cores)

Figures, each from the measurements' JSON: the run's (attributed) energy ``energy_j`` of each job and the machine's
``machine_total_j`` beside it; per round ``together / alone`` = (job A + job B) / (2 x alone), the same for the
machine-wide figures, and for the GPU the attribution status `measure` recorded (``shared, split by utilisation``
when NVML gave per-process samples). The goal, as for Ray Tune trials (issue 23) and sweep workers (issue 18):
``together / alone`` of the attributed figures within 25 % (0.75-1.25). Whole-device counting gives about 2: each
job is charged for the other's work too. The same work takes longer on a shared device, so some static power lands in
both runs; the machine's figures show how much.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import load_average, write_report  # noqa: E402

TARGET = 0.25
JOB = """
import sys, time, torch
torch.set_num_threads(1)
device, size, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a = torch.randn(size, size, device=device)
b = torch.randn(size, size, device=device)
for _ in range(iters):
    a = torch.tanh(a @ b)
if device.startswith("cuda"):
    torch.cuda.synchronize()
print(float(a.sum()))
"""


def measure_argv(python: str, out: Path, args: argparse.Namespace) -> list[str]:
    """`powertrain measure` of one job, attributed to its process tree."""
    job = [python, "-c", JOB, args.device, str(args.size), str(args.iters)]
    return [python, "-m", "powertrain", "measure", "--attribution", "process", "--interval", str(args.interval),
            "--out", str(out), "--", *job]  # fmt: skip


def run_jobs(n: int, folder: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """``n`` measured jobs started at once; their measurements (energy, machine total, wall time, GPU status)."""
    outs = [folder / f"job-{i}-{time.monotonic_ns()}.json" for i in range(n)]
    start = time.monotonic()
    procs = [subprocess.Popen(measure_argv(sys.executable, out, args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for out in outs]  # fmt: skip
    rows = []
    for proc, out in zip(procs, outs, strict=True):
        _, err = proc.communicate(timeout=args.limit_s)
        if proc.returncode != 0:
            raise SystemExit(f"a measured job failed ({proc.returncode}): {err.strip()[-500:]}")
        data = json.loads(out.read_text())
        m = data["measurement"]
        gpu = {k: v for k, v in (m.get("attribution") or {}).get("devices", {}).items() if k.startswith("gpu")}
        rows.append({
            "energy_j": m["energy_j"], "machine_total_j": m.get("machine_total_j"), "duration_s": m["duration_s"],
            "energy_by_device_j": m["energy_by_device_j"], "scope": (m.get("attribution") or {}).get("scope"),
            "gpu_attribution": gpu,
        })  # fmt: skip
    for row in rows:
        row["wall_s"] = time.monotonic() - start
    return rows


def one_round(order: list[str], folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Alone and together in ``order``; the ratios of this round."""
    jobs = {name: run_jobs(1 if name == "alone" else 2, folder, args) for name in order}
    alone, together = jobs["alone"][0], jobs["together"]

    def ratio(key: str) -> float | None:
        if not alone.get(key) or any(j.get(key) is None for j in together):
            return None
        return sum(j[key] for j in together) / (2 * alone[key])

    return {"order": order, "alone": alone, "together": together, "ratio": ratio("energy_j"),
            "machine_ratio": ratio("machine_total_j")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--size", type=int, default=4096, help="matrix side")
    parser.add_argument("--iters", type=int, default=2000, help="matrix products per job")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.1, help="the meter's sampling interval (s)")
    parser.add_argument("--limit-s", type=float, default=300.0, help="the longest a job may take")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    if args.size < 1 or args.iters < 1 or args.rounds < 1 or args.interval <= 0:
        parser.error("--size, --iters and --rounds must be >= 1 and --interval > 0")
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="shared-device-") as tmp:
        rounds = [one_round(["alone", "together"] if r % 2 == 0 else ["together", "alone"], Path(tmp), args)
                  for r in range(args.rounds)]  # fmt: skip
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    machine = [r["machine_ratio"] for r in rounds if r["machine_ratio"] is not None]
    median = statistics.median(ratios) if ratios else None
    met = None if median is None else abs(median - 1) <= TARGET
    statuses = sorted({str(d.get("status", d.get("rule", ""))) for r in rounds for j in r["together"]
                       for d in j["gpu_attribution"].values()})  # fmt: skip
    title = f"two jobs at once on {args.device} against one alone (powertrain measure, attribution process)"
    table = Table(title=title)
    for column in ("round", "alone J (machine J)", "together J each (machine J)", "together / alone",
                   "machine-wide ratio"):  # fmt: skip
        table.add_column(column)
    for i, r in enumerate(rounds, 1):
        a, t = r["alone"], r["together"]
        table.add_row(str(i), f"{a['energy_j']:.1f} ({_f(a['machine_total_j'])})",
                      ", ".join(f"{j['energy_j']:.1f} ({_f(j['machine_total_j'])})" for j in t),
                      _f(r["ratio"], ".3f"), _f(r["machine_ratio"], ".3f"))  # fmt: skip
    console = Console()
    console.print(table)
    verdict = "no figure" if met is None else ("met" if met else "not met")
    console.print(f"median together / alone {_f(median, '.3f')} (goal within {TARGET:.0%}: {verdict}); GPU status: "
                  f"{', '.join(statuses) or 'no GPU'}; load average {_f(load_before, '.2f')} -> "
                  f"{_f(load_average(), '.2f')}")  # fmt: skip
    write_report(args.out, bench="shared_device", device=args.device, settings=vars(args), rounds=rounds,
                 median_ratio=median, median_machine_ratio=statistics.median(machine) if machine else None,
                 goal={"within": TARGET, "met": met}, gpu_statuses=statuses)  # fmt: skip
    return 0


def _f(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
