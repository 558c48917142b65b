"""NVIDIA GPU sensors through NVML (the ``pynvml`` module of nvidia-ml-py).

Two backends: :class:`NvmlEnergySensor` reads the cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and newer, the most accurate source), and
:class:`NvmlPowerSensor` reads instantaneous power (``nvmlDeviceGetPowerUsage``, milliwatts) for the meter
to integrate on older GPUs. Units are converted to joules and watts here, once.

GPU indices are CUDA's: index ``i`` is the i-th device listed in ``CUDA_VISIBLE_DEVICES`` (entries may be
NVML indices or ``GPU-`` UUID prefixes), so ``gpu:0`` is the same GPU as ``torch.device("cuda:0")``.
Set ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` when you use bare numbers, as CUDA itself recommends.

Every NVML error is translated once, here, into :class:`~powertrain.errors.SensorError` subclasses.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from powertrain.errors import SensorError, SensorPermissionError, SensorUnavailable
from powertrain.meters._gpushare import GpuProcessProbe
from powertrain.meters.base import Clock, Reading, Sensor

try:
    import pynvml
except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency
    pynvml = None

__all__ = ["NvmlEnergySensor", "NvmlPowerSensor", "nvml_session", "parse_visible_devices", "visible_gpus"]

logger = logging.getLogger(__name__)

# Captured at import so that tests which replace ``pynvml`` with a mock still catch real NVML errors.
_NVMLError: type[Exception] = pynvml.NVMLError if pynvml is not None else type("_NoNVML", (Exception,), {})
_DRIVER_HINT = "install the NVIDIA driver, or measure without GPUs (gpu_indices=[] / no --gpu)"
_exception_map: dict[int, tuple[type[SensorError], str]] = (
    {
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND: (SensorUnavailable, f"no NVIDIA driver; {_DRIVER_HINT}"),
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED: (SensorUnavailable, f"no NVIDIA driver loaded; {_DRIVER_HINT}"),
        pynvml.NVML_ERROR_NOT_SUPPORTED: (SensorUnavailable, "not supported by this GPU or driver"),
        pynvml.NVML_ERROR_FUNCTION_NOT_FOUND: (SensorUnavailable, "the driver is too old for this call"),
        pynvml.NVML_ERROR_NO_PERMISSION: (SensorPermissionError, "run as a user allowed to query the GPU"),
        pynvml.NVML_ERROR_GPU_IS_LOST: (SensorError, "the GPU fell off the bus; check `nvidia-smi`"),
    }
    if pynvml is not None
    else {}
)

F = TypeVar("F", bound=Callable[..., Any])


def _translate(exc: Exception, what: str) -> SensorError:
    cls, hint = _exception_map.get(getattr(exc, "value", -1), (SensorError, ""))
    return cls(f"NVML: {hint} ({what}: {exc})" if hint else f"NVML: {what}: {exc}")


def _nvml_errors(what: str) -> Callable[[F], F]:
    """Decorator: turn any NVML error raised by the function into a SensorError subclass."""

    def decorator(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _NVMLError as exc:
                raise _translate(exc, what) from exc

        return wrapper  # type: ignore[return-value]

    return decorator


def _call(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a vendor function, translating its errors (for calls not inside a decorated function)."""
    try:
        return fn(*args)
    except _NVMLError as exc:
        raise _translate(exc, what) from exc


def _require_pynvml() -> Any:
    if pynvml is None:  # pragma: no cover
        raise SensorUnavailable("NVML: nvidia-ml-py is not installed; pip install nvidia-ml-py")
    return pynvml


@contextmanager
def nvml_session() -> Iterator[Any]:
    """Initialise NVML for the block (NVML counts nested inits) and yield the ``pynvml`` module.

    Raises:
        SensorUnavailable: No driver or no library.
    """
    nv = _require_pynvml()
    _call("init", nv.nvmlInit)
    try:
        yield nv
    finally:
        try:
            nv.nvmlShutdown()
        except _NVMLError as exc:  # pragma: no cover - shutdown failures are harmless
            logger.debug("nvmlShutdown failed: %s", exc)


def parse_visible_devices(value: str | None) -> list[str] | None:
    """Split ``CUDA_VISIBLE_DEVICES`` into its entries, or None when it is unset (all devices visible).

    CUDA stops at the first invalid entry (for example ``-1``), so this does too.
    """
    if value is None:
        return None
    entries: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry or entry in entries:
            break
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        entries.append(entry)
    return entries


def _to_str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@_nvml_errors("listing GPUs")
def visible_gpus() -> list[tuple[int, int | None, str]]:
    """List the GPUs CUDA can see, in CUDA order, as ``(cuda_index, nvml_index, detail)``.

    ``nvml_index`` is None when the entry cannot be measured (a MIG instance, or a UUID that no GPU has);
    ``detail`` then says why, else it is the GPU name. Call inside :func:`nvml_session`.
    """
    nv = _require_pynvml()
    count = int(nv.nvmlDeviceGetCount())
    entries = parse_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if entries is None:
        entries = [str(i) for i in range(count)]
    uuids: list[str] | None = None
    result: list[tuple[int, int | None, str]] = []
    for cuda_index, entry in enumerate(entries):
        nvml_index: int | None = None
        if entry.isdigit():
            nvml_index = int(entry) if int(entry) < count else None
            if nvml_index is None:
                break  # CUDA ignores this entry and every one after it
        elif entry.startswith("MIG-"):
            result.append((cuda_index, None, f"{entry} is a MIG instance; NVML energy is per physical GPU"))
            continue
        else:
            if uuids is None:
                uuids = [_to_str(nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
            matches = [i for i, uuid in enumerate(uuids) if uuid.startswith(entry)]
            if len(matches) != 1:
                break
            nvml_index = matches[0]
        name = _to_str(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(nvml_index)))
        result.append((cuda_index, nvml_index, name))
    return result


class _NvmlSensor(Sensor):
    """Shared setup: hold an NVML reference and a device handle."""

    component = "gpu"

    def __init__(self, cuda_index: int, nvml_index: int, *, clock: Clock = time.monotonic) -> None:
        self._nv = _require_pynvml()
        self._clock = clock
        self.device = f"gpu:{cuda_index}"
        self.nvml_index = nvml_index
        _call("init", self._nv.nvmlInit)
        self._open = True
        try:
            self._handle = _call(f"{self.device} handle", self._nv.nvmlDeviceGetHandleByIndex, nvml_index)
            self._probe()
        except SensorError:
            self.close()
            raise

    def _probe(self) -> None:
        """Read once so that an unsupported GPU fails at construction, not mid-run."""
        self.read()

    def conditions(self) -> dict[str, Any]:
        """SM and memory clocks (MHz) and the power limit (W) now, where NVML gives them."""
        nv, found = self._nv, {}
        queries = {
            "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(self._handle, nv.NVML_CLOCK_SM),
            "memory_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(self._handle, nv.NVML_CLOCK_MEM),
            "power_limit_w": lambda: nv.nvmlDeviceGetPowerManagementLimit(self._handle) / 1000.0,
        }
        for key, query in queries.items():
            try:
                value = query()
                found[key] = float(value) if isinstance(value, (int, float)) else None
            except Exception as exc:  # unsupported on this GPU or driver: simply not recorded
                logger.debug("%s: %s not readable: %s", self.device, key, exc)
        return {k: v for k, v in found.items() if v is not None}

    def process_probe(self) -> GpuProcessProbe:
        """A probe of the processes that use this GPU and their utilisation (for attribution)."""
        return GpuProcessProbe(self._nv, self._handle, self.device)

    def close(self) -> None:
        """Release this sensor's NVML reference (idempotent)."""
        if getattr(self, "_open", False):
            self._open = False
            try:
                self._nv.nvmlShutdown()
            except _NVMLError as exc:  # pragma: no cover
                logger.debug("nvmlShutdown failed: %s", exc)


class NvmlEnergySensor(_NvmlSensor):
    """Cumulative GPU energy from ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load).

    The counter updates about 10 times per second on an H100, and one read costs about 3.8 ms there,
    so read it from a background thread, never per training step.

    Args:
        cuda_index: CUDA index (``gpu:{cuda_index}`` is the device label).
        nvml_index: The same GPU's NVML index (see :func:`visible_gpus`).
        clock: Time source for reading timestamps.

    Raises:
        SensorUnavailable: The GPU has no energy counter (pre-Volta) or no driver.
    """

    name = "nvml-counter"
    kind = "counter"

    def read(self) -> Reading:
        """Return the counter in joules."""
        t0 = self._clock()
        energy_mj = self._read_mj()
        return Reading(timestamp_s=(t0 + self._clock()) / 2, energy_j=energy_mj / 1000.0)

    def _read_mj(self) -> float:
        try:
            return float(self._nv.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except _NVMLError as exc:
            raise _translate(exc, f"{self.device} energy counter") from exc


class NvmlPowerSensor(_NvmlSensor):
    """GPU power from ``nvmlDeviceGetPowerUsage`` (mW), integrated by the meter (trapezoid rule).

    Use it for GPUs without the energy counter. Recent drivers average this value over about one second,
    so short windows are smoothed.

    Args:
        cuda_index: CUDA index (``gpu:{cuda_index}`` is the device label).
        nvml_index: The same GPU's NVML index.
        clock: Time source for reading timestamps.
    """

    name = "nvml-power"
    kind = "power"

    def read(self) -> Reading:
        """Return the power in watts."""
        try:
            power_mw = float(self._nv.nvmlDeviceGetPowerUsage(self._handle))
        except _NVMLError as exc:
            raise _translate(exc, f"{self.device} power") from exc
        return Reading(timestamp_s=self._clock(), power_w=power_mw / 1000.0)
