"""``powertrain study transfer|multitask CONFIG.yaml``: the knowledge-transfer and multitask energy studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from powertrain.cli._app import app

__all__ = ["study_app"]

Opt = typer.Option
study_app = typer.Typer(
    help="Studies made of sweeps: transfer (does pretraining pay?) and multitask (does sharing pay?).",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")


@study_app.command("transfer")
def transfer_command(
    config: Annotated[Path, typer.Argument(help="Study YAML (see examples/studies/).")],
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (default: the file's out:).")] = None,
    storage: Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: SQLite files).")] = None,
    seeds: Annotated[str | None, Opt(help="Comma-separated seeds (overrides seeds:), e.g. 0 or 0,1,2.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Only the final tables.")] = False,
) -> int:
    """Pretrain, fine-tune and train from scratch: energy-to-target and the break-even number of tasks."""
    from powertrain.study import load_transfer_study_config, run_transfer_study

    study = load_transfer_study_config(config).replace(out=out, storage=storage, seeds=_seeds(seeds)).validate()
    return _run(lambda **kw: run_transfer_study(study, **kw), study.out, quiet)


@study_app.command("multitask")
def multitask_command(
    config: Annotated[Path, typer.Argument(help="Study YAML (see examples/studies/).")],
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (default: the file's out:).")] = None,
    storage: Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: SQLite files).")] = None,
    seeds: Annotated[str | None, Opt(help="Comma-separated seeds (overrides seeds:), e.g. 0 or 0,1,2.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="Only the final tables.")] = False,
) -> int:
    """One shared trunk with a head per task against one model per task: energy until every task is on target."""
    from powertrain.study import load_multitask_study_config, run_multitask_study

    study = load_multitask_study_config(config).replace(out=out, storage=storage, seeds=_seeds(seeds)).validate()
    return _run(lambda **kw: run_multitask_study(study, **kw), study.out, quiet)


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        from powertrain.errors import ConfigError

        raise ConfigError(f"--seeds takes comma-separated integers, not {text!r}") from None


def _run(start, out: str, quiet: bool) -> int:  # type: ignore[no-untyped-def]
    from powertrain.cli.study import _PerRunReporter
    from powertrain.training.progress import QuietReporter

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
    typer.echo(result.results_md.read_text())
    typer.echo(f"results: {result.results_json} and {result.results_md}")
    return 0
