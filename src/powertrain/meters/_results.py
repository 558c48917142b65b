"""Turn a resolved window's edges into a Measurement (private to the meter; the meter calls it under its lock).

Everything comes in through :class:`WindowInputs`, which the meter fills from its state; nothing here reads the
meter itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from powertrain.meters._attributor import CPU_KEY
from powertrain.meters._cpustat import COLUMNS, cpu_frequency_mhz, cpu_topology
from powertrain.meters._timeline import Boundary, Track
from powertrain.meters.base import Sensor, Source
from powertrain.meters.measurement import Measurement

__all__ = ["WindowInputs", "build_measurement", "describe_conditions", "describe_sensors", "power_timeline"]

MACHINE, DYNAMIC, STATIC, SHARED, UNSPLIT = range(5)


@dataclass(frozen=True)
class WindowInputs:
    """What the meter hands over to build one window's measurement.

    Attributes:
        name: The window's name.
        start: Its pinned start edge.
        end: Its pinned end edge.
        tracks: The meter's tracks (sensor, series, failure).
        events: ``(t0_s, t1_s, message)`` warnings of the meter.
        timeline_points: Most points of the power timeline.
        attribution: The scope's description (``Attributor.describe()``).
        rules: Device -> how its energy was attributed.
        others_between: ``(device, t0_s, t1_s) -> count`` of other processes seen on a GPU.
        logical_cpus: Logical CPUs of the machine (for the conditions).
    """

    name: str
    start: Boundary
    end: Boundary
    tracks: Sequence[Track]
    events: Sequence[tuple[float, float, str]]
    timeline_points: int
    attribution: dict[str, Any]
    rules: dict[str, str]
    others_between: Callable[[str, float, float], int]
    logical_cpus: int


def build_measurement(inputs: WindowInputs) -> Measurement:
    """Energy per device and component between the window's pinned edges, the run's and the machine's."""
    start, end, tracks = inputs.start, inputs.end, inputs.tracks
    duration_s = max(end.t_s - start.t_s, 0.0)
    by_device: dict[str, float] = {}
    machine: dict[str, float] = {}
    by_component: dict[str, float] = {}
    sources: dict[str, Source] = {}
    warnings: list[str] = []
    devices: dict[str, Any] = {}
    dynamic_j = static_j = 0.0
    for track in tracks:
        delta = [max(b - a, 0.0) for a, b in zip(start.values[track.device], end.values[track.device], strict=True)]
        machine[track.device] = delta[MACHINE]
        run_j = min(delta[DYNAMIC] + delta[STATIC], delta[MACHINE])
        by_device[track.device] = run_j
        dynamic_j += min(delta[DYNAMIC], run_j)
        static_j += run_j - min(delta[DYNAMIC], run_j)
        component = track.sensor.component
        by_component[component] = by_component.get(component, 0.0) + run_j
        sources[track.device] = track.sensor.source
        devices[track.device] = _device_attribution(inputs, track, delta)
        if track.sensor.kind == "counter" and delta[MACHINE] == 0.0 and duration_s > 0 and track.live:
            warnings.append(f"{track.device}: counter did not move during this {duration_s:.3g} s window")
    failed = {t.device: t.failed for t in tracks if t.failed is not None and t.last_good_t < end.t_s}
    warnings.extend(msg for t0_s, t1_s, msg in inputs.events if t1_s >= start.t_s and t0_s <= end.t_s)
    if not tracks:
        warnings.append("no energy sensor could be read: nothing was measured")
    energy_j = sum(by_component.values())
    machine_j = sum(machine.values())
    return Measurement(
        name=inputs.name,
        duration_s=duration_s,
        energy_j=energy_j,
        total_includes=tuple(sorted(by_component)),
        energy_by_component_j=by_component,
        energy_by_device_j=by_device,
        avg_power_w=energy_j / duration_s if duration_s > 0 else 0.0,
        source_by_device=sources,
        estimated=any(source == "estimated" for source in sources.values()),
        failed_sensors=failed,
        warnings=tuple(dict.fromkeys(warnings)),
        timeline=power_timeline(tracks, start, end, max_points=inputs.timeline_points),
        start_s=start.t_s,
        machine_total_j=machine_j,
        machine_energy_by_device_j=machine,
        unattributed_j=max(machine_j - energy_j, 0.0),
        dynamic_j=dynamic_j,
        static_j=static_j,
        attribution={**inputs.attribution, "devices": devices},
        conditions=_conditions(start, end, duration_s, inputs.logical_cpus),
    )


def _device_attribution(inputs: WindowInputs, track: Track, delta: list[float]) -> dict[str, Any]:
    entry: dict[str, Any] = {"rule": inputs.rules.get(track.device, "whole device")}
    if delta[SHARED] > 0:
        others = inputs.others_between(track.device, inputs.start.t_s, inputs.end.t_s)
        entry.update(shared_s=delta[SHARED], unsplit_s=delta[UNSPLIT], other_processes=others)
        entry["status"] = "shared, not attributed" if delta[UNSPLIT] > 0 else "shared, split by utilisation"
    return entry


def _conditions(start: Boundary, end: Boundary, duration_s: float, logical_cpus: int) -> dict[str, Any]:
    if CPU_KEY not in start.values or CPU_KEY not in end.values:
        return {}
    deltas = [max(b - a, 0.0) for a, b in zip(start.values[CPU_KEY], end.values[CPU_KEY], strict=True)]
    d = dict(zip(COLUMNS, deltas, strict=True))
    others_s = max(d["process_s"] - d["run_s"], 0.0)
    return {
        "run_cpu_s": d["run_s"],
        "others_cpu_s": others_s,
        "irq_cpu_s": d["irq_s"],
        "steal_cpu_s": d["steal_s"],
        "run_cpus": d["run_s"] / duration_s if duration_s > 0 else 0.0,
        "others_load": others_s / duration_s if duration_s > 0 else 0.0,
        "logical_cpus": logical_cpus,
    }


def power_timeline(
    tracks: Sequence[Track], start: Boundary, end: Boundary, *, max_points: int
) -> tuple[tuple[float, float], ...]:
    """The run's total power between the edges as ``(seconds since start, watts)``, at most ``max_points`` points.

    Points sit between knots of the series (or on an even grid when there are more knots than points),
    so each one is the average power over its interval.
    """
    t0_s, t1_s = start.t_s, end.t_s
    if not tracks or t1_s <= t0_s:
        return ()
    if sum(track.series.count_between(t0_s, t1_s) for track in tracks) < max_points:
        inner = sorted({t for track in tracks for t in track.series.knots_between(t0_s, t1_s)})
    else:
        step_s = (t1_s - t0_s) / max_points
        inner = [t0_s + i * step_s for i in range(1, max_points)]

    def run_j(values: Sequence[float]) -> float:
        return values[DYNAMIC] + values[STATIC]

    times = [t0_s, *inner, t1_s]
    cumulative = [sum(run_j(start.values[t.device]) for t in tracks)]
    cumulative += [sum(run_j(track.series.values_at(t_s)) for track in tracks) for t_s in inner]
    cumulative.append(sum(run_j(end.values[t.device]) for t in tracks))
    points = []
    for i in range(len(times) - 1):
        dt_s = times[i + 1] - times[i]
        if dt_s > 0:
            power_w = max((cumulative[i + 1] - cumulative[i]) / dt_s, 0.0)
            points.append(((times[i] + times[i + 1]) / 2 - t0_s, power_w))
    return tuple(points)


def describe_sensors(sensors: Sequence[Sensor], tracks: Sequence[Track]) -> dict[str, Any]:
    """``{"sensors": [...], "failures": {...}}`` for ``EnergyMeter.describe()``."""
    by_device = {track.device: track for track in tracks}
    described = []
    for sensor in sensors:
        track = by_device.get(sensor.device)
        described.append(
            {
                "name": sensor.name,
                "device": sensor.device,
                "component": sensor.component,
                "kind": sensor.kind,
                "source": sensor.source,
                "null": sensor.is_null,
                "failed": track.failed if track else None,
                "samples": track.samples if track else 0,
                "resets": track.resets if track else 0,
            }
        )
    return {"sensors": described, "failures": {t.device: t.failed for t in tracks if t.failed}}


def describe_conditions(sensors: Sequence[Sensor]) -> dict[str, Any]:
    """The machine's conditions now: CPU frequency and topology, each GPU's clocks and power limit (where readable)."""
    logical, physical = cpu_topology()
    conditions: dict[str, Any] = {"cpu_frequency_mhz": cpu_frequency_mhz(), "logical_cpus": logical}
    conditions["physical_cores"] = physical
    devices = {s.device: found for s in sensors if not s.is_null and (found := s.conditions())}
    if devices:
        conditions["devices"] = devices
    return conditions
