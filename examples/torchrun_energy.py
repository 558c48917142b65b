"""Energy of a DDP job, every device counted once: ``torchrun --nproc-per-node 2 examples/torchrun_energy.py``.

Each rank measures the GPU it trains on (and one rank per node the CPU); the figures are summed across ranks, every
rank prints the same numbers, and rank 0 writes ``runs/torchrun-energy/energy_summary.json`` (``--out`` to change
it). Runs on CPUs (gloo) too, and runs in the tests that way.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from powertrain.integrations import EnergyTracker


def main(epochs: int = 3, out: str = "runs/torchrun-energy/energy_summary.json") -> None:
    """Train a small MLP with DistributedDataParallel and account its energy per epoch across ranks."""
    cuda = torch.cuda.is_available()
    own_group = not dist.is_initialized()  # torchrun: we start it; a caller may have started it already
    if own_group:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, local_rank = dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(rank)
    x, y = torch.randn(4096, 32, device=device), torch.randint(0, 4, (4096,), device=device)
    net = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 4)).to(device)
    model = nn.parallel.DistributedDataParallel(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    tracker = EnergyTracker(gpu_indices=[local_rank] if cuda else []).start()  # collective: every rank
    for epoch in range(1, epochs + 1):
        tracker.begin_epoch(epoch)
        for i in range(0, len(x), 128):
            loss = F.cross_entropy(model(x[i : i + 128]), y[i : i + 128])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        figures = tracker.end_epoch()  # summed over ranks
        print(f"rank {rank} epoch {epoch}: {figures['epoch_energy_j']:.1f} J, {figures['epoch_power_w']:.1f} W")
    summary = tracker.finish(path=out)
    if rank == 0:
        print(f"job: {summary['energy_j']:.1f} J over {summary['world_size']} ranks; sensors: {summary['sensors']}")
    if own_group:
        dist.destroy_process_group()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="runs/torchrun-energy/energy_summary.json", help="summary JSON (rank 0)")
    args = parser.parse_args()
    main(args.epochs, args.out)
