"""The energy-aware pruners on plain Optuna studies (in memory), as a user's own Optuna code would use them."""

import optuna
import pytest

from powertrain.study import EnergyAwarePruner, EnergySuccessiveHalvingPruner, report_energy

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _run(study, epochs_to_target, *, joules_per_epoch=100.0, epochs=6, target=0.9):
    """One trial that reaches ``target`` after ``epochs_to_target`` epochs (None: never); returns (state, energy)."""
    trial = study.ask()
    for epoch in range(1, epochs + 1):
        reached = epochs_to_target is not None and epoch >= epochs_to_target
        report_energy(trial, epoch, accuracy=0.95 if reached else 0.5, energy_j=epoch * joules_per_epoch,
                      target_accuracy=target)  # fmt: skip
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return "pruned", trial.user_attrs["energy_j"]
        if reached:
            break
    study.tell(trial, trial.user_attrs.get("energy_to_target_j", float("inf")))
    return "complete", trial.user_attrs["energy_j"]


def test_energy_pruner_stops_a_trial_past_the_best_energy_to_target():
    study = optuna.create_study(pruner=EnergyAwarePruner())
    assert _run(study, None) == ("complete", 600.0)  # nothing to compare with yet: runs to the end
    assert _run(study, 2) == ("complete", 200.0)  # best energy-to-target: 200 J
    assert _run(study, None) == ("pruned", 300.0)  # stopped at the first epoch over 200 J
    assert _run(study, 5, joules_per_epoch=30.0) == ("complete", 150.0)  # cheaper epochs: reaches it at 150 J
    assert _run(study, 4) == ("pruned", 200.0)  # best is now 150 J
    assert study.best_trial.user_attrs["energy_to_target_j"] == 150.0


def test_energy_pruner_never_prunes_a_trial_that_reached_the_target_and_honours_the_margin():
    study = optuna.create_study(pruner=EnergyAwarePruner(margin=2.0))
    _run(study, 1)  # 100 J
    assert _run(study, 2) == ("complete", 200.0)  # 200 J is within 2x
    assert _run(study, None) == ("pruned", 300.0)
    with pytest.raises(ValueError, match="margin"):
        EnergyAwarePruner(margin=0)


def test_intermediate_values_are_the_error_when_the_study_minimizes():
    study = optuna.create_study(direction="minimize")
    trial = study.ask()
    report_energy(trial, 1, accuracy=0.8, energy_j=10.0)
    maximize = optuna.create_study(direction="maximize")
    other = maximize.ask()
    report_energy(other, 1, accuracy=0.8, energy_j=10.0)
    assert study.trials[0].intermediate_values == {1: pytest.approx(0.2)}
    assert maximize.trials[0].intermediate_values == {1: 0.8}


def test_successive_halving_on_energy_keeps_the_best_third_at_each_rung():
    pruner = EnergySuccessiveHalvingPruner(min_energy_j=100.0, reduction_factor=3)
    study = optuna.create_study(pruner=pruner, direction="maximize")
    assert pruner.rungs_j(study)[:3] == [100.0, 300.0, 900.0]
    outcomes = []
    for accuracy in (0.5, 0.6, 0.7, 0.4, 0.8):
        trial = study.ask()
        pruned = False
        for epoch in range(1, 5):
            report_energy(trial, epoch, accuracy=accuracy, energy_j=epoch * 100.0)
            if trial.should_prune():
                pruned = True
                break
        study.tell(trial, state=optuna.trial.TrialState.PRUNED) if pruned else study.tell(trial, accuracy)
        outcomes.append((accuracy, pruned, trial.user_attrs["energy_j"]))
    # the first three fill the rung (min_trials=3): only 0.7 is in the best third of [0.5, 0.6, 0.7]
    assert outcomes[0] == (0.5, False, 400.0) and outcomes[1] == (0.6, False, 400.0)
    assert outcomes[2] == (0.7, False, 400.0)
    assert outcomes[3] == (0.4, True, 100.0)  # worst at rung 0 once three trials are there
    assert outcomes[4] == (0.8, False, 400.0)  # the best continues


def test_successive_halving_waits_for_a_first_epoch_energy_when_none_is_given():
    pruner = EnergySuccessiveHalvingPruner()
    study = optuna.create_study(pruner=pruner)
    assert pruner.rungs_j(study) == []
    trial = study.ask()
    trial.set_user_attr("first_epoch_energy_j", 40.0)
    assert pruner.rungs_j(study)[:2] == [40.0, 120.0]
