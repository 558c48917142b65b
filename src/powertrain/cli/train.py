"""``powertrain train``: one measured training run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app
from powertrain.cli._carbon import format_carbon
from powertrain.cli._config_flags import apply_flags, config_flags, with_flags
from powertrain.cli._console import console as cli_console
from powertrain.cli._outputs import LogOpt, ServeOpt, announce_serve
from powertrain.errors import ConfigError, Terminated
from powertrain.training.config import TrainConfig, load_config

if TYPE_CHECKING:
    from powertrain.training import TrainResult

__all__ = ["train_command"]

Opt = typer.Option

#: Option names kept from before the flags were generated, and short forms.
_ALIASES = {
    "out": ("-o",),
    "energy_budget_j": ("--energy-budget",),
    "dataset_options": ("--dataset-option",),
    "model_options": ("--model-option",),
    "intensity_g_per_kwh": ("--intensity",),
}
_HELPS = {
    "data_dir": "Folder holding the dataset files.",
    "download": "Download the dataset if missing.",
    "image_size": "Resize images to this size.",
    "channels": "1 or 3 input channels.",
    "subset": "Use only N training samples.",
    "test_subset": "Use only N test samples.",
    "augment": "Training augmentation (random crop and flip where the dataset defines them).",
    "workers": "DataLoader workers for folder datasets.",
    "data_on_device": "Keep the whole dataset on the training device (default: when it fits).",
    "eval_batch_size": "Evaluation batch size (default: the training batch size).",
    "momentum": "SGD momentum.",
    "nesterov": "Nesterov momentum for SGD.",
    "weight_decay": "Weight decay.",
    "lr_gamma": "Decay factor of the exponential and step schedules.",
    "lr_step_epochs": "Epochs between decays of the step schedule.",
    "seed": "Random seed.",
    "eat_sigma": "EAT sigma of x^2/(x^2+sigma).",
    "eat_layers": "EAT penalised layers.",
    "eat_normalization": "How each layer's penalty is normalised.",
    "eat_warmup_epochs": "Epochs of linear lambda warm-up.",
    "estimate_max_batches": "Most batches of the accelerator estimate.",
    "meter_interval_s": "Seconds between energy samples.",
    "gpu_indices": "CUDA GPU indices to measure, comma separated (default: all visible).",
    "attribution": "Whose energy: process (this run's processes, default), cgroup[:PATH], or machine (every joule).",
    "threads": "PyTorch CPU threads for the run (default: PyTorch's).",
}
# `log` gets its own repeatable --log (a generated list flag would take one comma-separated value)
CONFIG_FLAGS = [f for f in config_flags(TrainConfig, aliases=_ALIASES, helps=_HELPS) if f.field != "log"]



@app.command("train")
@with_flags(CONFIG_FLAGS)
def train_command(
    config: Annotated[Path | None, Opt("--config", "-c", help="YAML file with TrainConfig fields.")] = None,
    resume: Annotated[Path | None, Opt(help="Continue the run in this directory.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress display.")] = False,
    dry_run_steps: Annotated[
        int | None,
        Opt("--dry-run-steps", help="Train only the first N steps and print the forecast of the planned run's energy "
            "and time; keeps no run folder."),
    ] = None,
    log: LogOpt = None,
    serve: ServeOpt = None,
    *,
    flags: dict[str, Any],
) -> int:
    """Train a model, measuring energy per epoch; writes a run directory.

    Every TrainConfig field has a flag; a flag overrides the config file (-c), which overrides the defaults.
    """
    from powertrain.training import RunDir, train
    from powertrain.training.progress import make_reporter
    from powertrain.training.resume import stored_config

    if resume is not None:
        out = flags.get("out")
        if config is not None or out is not None:
            given = " and ".join(f for f, v in (("-c/--config", config), ("--out", out)) if v is not None)
            raise ConfigError(
                f"--resume continues {resume} with its own config.yaml and folder; drop {given} "
                "(flags such as --epochs may still change what is resumable)"
            )
        base = stored_config(RunDir(resume))
    else:
        base = load_config(config) if config is not None else TrainConfig()
    cfg = apply_flags(base, flags)
    if dry_run_steps is not None:
        return _dry_run(cfg, dry_run_steps, resume)
    if log:
        cfg = cfg.replace(log=list(log))
    serve = announce_serve(serve)
    try:
        result = train(cfg, resume=resume, reporter=make_reporter(quiet=quiet), serve=serve)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        typer.echo(f"powertrain: {how}; finished epochs are saved, continue with --resume", err=True)
        return 143 if isinstance(exc, Terminated) else 130
    print_result(result, cli_console())
    if result.status == "diverged":
        typer.echo(f"powertrain: diverged: {result.summary.get('reason') or 'the loss became NaN'}", err=True)
        return 1
    return 0


def _dry_run(cfg: TrainConfig, steps: int, resume: Path | None) -> int:
    """``--dry-run-steps N``: the planned run's cost from its first steps; nothing is written."""
    from powertrain._units import format_joules
    from powertrain.training.dry_run import dry_run

    if resume is not None:
        raise ConfigError("--dry-run-steps forecasts a new run; it cannot be combined with --resume")
    if steps < 3:
        raise ConfigError(f"--dry-run-steps must be at least 3 (a warm-up and two windows to compare), not {steps}")
    found = dry_run(cfg, steps=steps)
    est = found.estimate
    low, mid, high = est.energy_j
    estimated = " (estimated)" if found.estimated else ""
    console = Console()
    console.print(
        f"forecast of {cfg.model} on {cfg.dataset}, {est.epochs} epochs: {format_joules(mid)}{estimated} "
        f"({format_joules(low)}-{format_joules(high)}, {est.level:.0%} interval), {est.duration_s[1]:.0f} s "
        f"({est.duration_s[0]:.0f}-{est.duration_s[2]:.0f} s); one epoch {format_joules(est.epoch_energy_j)}",
        highlight=False,
    )
    console.print(
        f"from {est.steps_seen} of {est.steps_per_epoch} steps per epoch (the first {found.windows[0][0]} as warm-up) "
        f"and {found.eval_batches} of {found.eval_batches_per_epoch} evaluation batches; energy source: "
        f"{', '.join(found.sources) or 'none'}; no run folder was written",
        highlight=False,
    )
    return 0


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
