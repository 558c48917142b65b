"""Training throughput: powertrain's measured loop against a plain hand-written PyTorch loop, side by side.

Examples:
    # these 2-core machines: LeNet-5 on full Fashion-MNIST, one epoch per call, one thread
    python bench/train.py --model lenet5 --device cpu --repeats 5 --out bench/results/train-cpu-lenet5.json
    # ResNet18 at 32x32x3 on a 4,096-image subset (CPU-sized)
    python bench/train.py --model resnet18 --image-size 32 --channels 3 --subset 4096 --test-subset 1024 \
        --repeats 5 --out bench/results/train-cpu-resnet18.json
    # GPU machine: ResNet18 on Fashion-MNIST at 32x32 with 3 channels, data on the GPU
    python bench/train.py --model resnet18 --image-size 32 --channels 3 --batch-size 256 --device cuda \
        --out train-gpu.json

Variants (bench/_harness.py method: interleaved, order rotated every round, ratios inside each round):
    plain       load the dataset, build the model, one epoch of the simplest correct loop (SGD Nesterov,
                cross-entropy) over the device-resident loader, then one pass over the test split
    powertrain  ``powertrain.train`` with the same settings: 1 epoch, energy meter on, EAT off, progress off,
                accelerator estimate off (it does the same work plus metering, checkpoints and files)

Reported: the whole call's wall and process-CPU time ratio (min/median/max over rounds), and the training
epoch alone (wall, images/s) as each loop times it. Target on the GPU machine: powertrain >= 0.95 of the
plain loop's throughput (ratio of times <= 1.05).

Flags kept from the first version: --dataset --model --batch-size --image-size --channels --subset --device
--repeats (now: timed rounds) --out. New: --threads (default 1 on the CPU), --test-subset.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Sample, Stopwatch, compare, pin_threads, print_comparison, write_report  # noqa: E402
from powertrain.data import load_dataset  # noqa: E402
from powertrain.models import create_model  # noqa: E402
from powertrain.training import TrainConfig, train  # noqa: E402

LR = 0.05


def plain_run(args: argparse.Namespace, device: torch.device, seed: int) -> Sample:
    """Everything a plain script does for one epoch; times the whole and records the training epoch alone."""
    with Stopwatch(device) as whole:
        bundle = load_dataset(
            args.dataset, image_size=args.image_size, channels=args.channels, subset=args.subset,
            test_subset=args.test_subset,
        )  # fmt: skip
        info = bundle.info
        loader, test = bundle.loaders(batch_size=args.batch_size, device=device, augment=False)
        torch.manual_seed(seed)
        model = create_model(
            args.model, num_classes=info.num_classes, in_channels=info.in_channels, image_size=info.image_size
        ).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4)
        model.train()
        images = 0
        with Stopwatch(device) as epoch:
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                images += y.numel()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test:
                correct += int((model(x).argmax(1) == y).sum())
    s = whole.sample
    s.extra = {"train_s": epoch.sample.wall_s, "images": images, "images_per_s": images / epoch.sample.wall_s}
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (each runs both variants once)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on the CPU)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = pin_threads(args.threads, device)
    torch.backends.cudnn.benchmark = True
    config = TrainConfig(
        dataset=args.dataset, model=args.model, epochs=1, batch_size=args.batch_size, image_size=args.image_size,
        channels=args.channels, subset=args.subset, test_subset=args.test_subset, device=args.device,
        augment=False, estimate_batch_size=0, lr=LR,
    )  # fmt: skip
    console = Console(width=140)
    counter = iter(range(10**6))

    with tempfile.TemporaryDirectory() as tmp:

        def powertrain_run() -> Sample:
            i = next(counter)
            with Stopwatch(device) as whole:
                result = train(config.replace(out=f"{tmp}/run{i}", seed=i))
            record = result.history[0]
            s = whole.sample
            s.extra = {
                "train_s": record.train_time_s, "images_per_s": record.images_per_s,
                "train_energy_j": record.train_energy_j, "energy_sources": result.summary["energy"]["sources"],
            }  # fmt: skip
            return s

        def report_round(r: int, samples: dict[str, Sample]) -> None:
            line = ", ".join(f"{v} {s.wall_s:.2f} s ({s.extra['images_per_s']:,.0f} img/s)" for v, s in samples.items())
            console.print(f"round {r + 1}/{args.repeats}: {line}")

        started = time.perf_counter()
        result = compare(
            {"plain": lambda: plain_run(args, device, 0), "powertrain": powertrain_run},
            rounds=args.repeats, baseline="plain", device=device, name=f"{args.model} train epoch",
            on_round=report_round,
        )  # fmt: skip
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print_comparison(
        console, result, title=f"{args.model} on {args.dataset}, batch {args.batch_size}, {device} ({where}), "
        "one epoch + test pass per call",
    )  # fmt: skip
    epoch_ratios = [
        p.extra["train_s"] / b.extra["train_s"]
        for p, b in zip(result.samples["powertrain"], result.samples["plain"], strict=True)
    ]
    plain_ips = statistics.median(s.extra["images_per_s"] for s in result.samples["plain"])
    pt_ips = statistics.median(s.extra["images_per_s"] for s in result.samples["powertrain"])
    console.print(
        f"training epoch alone (wall): plain {plain_ips:,.0f} img/s, powertrain {pt_ips:,.0f} img/s; "
        f"time ratio per round min/median/max {min(epoch_ratios):.3f} / {statistics.median(epoch_ratios):.3f} / "
        f"{max(epoch_ratios):.3f}; target on GPU: <= 1.05"
    )
    write_report(
        args.out, bench="train", device=device, settings={**vars(args), "threads": threads},
        comparisons=[result], epoch_time_ratios=epoch_ratios, plain_images_per_s=plain_ips,
        powertrain_images_per_s=pt_ips, total_s=time.perf_counter() - started,
    )  # fmt: skip
    if args.out:
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
