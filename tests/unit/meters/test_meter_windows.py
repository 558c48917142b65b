"""EnergyMeter windows on scripted sensors and a fake clock: interpolation, sums, nesting, errors."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from powertrain import EnergyMeter as TopLevelEnergyMeter
from powertrain.errors import ConfigError
from powertrain.meters import EnergyMeter, Measurement, NullSensor
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor, ScriptedPowerSensor


def manual_meter(*sensors, clock: FakeClock, attribution="machine", **kwargs) -> EnergyMeter:
    # the whole machine: these tests are about windows; a run's share comes from real CPU times, which a scripted
    # clock cannot script (attribution has its own tests, with ScriptedAttribution)
    return EnergyMeter(list(sensors), sample_period_s=None, clock=clock, attribution=attribution, **kwargs)


def test_top_level_package_exports_the_meter():
    assert TopLevelEnergyMeter is EnergyMeter


def test_window_energy_interpolates_between_samples():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([1000.0, 1100.0, 1400.0], clock=clock)  # arbitrary origin
    with manual_meter(gpu, clock=clock) as meter:  # sample at t=0
        clock.advance(0.5)
        with meter.window("w") as w:
            clock.set(1.0)
            meter.sample()  # 100 J at t=1
            clock.set(1.5)
        clock.set(2.0)
        meter.sample()  # 400 J at t=2
        reads = gpu.reads
        assert w.ready
        m = w.measurement
        assert gpu.reads == reads  # a ready window needs no extra read
    # E(1.5) = 100 + 300 * 0.5 = 250; E(0.5) = 50
    assert m.energy_j == pytest.approx(200.0)
    assert m.duration_s == pytest.approx(1.0)
    assert m.avg_power_w == pytest.approx(200.0)
    assert m.energy_by_device_j == {"gpu:0": pytest.approx(200.0)}
    assert m.source_by_device == {"gpu:0": "counter"}
    assert m.total_includes == ("gpu",)
    assert not m.estimated


def test_back_to_back_windows_add_up_exactly_to_the_whole():
    rng = random.Random(0)
    clock = FakeClock()
    cumulative = list(itertools.accumulate(rng.uniform(0, 50) for _ in range(200)))
    gpu = ScriptedCounterSensor(cumulative, clock=clock)
    cpu = ScriptedPowerSensor([rng.uniform(5, 90) for _ in range(200)], device="cpu:package-0", component="cpu")
    cpu._clock = clock
    parts: list[Measurement] = []
    with manual_meter(gpu, cpu, clock=clock) as meter:
        whole = meter.begin("whole")
        for step in range(60):
            with meter.window(f"step-{step}") as w:
                clock.advance(rng.uniform(0.0, 0.3))
                if rng.random() < 0.4:
                    meter.sample()
                clock.advance(rng.uniform(0.0, 0.3))
            parts.append(w)
        total = meter.end("whole")
        assert whole.ready
    parts_m = [w.measurement for w in parts]
    assert total.energy_j > 0
    assert sum(m.energy_j for m in parts_m) == pytest.approx(total.energy_j, rel=1e-12)
    for device in ("gpu:0", "cpu:package-0"):
        summed = sum(m.energy_by_device_j[device] for m in parts_m)
        assert summed == pytest.approx(total.energy_by_device_j[device], rel=1e-12)
    assert sum(m.duration_s for m in parts_m) == pytest.approx(total.duration_s)


def test_windows_shorter_than_the_update_period_get_a_time_proportional_share():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([0.0, 100.0], clock=clock)
    with manual_meter(gpu, clock=clock) as meter:
        windows = []
        for i in range(10):
            with meter.window(f"tiny-{i}") as w:
                clock.advance(0.05 if i % 2 else 0.15)
            windows.append(w)
        meter.sample()  # t = 1.0, counter moved by 100 J
    energies = [w.measurement.energy_j for w in windows]
    assert energies == pytest.approx([15.0 if i % 2 == 0 else 5.0 for i in range(10)])


def test_nested_and_overlapping_windows():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 10.0 * t * t, clock=clock)  # power rises with time
    with manual_meter(gpu, clock=clock) as meter:
        handles = {}

        def at(t: float) -> None:
            clock.set(t)
            meter.sample()

        handles["outer"] = meter.begin("outer")
        at(0.5)
        handles["a"] = meter.begin("a")
        at(1.0)
        handles["inner"] = meter.begin("inner")
        at(1.5)
        handles["b"] = meter.begin("b")
        at(2.0)
        meter.end("inner")
        at(2.5)
        meter.end("a")
        at(3.5)
        meter.end("b")
        at(4.0)
        meter.end("outer")
        assert meter.open_windows == []
    expected = {"outer": (0.0, 4.0), "a": (0.5, 2.5), "inner": (1.0, 2.0), "b": (1.5, 3.5)}
    for name, (t0, t1) in expected.items():
        m = handles[name].measurement
        assert m.energy_j == pytest.approx(10.0 * (t1 * t1 - t0 * t0)), name
        assert m.duration_s == pytest.approx(t1 - t0)
        assert m.start_s == pytest.approx(t0)


def test_zero_length_window():
    clock = FakeClock(5.0)
    gpu = ScriptedCounterSensor(lambda t: 300.0 * t, clock=clock)
    with manual_meter(gpu, clock=clock) as meter:
        m = meter.end(meter.begin("empty").name)
    assert m.duration_s == 0.0
    assert m.energy_j == 0.0
    assert m.avg_power_w == 0.0
    assert m.timeline == ()
    assert m.warnings == ()


def test_end_resolves_immediately_by_reading_once_when_no_sample_covers_the_end():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 250.0 * t, clock=clock)
    with manual_meter(gpu, clock=clock) as meter:
        meter.begin("epoch")
        clock.advance(4.0)
        reads = gpu.reads
        m = meter.end("epoch")
        assert gpu.reads == reads + 1
    assert m.energy_j == pytest.approx(1000.0)


def test_duplicate_unknown_and_misused_windows_raise():
    clock = FakeClock()
    meter = manual_meter(ScriptedCounterSensor([0.0], clock=clock), clock=clock)
    with pytest.raises(RuntimeError, match="not started"):
        meter.begin("early")
    with meter:
        meter.begin("epoch")
        with pytest.raises(ValueError, match="already open"):
            meter.begin("epoch")
        with pytest.raises(ValueError, match="no open measurement window 'step'"):
            meter.end("step")
        with pytest.raises(ValueError, match="already open"):
            with meter.window("epoch"):
                pass
        with pytest.raises(KeyError):  # the block's own error passes through, and the window is closed
            with meter.window("failing") as w:
                raise KeyError("boom")
        assert w.end_s is not None
        assert meter.open_windows == ["epoch"]
        open_handle = meter.begin("open")
        with pytest.raises(RuntimeError, match="still open"):
            _ = open_handle.measurement
    with pytest.raises(RuntimeError, match="closed"):
        meter.start()


def test_invalid_configuration_raises_config_error():
    sensor = ScriptedCounterSensor([0.0])
    with pytest.raises(ConfigError, match="not both"):
        EnergyMeter([sensor], gpu_indices=[0])
    with pytest.raises(ConfigError, match="sample_period_s"):
        EnergyMeter([sensor], sample_period_s=0)
    with pytest.raises(ConfigError, match="same device"):
        EnergyMeter([sensor, ScriptedPowerSensor([1.0])])


def test_power_sensors_are_integrated_with_the_trapezoid_rule():
    clock = FakeClock()
    gpu = ScriptedPowerSensor([100.0, 200.0, 200.0], clock=clock)
    with manual_meter(gpu, clock=clock) as meter:
        with meter.window("w") as w:
            for _ in range(2):
                clock.advance(1.0)
                meter.sample()
        assert meter.power_w() == pytest.approx(200.0)
    m = w.measurement
    assert m.energy_j == pytest.approx(150.0 + 200.0)
    assert m.source_by_device == {"gpu:0": "integrated"}
    assert [p for _, p in m.timeline] == pytest.approx([150.0, 200.0])


def test_totals_say_what_they_include_and_estimates_are_flagged():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 300.0 * t, clock=clock)
    dram = ScriptedCounterSensor(lambda t: 10.0 * t, clock=clock, device="cpu:dram-0", component="dram")
    cpu = ScriptedPowerSensor([40.0], clock=clock, device="cpu:estimate", component="cpu", source="estimated")
    with manual_meter(gpu, dram, cpu, clock=clock) as meter:
        with meter.window("w") as w:
            clock.advance(2.0)
    m = w.measurement
    assert m.total_includes == ("cpu", "dram", "gpu")
    assert m.energy_by_component_j == pytest.approx({"gpu": 600.0, "dram": 20.0, "cpu": 80.0})
    assert m.energy_j == pytest.approx(700.0)
    assert m.source_by_device["cpu:estimate"] == "estimated"
    assert m.estimated


def test_a_meter_with_only_a_null_sensor_measures_nothing_and_says_so():
    clock = FakeClock()
    with manual_meter(NullSensor(clock=clock), clock=clock) as meter:
        with meter.window("w") as w:
            clock.advance(1.0)
        assert meter.power_w() == 0.0
    m = w.measurement
    assert m.energy_j == 0.0
    assert m.total_includes == ()
    assert m.energy_by_device_j == {}
    assert any("nothing was measured" in warning for warning in m.warnings)


def test_power_w_and_energy_j_follow_the_latest_samples():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 120.0 * t, clock=clock)
    with manual_meter(gpu, clock=clock) as meter:
        assert meter.power_w() == 0.0  # one sample: no rate yet
        for _ in range(20):
            clock.advance(0.1)
            meter.sample()
        assert meter.power_w() == pytest.approx(120.0)
        assert meter.energy_j() == pytest.approx(240.0)


def test_describe_lists_sensors_kinds_sources_and_failures():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([0.0, 1.0], clock=clock, fail_after=1, error="GPU is lost")
    cpu = ScriptedPowerSensor([10.0], clock=clock, device="cpu:estimate", component="cpu", source="estimated")
    with manual_meter(gpu, cpu, NullSensor(), clock=clock) as meter:
        meter.sample()
        info = meter.describe()
    assert [s["device"] for s in info["sensors"]] == ["gpu:0", "cpu:estimate", "none"]
    assert info["sensors"][0]["kind"] == "counter"
    assert info["sensors"][1]["source"] == "estimated"
    assert info["sensors"][2]["null"] is True
    assert "GPU is lost" in info["failures"]["gpu:0"]
    assert info["sample_period_s"] is None
    assert info["running"] is False


def test_sensors_passed_in_stay_open_and_discovered_ones_are_closed(monkeypatch):
    mine = ScriptedCounterSensor([0.0])
    with EnergyMeter([mine], sample_period_s=None):
        pass
    assert not mine.closed
    found = ScriptedCounterSensor([0.0])
    monkeypatch.setattr("powertrain.meters.meter.discover_sensors", lambda gpu_indices=None: [found])
    with EnergyMeter(sample_period_s=None) as meter:
        assert meter.sensors == [found]
    assert found.closed


def test_sync_cuda_synchronises_at_every_window_edge(monkeypatch):
    torch = pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: calls.append(1))
    clock = FakeClock()
    with manual_meter(ScriptedCounterSensor([0.0], clock=clock), clock=clock, sync_cuda=True) as meter:
        with meter.window("a"):
            pass
        meter.begin("b")
        meter.end("b")
    assert len(calls) == 4


def test_sync_cuda_without_cuda_warns_and_still_measures(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    clock = FakeClock()
    with pytest.warns(UserWarning, match="CUDA is not available"):
        meter = manual_meter(ScriptedCounterSensor(lambda t: 5.0 * t, clock=clock), clock=clock, sync_cuda=True)
    with meter:
        with meter.window("w") as w:
            clock.advance(2.0)
    assert w.measurement.energy_j == pytest.approx(10.0)


def test_background_sampler_resolves_windows_on_the_real_clock():
    gpu = ScriptedPowerSensor([50.0])  # steady 50 W, integrated on the meter's real clock: exact at any load
    with EnergyMeter([gpu], sample_period_s=0.002) as meter:
        assert meter.describe()["running"] is True
        whole = meter.begin("whole")
        steps = []
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline or gpu.reads < 5:
            with meter.window("step") as w:
                sum(range(2000))
            steps.append(w)
        meter.end("whole")
    assert gpu.reads >= 5
    assert all(w.ready for w in steps)  # the final sample at stop covers every window
    total = whole.measurement
    assert total.energy_j == pytest.approx(50.0 * total.duration_s, rel=1e-6)
    step_energy_j = sum(w.measurement.energy_j for w in steps)
    assert step_energy_j == pytest.approx(50.0 * sum(w.measurement.duration_s for w in steps), rel=1e-6)
    assert step_energy_j <= total.energy_j
