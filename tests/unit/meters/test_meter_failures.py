"""Failing sensors, counter resets and bounded memory of the EnergyMeter."""

from __future__ import annotations

import math

import pytest

from powertrain.meters import EnergyMeter
from powertrain.meters.testing import FakeClock, ScriptedAttribution, ScriptedCounterSensor, ScriptedPowerSensor


def test_a_sensor_failing_mid_run_is_reported_and_the_run_goes_on():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 100.0 * t, clock=clock, fail_after=3, error="GPU has fallen off the bus")
    cpu = ScriptedPowerSensor([20.0], clock=clock, device="cpu:package-0", component="cpu")
    with EnergyMeter([gpu, cpu], sample_period_s=None, clock=clock, attribution="machine") as meter:  # gpu read 1
        with meter.window("before") as before:
            clock.advance(1.0)
            meter.sample()  # gpu read 2 at t=1
        whole = meter.begin("spanning")
        clock.advance(1.0)
        meter.sample()  # gpu read 3 at t=2: the last good one
        clock.advance(1.0)
        meter.sample()  # gpu read 4 raises at t=3
        clock.advance(1.0)
        spanning = meter.end("spanning")  # t=4
        with meter.window("after") as after:
            clock.advance(1.0)
    assert before.measurement.failed_sensors == {}
    assert before.measurement.energy_by_device_j["gpu:0"] == pytest.approx(100.0)
    # GPU energy up to its last good sample (t=2) is kept; CPU is measured throughout.
    assert spanning.energy_by_device_j == pytest.approx({"gpu:0": 100.0, "cpu:package-0": 60.0})
    assert "GPU has fallen off the bus" in spanning.failed_sensors["gpu:0"]
    assert after.measurement.failed_sensors == spanning.failed_sensors
    assert after.measurement.energy_by_device_j == pytest.approx({"gpu:0": 0.0, "cpu:package-0": 20.0})
    assert whole.ready
    assert gpu.reads == 4  # never read again once failed


def test_a_sensor_raising_an_unexpected_exception_is_failed_too():
    class Broken(ScriptedCounterSensor):
        def read(self):
            if self.reads >= 1:
                raise ZeroDivisionError("vendor bug")
            return super().read()

    clock = FakeClock()
    with EnergyMeter([Broken([0.0], clock=clock)], sample_period_s=None, clock=clock) as meter:
        meter.begin("w")
        clock.advance(1.0)
        m = meter.end("w")
    assert m.failed_sensors == {"gpu:0": "ZeroDivisionError: vendor bug"}
    assert m.energy_j == 0.0


def test_a_counter_that_goes_down_is_treated_as_a_reset():
    clock = FakeClock()
    gpu = ScriptedCounterSensor([5000.0, 5100.0, 5200.0, 30.0, 130.0], clock=clock)
    with EnergyMeter([gpu], sample_period_s=None, clock=clock) as meter:
        with meter.window("whole") as whole:
            windows = []
            for i in range(4):
                with meter.window(f"part-{i}") as w:
                    clock.advance(1.0)
                    meter.sample()
                windows.append(w)
    energies = [w.measurement.energy_j for w in windows]
    assert energies == pytest.approx([100.0, 100.0, 0.0, 100.0])  # the reset interval counts zero
    assert whole.measurement.energy_j == pytest.approx(300.0)
    assert any("treated as a reset" in warning for warning in windows[2].measurement.warnings)
    assert not any("reset" in warning for warning in windows[0].measurement.warnings)
    assert meter.describe()["sensors"][0]["resets"] == 1


def _run_steps(max_points: int) -> tuple[list[float], float, float, EnergyMeter]:
    """Many samples and per-step windows on a non-linear counter; returns step energies and two spans."""
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 200.0 * t + 50.0 * math.sin(t), clock=clock)
    cpu = ScriptedPowerSensor(lambda t: 30.0 + 10.0 * math.cos(3 * t), clock=clock, device="cpu:0", component="cpu")
    others = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=lambda t: 0.5 * t + 0.3 * math.sin(t))
    meter = EnergyMeter(
        [gpu, cpu], sample_period_s=None, clock=clock, max_timeline_points=max_points, attribution=others
    )
    steps = []
    with meter:
        run = meter.begin("run")
        for step in range(1500):
            if step == 700:
                middle = meter.begin("middle")
            with meter.window("step") as w:
                clock.advance(0.037)
            steps.append(w)
            clock.advance(0.013)
            if step % 3 == 0:
                meter.sample()
            if step == 1200:
                meter.end("middle")
            assert max(len(track.series) for track in meter._tracks) <= max_points
        meter.end("run")
    return [w.measurement.energy_j for w in steps], run.measurement.energy_j, middle.measurement.energy_j, meter


def test_bounded_timeline_keeps_window_energies_exact():
    exact_steps, exact_run, exact_middle, _ = _run_steps(max_points=1_000_000)
    steps, run, middle, meter = _run_steps(max_points=16)
    assert steps == pytest.approx(exact_steps, rel=1e-9, abs=1e-9)
    assert run == pytest.approx(exact_run, rel=1e-12)
    assert middle == pytest.approx(exact_middle, rel=1e-12)
    assert len(meter._tracks[0].series) <= 16
    # resolution, not energy, is what a small budget costs
    assert 0 < len(meter.describe()["sensors"]) and meter._tracks[0].samples > 500


def test_timeline_is_bounded_and_integrates_to_the_energy():
    clock = FakeClock()
    gpu = ScriptedCounterSensor(lambda t: 100.0 * t + 20.0 * t * t, clock=clock)
    with EnergyMeter([gpu], sample_period_s=None, clock=clock, timeline_points=32) as meter:
        with meter.window("w") as w:
            for _ in range(400):
                clock.advance(0.01)
                meter.sample()
    m = w.measurement
    assert 1 <= len(m.timeline) <= 32
    step_s = m.duration_s / len(m.timeline)
    assert sum(p for _, p in m.timeline) * step_s == pytest.approx(m.energy_j, rel=1e-9)
    assert m.timeline[-1][1] > m.timeline[0][1]  # power rises
