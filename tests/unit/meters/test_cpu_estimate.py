"""The CPU estimate: busy core-seconds x watts per core, for the machine and (in a meter) for the run."""

from __future__ import annotations

import pytest

from powertrain.errors import ConfigError
from powertrain.meters import CpuEstimateSensor, EnergyMeter
from powertrain.meters._cpustat import MachineTimes
from powertrain.meters.testing import FakeClock, ScriptedAttribution


def scripted_machine(monkeypatch, samples):
    it = iter(samples)
    monkeypatch.setattr("powertrain.meters._cpustat.read_machine_times", lambda: next(it))


def test_energy_is_busy_core_seconds_times_watts_per_core(monkeypatch):
    scripted_machine(
        monkeypatch,
        [
            MachineTimes(0.0, 0.0, 0.0, 0.0),
            MachineTimes(30.0, 2.0, 60.0, 8.0),  # 30 s in processes + 2 s of interrupts; steal is not ours
            MachineTimes(30.0, 2.0, 60.0, 8.0),  # nothing since: the same cumulative figure
        ],
    )
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=5.0, cores=8, clock=clock)
    clock.advance(100.0)
    reading = sensor.read()
    assert reading.energy_j == pytest.approx(32.0 * 5.0)
    assert reading.timestamp_s == 100.0
    assert sensor.read().energy_j == pytest.approx(32.0 * 5.0)
    assert (sensor.kind, sensor.source, sensor.component) == ("counter", "estimated", "cpu")


def test_busy_hardware_threads_count_at_most_one_core_each(monkeypatch):
    """SMT: 2 logical CPUs on 1 core, both busy for 10 s: one core's power, not two."""
    scripted_machine(monkeypatch, [MachineTimes(0.0, 0.0, 0.0, 0.0), MachineTimes(20.0, 0.0, 0.0, 0.0)])
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=1, clock=clock)
    clock.advance(10.0)
    assert sensor.read().energy_j == pytest.approx(10.0 * 10.0)


def test_the_run_is_charged_its_own_cpu_seconds_not_the_machines():
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=2, clock=clock)
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("w") as w:
            clock.advance(4.0)
            meter.sample()
    m = w.measurement
    assert m.energy_j == pytest.approx(40.0)  # 1 CPU x 10 W x 4 s
    assert m.machine_total_j == pytest.approx(80.0)
    assert m.unattributed_j == pytest.approx(40.0)
    assert (m.dynamic_j, m.static_j) == (pytest.approx(40.0), 0.0)
    assert m.estimated and m.source_by_device == {"cpu:estimate": "estimated"}
    assert m.conditions["run_cpus"] == pytest.approx(1.0) and m.conditions["others_load"] == pytest.approx(1.0)


def test_a_lone_run_on_an_smt_host_is_charged_one_core_per_busy_thread():
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=2, clock=clock)
    lone = ScriptedAttribution(clock, run_cpus=1.0, logical_cpus=4, physical_cores=2)
    both = ScriptedAttribution(clock, run_cpus=4.0, logical_cpus=4, physical_cores=2)
    figures = []
    for scope in (lone, both):
        with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
            with meter.window("w") as w:
                clock.advance(1.0)
        figures.append(w.measurement.energy_j)
    assert figures == [pytest.approx(10.0), pytest.approx(20.0)]  # 1 thread: 1 core; 4 threads on 2 cores: 2 cores


@pytest.mark.parametrize("kwargs", [{"per_core_power_w": -1.0}, {"cores": -2}])
def test_bad_figures_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        CpuEstimateSensor(**kwargs)


@pytest.mark.parametrize("interval_s", [0.001, 0.003, 0.01, 0.1])
def test_energy_is_the_same_at_any_sampling_interval(interval_s):
    """/proc/stat moves in 10 ms ticks: the machine's ticks are coarse, the run's CPU time is exact."""
    clock = FakeClock()

    def ticked(t_s: float) -> float:  # one of two CPUs busy with others' work, counted in whole 10 ms ticks
        return int(t_s / 0.01 + 1e-9) * 0.01

    sensor = CpuEstimateSensor(per_core_power_w=10.0, cores=2, clock=clock)
    scope = ScriptedAttribution(clock, run_cpus=0.5, others_cpus=ticked, logical_cpus=2)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("busy") as w:
            for _ in range(round(2.0 / interval_s)):
                clock.advance(interval_s)
                meter.sample()
    m = w.measurement
    assert m.energy_j == pytest.approx(0.5 * 10.0 * m.duration_s, rel=1e-9)  # the run's: exact
    assert m.machine_total_j == pytest.approx(1.5 * 10.0 * m.duration_s, rel=0.02)


def test_a_run_shorter_than_a_tick_is_never_zero():
    clock = FakeClock()
    sensor = CpuEstimateSensor(per_core_power_w=5.0, cores=2, clock=clock)
    scope = ScriptedAttribution(clock, run_cpus=lambda t: min(t, 0.003), others_cpus=0.0, logical_cpus=2)
    scope.machine_times = lambda: scope_machine_without_ticks()  # the machine's ticks have not moved yet

    def scope_machine_without_ticks() -> MachineTimes:
        return MachineTimes(0.0, 0.0, 0.0, 0.0)

    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("tiny") as w:
            clock.advance(0.004)
    m = w.measurement
    assert m.energy_j == pytest.approx(0.003 * 5.0)
    assert m.machine_total_j >= m.energy_j > 0
