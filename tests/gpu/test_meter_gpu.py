"""The meter on a real GPU: the NVML counter, a real CUDA workload, windows that add up.

Run on the GPU machine: ``pytest -m gpu tests/gpu``.
"""

from __future__ import annotations

import time

import pytest

from powertrain.meters import EnergyMeter, NvmlEnergySensor, discover_sensors
from powertrain.meters.nvml import nvml_session, visible_gpus

pytestmark = pytest.mark.gpu


def _workload(torch, seconds: float) -> None:
    a = torch.randn(4096, 4096, device="cuda")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(8):
            a = torch.tanh(a @ a)
        torch.cuda.synchronize()


def _counter_j(nv, handle) -> float:
    return nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0


def test_discovery_finds_the_gpu_counter():
    sensors = discover_sensors(gpu_indices=[0], rapl_root=None, cpu_estimate=False)
    try:
        assert isinstance(sensors[0], NvmlEnergySensor), "this GPU has no energy counter (pre-Volta?)"
        assert sensors[0].device == "gpu:0"
    finally:
        for sensor in sensors:
            sensor.close()


def test_windows_sum_to_the_counter_on_a_real_workload():
    torch = pytest.importorskip("torch")
    torch.cuda.init()
    with nvml_session() as nv:
        nvml_index = visible_gpus()[0][1]
        handle = nv.nvmlDeviceGetHandleByIndex(nvml_index)
        with EnergyMeter(gpu_indices=[0], sample_period_s=0.05, sync_cuda=True) as meter:
            torch.cuda.synchronize()
            time.sleep(0.3)  # let the counter tick once so the reference read below is fresh
            start_j = _counter_j(nv, handle)
            steps = []
            with meter.window("whole") as whole:
                for _ in range(30):
                    with meter.window("step") as w:
                        _workload(torch, 0.1)
                    steps.append(w)
            end_j = _counter_j(nv, handle)
    total = whole.measurement
    assert total.source_by_device["gpu:0"] == "counter"
    assert total.failed_sensors == {}
    assert total.energy_by_component_j["gpu"] > 0
    step_sum_j = sum(w.measurement.energy_by_device_j["gpu:0"] for w in steps)
    # back-to-back windows add up to the enclosing window (gaps are a few microseconds)
    assert step_sum_j == pytest.approx(total.energy_by_device_j["gpu:0"], rel=1e-3)
    # and the whole window matches raw counter reads around it within the counter's ~100 ms granularity
    assert total.energy_by_device_j["gpu:0"] == pytest.approx(end_j - start_j, rel=0.05)
    assert 20 < total.avg_power_w < 2000
    assert len(total.timeline) > 10
