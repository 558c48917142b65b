"""One rank of a two-process DDP job on gloo with scripted sensors (run by tests/unit/integrations/test_distributed.py).

Usage: python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_worker.py OUT_DIR

Every rank sees the same host's CPU package (100 W) and a GPU shared by both ranks (50 W, one identity), plus its
own GPU (rank 0: 200 W, rank 1: 300 W), all labelled alike. The job therefore draws 650 W; a tracker that counted
per rank would report 100 + 50 more per extra rank. A second tracker pretends the ranks run on two nodes, so each
node's CPU package counts (750 W). A third tracker attributes by process: each rank keeps one of the host's two CPUs
busy, so each reads half of the CPU package and the halves add up to it, once. Time is a fake clock every rank
advances alike; each rank writes what it saw.
Then, in the same process group, the ranks run examples/torchrun_energy.py as shipped, with the sensors it discovers.
The ranks meet through a FileStore in OUT_DIR (no TCP port to choose).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from powertrain.integrations import EnergyTracker
from powertrain.meters.testing import FakeClock, ScriptedAttribution, ScriptedPowerSensor

EXAMPLE = Path(__file__).parents[2] / "examples" / "torchrun_energy.py"


def sensors(rank: int, clock: FakeClock) -> list[ScriptedPowerSensor]:
    cpu = ScriptedPowerSensor([100.0], device="cpu:package-0", component="cpu", clock=clock)
    shared = ScriptedPowerSensor([50.0], device="gpu:1", clock=clock)
    shared.identity = "GPU-shared"
    own = ScriptedPowerSensor([200.0 if rank == 0 else 300.0], device="gpu:0", clock=clock)
    own.identity = f"GPU-own-{rank}"
    return [cpu, shared, own]


def run(out: Path, rank: int, host: str, name: str, *, attributed: bool = False) -> None:
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    clock = FakeClock()
    measured = sensors(rank, clock)
    scope: Any = "machine"
    if attributed:  # each rank keeps 1 of the host's 2 CPUs busy: its share of the CPU package is half
        measured[0].idle_power_w = 0.0
        scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    tracker = EnergyTracker(
        sensors=measured,
        sample_period_s=None,
        clock=clock,
        host_id=host,
        target_metric="score",
        target=2,
        attribution=scope,
    ).start()
    steps, epochs = [], []
    for epoch in (1, 2):
        tracker.begin_epoch(epoch)
        for _ in range(2):
            with tracker.step():
                loss = model(torch.randn(8, 4)).square().mean()
                optimizer.zero_grad()
                loss.backward()  # DDP all-reduces the gradients here
                optimizer.step()
                clock.advance(1.0)
            clock.advance(0.5)
        steps += tracker.flush_steps()
        epochs.append(tracker.end_epoch({"score": epoch}))
    summary = tracker.finish(path=out / f"{name}-summary-rank{rank}.json")
    seen = {"steps": steps, "epochs": epochs, "summary": summary}
    (out / f"{name}-seen-rank{rank}.json").write_text(json.dumps(seen))


def main() -> None:
    out = Path(sys.argv[1])
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    # the rendezvous is a file in the test's folder, not MASTER_PORT: no free port to pick and lose to another process
    store = dist.FileStore(str(out / "rendezvous"), world_size)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size)
    run(out, rank, "node-a", "one-node")
    run(out, rank, f"node-{rank}", "two-nodes")
    run(out, rank, "node-a", "attributed", attributed=True)
    runpy.run_path(str(EXAMPLE), run_name="example")["main"](epochs=1, out=str(out / "example-summary.json"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
