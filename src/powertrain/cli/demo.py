"""``powertrain demo``: the whole energy study, end to end, on the embedded default dataset (README's first command)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from powertrain._units import format_joules as _j
from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, carbon_settings
from powertrain.cli._console import console as cli_console

if TYPE_CHECKING:
    from powertrain.demo import DemoResult

__all__ = ["demo_command"]

Opt = typer.Option


@app.command("demo")
def demo_command(
    out: Annotated[
        str, Opt("--out", "-o", help="Demo folder; run again with the same folder to reuse finished work.")
    ] = "runs/demo",
    dataset: Annotated[str, Opt(help="Dataset of every run.")] = "fashion-mnist",
    model: Annotated[str, Opt(help="Model of every run.")] = "lenet5",
    subset: Annotated[
        int, Opt(help="Training images (a seeded subset; Fashion-MNIST has 60,000: --subset 60000 for all).")
    ] = 10_000,
    threads: Annotated[
        int | None, Opt(help="PyTorch CPU threads (default: 1 when the CPU is busy, else PyTorch's default).")
    ] = None,
    device: Annotated[str, Opt(help="auto (a GPU when there is one), cpu, cuda or cuda:N.")] = "auto",
    data_dir: Annotated[str | None, Opt(help="Folder holding the dataset files.")] = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress display; only the final table.")] = False,
) -> int:
    """The whole study: lr x batch-size sweep (energy to target, pruning), standard vs EAT, CO2e, and the report."""
    from powertrain.demo import DemoConfig, run_demo
    from powertrain.training.progress import QuietReporter

    config = DemoConfig(dataset=dataset, model=model, subset=subset, device=device, data_dir=data_dir, threads=threads,
                        carbon=carbon_settings(country, region, pue, intensity))  # fmt: skip
    err = Console(stderr=True)

    def notify(line: str) -> None:
        err.print(line, markup=False, highlight=False, soft_wrap=True)

    if quiet:
        reporter: Any = QuietReporter()
    else:
        from powertrain.cli.study import _PerRunReporter

        reporter = _PerRunReporter(err)
    try:
        result = run_demo(config, out=out, reporter=reporter, notify=None if quiet else notify)
    except KeyboardInterrupt:
        typer.echo(f"powertrain: interrupted; finished work is kept in {out}, run the same command to continue",
                   err=True)  # fmt: skip
        return 130
    print_demo(result, cli_console())
    return 0


def print_demo(result: DemoResult, console: Console) -> None:
    """The short table of the study's answers, then where the report is."""
    from powertrain.carbon import format_kg

    s = result.summary
    sweep, eat, carbon = s["sweep"], s["eat"], s["carbon"]
    if result.fallback:
        console.print("[bold red]SYNTHETIC DATA: Fashion-MNIST was not found; these figures are not Fashion-MNIST's."
                      "[/bold red]")  # fmt: skip
    table = Table(title=f"powertrain demo: {s['model']} on {s['dataset']['name']} ({_hardware(s['hardware'])})")
    table.add_column("question", justify="left")
    table.add_column("answer", justify="left")
    best = sweep["best"]
    target = f"{sweep['target_accuracy']:.0%}"
    if best:
        params = ", ".join(f"{k} {v}" for k, v in best["params"].items())
        table.add_row(f"cheapest setup to {target} accuracy", f"{params}: {_j(best['energy_to_target_j'])}")
        first = best.get("forecast_after_epoch_1")
        measured = f"measured {_j(best['energy_to_target_j'])}"
        if first:
            energy = first["energy_j"]
            interval = f"{_j(energy['low'])}-{_j(energy['high']) if energy['high'] is not None else 'beyond'}"
            forecast = f"{_j(energy['median'])} ({interval}, {first['probability']:.0%} likely)"
            table.add_row("its forecast after epoch 1 vs measured", f"{forecast} vs {measured}")
        else:
            table.add_row("its forecast after epoch 1 vs measured", f"reached the target in epoch 1 ({measured})")
    else:
        table.add_row(f"cheapest setup to {target} accuracy", "no trial reached the target")
    spread = sweep["spread"]
    if spread.get("ratio") and spread["trials"] >= 2:
        table.add_row("worst / best energy to target", f"{spread['ratio']:.2f}x over {spread['trials']} trials")
    energy, pruning = sweep["energy_j"], sweep["pruning"]
    counts = ", ".join(f"{n} {state}" for state, n in sorted(sweep["counts"].items()) if state != "paused")
    cost = f"{_j(energy['total_j'])} ({counts})"
    if pruning["pruned_trials"]:
        cost += f"; pruning saved up to {_j(pruning['not_spent_upper_j'])}"
    table.add_row("what the search cost", cost)
    std, sparse = eat["standard"], eat["eat"]
    if std and sparse:
        table.add_row("accuracy, standard / EAT", f"{_pct(std['accuracy'])} / {_pct(sparse['accuracy'])}")
        decrease = f" ({sparse['decrease_pct']:.1f}% lower)" if sparse["decrease_pct"] is not None else ""
        table.add_row(f"accelerator energy ratio (batch {std['ratio_batch_size']}), standard / EAT",
                      f"{_num(std['energy_ratio'])} / {_num(sparse['energy_ratio'])}{decrease}")  # fmt: skip
        table.add_row("measured inference J / 1000 images, standard / EAT",
                      f"{_num(std['inference_j_per_1k_images'])} / {_num(sparse['inference_j_per_1k_images'])} "
                      f"({std['inference_source'] or '-'})")  # fmt: skip
    table.add_row("energy of everything", f"{_j(carbon['energy_j'])} = {carbon['energy_j'] / 3.6e6:.4g} kWh")
    table.add_row("CO2e: operational | embodied (hardware share)",
                  f"{format_kg(carbon['operational_kg_co2e'])} | {format_kg(carbon['embodied_kg_co2e'])}")  # fmt: skip
    console.print(table)
    console.print(f"report: {result.html}")


def _hardware(info: dict[str, Any]) -> str:
    gpus = info.get("gpus") or []
    if gpus:
        return f"{len(gpus)}x {gpus[0].get('name')}"
    return f"{info.get('cpu_model') or 'CPU'}, no GPU"


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
