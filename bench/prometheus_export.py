"""What serving Prometheus metrics costs: ``measure --serve`` scraped every second, against plain ``measure``.

Examples:
    python bench/prometheus_export.py --out bench/results/prometheus-export.json   # 3 rounds of a 10-s job
    python bench/prometheus_export.py --rounds 1 --seconds 3                        # a quick check that it runs

Each round runs the same job (``--seconds`` of pure-Python work on one core) under ``powertrain measure --out``, once
plain and once with ``--serve 127.0.0.1:PORT`` while this script scrapes ``/metrics`` every second (order rotated per
round). CPU times are read from the kernel when ``measure`` exits (before it is reaped): its own (user + system) and
its children's (the job). The figures:

    overhead = (measure's own CPU with --serve - without) / the run's CPU (the job's + measure's)

(goal: at most 1 %), and from the scrapes: the counter never decreased, and the last scrape (after the job ended,
``powertrain_run_running`` 0) is within 1 % of the JSON result's ``energy_j`` (goal).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import load_average, write_report  # noqa: E402

OVERHEAD_TARGET = 0.01
MATCH_TARGET = 0.01
JOB = "import time\nend = time.monotonic() + {s}\nx = 0\nwhile time.monotonic() < end:\n    x += 1\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return None


class Scraper(threading.Thread):
    """GET /metrics every ``period_s`` until told to stop; keeps (time, run energy, running) per scrape."""

    def __init__(self, url: str, period_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.url, self.period_s = url, period_s
        self.samples: list[tuple[float, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    text = response.read().decode()
                energy = _value(text, "powertrain_run_energy_joules_total")
                running = _value(text, "powertrain_run_running")
                if energy is not None and running is not None:
                    self.samples.append((time.monotonic(), energy, running))
            except OSError:
                pass  # not up yet, or already gone
            self.done.wait(self.period_s)


def run_measure(seconds: float, out: Path, serve: bool) -> dict[str, Any]:
    """One ``powertrain measure`` of the job; CPU times from the kernel at its exit, scrapes when serving."""
    port = _free_port()
    command = [sys.executable, "-m", "powertrain", "measure", "--out", str(out)]
    if serve:
        command += ["--serve", f"127.0.0.1:{port}"]
    command += ["--", sys.executable, "-c", JOB.format(s=seconds)]
    scraper = Scraper(f"http://127.0.0.1:{port}/metrics") if serve else None
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if scraper is not None:
        scraper.start()
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: its CPU times are final
    times = psutil.Process(process.pid).cpu_times()
    process.wait()
    if scraper is not None:
        scraper.done.set()
        scraper.join()
    result = json.loads(out.read_text())
    row: dict[str, Any] = {
        "serve": serve, "exit_code": process.returncode, "own_cpu_s": times.user + times.system,
        "job_cpu_s": times.children_user + times.children_system, "energy_j": result["measurement"]["energy_j"],
    }  # fmt: skip
    if scraper is not None:
        energies = [e for _, e, _ in scraper.samples]
        finals = [e for _, e, running in scraper.samples if running == 0.0]
        row.update({
            "scrapes": len(energies),
            "never_decreased": all(b >= a for a, b in zip(energies, energies[1:], strict=False)),
            "last_scrape_j": finals[-1] if finals else None,
            "last_vs_json": finals[-1] / row["energy_j"] - 1.0 if finals and row["energy_j"] else None,
        })  # fmt: skip
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, print the table, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    load_before = load_average()
    folder = Path(tempfile.mkdtemp(prefix="prometheus-export-"))
    rounds = []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        done = {serve: run_measure(args.seconds, folder / f"{r}-{serve}.json", serve) for serve in order}
        plain, served = done[False], done[True]
        run_cpu_s = served["job_cpu_s"] + served["own_cpu_s"]
        overhead = (served["own_cpu_s"] - plain["own_cpu_s"]) / run_cpu_s if run_cpu_s else None
        rounds.append({"round": r, "plain": plain, "served": served, "overhead": overhead})
    console = Console()
    table = Table(title=f"measure --serve, scraped every second, {args.seconds:g}-s job (one core)")
    for column in ("round", "own CPU plain s", "own CPU served s", "job CPU s", "overhead", "scrapes", "monotonic",
                   "last scrape / JSON - 1"):  # fmt: skip
        table.add_column(column)
    for r in rounds:
        s, p = r["served"], r["plain"]
        table.add_row(str(r["round"]), f"{p['own_cpu_s']:.3f}", f"{s['own_cpu_s']:.3f}", f"{s['job_cpu_s']:.2f}",
                      f"{r['overhead']:+.2%}", str(s.get("scrapes")), str(s.get("never_decreased")),
                      "-" if s.get("last_vs_json") is None else f"{s['last_vs_json']:+.3%}")  # fmt: skip
    console.print(table)
    overheads = [r["overhead"] for r in rounds if r["overhead"] is not None]
    median = statistics.median(overheads) if overheads else None
    matches = [abs(r["served"]["last_vs_json"]) <= MATCH_TARGET for r in rounds if r["served"].get("last_vs_json")
               is not None]  # fmt: skip
    console.print(f"median overhead {median:+.2%} (goal <= {OVERHEAD_TARGET:.0%}); last scrape within 1 % of the "
                  f"JSON in {sum(matches)}/{len(rounds)} rounds; load {load_before} -> {load_average()}")  # fmt: skip
    write_report(args.out, bench="prometheus-export", device="cpu", settings=vars(args), rounds=rounds,
                 median_overhead=median, load_average=[load_before, load_average()])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
