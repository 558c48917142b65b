"""NVML sensors with the vendor library mocked (autospec on the module's ``pynvml`` import)."""

from __future__ import annotations

import pynvml
import pytest

from powertrain.errors import SensorError, SensorPermissionError, SensorUnavailable
from powertrain.meters import CpuEstimateSensor, EnergyMeter, NvmlEnergySensor, NvmlPowerSensor, discover_sensors
from powertrain.meters.nvml import parse_visible_devices, visible_gpus
from powertrain.meters.testing import FakeClock


def nvml_error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


@pytest.fixture
def nv(mocker, monkeypatch):
    """A mocked pynvml with 3 GPUs that have the energy counter; tests adjust it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    mock = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
    mock.nvmlDeviceGetCount.return_value = 3
    mock.nvmlDeviceGetHandleByIndex.side_effect = lambda i: f"handle-{i}"
    mock.nvmlDeviceGetUUID.side_effect = lambda h: f"GPU-{h[-1]}aaa-{h[-1]}"
    mock.nvmlDeviceGetName.side_effect = lambda h: f"NVIDIA H100 #{h[-1]}"
    mock.nvmlDeviceGetTotalEnergyConsumption.return_value = 123_456
    mock.nvmlDeviceGetPowerUsage.return_value = 250_500
    return mock


def test_counter_is_read_in_millijoules_and_converted_once(nv):
    sensor = NvmlEnergySensor(0, 2, clock=FakeClock(7.0))
    reading = sensor.read()
    assert reading.energy_j == pytest.approx(123.456)
    assert reading.timestamp_s == 7.0
    nv.nvmlDeviceGetHandleByIndex.assert_called_with(2)
    nv.nvmlDeviceGetTotalEnergyConsumption.assert_called_with("handle-2")
    assert (sensor.device, sensor.component, sensor.kind, sensor.source) == ("gpu:0", "gpu", "counter", "counter")


def test_power_is_read_in_milliwatts(nv):
    sensor = NvmlPowerSensor(1, 1)
    assert sensor.read().power_w == pytest.approx(250.5)
    assert (sensor.kind, sensor.source) == ("power", "integrated")


def test_init_and_shutdown_are_balanced(nv):
    sensors = discover_sensors(rapl_root=None, cpu_estimate=False)
    assert len(sensors) == 3
    for sensor in sensors:
        sensor.close()
        sensor.close()
    assert nv.nvmlInit.call_count == nv.nvmlShutdown.call_count


def test_gpus_without_the_counter_fall_back_to_power_integration(nv):
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    with pytest.raises(SensorUnavailable, match="not supported"):
        NvmlEnergySensor(0, 0)
    sensors = discover_sensors(gpu_indices=[0], rapl_root=None, cpu_estimate=False)
    assert [type(s) for s in sensors] == [NvmlPowerSensor]
    clock = FakeClock()
    with EnergyMeter(sensors, sample_period_s=None, clock=clock) as meter:
        with meter.window("w") as w:
            clock.advance(2.0)
    assert w.measurement.energy_j == pytest.approx(501.0)
    assert w.measurement.source_by_device == {"gpu:0": "integrated"}


def test_no_driver_degrades_when_discovered_and_raises_when_asked_for(nv):
    nv.nvmlInit.side_effect = nvml_error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    sensors = discover_sensors(rapl_root=None)
    assert [type(s) for s in sensors] == [CpuEstimateSensor]
    with pytest.raises(SensorUnavailable, match="no NVIDIA driver"):
        discover_sensors(gpu_indices=[0], rapl_root=None)


def test_permission_error_is_translated(nv):
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(pynvml.NVML_ERROR_NO_PERMISSION)
    with pytest.raises(SensorPermissionError):
        NvmlEnergySensor(0, 0)
    with pytest.raises(SensorPermissionError):
        discover_sensors(gpu_indices=[0], rapl_root=None)
    assert nv.nvmlInit.call_count == nv.nvmlShutdown.call_count  # nothing leaked on the error path


def test_a_gpu_lost_mid_run_fails_the_sensor_not_the_run(nv):
    sensor = NvmlEnergySensor(0, 0)
    clock = FakeClock()
    with EnergyMeter([sensor], sample_period_s=None, clock=clock) as meter:
        nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
        with pytest.raises(SensorError, match="fell off the bus"):
            sensor.read()
        meter.begin("w")
        clock.advance(1.0)
        m = meter.end("w")
    assert "fell off the bus" in m.failed_sensors["gpu:0"]


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        (None, None),
        ("", []),
        ("0,2", ["0", "2"]),
        ("1, 0", ["1", "0"]),
        ("0,-1,2", ["0"]),
        ("GPU-abc,MIG-def", ["GPU-abc", "MIG-def"]),
        ("0,0", ["0"]),
    ],
)
def test_parse_visible_devices_follows_cuda(value, entries):
    assert parse_visible_devices(value) == entries


def test_cuda_visible_devices_numbers_map_cuda_indices_to_nvml_indices(nv, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    sensors = discover_sensors(rapl_root=None, cpu_estimate=False)
    assert [(s.device, s.nvml_index) for s in sensors] == [("gpu:0", 2), ("gpu:1", 0)]
    with pytest.raises(SensorUnavailable, match="CUDA_VISIBLE_DEVICES"):
        discover_sensors(gpu_indices=[2], rapl_root=None)


def test_cuda_visible_devices_uuids_and_mig_instances(nv, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1aaa,MIG-xyz,GPU-2")
    assert [(cuda, nvml) for cuda, nvml, _ in visible_gpus()] == [(0, 1), (1, None), (2, 2)]
    sensors = discover_sensors(rapl_root=None, cpu_estimate=False)  # the MIG instance is left out
    assert [(s.device, s.nvml_index) for s in sensors] == [("gpu:0", 1), ("gpu:2", 2)]
    with pytest.raises(SensorUnavailable, match="MIG"):
        discover_sensors(gpu_indices=[1], rapl_root=None)


def test_cuda_visible_devices_stops_at_an_invalid_entry(nv, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,0")
    assert [(cuda, nvml) for cuda, nvml, _ in visible_gpus()] == [(0, 1)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert discover_sensors(rapl_root=None, cpu_estimate=False)[0].is_null
