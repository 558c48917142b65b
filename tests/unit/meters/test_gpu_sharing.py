"""A GPU that other processes use too: scripted NVML answers through the sensor interface (pynvml mocked)."""

from __future__ import annotations

from types import SimpleNamespace

import pynvml
import pytest

from powertrain.meters import EnergyMeter, Machine, NvmlEnergySensor
from powertrain.meters.testing import FakeClock, ScriptedAttribution

RUN_PIDS = {100, 101}


@pytest.fixture
def nv(mocker, monkeypatch):
    """One GPU with an energy counter rising 300 J per fake second."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    mock = mocker.patch("powertrain.meters.nvml.pynvml", autospec=True)
    mock.nvmlDeviceGetHandleByIndex.side_effect = lambda i: f"handle-{i}"
    mock.nvmlDeviceGetGraphicsRunningProcesses.return_value = []
    return mock


def procs(*pids: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid in pids]


def sample(pid: int, t_us: int, sm: float) -> SimpleNamespace:
    return SimpleNamespace(pid=pid, timeStamp=t_us, smUtil=sm, memUtil=0, encUtil=0, decUtil=0)


def run(nv, clock: FakeClock, scope, seconds: float = 4.0, rounds: int = 4):
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: int(clock() * 300_000)
    sensor = NvmlEnergySensor(0, 0, clock=clock)
    with EnergyMeter([sensor], sample_period_s=None, clock=clock, attribution=scope) as meter:
        with meter.window("w") as w:
            for _ in range(rounds):
                clock.advance(seconds / rounds)
                meter.sample()
    sensor.close()
    return w.measurement


def test_a_gpu_only_the_run_uses_is_the_runs(nv):
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(100)
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    assert m.energy_j == pytest.approx(1200.0) and m.unattributed_j == 0.0
    assert "shared_s" not in m.attribution["devices"]["gpu:0"]


def test_a_shared_gpu_is_split_by_the_processes_sm_utilisation(nv):
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(100, 101, 200)
    stamps = iter(range(1, 100))

    def utilisation(handle, last_seen_us):
        t = next(stamps) * 1000
        return [sample(100, t, 40.0), sample(101, t, 20.0), sample(200, t, 20.0), sample(100, 0, 99.0)]  # stale one

    nv.nvmlDeviceGetProcessUtilization.side_effect = utilisation
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    # the first poll opens the window (no interval yet); the run has 60 of 80 % in every later interval
    assert m.energy_j == pytest.approx(1200.0 * 0.75)
    assert m.machine_total_j == pytest.approx(1200.0) and m.unattributed_j == pytest.approx(300.0)
    gpu = m.attribution["devices"]["gpu:0"]
    assert gpu["status"] == "shared, split by utilisation"
    assert gpu["other_processes"] == 1 and gpu["shared_s"] == pytest.approx(4.0) and gpu["unsplit_s"] == 0.0


def test_an_idle_shared_gpu_is_split_by_process_count(nv):
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(100, 200, 201)
    nv.nvmlDeviceGetProcessUtilization.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    assert m.energy_j == pytest.approx(1200.0 / 3)


def test_no_per_process_samples_flags_the_gpu_shared_not_attributed(nv):
    """MIG or a driver without samples: the whole device stays in, labelled, never silently."""
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(100, 200)
    nv.nvmlDeviceGetProcessUtilization.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    assert m.energy_j == pytest.approx(1200.0)
    gpu = m.attribution["devices"]["gpu:0"]
    assert gpu["status"] == "shared, not attributed" and gpu["unsplit_s"] == pytest.approx(4.0)
    assert any("shared, not attributed" in warning for warning in m.warnings)


def test_pids_from_another_namespace_are_said_to_be_unmatched(nv):
    """Inside a container NVML reports host PIDs: none is the run's, so the probe says it cannot tell."""
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(98765)
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    assert m.attribution["devices"]["gpu:0"]["status"] == "shared, not attributed"
    assert any("none is the run's" in warning for warning in m.warnings)


def test_the_runs_own_processes_are_not_others(nv):
    """Two ranks of one job on one GPU: both are the run's (a scope with both roots), nothing is split off."""
    clock = FakeClock()
    nv.nvmlDeviceGetComputeRunningProcesses.return_value = procs(100, 101)
    m = run(nv, clock, ScriptedAttribution(clock, pids=RUN_PIDS))
    assert m.energy_j == pytest.approx(1200.0) and "shared_s" not in m.attribution["devices"]["gpu:0"]


def test_machine_scope_never_asks_nvml_for_processes(nv):
    clock = FakeClock()
    m = run(nv, clock, Machine())
    assert m.energy_j == pytest.approx(1200.0)
    nv.nvmlDeviceGetComputeRunningProcesses.assert_not_called()


def test_gpu_clocks_and_power_limit_are_recorded_where_nvml_gives_them(nv):
    nv.nvmlDeviceGetTotalEnergyConsumption.return_value = 1000
    nv.nvmlDeviceGetClockInfo.side_effect = lambda h, kind: {nv.NVML_CLOCK_SM: 1980, nv.NVML_CLOCK_MEM: 2619}[kind]
    nv.nvmlDeviceGetPowerManagementLimit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    sensor = NvmlEnergySensor(0, 0)
    with EnergyMeter([sensor], sample_period_s=None, attribution=Machine()) as meter:
        conditions = meter.describe()["conditions"]
    sensor.close()
    assert conditions["devices"]["gpu:0"] == {"sm_clock_mhz": 1980.0, "memory_clock_mhz": 2619.0}
    assert conditions["logical_cpus"] >= 1
