"""discover_sensors and sensor_report on a machine without NVML, with a fake powercap tree."""

from __future__ import annotations

import pynvml
import pytest

from powertrain.meters import CpuEstimateSensor, NullSensor, RaplSensor, discover_sensors, sensor_report
from powertrain.meters.testing import FakePowercap


@pytest.fixture
def no_nvml(mocker):
    nv = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    return nv


def test_rapl_covers_the_cpu_so_no_estimate_is_added(tmp_path, no_nvml):
    FakePowercap(tmp_path)
    sensors = discover_sensors(rapl_root=tmp_path)
    assert [(type(s), s.device) for s in sensors] == [
        (RaplSensor, "cpu:package-0"),
        (RaplSensor, "cpu:dram-0"),
    ]


def test_without_any_cpu_sensor_the_estimate_is_used(tmp_path, no_nvml):
    sensors = discover_sensors(rapl_root=tmp_path / "absent")
    assert [type(s) for s in sensors] == [CpuEstimateSensor]


def test_dram_alone_does_not_cover_the_cpu(tmp_path, no_nvml):
    tree = FakePowercap(tmp_path)
    (tree.zones["cpu:package-0"] / "name").write_text("not-a-package\n")
    devices = [s.device for s in discover_sensors(rapl_root=tmp_path)]
    assert devices == ["cpu:dram-0", "cpu:estimate"]


def test_nothing_at_all_gives_a_null_sensor(no_nvml):
    sensors = discover_sensors(rapl_root=None, cpu_estimate=False)
    assert len(sensors) == 1 and isinstance(sensors[0], NullSensor)


def test_discovery_returns_new_objects_every_time(tmp_path, no_nvml):
    FakePowercap(tmp_path)
    first, second = discover_sensors(rapl_root=tmp_path), discover_sensors(rapl_root=tmp_path)
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_report_lists_every_kind_with_a_reason(tmp_path, no_nvml):
    FakePowercap(tmp_path, sockets=2, dram=False)
    statuses = {s.kind: s for s in sensor_report(rapl_root=tmp_path)}
    assert list(statuses) == ["nvml-counter", "nvml-power", "rapl-package", "rapl-dram", "cpu-estimate", "null"]
    assert not statuses["nvml-counter"].available and "driver" in statuses["nvml-counter"].reason
    assert statuses["rapl-package"].available
    assert statuses["rapl-package"].devices == ("cpu:package-0", "cpu:package-1")
    assert not statuses["rapl-dram"].available and "no dram zone" in statuses["rapl-dram"].reason
    assert statuses["cpu-estimate"].available and "estimated" in statuses["cpu-estimate"].reason


def test_report_without_powercap_says_so(tmp_path, no_nvml):
    statuses = {s.kind: s for s in sensor_report(rapl_root=tmp_path / "absent")}
    assert "not present" in statuses["rapl-package"].reason
    assert not statuses["rapl-package"].available
