"""powertrain.hardware.describe_hardware."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pynvml

from powertrain.hardware import describe_hardware

KEYS = {
    "hostname", "os", "cpu_model", "cpu_logical_cores", "cpu_physical_cores", "ram_bytes", "gpu_count", "gpus",
    "gpu_driver", "cuda_visible_devices", "python", "torch", "powertrain",
}  # fmt: skip


def test_describes_cpu_gpus_and_software(tmp_path, mocker, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n")
    nv = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
    nv.nvmlSystemGetDriverVersion.return_value = "580.65"
    nv.nvmlDeviceGetCount.return_value = 2
    nv.nvmlDeviceGetName.return_value = b"NVIDIA H100 80GB HBM3"  # older pynvml returns bytes
    nv.nvmlDeviceGetUUID.return_value = "GPU-1234"
    nv.nvmlDeviceGetMemoryInfo.return_value = SimpleNamespace(total=80 * 2**30)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    info = describe_hardware(cpuinfo_path=cpuinfo)
    assert set(info) == KEYS
    assert info["cpu_model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert info["gpu_count"] == 2
    assert info["gpus"][1] == {
        "nvml_index": 1,
        "name": "NVIDIA H100 80GB HBM3",
        "memory_bytes": 80 * 2**30,
        "uuid": "GPU-1234",
    }
    assert info["gpu_driver"] == "580.65"
    assert info["cuda_visible_devices"] == "1"
    assert info["cpu_logical_cores"] >= 1 and info["ram_bytes"] > 0
    json.dumps(info)  # JSON-ready


def test_without_nvml_there_are_no_gpus_and_no_error(tmp_path, mocker):
    nv = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
    nv.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    info = describe_hardware(cpuinfo_path=tmp_path / "missing")
    assert info["gpu_driver"] is None
    assert info["cpu_model"]  # falls back to platform
