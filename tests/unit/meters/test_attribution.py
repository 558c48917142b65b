"""Attribution in the meter, on scripted CPU times: the run's share of host energy, exact and additive."""

from __future__ import annotations

import random

import pytest

from powertrain.errors import ConfigError
from powertrain.meters import Cgroup, EnergyMeter, Machine, ProcessTree, make_attribution
from powertrain.meters.testing import FakeClock, ScriptedAttribution, ScriptedCounterSensor, ScriptedPowerSensor


def rapl(clock: FakeClock, watts, *, idle_power_w: float | None = None, device: str = "cpu:package-0"):
    sensor = ScriptedPowerSensor(watts if callable(watts) else [watts], device=device, component="cpu", clock=clock)
    sensor.idle_power_w = idle_power_w
    return sensor


def measure(sensors, scope, clock: FakeClock, seconds: float = 10.0):
    with EnergyMeter(sensors, sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("w") as w:
            clock.advance(seconds)
    return w.measurement


def test_known_idle_power_active_by_busy_share_idle_by_capacity_share():
    clock = FakeClock()
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=2.0, logical_cpus=4)
    m = measure([rapl(clock, 40.0, idle_power_w=10.0)], scope, clock)
    # 400 J: 100 J idle (10 W), 300 J active; the run has 1 of 3 busy CPUs and 1 of 4 CPUs of capacity
    assert m.machine_total_j == pytest.approx(400.0)
    assert (m.dynamic_j, m.static_j) == (pytest.approx(100.0), pytest.approx(25.0))
    assert m.energy_j == pytest.approx(125.0)
    assert m.energy_j + m.unattributed_j == pytest.approx(m.machine_total_j)
    assert m.energy_by_device_j == {"cpu:package-0": pytest.approx(125.0)}
    assert m.machine_energy_by_device_j == {"cpu:package-0": pytest.approx(400.0)}
    assert m.attribution["scope"] == "process"
    assert "Kepler" in m.attribution["devices"]["cpu:package-0"]["rule"]


def test_unknown_idle_power_is_split_by_the_machines_busy_fraction_as_kepler_does():
    clock = FakeClock()
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=0.0, logical_cpus=4)
    m = measure([rapl(clock, 40.0)], scope, clock)
    # busy 1 of 4 CPUs: active 100 J (all the run's), idle 300 J of which the run occupies a quarter
    assert (m.dynamic_j, m.static_j) == (pytest.approx(100.0), pytest.approx(75.0))
    assert m.unattributed_j == pytest.approx(225.0)


def test_a_cpu_bound_runs_figure_does_not_depend_on_what_else_runs():
    """Same work (10 CPU-seconds): alone, and sharing 2 CPUs with two busy loops (so it runs 1.5x longer)."""

    def power_w(busy_cpus: float) -> float:
        return 20.0 + 15.0 * busy_cpus  # idle 20 W, 15 W per busy CPU

    figures = []
    for run_cpus, others_cpus in ((1.0, 0.0), (2 / 3, 4 / 3)):
        clock = FakeClock()
        sensor = rapl(clock, power_w(run_cpus + others_cpus), idle_power_w=20.0)
        scope = ScriptedAttribution(clock, run_cpus=run_cpus, others_cpus=others_cpus, logical_cpus=2)
        figures.append(measure([sensor], scope, clock, seconds=10.0 / run_cpus).energy_j)
    assert figures[1] / figures[0] == pytest.approx(1.0)


def test_irq_time_is_no_process_and_steal_time_is_nobodys():
    clock = FakeClock()
    scope = ScriptedAttribution(clock, run_cpus=1.0, irq_cpus=1.0, steal_cpus=1.0, logical_cpus=4)
    m = measure([rapl(clock, 40.0, idle_power_w=0.0)], scope, clock)
    assert m.dynamic_j == pytest.approx(200.0)  # active energy split between the run and interrupts
    assert m.conditions["irq_cpu_s"] == pytest.approx(10.0) and m.conditions["steal_cpu_s"] == pytest.approx(10.0)


def test_windows_add_up_exactly_for_the_run_and_the_machine():
    rng = random.Random(1)
    clock = FakeClock()
    sensors = [
        rapl(clock, lambda t: 30.0 + 10.0 * (t % 1.0), idle_power_w=12.0),
        ScriptedCounterSensor(lambda t: 5.0 * t, device="cpu:dram-0", component="dram", clock=clock),
        ScriptedCounterSensor(lambda t: 200.0 * t, clock=clock),  # a GPU nobody else uses
    ]
    scope = ScriptedAttribution(clock, run_cpus=lambda t: 0.7 * t + 0.2 * (t % 0.5), others_cpus=0.6, logical_cpus=2)
    parts = []
    with EnergyMeter(sensors, sample_period_s=None, clock=clock, attribution=scope) as meter:
        meter.begin("whole")
        w = None
        for _ in range(80):
            with meter.window("step", after=w) as w:
                clock.advance(rng.uniform(0.0, 0.2))
                if rng.random() < 0.5:
                    meter.sample()
            parts.append(w)
        total = meter.end("whole")
    measurements = [p.measurement for p in parts]
    for field in ("energy_j", "machine_total_j", "unattributed_j", "dynamic_j", "static_j"):
        assert sum(getattr(m, field) for m in measurements) == pytest.approx(getattr(total, field), rel=1e-9)
    for m in [*measurements, total]:
        assert m.energy_j + m.unattributed_j == pytest.approx(m.machine_total_j, abs=1e-9)
        assert m.dynamic_j + m.static_j == pytest.approx(m.energy_j, abs=1e-9)
    assert total.energy_by_device_j["gpu:0"] == pytest.approx(total.machine_energy_by_device_j["gpu:0"])
    assert 0 < total.energy_by_device_j["cpu:package-0"] < total.machine_energy_by_device_j["cpu:package-0"]


def test_machine_scope_is_the_whole_machine():
    clock = FakeClock()
    m = measure([rapl(clock, 40.0, idle_power_w=10.0)], Machine(), clock)
    assert m.energy_j == m.machine_total_j == pytest.approx(400.0)
    assert (m.dynamic_j, m.static_j, m.unattributed_j) == (pytest.approx(300.0), pytest.approx(100.0), 0.0)
    assert m.attribution["scope"] == "machine"


def test_a_scope_that_fails_mid_run_falls_back_to_the_machine_labelled():
    clock = FakeClock()
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    sensor = rapl(clock, 40.0, idle_power_w=0.0)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("before") as before:
            clock.advance(10.0)
            meter.sample()
        scope.broken = True
        with meter.window("after") as after:
            clock.advance(10.0)
            meter.sample()
    assert before.measurement.energy_j == pytest.approx(200.0)
    assert "failed" not in before.measurement.attribution
    m = after.measurement
    assert m.energy_j == pytest.approx(400.0) and m.unattributed_j == 0.0
    assert "gone" in m.attribution["failed"] and "machine" in m.attribution["fallback"]
    assert any("attribution failed" in warning for warning in m.warnings)


def test_the_live_figures_are_the_runs():
    clock = FakeClock()
    scope = ScriptedAttribution(clock, run_cpus=1.0, others_cpus=1.0, logical_cpus=2)
    with EnergyMeter([rapl(clock, 40.0, idle_power_w=0.0)], sample_period_s=None, clock=clock, attribution=scope) as m:
        clock.advance(1.0)
        m.sample()
        assert m.energy_j() == pytest.approx(20.0) and m.energy_j(machine=True) == pytest.approx(40.0)
        assert m.energy_by_device_j() == {"cpu:package-0": pytest.approx(20.0)}
        assert m.power_w() == pytest.approx(20.0) and m.power_w(machine=True) == pytest.approx(40.0)
        assert m.describe()["attribution"]["scope"] == "process"


def test_words_become_scopes_and_a_bad_word_is_one_clear_error():
    assert isinstance(make_attribution(None), ProcessTree)
    assert isinstance(make_attribution("process"), ProcessTree)
    assert isinstance(make_attribution("machine"), Machine)
    with pytest.raises(ConfigError, match="one of process, cgroup, machine"):
        make_attribution("container")
    with pytest.raises(ConfigError, match="does not exist"):
        make_attribution("cgroup:/no/such/cgroup")


def fake_cgroup(tmp_path, usage_usec: int, procs=(1,)):
    (tmp_path / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 0\nsystem_usec 0\n")
    (tmp_path / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
    return tmp_path


def test_cgroup_cpu_time_counts_from_open_and_its_pids_are_the_runs(tmp_path):
    group = Cgroup(fake_cgroup(tmp_path, 5_000_000, procs=(11, 12)))
    group.open()
    fake_cgroup(tmp_path, 7_500_000, procs=(11, 12, 13))
    assert group.cpu_s() == pytest.approx(2.5)
    assert group.pids() == {11, 12, 13}
    assert group.describe()["scope"] == "cgroup" and "cpu.stat" in group.describe()["method"]


def test_cgroup_v1_cpuacct_usage_is_read_in_nanoseconds(tmp_path):
    (tmp_path / "cpuacct.usage").write_text("1000000000\n")
    group = Cgroup(tmp_path)
    group.open()
    (tmp_path / "cpuacct.usage").write_text("3500000000\n")
    assert group.cpu_s() == pytest.approx(2.5)


def test_a_cgroup_without_cpu_accounting_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no CPU accounting"):
        Cgroup(tmp_path)


def test_a_cgroup_file_that_vanishes_mid_run_gives_a_labelled_fallback(tmp_path):
    clock = FakeClock()
    path = fake_cgroup(tmp_path, 0)
    sensor = rapl(clock, 40.0, idle_power_w=0.0)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=Cgroup(path)) as meter:
        clock.advance(1.0)
        (path / "cpu.stat").unlink()
        with meter.window("w") as w:
            clock.advance(1.0)
            meter.sample()
    m = w.measurement
    assert "cpu.stat" in m.attribution["failed"] and m.energy_j == pytest.approx(m.machine_total_j)
    assert any("attribution failed" in warning for warning in m.warnings)
