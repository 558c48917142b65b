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
