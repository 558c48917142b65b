"""Find the sensors this machine offers, and explain the ones it does not.

Preference order per device: the NVML energy counter, else NVML power integration for each GPU; RAPL
package and DRAM zones for the CPU; a utilisation-based CPU estimate when no RAPL package zone covers
the CPU; a :class:`~powertrain.meters.base.NullSensor` when nothing at all can be read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from powertrain.errors import SensorError, SensorUnavailable
from powertrain.meters.base import Clock, NullSensor, Sensor, SensorStatus
from powertrain.meters.estimate import DEFAULT_CORE_POWER_W, CpuEstimateSensor
from powertrain.meters.nvml import NvmlEnergySensor, NvmlPowerSensor, nvml_session, visible_gpus
from powertrain.meters.rapl import DEFAULT_RAPL_ROOT, RaplSensor, find_rapl_zones

__all__ = ["discover_sensors", "sensor_report"]

logger = logging.getLogger(__name__)


def discover_sensors(
    *,
    gpu_indices: Sequence[int] | None = None,
    rapl_root: Path | str | None = DEFAULT_RAPL_ROOT,
    cpu_estimate: bool = True,
    clock: Clock = time.monotonic,
) -> list[Sensor]:
    """Create a new sensor for every device that can be measured; the caller closes them.

    Sensors that were only auto-discovered and fail are left out with a log line. GPUs asked for by
    index must work, or this raises.

    Args:
        gpu_indices: CUDA indices of the GPUs to measure (respecting ``CUDA_VISIBLE_DEVICES``).
            None: every visible GPU that works. ``[]``: no GPU.
        rapl_root: Root of the powercap tree (tests pass a fake one); None skips RAPL.
        cpu_estimate: Add a CPU estimate when no RAPL package zone covers the CPU.
        clock: Time source for the sensors' readings.

    Returns:
        A non-empty list: a :class:`NullSensor` alone when nothing can be read.

    Raises:
        SensorUnavailable: A GPU in ``gpu_indices`` is not visible or has no NVML sensor (the message
            says why and how to fix it).
        SensorPermissionError: A GPU in ``gpu_indices`` may not be queried by this user.
    """
    sensors: list[Sensor] = []
    try:
        sensors += _gpu_sensors(gpu_indices, clock)
    except SensorError:
        for sensor in sensors:
            sensor.close()
        raise
    if rapl_root is not None:
        sensors += _rapl_sensors(Path(rapl_root), clock)
    if cpu_estimate and not any(s.component == "cpu" for s in sensors):
        sensors.append(CpuEstimateSensor(clock=clock))
        logger.info("no CPU energy sensor: estimating CPU power from utilisation (labelled estimated)")
    if not sensors:
        logger.warning("no energy sensor found: energy will not be measured")
        sensors.append(NullSensor(clock=clock))
    return sensors


def _gpu_sensors(gpu_indices: Sequence[int] | None, clock: Clock) -> list[Sensor]:
    explicit = gpu_indices is not None
    if explicit and not gpu_indices:
        return []
    try:
        with nvml_session():
            visible = visible_gpus()
            wanted = list(gpu_indices) if gpu_indices is not None else [cuda for cuda, _, _ in visible]
            by_cuda = {cuda: (nvml, detail) for cuda, nvml, detail in visible}
            sensors: list[Sensor] = []
            try:
                for cuda_index in wanted:
                    sensor = _one_gpu(cuda_index, by_cuda, explicit=explicit, clock=clock)
                    if sensor is not None:
                        sensors.append(sensor)
            except SensorError:
                for sensor in sensors:
                    sensor.close()
                raise
            return sensors
    except SensorError as exc:
        if explicit:
            raise
        logger.info("no GPU energy sensor: %s", exc)
        return []


def _one_gpu(
    cuda_index: int, by_cuda: dict[int, tuple[int | None, str]], *, explicit: bool, clock: Clock
) -> Sensor | None:
    if cuda_index not in by_cuda:
        raise SensorUnavailable(
            f"GPU {cuda_index} is not visible: CUDA sees {len(by_cuda)} GPU(s) "
            "(check CUDA_VISIBLE_DEVICES and `nvidia-smi`; indices count visible GPUs from 0)"
        )
    nvml_index, detail = by_cuda[cuda_index]
    try:
        if nvml_index is None:
            raise SensorUnavailable(f"gpu:{cuda_index}: {detail}; expose the whole GPU to measure it")
        try:
            return NvmlEnergySensor(cuda_index, nvml_index, clock=clock)
        except SensorUnavailable as exc:
            logger.info("gpu:%d has no energy counter (%s); integrating NVML power instead", cuda_index, exc)
            return NvmlPowerSensor(cuda_index, nvml_index, clock=clock)
    except SensorError as exc:
        if explicit:
            raise
        logger.warning("gpu:%d cannot be measured and is left out: %s", cuda_index, exc)
        return None


def _rapl_sensors(root: Path, clock: Clock) -> list[Sensor]:
    try:
        zones = find_rapl_zones(root)
    except SensorUnavailable as exc:
        logger.info("%s", exc)
        return []
    sensors: list[Sensor] = []
    for zone in zones:
        try:
            sensors.append(RaplSensor(zone, clock=clock))
        except SensorError as exc:
            logger.warning("%s is left out: %s", zone.device, exc)
    return sensors


def sensor_report(*, rapl_root: Path | str = DEFAULT_RAPL_ROOT) -> list[SensorStatus]:
    """Say, for every sensor kind, whether it works here and why (for ``powertrain info``).

    Args:
        rapl_root: Root of the powercap tree (tests pass a fake one).

    Returns:
        One status per kind: nvml-counter, nvml-power, rapl-package, rapl-dram, cpu-estimate, null.
    """
    return [*_nvml_report(), *_rapl_report(Path(rapl_root)), *_fallback_report()]


def _nvml_report() -> list[SensorStatus]:
    counter: list[str] = []
    power: list[str] = []
    problems: list[str] = []
    try:
        with nvml_session():
            visible = visible_gpus()
            for cuda_index, nvml_index, detail in visible:
                if nvml_index is None:
                    problems.append(f"gpu:{cuda_index}: {detail}")
                    continue
                for cls, found in ((NvmlEnergySensor, counter), (NvmlPowerSensor, power)):
                    try:
                        cls(cuda_index, nvml_index).close()
                        found.append(f"gpu:{cuda_index}")
                    except SensorError as exc:
                        problems.append(str(exc))
    except SensorError as exc:
        return [SensorStatus("nvml-counter", False, str(exc)), SensorStatus("nvml-power", False, str(exc))]
    if not visible:
        reason = "NVML works but no GPU is visible (check CUDA_VISIBLE_DEVICES)"
        return [SensorStatus("nvml-counter", False, reason), SensorStatus("nvml-power", False, reason)]
    why_not = "; ".join(dict.fromkeys(problems)) or "no visible GPU supports it"
    return [
        SensorStatus(
            "nvml-counter",
            bool(counter),
            "GPU energy counter (most accurate)" if counter else why_not,
            tuple(counter),
        ),
        SensorStatus(
            "nvml-power",
            bool(power),
            "GPU power, integrated; used only for GPUs without the counter" if power else why_not,
            tuple(power),
        ),
    ]


def _rapl_report(root: Path) -> list[SensorStatus]:
    try:
        zones = find_rapl_zones(root)
    except SensorUnavailable as exc:
        return [SensorStatus("rapl-package", False, str(exc)), SensorStatus("rapl-dram", False, str(exc))]
    statuses = []
    for kind, component in (("rapl-package", "cpu"), ("rapl-dram", "dram")):
        readable: list[str] = []
        problems: list[str] = []
        for zone in (z for z in zones if z.component == component):
            try:
                RaplSensor(zone).close()
                readable.append(zone.device)
            except SensorError as exc:
                problems.append(str(exc))
        if readable:
            reason = f"RAPL {component} energy counter under {root}"
        else:
            reason = "; ".join(problems) or f"RAPL: no {component} zone under {root}"
        statuses.append(SensorStatus(kind, bool(readable), reason, tuple(readable)))
    return statuses


def _fallback_report() -> list[SensorStatus]:
    estimate = CpuEstimateSensor()
    return [
        SensorStatus(
            "cpu-estimate",
            True,
            f"utilisation x {estimate.cores} cores x {DEFAULT_CORE_POWER_W:g} W per busy core; used when no "
            "RAPL package zone covers the CPU, always labelled estimated",
            (estimate.device,),
        ),
        SensorStatus("null", True, "measures nothing; used only when no other sensor can be read", ("none",)),
    ]
