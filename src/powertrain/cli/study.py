"""``powertrain eat-study``: the reproducible EAT experiment from one YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app
from powertrain.training.progress import ProgressReporter, QuietReporter, RichReporter

if TYPE_CHECKING:
    from powertrain.study import EatStudyResult
    from powertrain.training.rundir import EpochRecord

__all__ = ["eat_study_command"]

Opt = typer.Option


@app.command("eat-study")
def eat_study_command(
    config: Annotated[Path, typer.Argument(help="Study YAML (see examples/eat-fashion-mnist.yaml).")],
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (default: the file's out:).")] = None,
    epochs: Annotated[int | None, Opt(help="Epochs of every run (overrides train.epochs).")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or cuda:N (overrides train.device).")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Only the final tables.")] = False,
) -> int:
    """Standard training against EAT settings: accuracy, energy ratio, measured energy; rerun to continue."""
    from powertrain.study import load_eat_study_config, run_eat_study

    study = load_eat_study_config(config).replace(out=out, epochs=epochs, device=device).validate()
    console = Console()
    err = Console(stderr=True)
    try:
        result = run_eat_study(
            study,
            reporter=QuietReporter() if quiet else _PerRunReporter(err),
            notify=None if quiet else lambda line: err.print(line, markup=False, highlight=False),
        )
    except KeyboardInterrupt:
        typer.echo(
            f"powertrain: interrupted; finished runs are kept in {study.out}, run the same command to continue",
            err=True,
        )
        return 130
    print_study(result, console)
    return 0


def print_study(result: EatStudyResult, console: Console) -> None:
    """One rich table per model, its conclusions, and where the results are."""
    from powertrain.study._eat_report import summary_lines
    from powertrain.study._eat_table import row_cells, sources_caption, table_columns

    train = result.config.train
    for model, table in result.tables.items():
        title = f"{model} on {train.dataset}, {train.epochs} epochs, seed {result.config.seed}"
        view = Table(title=title, caption=sources_caption(table))
        for column in table_columns(table, compact=True):
            view.add_column(column, justify="left" if column == "setting" else "right")
        for row in table.rows:
            view.add_row(*row_cells(row, compact=True), style="bold" if row.selected else None)
        console.print(view)
        for line in summary_lines(table):
            console.print(line.replace("**", ""), markup=False, highlight=False)
    if result.goal_met is not None:
        console.print(f"goal met for every model: {'yes' if result.goal_met else 'no'}")
    console.print(f"results: {result.results_json} and {result.results_md}")


class _PerRunReporter:
    """A fresh :class:`RichReporter` for every training run of the study (one reporter object shows one run)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._run: ProgressReporter = QuietReporter()

    def start(self, *, total_epochs: int, first_epoch: int) -> None:
        self._run = RichReporter(self.console)
        self._run.start(total_epochs=total_epochs, first_epoch=first_epoch)

    def start_epoch(self, epoch: int, steps: int) -> None:
        self._run.start_epoch(epoch, steps)

    def update(self, step: int, *, loss: float, accuracy: float, power_w: float, energy_j: float) -> None:
        self._run.update(step, loss=loss, accuracy=accuracy, power_w=power_w, energy_j=energy_j)

    def end_epoch(self, record: EpochRecord) -> None:
        self._run.end_epoch(record)

    def stop(self) -> None:
        self._run.stop()
