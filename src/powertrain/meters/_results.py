"""Turn a resolved window into a Measurement (private to the meter; called under its lock)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from powertrain.meters._timeline import Boundary, Track
from powertrain.meters.base import Source
from powertrain.meters.measurement import Measurement

if TYPE_CHECKING:
    from powertrain.meters.meter import EnergyMeter
    from powertrain.meters.window import Window

__all__ = ["build_measurement", "power_timeline"]


def build_measurement(meter: EnergyMeter, window: Window) -> Measurement:
    """Energy per device and component between the window's pinned edges."""
    start, end = window._start, window._end
    assert end is not None  # noqa: S101 - internal invariant: only ended windows get here
    tracks: list[Track] = meter._tracks
    duration_s = max(end.t_s - start.t_s, 0.0)
    by_device: dict[str, float] = {}
    by_component: dict[str, float] = {}
    sources: dict[str, Source] = {}
    warnings: list[str] = []
    for track in tracks:
        energy_j = max(end.values_j[track.device] - start.values_j[track.device], 0.0)
        by_device[track.device] = energy_j
        component = track.sensor.component
        by_component[component] = by_component.get(component, 0.0) + energy_j
        sources[track.device] = track.sensor.source
        if track.sensor.kind == "counter" and energy_j == 0.0 and duration_s > 0 and track.live:
            warnings.append(f"{track.device}: counter did not move during this {duration_s:.3g} s window")
    failed = {t.device: t.failed for t in tracks if t.failed is not None and t.last_good_t < end.t_s}
    warnings.extend(msg for t0_s, t1_s, msg in meter._events if t1_s >= start.t_s and t0_s <= end.t_s)
    if not tracks:
        warnings.append("no energy sensor could be read: nothing was measured")
    energy_j = sum(by_component.values())
    return Measurement(
        name=window.name,
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
        timeline=power_timeline(tracks, start, end, max_points=meter.timeline_points),
        start_s=start.t_s,
    )


def power_timeline(
    tracks: Sequence[Track], start: Boundary, end: Boundary, *, max_points: int
) -> tuple[tuple[float, float], ...]:
    """Total power between the edges as ``(seconds since start, watts)``, at most ``max_points`` points.

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
    times = [t0_s, *inner, t1_s]
    cumulative = [sum(start.values_j[t.device] for t in tracks)]
    cumulative += [sum(track.series.value_at(t_s) for track in tracks) for t_s in inner]
    cumulative.append(sum(end.values_j[t.device] for t in tracks))
    points = []
    for i in range(len(times) - 1):
        dt_s = times[i + 1] - times[i]
        if dt_s > 0:
            power_w = max((cumulative[i + 1] - cumulative[i]) / dt_s, 0.0)
            points.append(((times[i] + times[i + 1]) / 2 - t0_s, power_w))
    return tuple(points)
