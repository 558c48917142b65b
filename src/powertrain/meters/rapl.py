"""CPU package and DRAM energy from RAPL, through the Linux powercap tree.

Layout (``/sys/class/powercap``)::

    intel-rapl:0/name                 "package-0"
    intel-rapl:0/energy_uj            cumulative microjoules, wraps at max_energy_range_uj
    intel-rapl:0/max_energy_range_uj
    intel-rapl:0/intel-rapl:0:0/name  "core", "uncore" or "dram"

Wraparound: the counter restarts from zero after ``max_energy_range_uj``. One wrap between two reads is
seen (the value goes down) and added back. Several wraps between two reads look like one and cannot be
recovered, so the sensor reports a possible missed wrap whenever the time since the last read is long
enough for the zone to have used a whole range at its maximum power. Its ``max_read_interval_s`` tells the
meter how often to read so that this never happens.

Since 2020 (CVE-2020-8694) ``energy_uj`` is readable by root only on most distributions; the error says
how to grant access.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from powertrain.errors import SensorError, SensorPermissionError, SensorUnavailable
from powertrain.meters.base import Clock, Component, Reading, Sensor

__all__ = ["DEFAULT_RAPL_ROOT", "RaplSensor", "RaplZone", "find_rapl_zones"]

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")
# Upper bounds on power used only to detect missed wraps when the zone does not publish its own.
_DEFAULT_MAX_POWER_W: dict[str, float] = {"cpu": 1000.0, "dram": 300.0}
_ZONE_DIR = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")


@dataclass(frozen=True, slots=True)
class RaplZone:
    """One readable RAPL zone.

    Attributes:
        path: The zone directory.
        device: Device label, ``cpu:package-N`` or ``cpu:dram-N``.
        component: ``"cpu"`` for a package, ``"dram"`` for memory.
    """

    path: Path
    device: str
    component: Component


def find_rapl_zones(root: Path | str = DEFAULT_RAPL_ROOT) -> list[RaplZone]:
    """List package and DRAM zones under ``root`` (``psys``, ``core`` and ``uncore`` are left out).

    Core and uncore are already inside the package; psys covers the whole platform and would count the
    package twice.

    Raises:
        SensorUnavailable: ``root`` does not exist (no powercap driver, or not Linux).
    """
    root = Path(root)
    if not root.is_dir():
        raise SensorUnavailable(f"RAPL: {root} not present (not Linux, or no powercap/intel_rapl driver)")
    zones: list[RaplZone] = []
    for top in sorted(root.iterdir()):
        match = _ZONE_DIR.match(top.name)
        if match is None or match.group(2) is not None:
            continue
        socket = match.group(1)
        name = _read_text(top / "name")
        if name.startswith("package"):
            zones.append(RaplZone(top, f"cpu:{name}", "cpu"))
        elif name == "dram":
            zones.append(RaplZone(top, f"cpu:dram-{socket}", "dram"))
        for sub in sorted(top.iterdir()):
            if _ZONE_DIR.match(sub.name) and _read_text(sub / "name") == "dram":
                zones.append(RaplZone(sub, f"cpu:dram-{socket}", "dram"))
    return zones


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


class RaplSensor(Sensor):
    """Cumulative energy of one RAPL zone, with wraparound handled.

    Args:
        zone: The zone to read (see :func:`find_rapl_zones`).
        clock: Time source for readings and missed-wrap detection.
        max_power_w: Highest power the zone can draw, for missed-wrap detection. Default: the zone's
            ``constraint_0_max_power_uw`` when published, else 1000 W for a package and 300 W for DRAM.
        idle_power_w: The zone's power when the machine is idle, if you measured it: attribution then takes the
            static part from it (default: from the machine's busy fraction, as Kepler does).

    Raises:
        SensorPermissionError: ``energy_uj`` is not readable by this user.
        SensorUnavailable: The zone files are missing or malformed.
    """

    name = "rapl"
    kind = "counter"

    def __init__(
        self,
        zone: RaplZone,
        *,
        clock: Clock = time.monotonic,
        max_power_w: float | None = None,
        idle_power_w: float | None = None,
    ) -> None:
        self.zone = zone
        self.idle_power_w = idle_power_w
        self.device = zone.device
        self.component = zone.component
        self._clock = clock
        self.max_energy_range_uj = self._read_int(zone.path / "max_energy_range_uj")
        if self.max_energy_range_uj <= 0:
            raise SensorUnavailable(f"RAPL: {zone.path}/max_energy_range_uj is not positive")
        published = self._optional_int(zone.path / "constraint_0_max_power_uw")
        self.max_power_w = max_power_w or (published / 1e6 if published else _DEFAULT_MAX_POWER_W[zone.component])
        # Reading at least this often guarantees at most one wrap between reads.
        self.max_read_interval_s = self.max_energy_range_uj / 1e6 / self.max_power_w
        self._fd: int | None = None
        try:
            self._fd = os.open(zone.path / "energy_uj", os.O_RDONLY)
        except PermissionError as exc:
            raise SensorPermissionError(
                f"RAPL: cannot read {zone.path}/energy_uj (root only since CVE-2020-8694); grant access with "
                f"`sudo chmod o+r {zone.path.parent}/intel-rapl:*/energy_uj "
                f"{zone.path.parent}/intel-rapl:*/*/energy_uj`, or measure without RAPL (rapl_root=None)"
            ) from exc
        except OSError as exc:
            raise SensorUnavailable(f"RAPL: cannot open {zone.path}/energy_uj: {exc}") from exc
        self._last_uj: int | None = None
        self._last_t: float | None = None
        self._wraps = 0
        self.possible_missed_wraps = 0

    @staticmethod
    def _read_int(path: Path) -> int:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise SensorUnavailable(f"RAPL: cannot read {path}: {exc}") from exc

    @staticmethod
    def _optional_int(path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def read(self) -> Reading:
        """Return the unwrapped cumulative energy in joules.

        Raises:
            SensorError: The file could not be read (for example after ``close``).
        """
        if self._fd is None:
            raise SensorError(f"RAPL: {self.device} sensor is closed")
        try:
            raw_uj = int(os.pread(self._fd, 64, 0).strip())
        except (OSError, ValueError) as exc:
            raise SensorError(f"RAPL: cannot read {self.zone.path}/energy_uj: {exc}") from exc
        now = self._clock()
        warnings: tuple[str, ...] = ()
        if self._last_uj is not None and self._last_t is not None:
            if raw_uj < self._last_uj:
                self._wraps += 1
            elapsed_s = now - self._last_t
            if elapsed_s >= self.max_read_interval_s:
                self.possible_missed_wraps += 1
                warnings = (
                    f"RAPL {self.device}: {elapsed_s:.1f} s between reads is long enough to wrap "
                    f"max_energy_range_uj ({self.max_energy_range_uj} uJ) at {self.max_power_w:.0f} W; "
                    "energy may be undercounted by whole ranges (read more often)",
                )
        self._last_uj, self._last_t = raw_uj, now
        energy_uj = raw_uj + self._wraps * self.max_energy_range_uj
        return Reading(timestamp_s=now, energy_j=energy_uj / 1e6, warnings=warnings)

    def close(self) -> None:
        """Close the ``energy_uj`` file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
