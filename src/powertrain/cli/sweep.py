"""``powertrain sweep``: run or join a sweep, show one, merge sweeps run apart.

``powertrain sweep CONFIG.yaml`` runs (or joins, or continues) a sweep; ``sweep show STUDY_DIR_OR_URL`` prints one;
``sweep merge DEST SRC...`` merges sweeps run apart (e.g. on different machines) into one study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, carbon_settings
from powertrain.errors import ConfigError

__all__ = ["sweep_command"]

Opt = typer.Option


@app.command("sweep")
def sweep_command(
    args: Annotated[
        list[str],
        typer.Argument(
            help="CONFIG.yaml | show STUDY_DIR_OR_URL | merge DEST SRC... (a URL source may name its study: URL#STUDY)",
            metavar="CONFIG | show TARGET | merge DEST SRC...",
        ),
    ],
    storage: Annotated[str | None, Opt(help="SQLAlchemy URL shared by workers (default: OUT/study.db).")] = None,
    study: Annotated[str | None, Opt(help="Study name (default: the config file's stem).")] = None,
    out: Annotated[str | None, Opt("--out", "-o", help="Study folder (runs, SQLite file, exports).")] = None,
    trials: Annotated[int | None, Opt("--trials", "-n", help="Total trials of a sampled sweep.")] = None,
    csv: Annotated[Path | None, Opt(help="With show: also write the per-trial CSV here.")] = None,
    json: Annotated[Path | None, Opt(help="With show: also write the JSON export here.")] = None,
    compare: Annotated[str | None, Opt(help="With show: compare with this study (e.g. the unpruned grid).")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No live display; only the final table.")] = False,
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
) -> int:
    """Sweep training hyperparameters for the fewest joules to a target accuracy (Optuna; many workers can share)."""
    from powertrain.study import load_sweep, load_sweep_config, sweep
    from powertrain.study._sweep_view import SweepDisplay, compare_lines, print_result

    console = Console()
    config, rest = args[0], args[1:]
    given = {"country": country, "region": region, "pue": pue, "intensity_g_per_kwh": intensity}
    settings = carbon_settings(country, region, pue, intensity) if any(v is not None for v in given.values()) else None
    if config == "show":
        if len(rest) != 1:
            raise ConfigError("usage: powertrain sweep show STUDY_DIR_OR_URL [--study NAME] [--csv F] [--json F]")
        result = load_sweep(rest[0], study=study)
        result.carbon_settings = settings  # None: each trial's own run settings
        print_result(result, console)
        if compare is not None:
            for line in compare_lines(result, load_sweep(compare)):
                console.print(line, markup=False, highlight=False)
        if csv is not None or json is not None:
            _export(result, csv, json)
        return 0
    if config == "merge":
        from powertrain.study._merge import merge_sweeps

        if len(rest) < 2:
            raise ConfigError("usage: powertrain sweep merge DEST SRC [SRC...] [--study NAME]")
        merged = merge_sweeps(rest[0], rest[1:], study=study)
        merged.carbon_settings = settings
        print_result(merged, console)
        return 0
    if rest:
        raise ConfigError(f"unexpected argument {rest[0]!r}; did you mean `powertrain sweep show {rest[0]}`?")
    cfg = load_sweep_config(config, storage=storage, study=study, out=out)
    if out is None and study is not None:
        cfg = cfg.replace(out=str(Path("studies") / study))
    if settings is not None:  # where this worker draws its power; per machine, not part of the study's identity
        cfg = cfg.replace(train=cfg.train.replace(**{k: v for k, v in given.items() if v is not None}))
    display = None if quiet else SweepDisplay(Console(stderr=True))
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
            f"powertrain: interrupted; finished trials are kept in {cfg.storage_url}, "
            "run the same command to continue",
            err=True,
        )
        return 130
    finally:
        if display is not None:
            display.end(result)
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
