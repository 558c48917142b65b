"""RAPL sensors against a fake powercap tree in the real sysfs format."""

from __future__ import annotations

import pytest

from powertrain.errors import SensorError, SensorPermissionError, SensorUnavailable
from powertrain.meters import EnergyMeter, discover_sensors
from powertrain.meters.rapl import RaplSensor, find_rapl_zones
from powertrain.meters.testing import FakeClock, FakePowercap


def test_zones_are_packages_and_dram_but_not_core_or_psys(tmp_path):
    FakePowercap(tmp_path, sockets=2)
    zones = find_rapl_zones(tmp_path)
    assert [(z.device, z.component) for z in zones] == [
        ("cpu:package-0", "cpu"),
        ("cpu:dram-0", "dram"),
        ("cpu:package-1", "cpu"),
        ("cpu:dram-1", "dram"),
    ]
    assert zones[1].path == tmp_path / "intel-rapl:0" / "intel-rapl:0:1"


def test_missing_powercap_root_is_unavailable_with_the_path(tmp_path):
    with pytest.raises(SensorUnavailable, match="not present"):
        find_rapl_zones(tmp_path / "nope")


def _package(tmp_path, clock, **kwargs) -> tuple[FakePowercap, RaplSensor]:
    tree = FakePowercap(tmp_path, **kwargs)
    return tree, RaplSensor(find_rapl_zones(tmp_path)[0], clock=clock)


def test_reads_microjoules_as_joules(tmp_path):
    clock = FakeClock()
    tree, sensor = _package(tmp_path, clock)
    tree.set_energy("cpu:package-0", 2_500_000)
    reading = sensor.read()
    assert reading.energy_j == pytest.approx(2.5)
    assert reading.power_w is None and reading.warnings == ()
    assert (sensor.device, sensor.component, sensor.kind, sensor.source) == (
        "cpu:package-0",
        "cpu",
        "counter",
        "counter",
    )


def test_one_wrap_between_reads_is_added_back(tmp_path):
    clock = FakeClock()
    tree, sensor = _package(tmp_path, clock, max_energy_range_uj=1_000_000)
    tree.set_energy("cpu:package-0", 900_000)
    assert sensor.read().energy_j == pytest.approx(0.9)
    clock.advance(0.01)
    tree.set_energy("cpu:package-0", 100_000)  # wrapped once: +0.2 J
    assert sensor.read().energy_j == pytest.approx(1.1)


def test_several_wraps_over_several_reads_are_all_counted(tmp_path):
    clock = FakeClock()
    tree, sensor = _package(tmp_path, clock, max_energy_range_uj=1_000_000)
    energies = []
    for raw in [0, 600_000, 200_000, 800_000, 400_000, 0, 900_000]:  # 3 wraps, each seen
        tree.set_energy("cpu:package-0", raw)
        energies.append(sensor.read().energy_j)
        clock.advance(0.0001)  # 1 J at the default 1000 W bound lasts 1 ms
    assert energies == pytest.approx([0.0, 0.6, 1.2, 1.8, 2.4, 3.0, 3.9])
    assert sensor.possible_missed_wraps == 0


def test_several_wraps_between_two_reads_cannot_be_seen_but_are_reported(tmp_path):
    clock = FakeClock()
    # 1 J range at up to 10 W: a wrap can hide after 0.1 s
    tree, sensor = _package(tmp_path, clock, max_energy_range_uj=1_000_000, max_power_uw=10_000_000)
    assert sensor.max_read_interval_s == pytest.approx(0.1)
    tree.set_energy("cpu:package-0", 100_000)
    sensor.read()
    clock.advance(0.35)  # at 10 W that is 3.5 J: three whole wraps plus 0.5 J
    tree.set_energy("cpu:package-0", 600_000)
    reading = sensor.read()
    assert reading.energy_j == pytest.approx(0.6)  # only the visible 0.5 J is counted...
    assert len(reading.warnings) == 1 and "wrap" in reading.warnings[0]  # ...and the reader is told
    assert sensor.possible_missed_wraps == 1
    clock.advance(0.05)
    assert sensor.read().warnings == ()


def test_meter_reads_rapl_often_enough_and_reports_missed_wraps(tmp_path):
    clock = FakeClock()
    tree, sensor = _package(tmp_path, clock, max_energy_range_uj=1_000_000, max_power_uw=10_000_000)
    meter = EnergyMeter([sensor], sample_period_s=1.0, clock=clock)
    assert meter.describe()["sample_period_s"] == pytest.approx(0.025)
    manual = EnergyMeter([sensor], sample_period_s=None, clock=clock)
    with manual:
        with manual.window("w") as w:
            clock.advance(0.5)
            tree.set_energy("cpu:package-0", 300_000)
            manual.sample()
    assert any("wrap" in warning for warning in w.measurement.warnings)


def test_unreadable_energy_file_raises_permission_error_with_a_fix(tmp_path, monkeypatch):
    FakePowercap(tmp_path)
    zone = find_rapl_zones(tmp_path)[0]

    def deny(path, flags):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("powertrain.meters.rapl.os.open", deny)
    with pytest.raises(SensorPermissionError, match="chmod"):
        RaplSensor(zone)
    # auto-discovery degrades instead: no RAPL sensor, the CPU estimate takes over
    sensors = discover_sensors(gpu_indices=[], rapl_root=tmp_path)
    assert [s.device for s in sensors] == ["cpu:estimate"]


def test_malformed_zone_is_unavailable(tmp_path):
    tree = FakePowercap(tmp_path)
    (tree.zones["cpu:package-0"] / "max_energy_range_uj").write_text("garbage\n")
    with pytest.raises(SensorUnavailable, match="max_energy_range_uj"):
        RaplSensor(find_rapl_zones(tmp_path)[0])


def test_read_after_close_raises_sensor_error(tmp_path):
    _, sensor = _package(tmp_path, FakeClock())
    sensor.close()
    sensor.close()  # idempotent
    with pytest.raises(SensorError, match="closed"):
        sensor.read()
