"""``powertrain train``: one measured training run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, format_carbon
from powertrain.training.config import TrainConfig, load_config

if TYPE_CHECKING:
    from powertrain.training import TrainResult

__all__ = ["train_command"]

Opt = typer.Option


@app.command("train")
def train_command(
    config: Annotated[Path | None, Opt("--config", "-c", help="YAML file with TrainConfig fields.")] = None,
    dataset: Annotated[str | None, Opt(help="Dataset name, or imagefolder:PATH.")] = None,
    model: Annotated[str | None, Opt(help="Model name: mlp, lenet5, resnet18, vgg16.")] = None,
    epochs: Annotated[int | None, Opt(help="Number of epochs.")] = None,
    batch_size: Annotated[int | None, Opt(help="Training batch size.")] = None,
    lr: Annotated[float | None, Opt(help="Peak learning rate.")] = None,
    optimizer: Annotated[str | None, Opt(help="sgd, adam or adamw.")] = None,
    lr_schedule: Annotated[str | None, Opt(help="constant, exponential, cosine, step or onecycle.")] = None,
    lr_gamma: Annotated[float | None, Opt(help="Decay factor of the exponential and step schedules.")] = None,
    momentum: Annotated[float | None, Opt(help="SGD momentum.")] = None,
    nesterov: Annotated[bool | None, Opt("--nesterov/--no-nesterov", help="Nesterov momentum for SGD.")] = None,
    weight_decay: Annotated[float | None, Opt(help="Weight decay.")] = None,
    amp: Annotated[str | None, Opt(help="Mixed precision: off, bf16 or fp16.")] = None,
    seed: Annotated[int | None, Opt(help="Random seed.")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or cuda:N.")] = None,
    data_dir: Annotated[str | None, Opt(help="Folder holding the dataset files.")] = None,
    download: Annotated[bool | None, Opt("--download", help="Download the dataset if missing.")] = None,
    subset: Annotated[int | None, Opt(help="Use only N training samples.")] = None,
    test_subset: Annotated[int | None, Opt(help="Use only N test samples.")] = None,
    image_size: Annotated[int | None, Opt(help="Resize images to this size.")] = None,
    channels: Annotated[int | None, Opt(help="1 or 3 input channels.")] = None,
    workers: Annotated[int | None, Opt(help="DataLoader workers for folder datasets.")] = None,
    target_accuracy: Annotated[float | None, Opt(help="Target validation accuracy in (0, 1].")] = None,
    stop_at_target: Annotated[bool | None, Opt("--stop-at-target", help="Stop at the first epoch on target.")] = None,
    energy_budget: Annotated[float | None, Opt("--energy-budget", help="Stop after this many joules.")] = None,
    eat_lambda: Annotated[float | None, Opt(help="EAT l0 penalty weight (0: standard training).")] = None,
    eat_sigma: Annotated[float | None, Opt(help="EAT sigma of x^2/(x^2+sigma).")] = None,
    eat_layers: Annotated[str | None, Opt(help="EAT penalised layers: activations or all.")] = None,
    eat_warmup_epochs: Annotated[int | None, Opt(help="Epochs of linear lambda warm-up.")] = None,
    estimate_batch_size: Annotated[int | None, Opt(help="Batch of the accelerator estimate; 0 skips it.")] = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
    out: Annotated[str | None, Opt("--out", "-o", help="Run directory to create.")] = None,
    resume: Annotated[Path | None, Opt(help="Continue the run in this directory.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress display.")] = False,
) -> int:
    """Train a model, measuring energy per epoch; writes a run directory."""
    from powertrain.training import RunDir, train
    from powertrain.training.progress import make_reporter

    flags: dict[str, Any] = {
        "dataset": dataset, "model": model, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "optimizer": optimizer, "lr_schedule": lr_schedule, "lr_gamma": lr_gamma, "momentum": momentum,
        "nesterov": nesterov, "weight_decay": weight_decay, "amp": amp, "seed": seed, "device": device,
        "data_dir": data_dir, "download": download, "subset": subset, "test_subset": test_subset,
        "image_size": image_size, "channels": channels, "workers": workers, "target_accuracy": target_accuracy,
        "stop_at_target": stop_at_target, "energy_budget_j": energy_budget, "eat_lambda": eat_lambda,
        "eat_sigma": eat_sigma, "eat_layers": eat_layers, "eat_warmup_epochs": eat_warmup_epochs,
        "estimate_batch_size": estimate_batch_size, "out": out, "country": country, "region": region, "pue": pue,
        "intensity_g_per_kwh": intensity,
    }  # fmt: skip
    if resume is not None:
        base = TrainConfig.from_dict(RunDir(resume).read_config())
    else:
        base = load_config(config) if config is not None else TrainConfig()
    cfg = base.replace(**flags)
    try:
        result = train(cfg, resume=resume, reporter=make_reporter(quiet=quiet))
    except KeyboardInterrupt:
        typer.echo("powertrain: interrupted; finished epochs are saved, continue with --resume", err=True)
        return 130
    print_result(result, Console())
    return 1 if result.status == "diverged" else 0


def print_result(result: TrainResult, console: Console) -> None:
    """A table of the run's outcome."""
    s = result.summary
    energy = s["energy"]
    table = Table(title=f"run {result.run_dir}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("status", result.status)
    table.add_row("epochs", str(s["epochs_completed"]))
    table.add_row("final / best accuracy", f"{_pct(s['final_accuracy'])} / {_pct(s['best_accuracy'])}")
    estimated = " (estimated)" if energy["estimated"] else ""
    table.add_row(
        "energy",
        f"{energy['total_j']:.1f} J{estimated} = train {energy['train_j']:.1f} + eval {energy['eval_j']:.1f}"
        + (f" + lost {energy['lost_j']:.1f}" if energy["lost_j"] else ""),
    )
    table.add_row("sources", ", ".join(energy["sources"]) or "none")
    table.add_row("duration", f"{s['duration_s']:.1f} s")
    if s["target_accuracy"] is not None:
        reached = (
            f"{s['energy_to_target_j']:.1f} J, {s['time_to_target_s']:.1f} s, epoch {s['epochs_to_target']}"
            if s["reached_target"]
            else "not reached"
        )
        table.add_row(f"to {_pct(s['target_accuracy'])}", reached)
    carbon = s.get("carbon")
    if carbon:
        table.add_row("CO2e", format_carbon(carbon))
    accel = s.get("accelerator")
    if accel:
        table.add_row("accelerator energy ratio", f"{accel['mean_ratio']:.3f} (batch {accel['batch_size']})")
    if energy["failed_sensors"]:
        table.add_row("failed sensors", "; ".join(f"{k}: {v}" for k, v in energy["failed_sensors"].items()))
    console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
