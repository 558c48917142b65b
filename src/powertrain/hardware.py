"""Describe the machine a result was measured on, so results from several machines can be merged."""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from powertrain.errors import SensorError

__all__ = ["describe_hardware", "hardware_label"]


def describe_hardware(*, cpuinfo_path: Path | str = "/proc/cpuinfo") -> dict[str, Any]:
    """A JSON-ready description of this machine and its software.

    GPUs come from NVML; without it, from ``torch.cuda`` if torch is already imported (importing torch
    just to describe the machine would slow the CLI down by seconds).

    Args:
        cpuinfo_path: Where to read the CPU model on Linux.

    Returns:
        Keys: ``hostname``, ``os``, ``cpu_model``, ``cpu_logical_cores``, ``cpu_physical_cores``,
        ``ram_bytes``, ``gpu_count``, ``gpus`` (name, memory, uuid, NVML index), ``gpu_driver``,
        ``cuda_visible_devices``, ``python``, ``torch``, ``powertrain``.
    """
    gpus, driver = _nvml_gpus()
    if not gpus:
        gpus = _torch_gpus()
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "cpu_model": _cpu_model(Path(cpuinfo_path)),
        "cpu_logical_cores": psutil.cpu_count(logical=True),
        "cpu_physical_cores": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "gpu_count": len(gpus),
        "gpus": gpus,
        "gpu_driver": driver,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "powertrain": _version("powertrain"),
    }


def hardware_label(info: Mapping[str, Any] | None, *, cpu: bool = False) -> str:
    """A short label of the machine :func:`describe_hardware` described: its GPU models with counts, else its CPU.

    The one label of every result (a sweep trial's ``hardware``, a report's machine, a study's ``results.md``):
    ``"2x NVIDIA H100 80GB HBM3"``, or ``"AMD EPYC 7B13 (2 threads)"`` on a machine without GPU. ``cpu=True``
    names the CPU after the GPUs too.
    """
    if not info:
        return "unknown hardware"
    gpus = [str(g.get("name", "GPU")) for g in info.get("gpus") or []]
    cores = info.get("cpu_logical_cores")
    cpu_model = str(info.get("cpu_model") or "unknown CPU")
    cpu_label = f"{cpu_model} ({cores} threads)" if cores else cpu_model
    if not gpus:
        return cpu_label
    label = " + ".join(f"{gpus.count(n)}x {n}" for n in sorted(set(gpus)))
    return f"{label}, {cpu_label}" if cpu else label


def _cpu_model(cpuinfo: Path) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _nvml_gpus() -> tuple[list[dict[str, Any]], str | None]:
    from powertrain.meters.nvml import _NVMLError, _to_str, nvml_session

    try:
        with nvml_session() as nv:
            driver = _to_str(nv.nvmlSystemGetDriverVersion())
            gpus = []
            for index in range(int(nv.nvmlDeviceGetCount())):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                gpus.append(
                    {
                        "nvml_index": index,
                        "name": _to_str(nv.nvmlDeviceGetName(handle)),
                        "memory_bytes": int(nv.nvmlDeviceGetMemoryInfo(handle).total),
                        "uuid": _to_str(nv.nvmlDeviceGetUUID(handle)),
                    }
                )
            return gpus, driver
    except (SensorError, _NVMLError):  # no driver, or one vendor call failed: describe without GPUs
        return [], None


def _torch_gpus() -> list[dict[str, Any]]:
    torch = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        return [
            {
                "cuda_index": i,
                "name": torch.cuda.get_device_name(i),
                "memory_bytes": int(torch.cuda.get_device_properties(i).total_memory),
            }
            for i in range(torch.cuda.device_count())
        ]
    except (RuntimeError, AssertionError):  # CUDA present but unusable
        return []


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
