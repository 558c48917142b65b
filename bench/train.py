"""Training throughput: powertrain's measured loop against a plain hand-written PyTorch loop, same tensors, same run.

Examples:
    # these 2-core machines: LeNet-5 on full Fashion-MNIST, one epoch on the CPU
    python bench/train.py --model lenet5 --device cpu --repeats 2 --out bench/results/train-cpu.json
    # GPU machine: ResNet18 on Fashion-MNIST at 32x32 with 3 channels, data on the GPU
    python bench/train.py --model resnet18 --image-size 32 --channels 3 --batch-size 256 --device cuda \
        --out train-gpu.json

Each repeat runs one epoch of the plain loop and one epoch of ``powertrain.train`` (energy meter, EAT off, progress
off), alternating, over the same device-resident loader. Reported: images per second of each (median over repeats)
and their ratio. Target on the GPU machine: powertrain >= 0.95 of the plain loop.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from powertrain.data import load_dataset
from powertrain.hardware import describe_hardware
from powertrain.models import create_model
from powertrain.training import TrainConfig, train


def plain_epoch(model: torch.nn.Module, loader, lr: float, device: torch.device) -> tuple[float, int]:
    """One epoch of the simplest correct loop; returns (seconds, images)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    _sync(device)
    start = time.perf_counter()
    images = 0
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        images += y.numel()
    _sync(device)
    return time.perf_counter() - start, images


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True

    bundle = load_dataset(args.dataset, image_size=args.image_size, channels=args.channels, subset=args.subset)
    info = bundle.info
    loader, _ = bundle.loaders(batch_size=args.batch_size, device=device, augment=False)
    config = TrainConfig(
        dataset=args.dataset, model=args.model, epochs=1, batch_size=args.batch_size, image_size=args.image_size,
        channels=args.channels, subset=args.subset, device=args.device, augment=False, estimate_batch_size=0, lr=0.05,
    )  # fmt: skip

    # warm-up: kernels, allocator, cudnn autotuning
    warm = create_model(
        args.model, num_classes=info.num_classes, in_channels=info.in_channels, image_size=info.image_size
    )
    plain_epoch(warm.to(device), _take(loader, 20), 0.05, device)

    plain, measured, epoch_s, energy = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            torch.manual_seed(i)
            model = create_model(
                args.model, num_classes=info.num_classes, in_channels=info.in_channels, image_size=info.image_size
            ).to(device)
            seconds, images = plain_epoch(model, loader, 0.05, device)
            plain.append(images / seconds)
            result = train(config.replace(out=f"{tmp}/run{i}", seed=i))
            record = result.history[0]
            measured.append(record.images_per_s)
            epoch_s.append(record.train_time_s)
            energy.append(record.train_energy_j)

    ratio = statistics.median(measured) / statistics.median(plain)
    hardware = describe_hardware()
    where = hardware["gpus"][0]["name"] if device.type == "cuda" and hardware["gpus"] else hardware["cpu_model"]
    table = Table(title=f"{args.model} on {args.dataset}, batch {args.batch_size}, {device} ({where})")
    for column in ("loop", "images/s (median)", "all repeats", "ratio"):
        table.add_column(column, justify="right")
    table.add_row("plain PyTorch", f"{statistics.median(plain):,.0f}", " ".join(f"{v:,.0f}" for v in plain), "1.000")
    table.add_row("powertrain.train", f"{statistics.median(measured):,.0f}", " ".join(f"{v:,.0f}" for v in measured),
                  f"{ratio:.3f}")  # fmt: skip
    console = Console()
    console.print(table)
    console.print(
        f"powertrain epoch: {statistics.median(epoch_s):.1f} s training, {statistics.median(energy):.1f} J "
        f"({result.summary['energy']['sources']}); target on GPU: ratio >= 0.95"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "bench": "train", "model": args.model, "dataset": args.dataset, "batch_size": args.batch_size,
            "device": str(device), "hardware": hardware, "info": vars(info) if hasattr(info, "__dict__") else str(info),
            "plain_images_per_s": plain, "powertrain_images_per_s": measured, "ratio": ratio,
            "powertrain_epoch_train_s": epoch_s, "powertrain_epoch_train_energy_j": energy,
            "energy_sources": result.summary["energy"]["sources"],
        }  # fmt: skip
        args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _take(loader, n: int):
    for i, batch in enumerate(loader):
        if i >= n:
            return
        yield batch


if __name__ == "__main__":
    main()
