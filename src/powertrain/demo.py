"""The main job: a small end-to-end energy study on the embedded default dataset (Fashion-MNIST).

It trains the same model twice with the same seed and epochs, once with standard training and once with EAT's l0
activation penalty, measures the energy of every epoch, and compares accuracy, measured joules, energy to a target
accuracy and the modelled zero-skipping accelerator energy ratio (batch 512, as in EAT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from powertrain._files import write_atomic
from powertrain.training import TrainConfig, TrainResult, train
from powertrain.training.progress import ProgressReporter, QuietReporter

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """The two runs of the demo and the comparison written to ``comparison.json``."""

    out: Path
    runs: dict[str, TrainResult]
    rows: list[dict[str, Any]]


def run_demo(
    *,
    out: str | Path | None = None,
    dataset: str = "fashion-mnist",
    model: str = "lenet5",
    epochs: int = 3,
    subset: int | None = None,
    eat_lambda: float = 1.0,
    eat_warmup_epochs: int = 1,
    target_accuracy: float = 0.85,
    device: str = "auto",
    data_dir: str | None = None,
    reporter: ProgressReporter | None = None,
) -> DemoResult:
    """Train ``model`` on ``dataset`` with and without EAT and compare their energy.

    Args:
        out: Folder for the two run directories and ``comparison.json``; default ``runs/demo-<timestamp>``.
        dataset: Dataset name; the default is the embedded Fashion-MNIST.
        model: Model name.
        epochs: Epochs of each run.
        subset: Train on only this many samples (for quick checks).
        eat_lambda: EAT penalty weight of the second run.
        eat_warmup_epochs: Epochs before the penalty reaches ``eat_lambda``. LeNet-5 has no BatchNorm: a penalty
            from the first step kills every ReLU (measured), a one-epoch warm-up does not.
        target_accuracy: Accuracy whose first crossing gives energy-to-target.
        device: ``auto``, ``cpu`` or ``cuda``.
        data_dir: Where the dataset files are, if not in their default place.
        reporter: Live display for each run.

    Returns:
        A :class:`DemoResult`; ``rows`` has one dict per run with the compared figures.
    """
    root = Path(out) if out is not None else Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    base = TrainConfig(
        dataset=dataset, model=model, epochs=epochs, subset=subset, target_accuracy=target_accuracy, device=device,
        data_dir=data_dir, batch_size=128, lr=0.05,
    )  # fmt: skip
    runs = {
        "standard": train(base.replace(out=str(root / "standard")), reporter=reporter or QuietReporter()),
        "eat": train(
            base.replace(out=str(root / "eat"), eat_lambda=eat_lambda, eat_warmup_epochs=eat_warmup_epochs),
            reporter=reporter or QuietReporter(),
        ),
    }
    rows = [_row(name, result) for name, result in runs.items()]
    if rows[0]["accelerator_ratio"] and rows[1]["accelerator_ratio"]:
        rows[1]["ratio_decrease_pct"] = 100 * (1 - rows[1]["accelerator_ratio"] / rows[0]["accelerator_ratio"])
    write_atomic(root / "comparison.json", json.dumps({"runs": rows}, indent=2) + "\n")
    return DemoResult(out=root, runs=runs, rows=rows)


def _row(name: str, result: TrainResult) -> dict[str, Any]:
    s = result.summary
    accel = s.get("accelerator") or {}
    return {
        "run": name,
        "run_dir": str(result.run_dir),
        "status": result.status,
        "final_accuracy": s["final_accuracy"],
        "energy_j": s["energy"]["total_j"],
        "energy_estimated": s["energy"]["estimated"],
        "energy_sources": s["energy"]["sources"],
        "energy_to_target_j": s["energy_to_target_j"],
        "time_s": s["duration_s"],
        "accelerator_ratio": accel.get("mean_ratio"),
        "accelerator_batch_size": accel.get("batch_size"),
        "ratio_decrease_pct": None,
    }
