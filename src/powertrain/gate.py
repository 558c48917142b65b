"""The energy gate for CI: did this change make training (or a command) cost more energy than the baseline?

``powertrain check RESULT --baseline BASE [--max-increase 5%]`` calls :func:`check_energy` on what :func:`read_energy`
finds at each path: a run folder (its ``summary.json``), a ``powertrain measure --out`` JSON, an integration's
``energy_summary.json`` (Lightning, Hugging Face, Ray Tune, ``EnergyTracker``), or a sweep (its folder or storage URL).

The gate fails when a figure grew by more than the tolerance plus the two measurements' noise::

    increase_j > max_increase * baseline_j + sigmas * sqrt(noise_result_j**2 + noise_baseline_j**2)

A measurement's noise is what its meter cannot place: a window's edges are interpolated between samples, so each
figure is uncertain by about its average power times the sampling period. Repeated measurements (several RESULT
paths, ``--baseline`` given several times) add their spread: the standard error of their mean. The figures compared
are the energy (a run's or command's total, a sweep's whole search) and, when the baseline reached its target, the
energy-to-target (a sweep: its best trial's); a result that no longer reaches the target fails.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powertrain._units import format_joules
from powertrain.errors import ConfigError

__all__ = ["EnergyFigures", "GateResult", "check_energy", "combine", "parse_increase", "read_energy"]


@dataclass(frozen=True)
class EnergyFigures:
    """The figures of one measurement (or the mean of repeats) that the gate compares.

    Attributes:
        kind: ``"run"``, ``"measure"``, ``"summary"`` (an integration's) or ``"sweep"``.
        source: Where it was read (the paths of repeats joined by ``, ``).
        energy_j: The total energy (a sweep: the whole search's).
        noise_j: Its uncertainty, one standard deviation.
        energy_to_target_j: Energy until the target was reached (a sweep: the best trial's); None if not reached.
        has_target: Whether a target was set at all.
        estimated: Whether any of it is estimated (the CPU estimate) rather than measured.
        hardware: A short hardware label (CPU model, GPUs), to warn when the two sides differ.
        repeats: How many measurements were averaged.
    """

    kind: str
    source: str
    energy_j: float
    noise_j: float = 0.0
    energy_to_target_j: float | None = None
    has_target: bool = False
    estimated: bool = False
    hardware: str = ""
    repeats: int = 1
    values_j: tuple[float, ...] = field(default=(), repr=False)


def parse_increase(text: str | float) -> float:
    """``"5%"`` -> 0.05, ``"0.05"`` -> 0.05, ``"12.5 %"`` -> 0.125.

    Raises:
        ConfigError: Not a number or percentage, or negative.
    """
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"--max-increase takes a percentage like 5% or a fraction like 0.05, not {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"--max-increase must be 0 or more, not {text!r}")
    return value


def _hardware_label(hardware: Mapping[str, Any] | None) -> str:
    if not hardware:
        return ""
    gpus = [str(g.get("name", "gpu")) for g in hardware.get("gpus") or []]
    cpu = f"{hardware.get('cpu_model', '?')} x{hardware.get('cpu_logical_cores', '?')}"
    return cpu + (f" + {len(gpus)}x {gpus[0]}" if gpus else "")


def _edge_noise_j(power_w: float, meter: Mapping[str, Any] | None) -> float:
    period_s = float((meter or {}).get("sample_period_s") or 0.1)
    return abs(power_w) * period_s


def _from_run(data: Mapping[str, Any], source: str) -> EnergyFigures:
    energy = data["energy"]
    total_j = float(energy["total_j"])
    duration_s = float(data.get("duration_s") or 0.0)
    power_w = total_j / duration_s if duration_s > 0 else 0.0
    return EnergyFigures(
        kind="run", source=source, energy_j=total_j, noise_j=_edge_noise_j(power_w, data.get("meter")),
        energy_to_target_j=_float(data.get("energy_to_target_j")), has_target=data.get("target_accuracy") is not None,
        estimated=bool(energy.get("estimated")), hardware=_hardware_label(data.get("hardware")),
    )  # fmt: skip


def _from_measure(data: Mapping[str, Any], source: str) -> EnergyFigures:
    m = data["measurement"]
    return EnergyFigures(
        kind="measure", source=source, energy_j=float(m["energy_j"]),
        noise_j=_edge_noise_j(float(m.get("avg_power_w") or 0.0), data.get("meter")),
        estimated=bool(m.get("estimated")), hardware=_hardware_label(data.get("hardware")),
    )  # fmt: skip


def _from_summary(data: Mapping[str, Any], source: str) -> EnergyFigures:
    target = data.get("target") or {}
    return EnergyFigures(
        kind="summary", source=source, energy_j=float(data["energy_j"]),
        noise_j=_edge_noise_j(float(data.get("avg_power_w") or 0.0), None),
        energy_to_target_j=_float(target.get("energy_to_target_j")), has_target=bool(target),
        estimated=bool(data.get("estimated")), hardware=_hardware_label(data.get("hardware")),
    )  # fmt: skip


def _from_sweep(target: str, study: str | None) -> EnergyFigures:
    from powertrain.study import load_sweep

    result = load_sweep(target, study=study)
    trials = [t for t in result.trials if t.spent_j > 0]
    hardware = next((t.get("hardware_info") for t in trials if isinstance(t.get("hardware_info"), Mapping)), None)
    noise = []
    for t in trials:  # each trial's curve: [epoch, energy_j, elapsed_s, accuracy]; its edges at its average power
        curve = t.get("curve") or []
        last = curve[-1] if curve else None
        noise.append(_edge_noise_j(last[1] / last[2], None) if last and last[2] > 0 else 0.0)
    best = result.spread["best_j"]
    return EnergyFigures(
        kind="sweep", source=target, energy_j=float(result.energy["total_j"]),
        noise_j=math.sqrt(sum(n * n for n in noise)), energy_to_target_j=_float(best),
        has_target=result.target_accuracy is not None, estimated=any(bool(t.get("estimated")) for t in trials),
        hardware=_hardware_label(hardware),
    )  # fmt: skip


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} is not a powertrain result (not a JSON object)")
    return data


def read_energy(target: str | Path, *, study: str | None = None) -> EnergyFigures:
    """The figures of one result: a run folder, a ``measure`` JSON, an integration's summary, or a sweep.

    Raises:
        ConfigError: Missing, unreadable, or not a powertrain result (one line).
    """
    text = str(target)
    if "://" in text:
        return _from_sweep(text, study)
    path = Path(text)
    if path.is_dir():
        for name in ("summary.json", "energy_summary.json"):
            if (path / name).is_file():
                return read_energy(path / name)
        if (path / "study.db").is_file():
            return _from_sweep(text, study)
        raise ConfigError(f"{path} holds no summary.json, energy_summary.json or study.db: not a powertrain result")
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    data = _read_json(path)
    try:
        if data.get("kind") == "powertrain-energy-summary":
            return _from_summary(data, text)
        if isinstance(data.get("measurement"), Mapping):
            if data.get("status") != "finished":
                raise ConfigError(f"{path} is a measurement that did not finish (status {data.get('status')!r})")
            return _from_measure(data, text)
        if isinstance(data.get("energy"), Mapping) and "total_j" in data["energy"]:
            return _from_run(data, text)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path} is a damaged powertrain result ({type(exc).__name__}: {exc})") from exc
    raise ConfigError(f"{path} is not a powertrain result (no energy figures)")


def combine(figures: Sequence[EnergyFigures]) -> EnergyFigures:
    """The mean of repeated measurements; its noise adds their standard error to the meters' own.

    Raises:
        ConfigError: No measurement, or repeats of different kinds.
    """
    if not figures:
        raise ConfigError("no measurement to compare")
    if len(figures) == 1:
        return figures[0]
    kinds = {f.kind for f in figures}
    if len(kinds) > 1:
        raise ConfigError(f"repeated measurements must be of one kind, not {', '.join(sorted(kinds))}")
    n = len(figures)
    energies = [f.energy_j for f in figures]
    spread_j = statistics.stdev(energies) / math.sqrt(n)
    meter_j = math.sqrt(sum(f.noise_j**2 for f in figures)) / n
    reached = [f.energy_to_target_j for f in figures]
    to_target = statistics.fmean(reached) if all(r is not None for r in reached) else None  # type: ignore[arg-type]
    return EnergyFigures(
        kind=figures[0].kind, source=", ".join(f.source for f in figures), energy_j=statistics.fmean(energies),
        noise_j=math.hypot(spread_j, meter_j), energy_to_target_j=to_target,
        has_target=any(f.has_target for f in figures), estimated=any(f.estimated for f in figures),
        hardware=figures[0].hardware, repeats=n, values_j=tuple(energies),
    )  # fmt: skip


@dataclass(frozen=True)
class GateResult:
    """The verdict: ``passed``, and one line per figure compared (and per warning)."""

    passed: bool
    lines: list[str]
    changes: dict[str, float]


def _compare(what: str, result_j: float, base_j: float, noise_j: float, max_increase: float, sigmas: float,
             ) -> tuple[bool, str, float]:  # fmt: skip
    increase_j = result_j - base_j
    change = increase_j / base_j if base_j > 0 else (0.0 if increase_j == 0 else math.inf)
    allowed_j = max_increase * base_j + sigmas * noise_j
    moved = f"{format_joules(base_j)} -> {format_joules(result_j)}"
    if increase_j > allowed_j:
        return False, (
            f"FAIL {what} grew {change:+.1%} ({moved}, {increase_j:+.1f} J): more than the allowed "
            f"{max_increase:.1%} ({max_increase * base_j:.1f} J) + noise {sigmas * noise_j:.1f} J"
        ), change  # fmt: skip
    return True, f"ok   {what} {change:+.1%} ({moved}; allowed {max_increase:.1%} + noise {sigmas * noise_j:.1f} J)", \
        change  # fmt: skip


def check_energy(result: EnergyFigures, baseline: EnergyFigures, *, max_increase: float = 0.05,
                 sigmas: float = 2.0) -> GateResult:  # fmt: skip
    """Compare ``result`` with ``baseline``: fail when energy or energy-to-target grew beyond tolerance and noise.

    Args:
        result: The new measurement (or the mean of repeats, :func:`combine`).
        baseline: The reference measurement.
        max_increase: The tolerated growth as a fraction (0.05: 5 %).
        sigmas: How many standard deviations of the combined noise are tolerated on top.
    """
    noise_j = math.hypot(result.noise_j, baseline.noise_j)
    lines, changes, passed = [], {}, True
    ok, line, changes["energy"] = _compare("energy", result.energy_j, baseline.energy_j, noise_j, max_increase, sigmas)
    passed &= ok
    lines.append(line)
    if baseline.energy_to_target_j is not None:
        if result.energy_to_target_j is None:
            passed = False
            lines.append(f"FAIL energy-to-target: the result did not reach the target (the baseline did, with "
                         f"{format_joules(baseline.energy_to_target_j)})")  # fmt: skip
        else:
            ok, line, changes["energy_to_target"] = _compare(
                "energy-to-target", result.energy_to_target_j, baseline.energy_to_target_j, noise_j, max_increase,
                sigmas)  # fmt: skip
            passed &= ok
            lines.append(line)
    elif baseline.has_target:
        lines.append("note energy-to-target not compared: the baseline did not reach its target")
    if result.hardware and baseline.hardware and result.hardware != baseline.hardware:
        lines.append(f"warning: different hardware ({result.hardware} vs {baseline.hardware}): the figures may not "
                     "compare")  # fmt: skip
    if result.estimated != baseline.estimated:
        lines.append("warning: one side is estimated and the other measured: the figures may not compare")
    return GateResult(passed, lines, changes)
