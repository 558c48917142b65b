"""``powertrain demo``: the end-to-end energy study on the embedded default dataset."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app

__all__ = ["demo_command"]


@app.command("demo")
def demo_command(
    epochs: Annotated[int, typer.Option(min=1, help="Epochs of each run.")] = 3,
    model: Annotated[str, typer.Option(help="Model name.")] = "lenet5",
    dataset: Annotated[str, typer.Option(help="Dataset name.")] = "fashion-mnist",
    subset: Annotated[int | None, typer.Option(min=1, help="Use only N training samples.")] = None,
    eat_lambda: Annotated[float, typer.Option(help="EAT penalty weight of the second run.")] = 1.0,
    eat_warmup_epochs: Annotated[int, typer.Option(min=0, help="Epochs of EAT lambda warm-up.")] = 1,
    target_accuracy: Annotated[float, typer.Option(help="Target validation accuracy.")] = 0.85,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    data_dir: Annotated[str | None, typer.Option(help="Folder holding the dataset files.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> int:
    """Train a model with and without EAT on Fashion-MNIST and compare measured and modelled energy."""
    from powertrain.demo import run_demo
    from powertrain.training.progress import make_reporter

    result = run_demo(
        out=out, dataset=dataset, model=model, epochs=epochs, subset=subset, eat_lambda=eat_lambda,
        eat_warmup_epochs=eat_warmup_epochs,
        target_accuracy=target_accuracy, device=device, data_dir=data_dir, reporter=make_reporter(quiet=quiet),
    )  # fmt: skip
    table = Table(title=f"{model} on {dataset}, {epochs} epoch(s): standard training vs EAT (lambda {eat_lambda})")
    for column in (
        "run",
        "accuracy",
        "measured energy",
        f"energy to {target_accuracy:.0%}",
        "accel. ratio",
        "decrease",
    ):
        table.add_column(column, justify="right")
    for row in result.rows:
        tag = " est." if row["energy_estimated"] else ""
        to_target = f"{row['energy_to_target_j']:.1f} J" if row["energy_to_target_j"] is not None else "not reached"
        ratio = f"{row['accelerator_ratio']:.3f}" if row["accelerator_ratio"] is not None else "-"
        decrease = f"{row['ratio_decrease_pct']:.1f}%" if row["ratio_decrease_pct"] is not None else ""
        table.add_row(row["run"], f"{row['final_accuracy']:.4f}", f"{row['energy_j']:.1f} J{tag}", to_target, ratio,
                      decrease)  # fmt: skip
    Console().print(table)
    Console().print(f"runs and comparison.json in {result.out}")
    return 0
