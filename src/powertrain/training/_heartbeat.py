"""The heartbeat: energy spent in the epoch in progress, written to ``heartbeat.json`` from a background thread.

The checkpoint holds every finished epoch; the heartbeat holds what a kill would otherwise lose, training and
evaluation alike: the meter's energy (total and per device) since the epoch began. It is written every ``interval_s``
and once more when an epoch's training phase ends, so an epoch shorter than the interval is not lost whole to a kill
in its evaluation. Each process writes its own ``session`` id, so a resume counts one process's heartbeat once,
however often it is interrupted afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from powertrain import _killpoints as killpoints

if TYPE_CHECKING:
    from powertrain.meters import EnergyMeter
    from powertrain.training.rundir import RunDir

__all__ = ["Heartbeat"]


@dataclass(frozen=True)
class _Epoch:
    epoch: int
    base_by_device_j: dict[str, float]
    started_s: float
    base_machine_j: float = 0.0


class Heartbeat:
    """Refreshes ``heartbeat.json`` every ``interval_s`` while an epoch is in progress.

    Args:
        run: The run directory.
        meter: The running meter whose totals are read.
        interval_s: Seconds between writes.
    """

    def __init__(self, run: RunDir, meter: EnergyMeter, *, interval_s: float = 0.5) -> None:
        self.run, self.meter, self.interval_s = run, meter, interval_s
        self.session = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._current: _Epoch | None = None  # replaced whole: a signal between two fields cannot mix epochs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="powertrain-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_epoch(self, epoch: int) -> None:
        """Epoch ``epoch`` (1-based) starts now: count energy from here."""
        current = _Epoch(epoch, self.meter.energy_by_device_j(), time.monotonic(), self.meter.energy_j(machine=True))
        with self._lock:
            self._current = current

    def checkpointed(self) -> None:
        """The epoch in progress is now in the checkpoint: stop reporting it and remove the file."""
        with self._lock:
            self._current = None
            self.run.clear_heartbeat()

    def beat(self) -> None:
        """Write the heartbeat now (no-op between epochs)."""
        with self._lock:
            current = self._current
            if current is None:
                return
            by_device = {
                device: joules - current.base_by_device_j.get(device, 0.0)
                for device, joules in self.meter.energy_by_device_j().items()
            }
            energy_j = sum(by_device.values())
            self.run.write_heartbeat(
                epoch=current.epoch,
                energy_j=energy_j,
                duration_s=time.monotonic() - current.started_s,
                by_device_j=by_device,
                session=self.session,
                machine_energy_j=self.meter.energy_j(machine=True) - current.base_machine_j,
            )
            if energy_j > 0:
                killpoints.reached("heartbeat", current.epoch, self.run.path)  # fault tests only (inert)

    def flush(self) -> None:
        """Write the heartbeat now (no-op between epochs); a full disk is left for the next checkpoint to report."""
        try:
            self.beat()
        except OSError:  # a full disk must not hide the error that ends the run, nor make one
            pass

    def close(self) -> None:
        """Write a last heartbeat (if an epoch is in progress) and stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except OSError:  # full disk: the next checkpoint write reports it
                continue
