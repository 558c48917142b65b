"""The utilisation-based CPU estimate."""

from __future__ import annotations

from collections import namedtuple

import pytest

from powertrain.errors import ConfigError
from powertrain.meters import CpuEstimateSensor, EnergyMeter
from powertrain.meters.testing import FakeClock

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait guest guest_nice")


def scripted_cpu_times(monkeypatch, samples):
    it = iter(samples)
    monkeypatch.setattr("powertrain.meters.estimate.psutil.cpu_times", lambda: next(it))


def test_power_is_busy_fraction_times_cores_times_watts_per_core(monkeypatch):
    scripted_cpu_times(
        monkeypatch,
        [
            CpuTimes(0, 0, 0, 0, 0, 0, 0),
            CpuTimes(30, 0, 10, 50, 10, 5, 0),  # busy 40 of 100 (guest is inside user)
            CpuTimes(30, 0, 10, 50, 10, 5, 0),  # no tick since: the last figure, not 0 W or a division by zero
        ],
    )
    sensor = CpuEstimateSensor(per_core_power_w=5.0, cores=8, clock=FakeClock(3.0))
    reading = sensor.read()
    assert reading.power_w == pytest.approx(0.4 * 8 * 5.0)
    assert reading.timestamp_s == 3.0
    assert sensor.read().power_w == pytest.approx(0.4 * 8 * 5.0)
    assert (sensor.kind, sensor.source, sensor.component) == ("power", "estimated", "cpu")


def test_meter_labels_estimated_cpu_energy(monkeypatch):
    scripted_cpu_times(monkeypatch, [CpuTimes(10 * i, 0, 0, 10 * i, 0, 0, 0) for i in range(10)])  # 50 % busy
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=2, clock=clock)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock) as meter:
        with meter.window("w") as w:
            clock.advance(4.0)
            meter.sample()
    m = w.measurement
    assert m.energy_j == pytest.approx(40.0)  # 10 W for 4 s
    assert m.estimated and m.source_by_device == {"cpu:estimate": "estimated"}


@pytest.mark.parametrize("kwargs", [{"per_core_power_w": -1.0}, {"cores": -2}])
def test_bad_figures_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        CpuEstimateSensor(**kwargs)


@pytest.mark.parametrize("interval_s", [0.001, 0.003, 0.01, 0.1])
def test_energy_is_the_same_at_any_sampling_interval(monkeypatch, interval_s):
    """/proc/stat moves in 10 ms ticks: reads faster than that must not fall to 0 W (measure --interval 0.001)."""
    clock = FakeClock()
    cpus = 2
    monkeypatch.setattr("powertrain.meters.estimate.psutil.cpu_count", lambda logical=True: cpus)

    def ticked_times():  # one of two CPUs fully busy, counted in whole 10 ms ticks per CPU
        ticks = int(clock() / 0.01 + 1e-9) * 0.01
        return CpuTimes(ticks, 0, 0, ticks, 0, 0, 0)

    monkeypatch.setattr("powertrain.meters.estimate.psutil.cpu_times", ticked_times)
    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=cpus, clock=clock)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock) as meter:
        with meter.window("busy") as w:
            for _ in range(round(2.0 / interval_s)):
                clock.advance(interval_s)
                meter.sample()
    assert w.measurement.energy_j == pytest.approx(10.0 * 2.0, rel=0.05)  # half of 2 cores x 10 W for 2 s
