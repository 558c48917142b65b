"""Who else uses a GPU, from NVML's process lists and per-process utilisation samples (private to the meter).

Each sampling round the meter asks a :class:`GpuProcessProbe` which processes hold a context on the GPU
(``nvmlDeviceGetComputeRunningProcesses`` and ``...GraphicsRunningProcesses``) and their SM utilisation samples
since the last round (``nvmlDeviceGetProcessUtilization``, percent per sample). The run's own processes are those
whose PID its attribution scope lists; the others are "others". The result lands in the track's ``note`` for
:func:`powertrain.meters._split.gpu_splitter`.

Inside a container NVML reports the host's PIDs, which are not the container's: when NVML lists processes and none
of them is the run's, the probe cannot tell the run's from the others, and says so (the interval is shared, not
attributed) rather than guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["GpuProcessProbe", "GpuUse"]

logger = logging.getLogger(__name__)
_NO_SAMPLES = (0, 6)  # NVML_SUCCESS with an empty buffer, NVML_ERROR_NOT_FOUND: nothing ran since the timestamp


@dataclass
class GpuUse:
    """One round's view of a GPU.

    Attributes:
        others: PIDs of processes that are not the run's.
        run_n: How many of the run's processes use it.
        run_util: Sum of the run's SM utilisation samples (percent) since the last round.
        others_util: The same for the others.
        unsplit: Why the energy cannot be split this round (None when it can, or when nobody else uses the GPU).
    """

    others: tuple[int, ...] = ()
    run_n: int = 0
    run_util: float = 0.0
    others_util: float = 0.0
    unsplit: str | None = None


class GpuProcessProbe:
    """NVML's view of the processes on one GPU.

    Args:
        nv: The ``pynvml`` module.
        handle: The GPU's NVML handle.
        device: Its label (``gpu:0``) for messages.
    """

    def __init__(self, nv: Any, handle: Any, device: str) -> None:
        self._nv, self._handle, self.device = nv, handle, device
        self._last_us = 0
        self.samples_supported: bool | None = None

    def poll(self, run_pids: set[int] | None) -> GpuUse:
        """List the GPU's processes and their utilisation since the last poll (never raises)."""
        pids = self._processes()
        if pids is None:
            return GpuUse(unsplit="NVML cannot list this GPU's processes")
        if run_pids is None or not pids:
            return GpuUse()
        mine = pids & run_pids
        others = tuple(sorted(pids - run_pids))
        if not others:
            self._utilisation()  # keep the timestamp current
            return GpuUse(run_n=len(mine))
        if not mine:
            return GpuUse(
                others=others,
                unsplit=f"NVML lists {len(others)} process(es) on {self.device} and none is the run's (another "
                "job, or PIDs from outside this container): shared, not attributed",
            )
        samples = self._utilisation()
        if samples is None:
            return GpuUse(
                others=others,
                run_n=len(mine),
                unsplit=f"{self.device} is shared with {len(others)} other process(es) and NVML gives no "
                "per-process samples here (MIG or driver): shared, not attributed",
            )
        run_util = sum(util for pid, util in samples if pid in run_pids)
        others_util = sum(util for pid, util in samples if pid in others)
        return GpuUse(others=others, run_n=len(mine), run_util=run_util, others_util=others_util)

    def _processes(self) -> set[int] | None:
        pids: set[int] = set()
        listed = False
        for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            fn = getattr(self._nv, name, None)
            if fn is None:
                continue
            try:
                pids.update(int(p.pid) for p in fn(self._handle))
                listed = True
            except Exception as exc:  # NVML errors, and anything a driver binding raises: no list, said so
                logger.debug("%s: %s failed: %s", self.device, name, exc)
        return pids if listed else None

    def _utilisation(self) -> list[tuple[int, float]] | None:
        fn = getattr(self._nv, "nvmlDeviceGetProcessUtilization", None)
        if fn is None or self.samples_supported is False:
            return None
        try:
            samples = fn(self._handle, self._last_us)
        except Exception as exc:  # NVMLError: NOT_FOUND / empty means "no samples yet", anything else: unsupported
            if getattr(exc, "value", None) in _NO_SAMPLES:
                return []
            self.samples_supported = False
            logger.info("%s: no per-process utilisation samples (%s)", self.device, exc)
            return None
        self.samples_supported = True
        fresh = [s for s in samples if int(s.timeStamp) > self._last_us]
        if fresh:
            self._last_us = max(int(s.timeStamp) for s in fresh)
        return [(int(s.pid), float(s.smUtil)) for s in fresh]
