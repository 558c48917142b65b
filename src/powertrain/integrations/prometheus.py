"""A Prometheus exporter of a run's energy: ``/metrics`` served while the work runs, read from the meter at scrape time.

Used by ``powertrain measure --serve [HOST:]PORT -- CMD`` and ``powertrain train ... --serve PORT``; from Python::

    from powertrain.integrations.prometheus import EnergyExporter

    with EnergyMeter() as meter, EnergyExporter(meter, run="my-job", port=9464) as exporter:
        ...                                          # the work; exporter.update(epoch=3, accuracy=0.91)
        exporter.finish()                            # final figures; waits for one more scrape (a few seconds at most)

Series (every one labelled ``run``), named as Prometheus exporters name them (unit in the name, ``_total`` counters):

- ``powertrain_energy_joules_total{device, component, source}``: energy per device since the exporter started
  (``source`` is ``counter``, ``integrated`` or ``estimated``);
- ``powertrain_run_energy_joules_total``: the run's energy, the sum over devices;
- ``powertrain_machine_energy_joules_total``: the whole machine's energy over the same time, beside the run's (the
  per-device and run series are the run's own share, attributed as its meter says; this one is every joule drawn);
- ``powertrain_power_watts``: current power; ``powertrain_run_duration_seconds_total``;
- ``powertrain_epoch``, ``powertrain_accuracy_ratio`` (validation accuracy in [0, 1]),
  ``powertrain_energy_to_target_joules``: once the work reports them;
- ``powertrain_run_running``: 1 while the work runs, 0 once it ended (the figures are then final).

Nothing is computed between scrapes: each scrape reads the meter's latest samples, so exporting costs one collection
per scrape. Counters never decrease, even when the final (interpolated) figure and a live sample disagree by a hair.
The server binds to 127.0.0.1 unless a host is given, uses its own registry (no process metrics of Python), and stays
up after :meth:`EnergyExporter.finish` until the next scrape or ``linger_s`` seconds, so the final figures are seen.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from powertrain.errors import ConfigError
from powertrain.integrations._optional import require
from powertrain.meters import EnergyMeter, Measurement

require("prometheus_client", "prometheus")

from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

__all__ = ["EnergyExporter", "parse_serve"]

logger = logging.getLogger(__name__)

_SERVE = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):)?(?P<port>\d+)$")


def parse_serve(text: str) -> tuple[str, int]:
    """``"9464"`` -> ``("127.0.0.1", 9464)``; ``"0.0.0.0:9464"``, ``"[::1]:9464"`` keep their host.

    Raises:
        ConfigError: Not ``[HOST:]PORT`` or a port outside 0-65535 (0: any free port).
    """
    match = _SERVE.match(str(text).strip())
    if match is None or int(match["port"]) > 65535:
        raise ConfigError(f"--serve takes [HOST:]PORT (e.g. 9464 or 0.0.0.0:9464), not {text!r}")
    host = (match["host"] or "127.0.0.1").strip("[]")
    return host, int(match["port"])


class EnergyExporter(Collector):
    """Serve ``meter``'s energy as Prometheus metrics (see the module docstring).

    Args:
        meter: The running meter of the work (its energy so far is read at each scrape).
        run: The ``run`` label (a run folder's name, the command).
        host: Address to bind (default 127.0.0.1: this machine only).
        port: Port to bind (0: a free one; :attr:`port` says which).
        linger_s: After :meth:`finish`, at most this long to wait for a scrape of the final figures.
        clock: Time source for durations (tests).

    Raises:
        ConfigError: The address cannot be bound (in use, or not this machine's).
    """

    def __init__(self, meter: EnergyMeter, *, run: str = "powertrain", host: str = "127.0.0.1", port: int = 0,
                 linger_s: float = 5.0, clock: Any = time.monotonic) -> None:  # fmt: skip
        if not (math.isfinite(linger_s) and linger_s >= 0):
            raise ConfigError(f"linger_s must be a number of seconds >= 0, not {linger_s!r}")
        self.meter, self.run, self.host, self.port, self.linger_s = meter, run, host, port, linger_s
        self._clock = clock
        self._lock = threading.Lock()
        self._base: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._machine_base, self._machine_last, self._final_machine_j = 0.0, 0.0, None
        self._gauges: dict[str, float] = {}
        self._final: Measurement | None = None
        self._final_by_device: dict[str, float] | None = None
        self._started_s = 0.0
        self._ended_s: float | None = None
        self._scraped_final = threading.Event()
        self.scrapes = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> EnergyExporter:
        """Remember the meter's energy now (the exporter's zero) and start serving ``/metrics``."""
        from prometheus_client import start_http_server

        if self._server is not None:
            return self
        self._base = self.meter.energy_by_device_j()
        self._machine_base = self.meter.energy_j(machine=True)
        self._started_s = self._clock()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self.port = int(self._server.server_port)
        logger.info("serving Prometheus metrics on %s", self.url)
        return self

    @property
    def url(self) -> str:
        """The ``/metrics`` URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def __enter__(self) -> EnergyExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, *, epoch: int | None = None, accuracy: float | None = None,
               energy_to_target_j: float | None = None) -> None:  # fmt: skip
        """Set the progress gauges (None leaves a gauge as it was)."""
        given = {"epoch": epoch, "accuracy": accuracy, "energy_to_target_j": energy_to_target_j}
        with self._lock:
            self._gauges.update({k: float(v) for k, v in given.items() if v is not None and math.isfinite(v)})

    def finish(self, measurement: Measurement | None = None) -> bool:
        """Freeze the figures (``measurement``: the work's final result) and wait for one scrape of them.

        Returns:
            True when a scrape saw the final figures, False when ``linger_s`` passed first.
        """
        with self._lock:
            self._final = measurement
            if measurement is not None:
                self._final_by_device = dict(measurement.energy_by_device_j)
                self._final_machine_j = measurement.machine_total_j
            else:
                self._final_by_device = self._live_by_device()
                self._final_machine_j = self.meter.energy_j(machine=True) - self._machine_base
            self._ended_s = self._clock()
            self._scraped_final.clear()
        if self._server is None:
            return False
        return self._scraped_final.wait(self.linger_s)

    def close(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- collection ----------------------------------------------------------------------------------------
    def _live_by_device(self) -> dict[str, float]:
        now = self.meter.energy_by_device_j()
        return {device: joules - self._base.get(device, 0.0) for device, joules in now.items()}

    def energy_by_device_j(self) -> dict[str, float]:
        """What the next scrape exports per device: never less than what an earlier scrape exported."""
        with self._lock:
            values = dict(self._final_by_device) if self._final_by_device is not None else self._live_by_device()
            for device, joules in values.items():
                self._last[device] = max(self._last.get(device, 0.0), joules)
            return dict(self._last)

    def machine_energy_j(self) -> float:
        """What the next scrape exports as the machine's energy: never less than an earlier scrape's."""
        with self._lock:
            final = self._final_machine_j
            value = final if final is not None else self.meter.energy_j(machine=True) - self._machine_base
            self._machine_last = max(self._machine_last, value)
            return self._machine_last

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape (called by prometheus_client's server thread)."""
        by_device = self.energy_by_device_j()
        kinds = {s.device: (s.component, s.source) for s in self.meter.sensors}
        with self._lock:
            final, gauges, ended_s = self._final_by_device is not None, dict(self._gauges), self._ended_s
        run = [self.run]
        energy = CounterMetricFamily("powertrain_energy_joules", "Energy used by each device since the run started "
                                     "(source: counter, integrated or estimated).",
                                     labels=["run", "device", "component", "source"])  # fmt: skip
        for device, joules in sorted(by_device.items()):
            component, source = kinds.get(device, ("other", "estimated"))
            energy.add_metric([self.run, device, component, source], joules)
        yield energy
        total = CounterMetricFamily("powertrain_run_energy_joules", "Energy of the run, all devices.", labels=["run"])
        total.add_metric(run, sum(by_device.values()))
        yield total
        yield _one(CounterMetricFamily, "powertrain_machine_energy_joules", "Energy of the whole machine over the "
                   "run (beside the run's own, never part of it).", run, self.machine_energy_j())  # fmt: skip
        duration_s = (ended_s if ended_s is not None else self._clock()) - self._started_s
        yield _one(CounterMetricFamily, "powertrain_run_duration_seconds", "Time since the run started.", run,
                   duration_s)  # fmt: skip
        power_w = 0.0 if final else self.meter.power_w()
        yield _one(GaugeMetricFamily, "powertrain_power_watts", "Current power of the run's devices.", run, power_w)
        yield _one(GaugeMetricFamily, "powertrain_run_running", "1 while the run works, 0 once it ended.", run,
                   0.0 if final else 1.0)  # fmt: skip
        for key, name, text in _GAUGES:
            if key in gauges:
                yield _one(GaugeMetricFamily, name, text, run, gauges[key])
        self.scrapes += 1
        if final:
            self._scraped_final.set()


_GAUGES = (
    ("epoch", "powertrain_epoch", "The last finished epoch (from 1)."),
    ("accuracy", "powertrain_accuracy_ratio", "Validation accuracy after the last finished epoch, in [0, 1]."),
    ("energy_to_target_j", "powertrain_energy_to_target_joules", "Energy spent until the target accuracy was reached."),
)


def _one(family: Any, name: str, text: str, labels: list[str], value: float) -> Metric:
    metric = family(name, text, labels=["run"])
    metric.add_metric(labels, value)
    return metric

