"""Energy sensors and the EnergyMeter.

Entry point: :class:`EnergyMeter`. It discovers the sensors of this machine (NVML GPU energy counter or
power, RAPL CPU package and DRAM, else a CPU estimate), samples them in a background thread and measures
named windows::

    from powertrain.meters import EnergyMeter

    with EnergyMeter() as meter:
        for epoch in range(3):
            with meter.window(f"epoch-{epoch}") as w:
                train_one_epoch()
            print(w.measurement.energy_j, w.measurement.source_by_device)

Windows cost a timestamp on the hot path; a measurement's energy is the sampled timeline interpolated at
its edges (see :class:`EnergyMeter` for the exact contract). ``energy_j`` is the *run's* energy: host
energy split by the run's share of CPU time, a shared GPU by its processes' utilisation (``attribution=``
:class:`ProcessTree` (default), :class:`Cgroup` or :class:`Machine`); ``machine_total_j`` stands beside
it. :func:`sensor_report` says which sensor kinds work here and why not; :mod:`powertrain.meters.testing` has
scripted sensors, scripted CPU times and a fake clock for tests.

Errors: an explicitly requested GPU that cannot be measured raises
:class:`~powertrain.errors.SensorUnavailable` (or :class:`~powertrain.errors.SensorPermissionError`);
sensors that were only discovered degrade with a log line, and a sensor failing mid-run is reported in
``Measurement.failed_sensors`` without stopping the run.
"""

from powertrain.meters.attribution import Attribution, Cgroup, Machine, ProcessTree, make_attribution
from powertrain.meters.base import NullSensor, Reading, Sensor, SensorStatus
from powertrain.meters.discovery import discover_sensors, sensor_report
from powertrain.meters.estimate import CpuEstimateSensor
from powertrain.meters.measurement import Measurement
from powertrain.meters.meter import EnergyMeter
from powertrain.meters.nvml import NvmlEnergySensor, NvmlPowerSensor
from powertrain.meters.rapl import RaplSensor
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor, ScriptedPowerSensor
from powertrain.meters.window import Window

__all__ = [
    "Attribution",
    "Cgroup",
    "CpuEstimateSensor",
    "EnergyMeter",
    "FakeClock",
    "Machine",
    "Measurement",
    "NullSensor",
    "NvmlEnergySensor",
    "NvmlPowerSensor",
    "ProcessTree",
    "RaplSensor",
    "Reading",
    "ScriptedCounterSensor",
    "ScriptedPowerSensor",
    "Sensor",
    "SensorStatus",
    "Window",
    "discover_sensors",
    "make_attribution",
    "sensor_report",
]
