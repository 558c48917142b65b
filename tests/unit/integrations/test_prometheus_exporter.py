"""The Prometheus exporter: names, labels and monotonic counters; and a real Prometheus scraping it each second."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from powertrain.errors import ConfigError
from powertrain.meters import EnergyMeter
from powertrain.meters.testing import FakeClock, ScriptedAttribution, ScriptedCounterSensor, ScriptedPowerSensor

pytest.importorskip("prometheus_client", reason="the prometheus extra is not installed: run `make test`")

from powertrain.integrations.prometheus import EnergyExporter, parse_serve  # noqa: E402


def _scrape(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _values(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_serve_addresses_default_to_this_machine_only():
    assert parse_serve("9464") == ("127.0.0.1", 9464)
    assert parse_serve("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_serve("[::1]:0") == ("::1", 0)
    for bad in ("", "host:", "99999", "a:b", "9464:host"):
        with pytest.raises(ConfigError, match=r"--serve takes \[HOST:\]PORT"):
            parse_serve(bad)


def test_metrics_carry_units_labels_and_total_counters_and_never_decrease():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 200.0 * t, clock=clock)
    cpu = ScriptedPowerSensor([50.0], device="cpu:package-0", component="cpu", clock=clock, source="estimated")
    with EnergyMeter([gpu, cpu], sample_period_s=None, clock=clock, attribution="machine") as meter:
        exporter = EnergyExporter(meter, run="job", clock=clock, linger_s=0).start()
        try:
            assert exporter.host == "127.0.0.1" and exporter.port > 0
            with meter.window("command") as window:
                clock.advance(2.0)
                meter.sample()
                exporter.update(epoch=1, accuracy=0.8)
                live = _values(_scrape(exporter.url))
                clock.advance(1.0)
            clock.advance(0.5)
            meter.sample()  # a live sample after the work ended is higher than the final figure...
            assert _values(_scrape(exporter.url))['powertrain_run_energy_joules_total{run="job"}'] == 875.0
            assert exporter.finish(window.measurement) is False  # nobody scraped within linger_s=0
            text = _scrape(exporter.url)
        finally:
            exporter.close()
    assert live['powertrain_energy_joules_total{component="gpu",device="gpu:0",run="job",source="counter"}'] == 400.0
    assert live['powertrain_energy_joules_total{component="cpu",device="cpu:package-0",run="job",source="estimated"}'] \
        == 100.0  # fmt: skip
    assert live['powertrain_run_energy_joules_total{run="job"}'] == 500.0
    assert live['powertrain_run_running{run="job"}'] == 1.0 and live['powertrain_epoch{run="job"}'] == 1.0
    assert live['powertrain_accuracy_ratio{run="job"}'] == 0.8
    assert live['powertrain_run_duration_seconds_total{run="job"}'] == 2.0
    assert "# TYPE powertrain_run_energy_joules_total counter" in text and "# TYPE powertrain_power_watts gauge" in text
    final = _values(text)
    assert window.measurement.energy_j == 750.0
    assert final['powertrain_run_energy_joules_total{run="job"}'] == 875.0  # ...so the counter keeps it
    assert final['powertrain_run_running{run="job"}'] == 0.0


def test_the_run_series_are_the_runs_own_share_and_the_machines_energy_stands_beside_them():
    clock = FakeClock()
    rapl = ScriptedPowerSensor([40.0], device="cpu:package-0", component="cpu", clock=clock)
    rapl.idle_power_w = 10.0
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=2.0, logical_cpus=4)
    with EnergyMeter([rapl], sample_period_s=None, clock=clock, attribution=scope) as meter:
        exporter = EnergyExporter(meter, run="job", clock=clock, linger_s=0).start()
        try:
            with meter.window("command") as window:
                clock.advance(5.0)
                meter.sample()
                live = _values(_scrape(exporter.url))
                clock.advance(5.0)
            exporter.finish(window.measurement)
            final = _values(_scrape(exporter.url))
        finally:
            exporter.close()
    # 40 W for 5 s: 150 J active split 1:2 between the run and the others, 50 J idle shared by 1 of 4 CPUs
    assert live['powertrain_run_energy_joules_total{run="job"}'] == pytest.approx(62.5)
    assert live['powertrain_machine_energy_joules_total{run="job"}'] == pytest.approx(200.0)
    assert window.measurement.energy_j == pytest.approx(125.0) and window.measurement.machine_total_j == 400.0
    assert final['powertrain_run_energy_joules_total{run="job"}'] == pytest.approx(125.0)
    assert final['powertrain_machine_energy_joules_total{run="job"}'] == pytest.approx(400.0)


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with EnergyMeter([], sample_period_s=None) as meter:
            with pytest.raises(ConfigError, match="cannot serve metrics on 127.0.0.1:"):
                EnergyExporter(meter, port=taken.getsockname()[1]).start()


def test_a_real_prometheus_scrapes_each_second_the_counter_never_decreases_and_ends_on_the_result():
    from tests.support.prometheus_server import PrometheusServer, free_port

    port = free_port()
    server = PrometheusServer([f"127.0.0.1:{port}"], interval_s=1.0).start()
    gpu = ScriptedCounterSensor(lambda t: 120.0 * t)  # 120 W in real time
    try:
        with EnergyMeter([gpu], sample_period_s=0.05) as meter, EnergyExporter(meter, run="job", port=port,
                                                                                linger_s=30) as exporter:  # fmt: skip
            with meter.window("command") as window:
                deadline = time.monotonic() + 60
                while exporter.scrapes < 4 and time.monotonic() < deadline:  # the work runs while Prometheus scrapes
                    threading.Event().wait(0.05)
            assert exporter.finish(window.measurement) is True  # stayed up until a scrape saw the final figures
        deadline = time.monotonic() + 30
        while True:  # Prometheus stores the last scrape once it has processed it
            last = server.query('last_over_time(powertrain_run_running{run="job"}[1m])')
            if last and float(last[0]["value"][1]) == 0.0 or time.monotonic() > deadline:
                break
            threading.Event().wait(0.1)
        total = server.query('last_over_time(powertrain_run_energy_joules_total{run="job"}[1m])')
        resets = server.query('resets(powertrain_run_energy_joules_total{run="job"}[1m])')
        samples = server.query('count_over_time(powertrain_run_energy_joules_total{run="job"}[1m])')
    finally:
        server.stop()
    assert float(samples[0]["value"][1]) >= 4
    assert float(resets[0]["value"][1]) == 0  # Prometheus's own check: the counter never went down
    assert float(total[0]["value"][1]) == pytest.approx(window.measurement.energy_j, rel=0.01)
