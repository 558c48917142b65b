"""EnergyMeter: a background sampler, a timeline of cumulative joules, and named windows."""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from powertrain.errors import ConfigError
from powertrain.meters._attributor import Attributor
from powertrain.meters._results import WindowInputs, build_measurement, describe_conditions, describe_sensors
from powertrain.meters._timeline import Boundary, Track
from powertrain.meters.attribution import Attribution, make_attribution
from powertrain.meters.base import Clock, Sensor
from powertrain.meters.discovery import discover_sensors
from powertrain.meters.measurement import Measurement
from powertrain.meters.window import Window, WindowScope, cuda_sync

__all__ = ["EnergyMeter"]

logger = logging.getLogger(__name__)

_POWER_SPAN_S = 1.0  # power_w() averages counters over about this long


class EnergyMeter:
    """Measures the energy of named windows from a background-sampled timeline.

    A sampler thread reads every sensor each ``sample_period_s`` and appends ``(time, cumulative joules)``
    to one series per sensor (power sensors are integrated with the trapezoid rule). A window only stores
    its start and end times; its energy is each series interpolated at the end minus at the start. So
    back-to-back windows add up exactly to one window over the same span, and a window shorter than a
    counter's update period gets its time-proportional share.

    Window contract (when is a measurement available):
        ``begin``/``end``/leaving ``window()`` cost one clock read (plus ``torch.cuda.synchronize`` when
        ``sync_cuda``) and never read a sensor. A window's energy becomes known once every sensor has a
        sample at or after its end: usually at the sampler's next round. ``Window.measurement`` and
        ``end()`` block until then; if no such sample exists yet they take one in the calling thread,
        which costs one read of every sensor (about 4 ms per NVIDIA GPU). So in a training loop open
        per-step windows with ``with meter.window(...) as w`` (or ``begin`` + :meth:`finish`) and read
        ``w.measurement`` later (for example at the end of the epoch), when it costs nothing. Use
        ``end()`` for coarse windows whose energy you want right away.

    Chained windows:
        ``begin(name, after=w)`` / ``window(name, after=w)`` start a window at the very instant the ended
        window ``w`` ended (the same edge, no clock read), so a loop of chained windows adds up exactly to
        one window over the loop with any clock; without ``after`` each window starts at its own clock
        read, and the moments between one window's end and the next one's start (microseconds) belong
        to no window.

    Failures and resets:
        A sensor that raises is marked failed with its reason and never read again; the run goes on. Its
        energy up to its last good sample stays, and every measurement whose window ends after that sample
        lists it in ``failed_sensors``. A counter that goes down (driver reload) is treated as a reset: the
        interval that contains it counts zero joules and counting continues from the new value.

    Memory:
        Each series keeps at most ``max_timeline_points`` knots; beyond that every other old knot is dropped.
        Window energies stay exact: an edge's values are stored as soon as a sample covers it. Once
        ``max_pending_edges`` edges wait for a sample, the meter samples in the calling thread.

    Attribution:
        Each sampling round also reads the run's CPU time (``attribution``, this process tree by default) and
        the machine's, and splits each sensor's energy of the interval into the run's (a second cumulative
        series, interpolated like the machine's): ``Measurement.energy_j`` is the run's, ``machine_total_j``
        the machine's beside it (docs/meter.md, "Attribution").

    Thread safety: ``begin``/``end``/``window`` may be called from any thread; window names are shared.

    Args:
        sensors: Sensors to read. Default: :func:`discover_sensors` (then the meter closes them).
            Sensors you pass stay yours to close.
        gpu_indices: With ``sensors=None``, the CUDA GPU indices to measure (default: all visible).
        sample_period_s: Seconds between background samples (default 0.1). None: no thread; call
            :meth:`sample` yourself (deterministic tests). Shortened automatically when a sensor must be
            read more often (RAPL wraparound).
        sync_cuda: Call ``torch.cuda.synchronize()`` at every window edge so that queued GPU work lands
            in the right window (costs a pipeline drain per edge).
        max_timeline_points: Knot budget per sensor (default 100000, about 1.6 MB per sensor).
        timeline_points: Most points in a ``Measurement.timeline`` (default 256).
        clock: Time source in seconds for samples and windows (default ``time.monotonic``).
        max_pending_edges: Most window edges waiting for a sample per sensor before the meter samples in
            the calling thread (default 4096).
        attribution: Whose energy: a :class:`~powertrain.meters.attribution.ProcessTree`, ``Cgroup`` or
            ``Machine``, or ``"process"``/``"cgroup"``/``"machine"``. Default: this process and its children.

    Raises:
        ConfigError: Both ``sensors`` and ``gpu_indices`` given, a non-positive period or budget, or an unknown
            or unusable attribution.
        SensorUnavailable: An explicitly requested GPU cannot be measured.

    Example:
        >>> from powertrain.meters import EnergyMeter
        >>> from powertrain.meters.testing import FakeClock, ScriptedPowerSensor
        >>> clock = FakeClock()
        >>> gpu = ScriptedPowerSensor([50.0], clock=clock)
        >>> meter = EnergyMeter([gpu], sample_period_s=None, clock=clock, attribution="machine")
        >>> with meter:
        ...     handle = meter.begin("epoch")
        ...     clock.advance(10.0)
        ...     m = meter.end("epoch")
        >>> m.energy_j, m.avg_power_w, m.source_by_device
        (500.0, 50.0, {'gpu:0': 'integrated'})
    """

    def __init__(
        self,
        sensors: Sequence[Sensor] | None = None,
        *,
        gpu_indices: Sequence[int] | None = None,
        sample_period_s: float | None = 0.1,
        sync_cuda: bool = False,
        max_timeline_points: int = 100_000,
        timeline_points: int = 256,
        clock: Clock = time.monotonic,
        max_pending_edges: int = 4096,
        attribution: Attribution | str | None = None,
    ) -> None:
        if sensors is not None and gpu_indices is not None:
            raise ConfigError("pass either sensors or gpu_indices to EnergyMeter, not both")
        if sample_period_s is not None and not sample_period_s > 0:
            raise ConfigError(f"sample_period_s must be > 0 or None, got {sample_period_s}")
        if max_timeline_points < 4 or timeline_points < 1:
            raise ConfigError("max_timeline_points must be >= 4 and timeline_points >= 1")
        if max_pending_edges < 1:
            raise ConfigError(f"max_pending_edges must be >= 1, got {max_pending_edges}")
        self._max_pending = int(max_pending_edges)
        self._owns_sensors = sensors is None
        self.sensors: list[Sensor] = list(discover_sensors(gpu_indices=gpu_indices) if sensors is None else sensors)
        devices = [s.device for s in self.sensors if not s.is_null]
        duplicates = sorted({d for d in devices if devices.count(d) > 1})
        if duplicates:
            raise ConfigError(f"two sensors measure the same device {', '.join(duplicates)}; give each its own")
        self.attribution = make_attribution(attribution)
        self._attributor = Attributor(self.attribution, self.sensors, max_points=max_timeline_points)
        measured = [s for s in self.sensors if not s.is_null]
        self._tracks: list[Track] = [self._attributor.track(s, max_timeline_points) for s in measured]
        self.sample_period_s = sample_period_s
        limits = [s.max_read_interval_s for s in self.sensors if s.max_read_interval_s]
        self._period_s = None if sample_period_s is None else min([sample_period_s, *(x / 4 for x in limits)])
        self._skip_stale_s = None if self._period_s is None else max(1.0, 5 * self._period_s)
        self.timeline_points = timeline_points
        self._clock = clock
        self._sync: Callable[[], None] | None = cuda_sync() if sync_cuda else None
        self._lock = threading.Lock()  # guards tracks, windows and events
        self._sample_lock = threading.Lock()  # one sensor round at a time
        self._active: dict[str, Window] = {}
        self._events: deque[tuple[float, float, str]] = deque(maxlen=1000)
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> EnergyMeter:
        """Take a first sample and start the sampler thread (no thread in manual mode). Idempotent."""
        if self._closed:
            raise RuntimeError("this EnergyMeter is closed; create a new one")
        if self._started:
            return self
        self._attributor.open()
        self._sample(skip_stale_s=None)
        self._started = True
        if self._period_s is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="powertrain-meter", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the sampler and take a final sample. Windows still open keep working (read on demand)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._started:
            self._sample(skip_stale_s=None)
            self._started = False

    def close(self) -> None:
        """Stop, and close the sensors this meter discovered itself. Idempotent."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        if self._owns_sensors:
            for sensor in self.sensors:
                sensor.close()
        self.attribution.close()

    def __enter__(self) -> EnergyMeter:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> None:
        assert self._period_s is not None  # noqa: S101 - internal invariant, not user input
        next_s = time.monotonic()
        while True:
            next_s += self._period_s
            if self._stop.wait(max(0.0, next_s - time.monotonic())):
                return
            self._sample(skip_stale_s=self._skip_stale_s)
            next_s = max(next_s, time.monotonic() - self._period_s)  # don't burst after a stall

    # -- sampling ------------------------------------------------------------------------------------
    def sample(self) -> None:
        """Read every working sensor now, in the calling thread (manual mode and tests)."""
        self._sample(skip_stale_s=None)

    def _sample(self, *, skip_stale_s: float | None) -> None:
        with self._sample_lock:
            t_cpu = self._clock()
            was_machine = self._attributor.whole_machine
            cpu = self._attributor.sample(t_cpu)
            shared = self._attributor.poll_gpus(self._tracks, t_cpu)
            with self._lock:
                self._attributor.cpu_track.add(t_cpu, cpu)
                if self._attributor.whole_machine and not was_machine:
                    self._event(t_cpu, float("inf"), "attribution", f"attribution failed ({self._attributor.failed}); "
                                "from then on the figures are the whole machine's")  # fmt: skip
                for device, message in shared:
                    self._event(t_cpu, t_cpu, device, message)
            for track in self._tracks:
                if not track.live:
                    continue
                t_before = self._clock()
                try:
                    reading = self._attributor.reading(track.sensor, cpu, t_before) or track.sensor.read()
                except Exception as exc:  # any sensor failure must not stop the run
                    self._fail(track, exc)
                    continue
                t_s = (t_before + self._clock()) / 2
                with self._lock:
                    previous_s = track.series.last_t
                    _, warning = track.add(t_s, reading, skip_stale_s=skip_stale_s, cpu=cpu)
                    for message in (*reading.warnings, *((warning,) if warning else ())):
                        self._event(previous_s, t_s, track.device, message)

    def _event(self, t0_s: float, t1_s: float, device: str, message: str) -> None:
        self._events.append((t0_s, t1_s, message))
        log = logger.debug if device in self._warned else logger.warning
        self._warned.add(device)
        log("%s", message)

    def _fail(self, track: Track, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        with self._lock:
            track.failed = reason
            track.pin_ready()
        logger.warning("energy sensor %s failed and is no longer read: %s", track.device, reason)

    # -- windows -------------------------------------------------------------------------------------
    def begin(self, name: str, *, after: Window | None = None) -> Window:
        """Open the window ``name`` now (or where ``after`` ended) and return its handle.

        Args:
            name: Unique among the open windows.
            after: An ended window of this meter: the new window starts at the instant it ended (the
                same edge, no clock read), so chained windows add up exactly to the whole.

        Raises:
            ValueError: A window with this name is already open, or ``after`` is open or not this meter's.
            RuntimeError: The meter is not started.
        """
        if after is not None:
            if after._meter is not self:
                raise ValueError(f"window {after.name!r} belongs to another EnergyMeter")
            if after._end is None:
                raise ValueError(f"window {after.name!r} is still open; chain a new window after it ends")
            edge: Boundary | float = after._end
        else:
            if self._sync is not None:
                self._sync()
            edge = self._clock()
        with self._lock:
            if not self._started:
                raise RuntimeError("the EnergyMeter is not started: use `with meter:` or meter.start()")
            if name in self._active:
                raise ValueError(f"measurement window {name!r} is already open")
            window = Window(self, name, edge if isinstance(edge, Boundary) else self._boundary(edge), self._measure)
            self._active[name] = window
            crowded = self._crowded()
        if crowded:
            self._sample(skip_stale_s=None)
        return window

    def end(self, name: str) -> Measurement:
        """Close the window ``name`` and return its measurement.

        The measurement needs a sample of every sensor at or after the window's end. Unless the sampler
        thread has already taken one, ``end`` takes it in the calling thread: tens of microseconds with
        the CPU estimate, about 4 ms per NVIDIA GPU. For many short windows (per step) prefer
        ``with meter.window(...)`` or :meth:`finish`, which only read the clock, and read
        ``Window.measurement`` later; ``end`` suits coarse windows (an epoch, an evaluation).

        Raises:
            ValueError: No window with this name is open.
        """
        return self._close_window(name).measurement

    def finish(self, name: str) -> Window:
        """Close the window ``name`` and return its handle, as cheaply as leaving ``window()`` (one clock read).

        Its ``measurement`` resolves later, without a sensor read once the sampler has passed the end.

        Raises:
            ValueError: No window with this name is open.
        """
        return self._close_window(name)

    def window(self, name: str, *, after: Window | None = None) -> WindowScope:
        """Measure a ``with`` block as the window ``name``; the handle's ``measurement`` resolves lazily.

        ``with meter.window("step") as w:`` opens the window on entry and ends it on exit (also when the
        block raises); ``w`` is the :class:`Window` handle. With ``after=previous`` the window starts
        where ``previous`` ended (see :meth:`begin`)::

            w = None
            for batch in loader:
                with meter.window("step", after=w) as w:
                    step(batch)

        Raises:
            ValueError: A window with this name is already open (on entry), or ``after`` is still open.
        """
        return WindowScope(self.begin, self._close_window, name, after)

    @property
    def open_windows(self) -> list[str]:
        """Names of the windows open now."""
        with self._lock:
            return list(self._active)

    def _close_window(self, name: str) -> Window:
        if self._sync is not None:
            self._sync()
        t_s = self._clock()
        with self._lock:
            window = self._active.pop(name, None)
            if window is None:
                open_names = ", ".join(repr(n) for n in self._active) or "none"
                raise ValueError(f"no open measurement window {name!r} (open: {open_names})")
            window._end = self._boundary(t_s)
            crowded = self._started and self._crowded()
        if crowded:
            self._sample(skip_stale_s=None)
        return window

    def _boundary(self, t_s: float) -> Boundary:
        boundary = Boundary(t_s, waiting=len(self._tracks) + 1)
        for track in (*self._tracks, self._attributor.cpu_track):
            if track.covers(t_s):
                track.pin(boundary)
            else:
                track.pending.append(boundary)
        return boundary

    def _crowded(self) -> bool:
        """True when a live sensor has too many edges waiting for a sample (caller holds the lock)."""
        return any(len(track.pending) >= self._max_pending for track in self._tracks if track.live)

    def _resolve(self, window: Window) -> None:
        """Make sure both edges of an ended window are pinned, sampling now if needed."""
        if not window.ready and not self._closed:
            self._sample(skip_stale_s=None)  # every live sensor gets a sample at or after the end
        if not window.ready:  # closed meter: use what was measured
            with self._lock:
                for track in (*self._tracks, self._attributor.cpu_track):
                    for boundary in [b for b in track.pending if b is window._start or b is window._end]:
                        track.pin(boundary)
                        track.pending.remove(boundary)

    # -- results -------------------------------------------------------------------------------------
    def _measure(self, window: Window) -> Measurement:
        self._resolve(window)
        assert window._end is not None  # noqa: S101 - internal invariant: only ended windows are measured
        with self._lock:
            inputs = WindowInputs(
                name=window.name,
                start=window._start,
                end=window._end,
                tracks=self._tracks,
                events=self._events,
                timeline_points=self.timeline_points,
                attribution=self._attributor.describe(until_s=window._end.t_s),
                rules=self._attributor.rules,
                others_between=self._attributor.others_between,
                logical_cpus=self._attributor.logical_cpus,
            )
            return build_measurement(inputs)

    def power_w(self, *, machine: bool = False) -> float:
        """The run's latest power in watts over working sensors, averaged over about 1 s (live displays).

        Args:
            machine: The machine's power instead of the run's.
        """
        total_w = 0.0
        with self._lock:
            for track in self._tracks:
                t = track.series.t
                if not track.live or len(t) < 2:
                    continue
                i = min(bisect_left(t, t[-1] - _POWER_SPAN_S), len(t) - 2)
                if t[-1] > t[i]:
                    total_w += (_run_j(track, -1, machine) - _run_j(track, i, machine)) / (t[-1] - t[i])
        return total_w

    def energy_j(self, *, machine: bool = False) -> float:
        """The run's joules from the first sample to the latest one (the machine's with ``machine=True``)."""
        return sum(self.energy_by_device_j(machine=machine).values())

    def energy_by_device_j(self, *, machine: bool = False) -> dict[str, float]:
        """The run's joules per device from the first sample to the latest one (live; the training heartbeat's).

        Args:
            machine: The machine's joules instead of the run's.
        """
        with self._lock:
            return {track.device: _run_j(track, -1, machine) for track in self._tracks if len(track.series)}

    def describe(self) -> dict[str, Any]:
        """Sensors, kinds, sources, failures, recent warnings and the attribution, as a JSON-ready dict."""
        with self._lock:
            return {
                "sample_period_s": self._period_s,
                "sync_cuda": self._sync is not None,
                "running": self._thread is not None,
                **describe_sensors(self.sensors, self._tracks),
                "warnings": [message for _, _, message in self._events][-20:],
                "attribution": self._attributor.describe(),
                "conditions": describe_conditions(self.sensors),
            }


def _run_j(track: Track, i: int, machine: bool) -> float:
    cols = track.series.cols
    return cols[0][i] if machine else cols[1][i] + cols[2][i]
