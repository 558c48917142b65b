"""Optuna in user code: energy per trial (complete, pruned, failed) and the energy-aware pruner of powertrain.study."""

from __future__ import annotations

import optuna
import pytest

from powertrain.carbon import CarbonSettings, operational_emissions
from powertrain.errors import ConfigError
from powertrain.integrations.optuna import EnergyAwarePruner, measure_energy, trial_energy
from powertrain.meters.testing import FakeClock, ScriptedPowerSensor
from powertrain.study import EnergyAwarePruner as SweepPruner

CURVES = {"fast": [0.5, 0.95, 0.97], "slow": [0.3, 0.4, 0.5, 0.6]}


def test_each_trial_gets_its_energy_and_a_slow_trial_is_pruned_by_energy():
    clock = FakeClock()
    sensor = ScriptedPowerSensor([100.0], device="cpu:package-0", component="cpu", clock=clock)

    @measure_energy(target_accuracy=0.9, sensors=[sensor], sample_period_s=None, clock=clock, attribution="machine")
    def objective(trial):
        kind = trial.suggest_categorical("kind", ["fast", "slow", "broken"])
        if kind == "broken":
            clock.advance(3.0)
            raise ValueError("diverged")
        for epoch, accuracy in enumerate(CURVES[kind], 1):
            clock.advance(10.0)  # one epoch at 100 W: 1000 J
            trial_energy().report(epoch, accuracy=accuracy)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", pruner=EnergyAwarePruner())
    for kind in ("fast", "slow", "broken"):
        study.enqueue_trial({"kind": kind})
    study.optimize(objective, n_trials=3, catch=(ValueError,))

    fast, slow, broken = study.trials
    assert fast.state == optuna.trial.TrialState.COMPLETE
    assert fast.user_attrs["energy_to_target_j"] == 2000.0 and fast.user_attrs["energy_j"] == 3000.0
    assert fast.user_attrs["first_epoch_energy_j"] == 1000.0
    # The slow trial passes 2000 J (the best energy-to-target) without reaching 0.9: pruned after epoch 3.
    assert slow.state == optuna.trial.TrialState.PRUNED
    assert slow.intermediate_values == {1: 0.3, 2: 0.4, 3: 0.5}
    assert slow.user_attrs["energy_j"] == 3000.0 and slow.user_attrs["energy_status"] == "pruned"
    assert "energy_to_target_j" not in slow.user_attrs
    # A failed trial's energy is recorded too: a study's cost includes it.
    assert broken.state == optuna.trial.TrialState.FAIL
    assert broken.user_attrs["energy_j"] == 300.0 and broken.user_attrs["energy_status"] == "failed"
    assert all(t.user_attrs["energy_sources"] == ["integrated"] for t in study.trials)
    # CO2e by default (world-average grid intensity and PUE): 3000 J of the fast trial.
    assert fast.user_attrs["co2e_kg"] == pytest.approx(operational_emissions(3000.0, CarbonSettings())["kg_co2e"])
    assert fast.user_attrs["embodied_kg_co2e"] > 0
    assert EnergyAwarePruner is SweepPruner  # one pruner, re-exported


def test_trial_energy_outside_an_objective_is_a_clear_error():
    with pytest.raises(ConfigError, match="measure_energy"):
        trial_energy()


def test_trials_run_as_threads_of_one_process_are_labelled_shared():
    """Optuna n_jobs=2: two trials overlap in one process; their figures cannot be split and say so."""
    import threading

    both_in = threading.Barrier(2, timeout=60)

    @measure_energy(carbon=False, sample_period_s=None, sensors=[ScriptedPowerSensor([10.0])], attribution="machine")
    def objective(trial):
        trial.suggest_int("x", 0, 1)
        both_in.wait()  # both trials are inside their measured call at once
        return 1.0

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    with pytest.warns(UserWarning, match="cannot be split"):
        study.optimize(objective, n_trials=2, n_jobs=2)
    for trial in study.trials:
        assert trial.user_attrs["energy_concurrent_trials"] == 2
        assert trial.user_attrs["energy_attribution"] == "machine, shared by 2 concurrent trials (threads)"


def test_a_trial_alone_is_labelled_with_its_scope():
    @measure_energy(carbon=False, sample_period_s=None, sensors=[ScriptedPowerSensor([10.0])])
    def objective(trial):
        return 1.0

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.user_attrs["energy_attribution"] == "process" and trial.user_attrs["energy_concurrent_trials"] == 1
    assert trial.user_attrs["machine_energy_j"] >= trial.user_attrs["energy_j"]
