"""OpenMP's wait policy on a shared CPU: what spinning threads cost a run (docs/training.md, "OpenMP's wait policy").

Each cell runs the same LeNet-5 training steps (batch 64, 28x28x1, synthetic, seeded) in a fresh process, with the
OpenMP wait policy libgomp uses by default (spin, then sleep) or ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once), with
``--threads`` values, beside 0 or more busy-looping neighbour processes. It reports the child's wall time and its
own CPU time (``os.wait4``: the kernel's count, which is what powertrain's CPU estimate attributes to the run, at
5 W per busy core). Cells are interleaved (every round runs every cell, order rotated), so a change in the machine's
other load falls on every cell alike; ratios are PASSIVE / default inside each round.

    python bench/omp_wait.py --rounds 3 --out bench/results/omp-wait-cpu.json
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import load_average, spread, write_report  # noqa: E402

WORK = """
import torch
torch.manual_seed(0)
torch.set_num_threads({threads})
m = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 16, 5),
                        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(256, 120),
                        torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))
opt = torch.optim.SGD(m.parameters(), lr=0.01)
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
for _ in range({steps}):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(x), y).backward()
    opt.step()
"""


def run_cell(policy: str, threads: int, steps: int) -> dict[str, float]:
    """One fresh process; its wall time and its own CPU seconds (user + system, from the kernel)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", WORK.format(threads=threads, steps=steps)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"omp_wait: the work failed (exit {proc.returncode})")
    return {"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--neighbours", type=int, nargs="+", default=[0, 1], help="busy-looping processes beside")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or min(args.threads) < 1 or min(args.neighbours) < 0:
        parser.error("--rounds, --steps and --threads must be at least 1, --neighbours at least 0")
    policies = ("default", "PASSIVE")
    rows = []
    for neighbours in args.neighbours:
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)]
        try:
            cells = list(itertools.product(args.threads, policies))
            samples = {cell: [] for cell in cells}
            load_before = load_average()
            for r in range(args.rounds):
                for threads, policy in cells[r % len(cells):] + cells[: r % len(cells)]:
                    samples[(threads, policy)].append(run_cell(policy, threads, args.steps))
            load_after = load_average()
        finally:
            for p in load:
                p.kill()
                p.wait()
        for threads in args.threads:
            base, passive = samples[(threads, "default")], samples[(threads, "PASSIVE")]
            rows.append({
                "neighbours": neighbours, "threads": threads, "load_before": load_before, "load_after": load_after,
                "default": {k: spread(s[k] for s in base) for k in ("wall_s", "cpu_s")},
                "passive": {k: spread(s[k] for s in passive) for k in ("wall_s", "cpu_s")},
                "passive_over_default": {
                    k: spread(p[k] / b[k] for p, b in zip(passive, base, strict=True)) for k in ("wall_s", "cpu_s")
                },
            })  # fmt: skip
    print(f"{'neighbours':>10} {'threads':>7} {'default wall / CPU s':>22} {'PASSIVE wall / CPU s':>22} "
          f"{'CPU ratio (min-max)':>22}")  # fmt: skip
    for row in rows:
        d, p, q = row["default"], row["passive"], row["passive_over_default"]["cpu_s"]
        print(f"{row['neighbours']:>10} {row['threads']:>7}"
              f" {d['wall_s']['median']:>11.2f} / {d['cpu_s']['median']:<8.2f}"
              f" {p['wall_s']['median']:>11.2f} / {p['cpu_s']['median']:<8.2f}"
              f" {q['median']:>8.2f} ({q['min']:.2f}-{q['max']:.2f})")  # fmt: skip
    note = "fresh process per cell (torch's import included); CPU time from os.wait4; cells interleaved, rotated"
    write_report(args.out, bench="omp_wait", device="cpu", settings=vars(args), rows=rows, method_note=note)
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
