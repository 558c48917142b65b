"""``powertrain estimate``: modelled accelerator energy of a trained run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from powertrain.cli._app import app
from powertrain.cli._console import console as cli_console

__all__ = ["estimate_command"]


@app.command("estimate")
def estimate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `powertrain train`.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size of the estimate (EAT: 512).")] = 512,
    mode: Annotated[str, typer.Option(help="reference (Sponge Examples' model), layerwise or ops.")] = "reference",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    data_dir: Annotated[str | None, typer.Option(help="Where the run's dataset lives, if moved.")] = None,
    max_batches: Annotated[int | None, typer.Option(min=1, help="Estimate over at most N batches.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the estimate as JSON.")] = None,
) -> int:
    """Estimate the inference energy of a trained model on a zero-skipping accelerator (EAT's energy ratio)."""
    from powertrain._files import check_writable, json_safe, remove_stale_temps, write_atomic
    from powertrain.errors import ConfigError
    from powertrain.training import estimate_run

    if mode not in ("reference", "layerwise", "ops"):
        raise ConfigError(f"mode must be reference, layerwise or ops, not {mode!r}")
    if out is not None:  # before the work
        check_writable(out)
        remove_stale_temps(out.parent, name=out.name)
    chosen: Literal["reference", "layerwise", "ops"] = mode  # type: ignore[assignment]
    result = estimate_run(
        run_dir, batch_size=batch_size, mode=chosen, device=device, data_dir=data_dir, max_batches=max_batches
    )
    console = cli_console()
    table = Table(title=f"{run_dir}: {result.mode} mode, batch {result.batch_size}, {result.num_samples} samples")
    for column in ("layer", "type", "firing rate", "ops", "dense uJ", "zero-skip uJ"):
        table.add_column(column, justify="right" if column not in ("layer", "type") else "left")
    for layer in result.layers:
        rate = "-" if layer.output_firing_rate is None else f"{layer.output_firing_rate:.3f}"
        table.add_row(layer.name or "(model)", layer.type, rate, f"{layer.ops:,}", f"{layer.dense_pj / 1e6:,.1f}",
                      f"{layer.sparse_pj / 1e6:,.1f}")  # fmt: skip
    console.print(table)
    per_sample = result.per_sample_mean_ratio
    console.print(
        f"energy ratio (zero-skipping / dense): mean over batches {result.mean_ratio:.4f} ± {result.std_ratio:.4f} "
        f"at batch {result.batch_size}"
        + (f"; per sample (batch 1) {per_sample:.4f}" if math.isfinite(per_sample) else "")  # not counted in ops mode
    )
    if result.unmodelled_types:
        console.print(f"modules without an operation rule (memory traffic only): {', '.join(result.unmodelled_types)}")
    if out is not None:
        payload = json_safe({"run_dir": str(run_dir), **result.to_dict()})
        write_atomic(out, json.dumps(payload, indent=2, default=str) + "\n")
    return 0
