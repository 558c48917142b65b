"""``powertrain study eat|transfer|multitask CONFIG.yaml``: the studies built on sweeps (and ``eat-study``, its alias).

``study eat`` is the reproducible EAT experiment (docs/eat-study.md); ``study transfer`` and ``study multitask`` are
the knowledge-transfer and multitask energy studies (docs/transfer.md). ``powertrain eat-study`` is the deprecated
name of ``powertrain study eat``: it still works, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from powertrain.cli._app import app
from powertrain.cli._console import console as cli_console
from powertrain.cli._outputs import LogOpt
from powertrain.training.progress import ProgressReporter, QuietReporter, RichReporter

if TYPE_CHECKING:
    from powertrain.study import EatStudyResult
    from powertrain.training.rundir import EpochRecord

__all__ = ["eat_command", "eat_study_command", "multitask_command", "print_study", "study_app", "transfer_command"]

Opt = typer.Option
study_app = typer.Typer(
    help="Studies built on sweeps: eat (EAT's Table 1), transfer (does pretraining pay?) and multitask (does "
    "sharing a trunk pay?).",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")

Config = Annotated[Path, typer.Argument(help="Study YAML (see examples/).")]
Out = Annotated[str | None, Opt("--out", "-o", help="Study folder (default: the file's out:).")]
Quiet = Annotated[bool, Opt("--quiet", "-q", help="Only the final tables.")]
Storage = Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: SQLite files).")]
Seeds = Annotated[str | None, Opt(help="Comma-separated seeds (overrides seeds:), e.g. 0 or 0,1,2.")]


@study_app.command("eat")
def eat_command(
    config: Annotated[Path, typer.Argument(help="Study YAML (see examples/eat-fashion-mnist.yaml).")],
    out: Out = None,
    epochs: Annotated[int | None, Opt(help="Epochs of every run (overrides train.epochs).")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or cuda:N (overrides train.device).")] = None,
    quiet: Quiet = False,
    log: LogOpt = None,
) -> int:
    """Standard training against EAT settings: accuracy, energy ratio, measured energy; rerun to continue."""
    from powertrain.study import load_eat_study_config, run_eat_study

    study = _with_log(load_eat_study_config(config), log).replace(out=out, epochs=epochs, device=device).validate()
    show = lambda done: print_study(done, cli_console())  # noqa: E731 - one line's callback
    return _run(lambda **kw: run_eat_study(study, **kw), study.out, quiet, show)


@app.command("eat-study")
def eat_study_command(
    config: Annotated[Path, typer.Argument(help="Study YAML (see examples/eat-fashion-mnist.yaml).")],
    out: Out = None,
    epochs: Annotated[int | None, Opt(help="Epochs of every run (overrides train.epochs).")] = None,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or cuda:N (overrides train.device).")] = None,
    quiet: Quiet = False,
    log: LogOpt = None,
) -> int:
    """Deprecated alias of `powertrain study eat` (same arguments)."""
    typer.echo("powertrain: note: `eat-study` is an alias of `powertrain study eat`, kept for old scripts", err=True)
    return eat_command(config, out=out, epochs=epochs, device=device, quiet=quiet, log=log)


@study_app.command("transfer")
def transfer_command(config: Config, out: Out = None, storage: Storage = None, seeds: Seeds = None,
                     quiet: Quiet = False, log: LogOpt = None) -> int:  # fmt: skip
    """Pretrain, fine-tune and train from scratch: energy-to-target and the break-even number of tasks."""
    from powertrain.study import load_transfer_study_config, run_transfer_study

    study = _with_log(load_transfer_study_config(config), log)
    study = study.replace(out=out, storage=storage, seeds=_seeds(seeds)).validate()
    return _run(lambda **kw: run_transfer_study(study, **kw), study.out, quiet, _print_markdown)


@study_app.command("multitask")
def multitask_command(config: Config, out: Out = None, storage: Storage = None, seeds: Seeds = None,
                      quiet: Quiet = False, log: LogOpt = None) -> int:  # fmt: skip
    """One shared trunk with a head per task against one model per task: energy until every task is on target."""
    from powertrain.study import load_multitask_study_config, run_multitask_study

    study = _with_log(load_multitask_study_config(config), log)
    study = study.replace(out=out, storage=storage, seeds=_seeds(seeds)).validate()
    return _run(lambda **kw: run_multitask_study(study, **kw), study.out, quiet, _print_markdown)


def _with_log(study: Any, log: list[str] | None) -> Any:
    """The study config with ``--log`` trackers in its base training config (each of its sweeps logs there)."""
    return study.replace(train=study.train.replace(log=list(log))) if log else study


def _run(start: Callable[..., Any], out: str, quiet: bool, show: Callable[[Any], None]) -> int:
    """Run a study with a live display (none with ``quiet``); Ctrl-C keeps finished runs (exit 130)."""
    err = Console(stderr=True)
    try:
        result = start(
            reporter=QuietReporter() if quiet else _PerRunReporter(err),
            notify=None if quiet else lambda line: err.print(line, markup=False, highlight=False),
        )
    except KeyboardInterrupt:
        typer.echo(
            f"powertrain: interrupted; finished runs are kept in {out}, run the same command to continue", err=True
        )
        return 130
    show(result)
    return 0


def _print_markdown(result: Any) -> None:
    typer.echo(result.results_md.read_text())
    typer.echo(f"results: {result.results_json} and {result.results_md}")


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        from powertrain.errors import ConfigError

        raise ConfigError(f"--seeds takes comma-separated integers, not {text!r}") from None


def print_study(result: EatStudyResult, console: Console) -> None:
    """One rich table per model, its conclusions, and where the results are."""
    from powertrain.study.eat.results import summary_lines
    from powertrain.study.eat.table import row_cells, sources_caption, table_columns

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
