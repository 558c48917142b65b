"""``powertrain check RESULT --baseline BASE``: the energy gate for CI (logic in :mod:`powertrain.gate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from powertrain._files import check_writable, json_safe, write_atomic
from powertrain.cli._app import app
from powertrain.errors import ConfigError

__all__ = ["check"]

FAILED = 1


@app.command("check")
def check(
    result: Annotated[
        list[str],
        typer.Argument(metavar="RESULT...", help="Run folder, measure JSON, energy_summary.json or sweep (folder or "
                       "URL); several: repeats, compared by their mean."),  # fmt: skip
    ],
    baseline: Annotated[
        list[str] | None,
        typer.Option("--baseline", "-b", help="The reference, of the same kind; repeat the option for repeats."),
    ] = None,
    max_increase: Annotated[
        str, typer.Option("--max-increase", help="Tolerated growth: a percentage (5%) or a fraction (0.05).")
    ] = "5%",
    sigmas: Annotated[
        float, typer.Option("--sigmas", help="Standard deviations of the two measurements' noise tolerated on top.")
    ] = 2.0,
    study: Annotated[str | None, typer.Option(help="Study name, when a sweep's storage holds several.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the verdict as JSON here.")] = None,
) -> int:
    """Fail (exit 1) when energy or energy-to-target grew beyond --max-increase and the measurements' noise."""
    from powertrain.gate import check_energy, combine, parse_increase, read_energy

    if not baseline:
        raise ConfigError("missing --baseline BASE: the measurement to compare RESULT with")
    if json_out is not None:
        check_writable(json_out, what="--json")
    if not (sigmas >= 0):
        raise ConfigError(f"--sigmas must be 0 or more, not {sigmas}")
    tolerance = parse_increase(max_increase)
    new = combine([read_energy(path, study=study) for path in result])
    base = combine([read_energy(path, study=study) for path in baseline])
    verdict = check_energy(new, base, max_increase=tolerance, sigmas=sigmas)
    for line in verdict.lines:
        typer.echo(line)
    typer.echo(f"energy gate: {'passed' if verdict.passed else 'FAILED'} ({new.kind} {new.source} against "
               f"{base.kind} {base.source})")  # fmt: skip
    if json_out is not None:
        report = {"passed": verdict.passed, "lines": verdict.lines, "changes": verdict.changes,
                  "result_j": new.energy_j, "result_noise_j": new.noise_j, "baseline_j": base.energy_j,
                  "baseline_noise_j": base.noise_j}  # fmt: skip
        write_atomic(json_out, json.dumps(json_safe(report), indent=2) + "\n")
    return 0 if verdict.passed else FAILED
