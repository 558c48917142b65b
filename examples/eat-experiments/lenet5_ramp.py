"""Does LeNet-5 (no BatchNorm) survive an EAT penalty that kills every ReLU without a warm-up?

Trains LeNet-5 on Fashion-MNIST (full, and 6,000 images) with lambda 2 and 4, without warm-up and with the
per-step linear ramp over the first epoch(s), then layers="all" against the default; prints one JSON row per run
and writes them all to the file given (docs/eat-study.md has the table). Run from the repository root::

    nice python examples/eat-experiments/lenet5_ramp.py runs/lenet5-ramp.json

Optional row numbers after the file (1-based, in the order of :data:`RUNS`) run only those rows.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from powertrain.training import TrainConfig, train

RUNS: list[dict[str, object]] = [
    # full Fashion-MNIST, 4 epochs: no warm-up, ramp over epoch 1, and standard training
    *({"subset": None, "epochs": 4, "eat_lambda": lam, "eat_warmup_epochs": w} for lam in (2.0, 4.0) for w in (0, 1)),
    {"subset": None, "epochs": 4, "eat_lambda": 0.0, "eat_warmup_epochs": 0},
    # the reference code's selection (every leaf module) at the same setting
    {"subset": None, "epochs": 4, "eat_lambda": 2.0, "eat_warmup_epochs": 1, "eat_layers": "all"},
    # 6,000 images (47 steps per epoch): a one-epoch ramp is 10x shorter in steps; 12 epochs, longer ramps
    *({"subset": 6000, "epochs": 4, "eat_lambda": lam, "eat_warmup_epochs": w} for lam in (2.0, 4.0) for w in (0, 1)),
    {"subset": 6000, "epochs": 4, "eat_lambda": 0.0, "eat_warmup_epochs": 0},
    *(
        {"subset": 6000, "test_subset": 2000, "epochs": 12, "eat_lambda": lam, "eat_warmup_epochs": w}
        for lam, w in ((0.0, 0), (2.0, 0), (2.0, 4), (2.0, 10))
    ),
]


def main(out: str, only: list[int] | None = None) -> None:
    """Train every run of :data:`RUNS` (or the 1-based rows ``only``) and write their rows to ``out``."""
    torch.set_num_threads(1)
    rows = []
    for number, run in enumerate(RUNS, start=1):
        if only and number not in only:
            continue
        name = "-".join(f"{k}{v}" for k, v in run.items())
        config = TrainConfig(
            dataset="fashion-mnist", model="lenet5", image_size=28, channels=1, batch_size=128, lr=0.05,
            lr_gamma=0.95, device="cpu", eat_sigma=1e-4, estimate_batch_size=512, seed=0,
            out=str(Path(out).with_suffix("") / name), **run,  # type: ignore[arg-type]
        )  # fmt: skip
        started = time.process_time()
        summary = train(config).summary
        accelerator = summary.get("accelerator") or {}
        rows.append({**run, "accuracy": summary["final_accuracy"], "energy_ratio": accelerator.get("mean_ratio"),
                     "cpu_s": round(time.process_time() - started, 1)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        Path(out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/lenet5-ramp.json", [int(a) for a in sys.argv[2:]])
