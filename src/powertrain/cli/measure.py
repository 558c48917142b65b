"""``powertrain measure -- COMMAND``: the energy of any command, with its children."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from powertrain._files import check_writable, json_safe, remove_stale_temps, write_atomic
from powertrain.carbon import carbon_footprint, energy_provenance
from powertrain.cli._app import app
from powertrain.cli._carbon import Country, Intensity, Pue, Region, carbon_settings, format_carbon
from powertrain.cli._outputs import LogOpt, ServeOpt, announce_serve
from powertrain.errors import ConfigError
from powertrain.hardware import describe_hardware
from powertrain.meters import (
    Attribution,
    EnergyMeter,
    Measurement,
    ProcessTree,
    discover_sensors,
    make_attribution,
)
from powertrain.meters.command import CommandRun, run_command
from powertrain.meters.measurement import RESULTS_SCHEMA

__all__ = ["measure"]

COMMAND_NOT_FOUND = 127  # what shells return
COMMAND_NOT_EXECUTABLE = 126


@app.command(context_settings={"allow_interspersed_args": False})
def measure(
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="-- COMMAND [ARGS]...", help="The program to run and its arguments."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write measurement, hardware, command and exit code as JSON here."),
    ] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between sensor samples.")] = 0.1,
    gpu: Annotated[
        list[int] | None,
        typer.Option("--gpu", help="CUDA index of a GPU to measure; repeat for several (default: all visible)."),
    ] = None,
    attribution: Annotated[
        str,
        typer.Option(
            "--attribution",
            help="Whose energy: process (COMMAND and its children), cgroup:PATH (a cgroup that holds only the "
            "run), or machine (every joule of every sensor).",
        ),
    ] = "process",
    country: Country = None,
    region: Region = None,
    pue: Pue = None,
    intensity: Intensity = None,
    log: LogOpt = None,
    serve: ServeOpt = None,
) -> int:
    """Run COMMAND and measure the energy it uses; exit with COMMAND's exit status.

    The energy is COMMAND's own (its process tree's share of the host, its GPUs'), with the machine's beside it.
    The live power display and the summary go to stderr, so COMMAND's own output stays clean. --serve exposes the
    energy to Prometheus while COMMAND runs (and until the final figures were scraped, a few seconds at most); --log
    records the result as a run in an experiment tracker.
    """
    if not command or not command[0]:
        raise ConfigError("missing COMMAND; usage: powertrain measure [OPTIONS] -- COMMAND [ARGS]...")
    if not (math.isfinite(interval) and interval > 0):
        raise ConfigError(f"--interval must be a positive number of seconds, got {interval}")
    settings = carbon_settings(country, region, pue, intensity)
    scope: Attribution = ProcessTree([]) if attribution == "process" else make_attribution(attribution)
    if out is not None:  # before any work: a bad path must not cost the measurement
        check_writable(out)
        remove_stale_temps(out.parent, name=out.name)
    if log:
        from powertrain.integrations.trackers import check_installed

        check_installed(log)
    serve = announce_serve(serve)
    console = Console(stderr=True, markup=False, highlight=False)
    sensors = discover_sensors(gpu_indices=gpu)
    report: dict[str, Any] = {"command": list(command), "status": "running", "hardware": describe_hardware()}
    try:
        meter = EnergyMeter(sensors, sample_period_s=interval, attribution=scope)
        with meter, _serving(meter, serve, command) as exporter:
            partial = _PartialWriter(out, report, meter)
            run = _start(command, meter, console, partial)
            if isinstance(run, int):
                return run
            described = meter.describe()
            if exporter is not None:
                exporter.finish(run.measurement)
    finally:
        for sensor in sensors:
            sensor.close()
    _print_summary(console, run)
    _conclude(console, run, report, described, settings, out)
    _log(log, run, report, interval, out)
    return run.exit_code


def _log(log: list[str] | None, run: CommandRun, report: dict[str, Any], interval: float, out: Path | None) -> None:
    """Record the result as a run in the experiment trackers of --log (none: nothing)."""
    if not log:
        return
    from powertrain.integrations.trackers import log_command

    log_command(log, argv=run.argv, measurement=run.measurement, exit_code=run.exit_code,
                interrupted=run.interrupted, started_at=run.started_at, carbon=report.get("carbon"),
                params={"interval_s": interval}, artifact=out)  # fmt: skip


def _conclude(console: Console, run: CommandRun, report: dict[str, Any], described: dict[str, Any],
              settings: Any, out: Path | None) -> None:  # fmt: skip
    """Print the CO2e and write the final JSON report (``report["carbon"]`` is set either way)."""
    m = run.measurement
    carbon = carbon_footprint(
        energy_j=m.energy_j,
        duration_s=m.duration_s,
        hardware=report["hardware"],
        settings=settings,
        energy_provenance=energy_provenance(m.source_by_device.values(), estimated=m.estimated),
    )
    report["carbon"] = carbon
    console.print(f"CO2e: {format_carbon(carbon)}")
    if out is None:
        return
    report.update(
        {
            "command": list(run.argv),
            "status": "finished",
            "exit_code": run.exit_code,
            "interrupted": run.interrupted,
            "started_at": run.started_at,
            "schema_version": RESULTS_SCHEMA,
            "measurement": run.measurement.to_dict(),
            "meter": described,
            "carbon": carbon,
        }
    )
    report.pop("so_far", None)
    write_atomic(out, json.dumps(json_safe(report), indent=2) + "\n")
    console.print(f"wrote {out}")


@contextlib.contextmanager
def _serving(meter: EnergyMeter, serve: str | None, command: list[str]) -> Iterator[Any]:
    """A Prometheus exporter of ``meter`` while the block runs (None without --serve); closed at the end."""
    if serve is None:
        yield None
        return
    from powertrain.integrations.prometheus import EnergyExporter, parse_serve

    host, port = parse_serve(serve)
    meter.start()  # the exporter's zero is the energy when the command starts
    exporter = EnergyExporter(meter, run=Path(command[0]).name, host=host, port=port).start()
    try:
        yield exporter
    finally:
        exporter.close()


class _PartialWriter:
    """Writes the report with the energy so far (``status: running``) about once a second while COMMAND runs.

    A ``measure`` killed with SIGKILL still leaves its energy up to the last second on disk.
    """

    def __init__(self, out: Path | None, report: dict[str, Any], meter: EnergyMeter, period_s: float = 1.0) -> None:
        self.out, self.report, self.meter, self.period_s = out, report, meter, period_s
        self._written = -math.inf
        self._base_j = meter.energy_j()
        self._base_by_device = meter.energy_by_device_j()
        self._base_machine_j = meter.energy_j(machine=True)

    def __call__(self, elapsed_s: float, power_w: float, energy_j: float) -> None:
        if self.out is None or elapsed_s - self._written < self.period_s:
            return
        self._written = elapsed_s
        by_device = {d: j - self._base_by_device.get(d, 0.0) for d, j in self.meter.energy_by_device_j().items()}
        machine_j = self.meter.energy_j(machine=True) - self._base_machine_j
        self.report["so_far"] = {
            "duration_s": elapsed_s,
            "energy_j": energy_j,
            "energy_by_device_j": by_device,
            "machine_total_j": machine_j,
        }
        write_atomic(self.out, json.dumps(json_safe(self.report), indent=2) + "\n", durable=False)


def _start(command: list[str], meter: EnergyMeter, console: Console, partial: Any) -> CommandRun | int:
    """Run and measure ``command``; a program that cannot start is one line (127, 126, or 2: not a program)."""
    try:
        return _run_with_display(command, meter, console, partial)
    except FileNotFoundError:
        typer.echo(f"powertrain: error: command not found: {command[0]}", err=True)
        return COMMAND_NOT_FOUND
    except PermissionError:
        typer.echo(f"powertrain: error: permission denied: {command[0]}", err=True)
        return COMMAND_NOT_EXECUTABLE
    except OSError as exc:  # ENOEXEC: an executable bit on a file that is not a program
        if exc.errno != errno.ENOEXEC:
            raise
        raise ConfigError(
            f"cannot run {command[0]}: {exc.strerror or exc} (not a program; a script needs a #! line)"
        ) from None


def _run_with_display(command: list[str], meter: EnergyMeter, console: Console, partial: _PartialWriter) -> CommandRun:
    if not console.is_terminal:
        return run_command(command, meter, on_poll=partial)
    with Live(Text("measuring..."), console=console, transient=True, refresh_per_second=4) as live:

        def show(elapsed_s: float, power_w: float, energy_j: float) -> None:
            live.update(Text(f"powertrain: {power_w:7.1f} W  {energy_j:10.1f} J  {elapsed_s:7.1f} s"))
            partial(elapsed_s, power_w, energy_j)

        return run_command(command, meter, on_poll=show)


def _print_summary(console: Console, run: CommandRun) -> None:
    m: Measurement = run.measurement
    title = shlex.join(run.argv).splitlines()[0][:100]
    table = Table(title=f"energy of: {title}", title_justify="left")
    for column in ("device", "source", "run (J)", "machine (J)", "run avg power (W)"):
        table.add_column(column, justify="right" if "(" in column else "left")

    def add(label: str, source: str, energy_j: float, machine_j: float) -> None:
        power_w = energy_j / m.duration_s if m.duration_s > 0 else 0.0
        table.add_row(label, source, f"{energy_j:.1f}", f"{machine_j:.1f}", f"{power_w:.1f}")

    for device, energy_j in m.energy_by_device_j.items():
        source = m.source_by_device[device] + (" (failed)" if device in m.failed_sensors else "")
        add(device, source, energy_j, m.machine_energy_by_device_j.get(device, energy_j))
    if len(m.energy_by_component_j) < len(m.energy_by_device_j):
        for component, energy_j in sorted(m.energy_by_component_j.items()):
            machine_j = sum(j for d, j in m.machine_energy_by_device_j.items() if d.split(":")[0] == component)
            add(f"all {component}", "", energy_j, machine_j)
    all_estimated = bool(m.source_by_device) and set(m.source_by_device.values()) == {"estimated"}
    label = "total, estimated" if all_estimated else ("total, partly estimated" if m.estimated else "total")
    add(f"{label} ({'+'.join(m.total_includes) or 'nothing measured'})", "", m.energy_j, m.machine_total_j)
    console.print(table)
    console.print(_attribution_line(m))
    status = f"duration {m.duration_s:.2f} s, exit code {run.exit_code}"
    console.print(status + (" (interrupted)" if run.interrupted else ""))
    for device, reason in m.failed_sensors.items():
        console.print(f"failed: {device}: {reason}")
    for warning in m.warnings:
        console.print(f"warning: {warning}")


def _attribution_line(m: Measurement) -> str:
    scope = m.attribution.get("scope", "machine")
    if scope == "machine":
        why = m.attribution.get("fallback")
        return "attribution: the whole machine" + (f" ({why})" if why else "")
    who = "COMMAND's process tree" if scope == "process" else f"cgroup {m.attribution.get('path', '')}"
    line = (
        f"attribution: {who}; run {m.energy_j:.1f} J (dynamic {m.dynamic_j:.1f}, idle share {m.static_j:.1f}), "
        f"unattributed {m.unattributed_j:.1f} J (other processes, interrupts, idle capacity)"
    )
    c = m.conditions
    if c:
        line += f"; run CPU {c['run_cpu_s']:.2f} s, other processes {c['others_load']:.2f} CPUs on average"
    return line
