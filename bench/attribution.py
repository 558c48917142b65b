"""What attribution's walk of the run's process tree costs, against the run's own CPU time (goal: <= 1 %).

A run (a Python process that burns ``--run-cpu-s`` CPU seconds, handing part of the work to ``--workers`` forked
workers one after the other, as DataLoader workers come and go) is measured while ``--others`` sleeping
processes sit on the machine. Every ``--interval`` seconds the bench reads the run's CPU time with each variant
and times that read with this thread's CPU clock (other processes do not count in it):

- ``powertrain``: the meter's CPU account, as each sampling round does it (``ProcessTreeReader``: new PIDs from
  ``/proc/loadavg``'s range, each member's CPU clock and ``/proc/PID/stat``; plus ``/proc/stat``);
- ``psutil-tree``: ``psutil.Process(root).children(recursive=True)`` and ``cpu_times()`` of every member, the
  obvious way, which reads the ``stat`` file of every process on the machine at each sample.

Variants run one after the other on a fresh run each, order rotated every round. The table gives the walk's CPU
time per read and as a share of the run's CPU time (the kernel's figure for the run, from ``wait4``), and how many
PIDs the machine handed out per second meanwhile (powertrain's walk probes each new PID once, so a machine that
forks fast costs more; sleeping processes cost nothing).

Usage: ``python bench/attribution.py --others 2000 --rounds 3 --out bench/results/attribution-cpu.json``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from _harness import hardware, load_average, write_report
from powertrain.meters._cpustat import CpuAccount
from powertrain.meters._proctree import ProcessTreeReader

PID_MAX = int(Path("/proc/sys/kernel/pid_max").read_text())
RUN = textwrap.dedent(
    """
    import os, sys, time
    total, workers = float(sys.argv[1]), int(sys.argv[2])
    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end: pass
    share = total / (workers + 1)
    sys.stdin.readline()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            burn(share)
            os._exit(0)
        os.waitpid(pid, 0)
    burn(share)
    """
)


def powertrain_reader(root: int) -> Callable[[], float]:
    reader = ProcessTreeReader([root])
    account = CpuAccount(reader.read)
    return lambda: account.sample(time.monotonic())[1]


def psutil_reader(root: int) -> Callable[[], float]:
    process = psutil.Process(root)
    seen: dict[int, float] = {}

    def read() -> float:
        try:
            members = [process, *process.children(recursive=True)]
        except psutil.Error:
            members = []
        for member in members:
            try:
                t = member.cpu_times()
                seen[member.pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return sum(seen.values())

    return read


VARIANTS: dict[str, Callable[[int], Callable[[], float]]] = {
    "powertrain": powertrain_reader,
    "psutil-tree": psutil_reader,
}


def measure_once(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Start a run, read it with the variant every interval until it exits; return CPU figures."""
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, str(args.run_cpu_s), str(args.workers)], stdin=subprocess.PIPE
    )
    read = VARIANTS[name](child.pid)
    child.stdin.write(b"\n")
    child.stdin.flush()
    walk_s, reads = 0.0, 0
    first_pid, t0_s = newest_pid(), time.monotonic()
    while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        t0 = time.thread_time()
        read()
        walk_s += time.thread_time() - t0
        reads += 1
        time.sleep(args.interval)
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    run_cpu_s = usage.ru_utime + usage.ru_stime
    births_per_s = ((newest_pid() - first_pid) % PID_MAX) / max(time.monotonic() - t0_s, 1e-9)
    return {
        "walk_cpu_s": walk_s,
        "reads": reads,
        "run_cpu_s": run_cpu_s,
        "share": walk_s / run_cpu_s,
        "pids_born_per_s": births_per_s,
    }


def newest_pid() -> int:
    """The newest PID the kernel handed out (threads included): how fast the machine forks."""
    return int(Path("/proc/loadavg").read_text().split()[-1])


def spawn_others(count: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=2000, help="sleeping processes on the machine (default 2000)")
    parser.add_argument("--run-cpu-s", type=float, default=5.0, help="CPU seconds the run burns (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="workers the run forks one after the other")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between reads (the meter's default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = parser.parse_args()
    console = Console()
    load_before = load_average()
    others = spawn_others(args.others)
    processes = len(psutil.pids())
    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    try:
        names = list(VARIANTS)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                results[name].append(measure_once(name, args))
    finally:
        for process in others:
            process.kill()
        for process in others:
            process.wait()
    table = Table(title=f"attribution walk vs the run's CPU time, {processes} processes on the machine")
    columns = ("variant", "reads", "PIDs born/s", "walk CPU per read (us)", "walk / run CPU (%) min/median/max")
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    summary = {}
    for name, rows in results.items():
        shares = [100 * row["share"] for row in rows]
        per_read = statistics.median(1e6 * row["walk_cpu_s"] / max(row["reads"], 1) for row in rows)
        summary[name] = {"per_read_us": per_read, "share_pct": shares}
        table.add_row(
            name,
            str(int(statistics.median(row["reads"] for row in rows))),
            f"{statistics.median(row['pids_born_per_s'] for row in rows):.0f}",
            f"{per_read:.0f}",
            f"{min(shares):.3f} / {statistics.median(shares):.3f} / {max(shares):.3f}",
        )
    console.print(table)
    console.print(f"load average {load_before} -> {load_average()}; {hardware()['cpu_model']}")
    write_report(
        args.out,
        bench="attribution",
        device="cpu",
        settings=vars(args),
        processes_on_machine=processes,
        results=results,
        summary=summary,
        load_before=load_before,
        load_after=load_average(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
