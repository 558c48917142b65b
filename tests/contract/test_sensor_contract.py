"""The contract every Sensor backend keeps. Each backend subclasses SensorContract with a `sensor` fixture.

The contract: valid labels (component, kind, source), ``read()`` returns a Reading with exactly the field
its kind promises, counters never go down between ordinary reads, power is never negative, timestamps never
go backwards, and ``close()`` is idempotent (also through the context manager).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import pynvml
import pytest

from powertrain.meters import (
    CpuEstimateSensor,
    NullSensor,
    NvmlEnergySensor,
    NvmlPowerSensor,
    RaplSensor,
    Reading,
    ScriptedCounterSensor,
    ScriptedPowerSensor,
    Sensor,
)
from powertrain.meters.base import Component, SensorKind, Source
from powertrain.meters.rapl import find_rapl_zones
from powertrain.meters.testing import FakeClock, FakePowercap


class SensorContract:
    """Subclasses provide a ``sensor`` fixture and optionally ``advance()`` to move the device on."""

    @pytest.fixture
    def sensor(self) -> Iterator[Sensor]:
        raise NotImplementedError

    def advance(self, step: int) -> None:
        """Let the device use some energy before the next read (no-op by default)."""

    def test_labels(self, sensor: Sensor) -> None:
        assert sensor.component in get_args(Component)
        assert sensor.kind in get_args(SensorKind)
        assert sensor.source in get_args(Source)
        assert isinstance(sensor.device, str) and sensor.device
        assert isinstance(sensor.name, str) and sensor.name
        if sensor.kind == "power":
            assert sensor.source in ("integrated", "estimated")
        assert sensor.device in repr(sensor)

    def test_read_returns_the_field_its_kind_promises(self, sensor: Sensor) -> None:
        reading = sensor.read()
        assert isinstance(reading, Reading)
        assert isinstance(reading.timestamp_s, float)
        if sensor.kind == "counter":
            assert reading.energy_j is not None and reading.power_w is None
        else:
            assert reading.power_w is not None and reading.energy_j is None

    def test_successive_reads_are_monotonic(self, sensor: Sensor) -> None:
        readings = []
        for step in range(5):
            readings.append(sensor.read())
            self.advance(step)
        times = [r.timestamp_s for r in readings]
        assert times == sorted(times)
        if sensor.kind == "counter":
            energies = [r.energy_j for r in readings]
            assert energies == sorted(energies)
        else:
            assert all(r.power_w >= 0 for r in readings)

    def test_close_is_idempotent_and_context_managed(self, sensor: Sensor) -> None:
        with sensor as same:
            assert same is sensor
        sensor.close()


class TestScriptedCounter(SensorContract):
    @pytest.fixture
    def sensor(self):
        self.clock = FakeClock()
        return ScriptedCounterSensor(lambda t: 42.0 * t, clock=self.clock)

    def advance(self, step):
        self.clock.advance(0.1)


class TestScriptedPower(SensorContract):
    @pytest.fixture
    def sensor(self):
        return ScriptedPowerSensor([10.0, 20.0, 15.0], device="cpu:0", component="cpu", clock=FakeClock())


class TestNull(SensorContract):
    @pytest.fixture
    def sensor(self):
        return NullSensor()


class TestCpuEstimate(SensorContract):
    @pytest.fixture
    def sensor(self):
        return CpuEstimateSensor()


class TestRapl(SensorContract):
    @pytest.fixture
    def sensor(self, tmp_path):
        self.tree = FakePowercap(tmp_path, max_energy_range_uj=1_000_000)
        self.clock = FakeClock()
        sensor = RaplSensor(find_rapl_zones(tmp_path)[0], clock=self.clock)
        yield sensor
        sensor.close()

    def advance(self, step):  # 0.4 J per step: wraps on the way and must stay monotonic
        self.clock.advance(0.0001)
        self.tree.set_energy("cpu:package-0", (step + 1) * 400_000 % 1_000_000)


class TestNvmlCounter(SensorContract):
    @pytest.fixture
    def sensor(self, mocker):
        nv = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = (1000 * i for i in range(100))
        sensor = NvmlEnergySensor(0, 0)
        yield sensor
        sensor.close()


class TestNvmlPower(SensorContract):
    @pytest.fixture
    def sensor(self, mocker):
        nv = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
        nv.nvmlDeviceGetPowerUsage.return_value = 300_000
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return NvmlPowerSensor(0, 0)
