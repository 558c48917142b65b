"""``powertrain sweep run|show|merge``: run or join a sweep, show one, merge sweeps run apart.

``powertrain sweep run CONFIG.yaml`` runs (or joins, or continues) a sweep, and so does the short form
``powertrain sweep CONFIG.yaml`` (unless CONFIG is the name of a subcommand); ``sweep show STUDY_DIR_OR_URL`` prints
one; ``sweep merge DEST SRC...`` merges sweeps run apart (e.g. on different machines) into one study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from powertrain._files import check_writable
from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, carbon_settings
from powertrain.cli._console import capture_third_party, console
from powertrain.cli._outputs import LogOpt
from powertrain.errors import ConfigError

__all__ = ["merge_command", "run_command", "show_command", "sweep_app"]

Opt = typer.Option


class _RunByDefault(TyperGroup):
    """``sweep CONFIG ...`` means ``sweep run CONFIG ...`` when its first word is not a subcommand (or ``--help``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


sweep_app = typer.Typer(
    cls=_RunByDefault,
    help="Sweep training hyperparameters for the fewest joules to a target accuracy (Optuna; many workers can share). "
    "`powertrain sweep CONFIG.yaml` is short for `powertrain sweep run CONFIG.yaml`.",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")

StudyName = Annotated[str | None, Opt(help="Study name (default: the config file's stem; with show: the only one).")]


@sweep_app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="Sweep YAML (see examples/sweeps/).")],
    storage: Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: OUT/study.db).")] = None,
    study: StudyName = None,
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (runs, SQLite file, exports).")] = None,
    trials: Annotated[int | None, Opt("--trials", "-n", help="Total trials of a sampled sweep.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No live display; only the final table.")] = False,
    log: LogOpt = None,
    attribution: Annotated[
        str | None,
        Opt(help="Whose energy each trial reports: process (its own run, default), cgroup[:PATH] or machine."),
    ] = None,
    workers_per_host: Annotated[
        int | None, Opt(min=1, help="Workers that share this machine: each trial gets cores / N PyTorch threads.")
    ] = None,
    threads_per_trial: Annotated[
        int | None, Opt(min=1, help="PyTorch threads per trial (default: cores / --workers-per-host).")
    ] = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
) -> int:
    """Run, join or continue a sweep: the same command on several machines with one --storage shares the work.

    The study records its attribution and threads per trial when it is created; every worker uses them. With
    --log, the sweep is a parent run in the tracker (found by the study's name) with one child run per trial.
    """
    from powertrain.cli._sweep_view import SweepDisplay, print_result
    from powertrain.study import load_sweep_config, sweep
    from powertrain.study.engine.loop import check_sweep

    capture_third_party()
    # out: --out, else the file's out:, else studies/<--study or the file's study or its stem>
    cfg = load_sweep_config(
        config,
        storage=storage,
        study=study,
        out=out,
        workers_per_host=workers_per_host,
        threads_per_trial=threads_per_trial,
    )
    if attribution is not None:
        cfg = cfg.replace(train=cfg.train.replace(attribution=attribution))
    if log:
        cfg = cfg.replace(log=list(log))
    if _carbon(country, region, pue, intensity) is not None:  # where this worker draws its power, not the study's
        given = {"country": country, "region": region, "pue": pue, "intensity_g_per_kwh": intensity}
        cfg = cfg.replace(train=cfg.train.replace(**given))
    cfg = check_sweep(cfg.replace(n_trials=trials))  # a bad config, folder or storage: one line, before the live view
    display = None if quiet else SweepDisplay(console(stderr=True))
    result = None
    try:
        if display is not None:
            display.begin(cfg)
        result = sweep(
            cfg,
            n_trials=trials,
            reporter=display.reporter() if display else None,
            on_start=display.trial_started if display else None,
            on_trial=display.trial_done if display else None,
        )
    except KeyboardInterrupt:
        typer.echo(
            f"powertrain: interrupted; finished trials are kept in {cfg.storage_url}, run the same command to continue",
            err=True,
        )
        return 130
    finally:
        if display is not None:
            display.end(result)
    out_console = console()
    print_result(result, out_console)
    out_console.print(f"results: {Path(cfg.out) / 'results.json'} and {Path(cfg.out) / 'results.csv'}")
    return 0


@sweep_app.command("show")
def show_command(
    target: Annotated[
        str, typer.Argument(help="A study folder, its study.db, or a storage URL (URL#STUDY names the study).")
    ],
    study: StudyName = None,
    csv: Annotated[Path | None, Opt(help="Also write the per-trial CSV here.")] = None,
    json: Annotated[Path | None, Opt(help="Also write the JSON export here.")] = None,
    compare: Annotated[str | None, Opt(help="Compare with this study (e.g. the unpruned grid).")] = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
) -> int:
    """Print a sweep's trials, its best setup and spread, what it cost (energy, CO2e), from anywhere its storage is."""
    from powertrain.cli._sweep_view import compare_lines, print_result
    from powertrain.study import load_sweep

    capture_third_party()
    settings = _carbon(country, region, pue, intensity)  # None: each trial's own run settings
    result = load_sweep(target, study=study)
    other = load_sweep(compare) if compare is not None else None
    if other is not None and (other.objective, other.directions) != (result.objective, result.directions):
        raise ConfigError(
            f"cannot compare {result.study} ({', '.join(result.objective)}) with {other.study} "
            f"({', '.join(other.objective)}): they optimize different objectives"
        )
    for path in (csv, json):
        if path is not None:
            check_writable(path, what="--csv" if path is csv else "--json")
    result.carbon_settings = settings
    out_console = console()
    print_result(result, out_console)
    if other is not None:
        for line in compare_lines(result, other):
            out_console.print(line, markup=False, highlight=False)
    if csv is not None or json is not None:
        _export(result, csv, json)
    return 0


@sweep_app.command("merge")
def merge_command(
    dest: Annotated[str, typer.Argument(help="The study folder or storage URL to merge into (created if needed).")],
    sources: Annotated[
        list[str], typer.Argument(help="Study folders or storage URLs to merge from (URL#STUDY names the study).")
    ],
    study: StudyName = None,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
) -> int:
    """Merge sweeps of one study that ran apart (on machines without a shared database) into one study."""
    from powertrain.cli._sweep_view import print_result
    from powertrain.study import merge_sweeps

    capture_third_party()
    settings = _carbon(country, region, pue, intensity)  # checked before anything is merged
    merged = merge_sweeps(dest, sources, study=study)
    merged.carbon_settings = settings
    print_result(merged, console())
    return 0


def _carbon(country: str | None, region: str | None, pue: float | None, intensity: float | None) -> Any:
    """The validated carbon options (a bad one is a one-line error, exit 2), or None when none is given."""
    if all(v is None for v in (country, region, pue, intensity)):
        return None
    return carbon_settings(country, region, pue, intensity)


def _export(result: Any, csv: Path | None, json_path: Path | None) -> None:
    import json as _json

    from powertrain._files import json_safe, write_atomic

    if csv is not None:
        write_atomic(csv, result.to_csv())
    if json_path is not None:
        write_atomic(json_path, _json.dumps(json_safe(result.to_dict()), indent=2) + "\n")
