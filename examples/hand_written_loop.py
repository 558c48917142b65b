"""Energy per epoch and EAT's penalty in a hand-written PyTorch loop.

Run it: ``python examples/hand_written_loop.py`` (CPU or GPU; a few seconds). The loop itself is the ~20 lines of
``main``: an :class:`~powertrain.EnergyMeter` window per epoch, and :class:`~powertrain.sparsity.EATPenalty` added
to the loss so the ReLU activations become sparse (cheaper on zero-skipping accelerators).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.nn import functional as F

from powertrain import EnergyMeter
from powertrain.sparsity import EATPenalty


def main(epochs: int = 3, lam: float = 1.0, batch_size: int = 64) -> list[dict[str, float]]:
    """Train a small MLP with EAT, print and return each epoch's energy, power, activation density, accuracy."""
    torch.manual_seed(0)
    x = torch.randn(2048, 32)
    y = (x @ torch.randn(32, 4)).argmax(1)  # a learnable 4-class problem
    model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    penalty = EATPenalty(model, lam=lam, sigma=1e-4)  # lambda x mean l0 density of the ReLU outputs
    results = []
    with EnergyMeter() as meter:  # finds the GPU energy counter, RAPL, or estimates the CPU (labelled)
        for epoch in range(1, epochs + 1):
            with meter.window(f"epoch-{epoch}") as window:
                for i in range(0, len(x), batch_size):
                    with penalty:  # hooks on the ReLUs, removed on exit
                        out = model(x[i : i + batch_size])
                        loss = F.cross_entropy(out, y[i : i + batch_size]) + penalty.value()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            m, density = window.measurement, float(penalty.last_density)
            acc = (model(x).argmax(1) == y).float().mean().item()
            results.append(dict(epoch=epoch, energy_j=m.energy_j, power_w=m.avg_power_w, density=density, accuracy=acc))
            label = "estimated" if m.estimated else "measured"
            print(f"epoch {epoch}: {m.energy_j:.1f} J ({label}), {m.avg_power_w:.1f} W, density {density:.3f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lam", type=float, default=1.0, help="EAT's lambda (0: standard training)")
    args = parser.parse_args()
    main(args.epochs, args.lam)
