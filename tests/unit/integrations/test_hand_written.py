"""The hand-written loop of examples/ runs as shipped, and the EnergyTracker's own contract."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from powertrain.carbon import CarbonSettings, UnknownLocationError
from powertrain.errors import ConfigError
from powertrain.integrations import EnergyTracker
from powertrain.meters.testing import FakeClock, ScriptedCounterSensor, ScriptedPowerSensor

EXAMPLE = Path(__file__).parents[3] / "examples" / "hand_written_loop.py"


def test_example_loop_measures_each_epoch_and_eat_sparsifies(capsys, steady_cpu_estimate):
    main = runpy.run_path(str(EXAMPLE), run_name="example")["main"]
    eat = main(epochs=2, lam=2.0, batch_size=256)
    standard = main(epochs=2, lam=0.0, batch_size=256)
    assert [r["epoch"] for r in eat] == [1, 2]
    assert all(r["energy_j"] > 0 and r["power_w"] == pytest.approx(20.0) for r in eat + standard)  # what it found
    assert eat[-1]["density"] < standard[-1]["density"]
    assert "epoch 2:" in capsys.readouterr().out


def _tracker(clock, **options):
    gpu = ScriptedCounterSensor(lambda t: 300.0 * t, clock=clock)
    cpu = ScriptedPowerSensor([50.0], device="cpu:package-0", component="cpu", clock=clock)
    return EnergyTracker(sensors=[gpu, cpu], sample_period_s=None, clock=clock, attribution="machine", **options)


def test_segments_epochs_steps_and_target_add_up(tmp_path):
    # approx to the last bits: the machine's CPU times (real /proc/stat) split each interval into dynamic and static
    # joules, and their sum may differ from the interval's joules in the last bit
    clock = FakeClock()
    tracker = _tracker(
        clock, target_metric="loss", target=0.5, mode="min", carbon=lambda j, s: {"co2e_kg": j / 3.6e6 * 0.3}
    ).start()
    for epoch, loss in ((1, 0.9), (2, 0.4), (3, 0.3)):
        tracker.begin_epoch()
        for _ in range(3):
            with tracker.step():
                clock.advance(1.0)
        assert [e for _, e, _ in tracker.flush_steps()] == pytest.approx([350.0] * 3, rel=1e-12)
        tracker.cut("train")
        clock.advance(2.0)
        assert tracker.cut("eval").energy_j == pytest.approx(700.0, rel=1e-12)
        figures = tracker.end_epoch({"loss": loss})
        assert figures["epoch"] == epoch and figures["epoch_energy_j"] == pytest.approx(5 * 350.0, rel=1e-12)
    assert figures["energy_to_target_j"] == pytest.approx(2 * 5 * 350.0, rel=1e-12) and figures["epoch_co2e_kg"] > 0
    clock.advance(1.0)
    summary = tracker.finish(path=tmp_path / "s.json")
    assert summary["energy_j"] == pytest.approx(16 * 350.0, rel=1e-12)
    assert summary["energy_by_phase_j"]["other"] == pytest.approx(350.0, rel=1e-12)
    assert summary["energy_by_component_j"] == pytest.approx({"gpu": 16 * 300.0, "cpu": 16 * 50.0}, rel=1e-12)
    assert summary["sources"] == {"gpu:0": "counter", "cpu:package-0": "integrated"}
    assert summary["target"]["epochs_to_target"] == 2 and summary["target"]["time_to_target_s"] == 10.0
    assert json.loads((tmp_path / "s.json").read_text())["energy_j"] == summary["energy_j"]


def test_resumed_tracker_continues_and_a_failed_run_keeps_its_energy():
    clock = FakeClock()
    first = _tracker(clock).start()
    clock.advance(2.0)
    first.end_epoch()
    state = json.loads(json.dumps(first.state()))  # what a checkpoint would hold
    clock.advance(5.0)  # spent after the checkpoint, then killed: never counted twice
    second = _tracker(clock)
    second.load_state(state)
    second.start()
    clock.advance(1.0)
    summary = second.finish(status="failed")
    assert summary["status"] == "failed" and summary["energy_j"] == 3 * 350.0
    assert [e["epoch"] for e in summary["epochs"]] == [1]


def test_co2e_from_powertrain_carbon_settings():
    clock = FakeClock()
    settings = CarbonSettings(intensity_g_per_kwh=400.0, pue=1.5)
    tracker = _tracker(clock, carbon=settings).start()
    clock.advance(36e6 / 350.0)  # 10 kWh (36 MJ) at 350 W
    figures = tracker.end_epoch()
    assert figures["epoch_energy_j"] == pytest.approx(36e6)
    assert figures["epoch_co2e_kg"] == pytest.approx(10 * 1.5 * 400 / 1000)  # kWh x PUE x g/kWh -> 6 kg
    carbon = tracker.finish()["carbon"]
    assert carbon["co2e_kg"] == carbon["operational_kg_co2e"] == pytest.approx(6.0)
    assert carbon["operational"]["intensity_provenance"]["kind"] == "user"
    assert carbon["embodied_kg_co2e"] > 0 and carbon["embodied"]["items"]  # shown beside, never added in
    assert EnergyTracker(carbon=False).carbon.enabled is False


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="both target_metric and target"):
        EnergyTracker(target=0.9)
    with pytest.raises(ConfigError, match="mode"):
        EnergyTracker(target_metric="acc", target=0.9, mode="up")
    with pytest.raises(UnknownLocationError, match="Atlantis"):
        EnergyTracker(carbon=CarbonSettings(country="Atlantis"))
    with pytest.raises(ConfigError, match="carbon must be"):
        EnergyTracker(carbon="DEU")


def test_energy_tracker_logs_epochs_to_trackers_on_rank_zero(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    clock = FakeClock()
    tracker = _tracker(clock, target_metric="acc", target=0.5, carbon=False, log=[f"tensorboard:{tmp_path / 'tb'}"],
                       run_name="mine", run_params={"lr": 0.1}).start()  # fmt: skip
    for accuracy in (0.4, 0.6):
        tracker.begin_epoch()
        clock.advance(2.0)
        tracker.end_epoch({"acc": accuracy})
    tracker.finish(path=tmp_path / "energy_summary.json")
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("energy/epoch_j")] == [(1, 700.0), (2, 700.0)]
    assert [(e.step, e.value) for e in acc.Scalars("energy/to_target_j")] == [(2, 1400.0)]
    assert [e.value for e in acc.Scalars("acc")] == pytest.approx([0.4, 0.6])
    assert (tmp_path / "tb" / "artifacts" / "energy_summary.json").exists()
    # the whole run at the last epoch's step: the run's own energy with the machine's beside it (machine scope here)
    assert [(e.step, e.value) for e in acc.Scalars("energy/run_total_j")] == [(2, 1400.0)]
    assert [(e.step, e.value) for e in acc.Scalars("energy/machine_total_j")] == [(2, 1400.0)]
    assert [(e.step, e.value) for e in acc.Scalars("energy/unattributed_j")] == [(2, 0.0)]
    with pytest.raises(ConfigError, match="unknown tracker"):
        _tracker(clock, log=["nope"])
