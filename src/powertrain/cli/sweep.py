"""``powertrain sweep CONFIG.yaml`` runs (or joins) a sweep; ``powertrain sweep show STUDY_DIR_OR_URL`` prints one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from powertrain.cli._app import app
from powertrain.errors import ConfigError

__all__ = ["sweep_command"]

Opt = typer.Option


@app.command("sweep")
def sweep_command(
    config: Annotated[str, typer.Argument(help="Sweep YAML (examples/sweeps/), or `show`.", metavar="CONFIG|show")],
    target: Annotated[str | None, typer.Argument(help="With show: the study folder or storage URL.")] = None,
    storage: Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: OUT/study.db).")] = None,
    study: Annotated[str | None, Opt(help="Study name (default: the config file's stem).")] = None,
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (runs, SQLite file, exports).")] = None,
    trials: Annotated[int | None, Opt("--trials", "-n", help="Total trials of a sampled sweep.")] = None,
    csv: Annotated[Path | None, Opt(help="With show: also write the per-trial CSV here.")] = None,
    json: Annotated[Path | None, Opt(help="With show: also write the JSON export here.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No live display; only the final table.")] = False,
) -> int:
    """Sweep training hyperparameters for the fewest joules to a target accuracy (Optuna; many workers can share)."""
    from powertrain.study import load_sweep, load_sweep_config, sweep
    from powertrain.study._sweep_view import SweepDisplay, print_result

    console = Console()
    if config == "show":
        if target is None:
            raise ConfigError("usage: powertrain sweep show STUDY_DIR_OR_URL [--study NAME]")
        result = load_sweep(target, study=study)
        print_result(result, console)
        if csv is not None or json is not None:
            _export(result, csv, json)
        return 0
    if target is not None:
        raise ConfigError(f"unexpected argument {target!r}; did you mean `powertrain sweep show {target}`?")
    cfg = load_sweep_config(config, storage=storage, study=study, out=out)
    if out is None and study is not None:
        cfg = cfg.replace(out=str(Path("studies") / study))
    display = None if quiet else SweepDisplay(Console(stderr=True))
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
            f"powertrain: interrupted; finished trials are kept in {cfg.storage_url}, "
            "run the same command to continue",
            err=True,
        )
        return 130
    finally:
        if display is not None:
            display.end()
    print_result(result, console)
    console.print(f"results: {Path(cfg.out) / 'results.json'} and {Path(cfg.out) / 'results.csv'}")
    return 0


def _export(result: object, csv: Path | None, json_path: Path | None) -> None:
    import json as _json

    from powertrain._files import json_safe, write_atomic

    if csv is not None:
        write_atomic(csv, result.to_csv())  # type: ignore[attr-defined]
    if json_path is not None:
        write_atomic(json_path, _json.dumps(json_safe(result.to_dict()), indent=2) + "\n")  # type: ignore[attr-defined]
