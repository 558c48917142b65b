"""The energy-aware pruners on plain Optuna studies (in memory), as a user's own Optuna code would use them, and the
energy pruner inside the sweep engine (a real tiny sweep with a constant-power test sensor)."""

import threading
import time

import optuna
import pytest

from powertrain.meters.base import Reading, Sensor
from powertrain.study import (
    EnergyAwarePruner,
    EnergySuccessiveHalvingPruner,
    SearchSpace,
    SweepConfig,
    TrialSpec,
    report_energy,
    sweep,
)
from powertrain.training import TrainConfig

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


class _Work(Sensor):
    """A CPU counter at 200 W of the training thread's CPU time: joules follow the work done, not the wall time that a
    busy machine stretches (with a wall-clock sensor, a trial stalled by other processes looked many times dearer)."""

    name, device, component, kind = "work", "cpu:test", "cpu", "counter"

    def __init__(self) -> None:
        self._cpu_clock = time.pthread_getcpuclockid(threading.main_thread().ident)  # the sweep trains in this thread

    def read(self) -> Reading:
        return Reading(timestamp_s=time.monotonic(), energy_j=200.0 * time.clock_gettime(self._cpu_clock))


@pytest.fixture
def one_thread():
    """Train on one thread: the training thread's CPU time is then all the work (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(epochs):
    """A tiny synthetic run that stops at 50 % accuracy (lr 0.2 reaches it within an epoch or two, 1e-7 never).

    Measured machine-wide on one thread, so that the scripted counter of the training thread's CPU time is the run's
    energy as it is (these tests are about the pruning rule, not attribution).
    """
    return TrainConfig(
        dataset="synthetic", model="mlp", epochs=epochs, batch_size=32, device="cpu", estimate_batch_size=0,
        image_size=8, channels=1, meter_interval_s=0.02, target_accuracy=0.5, stop_at_target=True,
        dataset_options={"num_classes": 4, "train_size": 256, "test_size": 64}, attribution="machine", threads=1,
    )  # fmt: skip


def test_the_sweep_engine_turns_the_best_energy_to_target_into_a_budget_that_stops_a_hopeless_trial(
    tmp_path, one_thread
):
    train = _tiny(epochs=40)
    space = SearchSpace.parse(None, [TrialSpec("fast", {"lr": 0.2}), TrialSpec("hopeless", {"lr": 1e-7})])
    config = SweepConfig(train=train, space=space, sampler="grid", pruner="energy", study="budget", out=tmp_path)
    result = sweep(config, sensors=[_Work()])
    fast, hopeless = (next(t for t in result.trials if t.get("run_name") == n) for n in ("fast", "hopeless"))
    best_j = fast.get("energy_to_target_j")
    assert fast.state == "complete" and best_j is not None and fast.get("pruning_budget_j") is None
    assert hopeless.get("pruning_budget_j") == pytest.approx(best_j)  # the best so far, as the run's budget
    assert hopeless.state == "pruned" and hopeless.get("train_status") == "budget_exhausted"
    # the rule, whatever each epoch cost: every epoch it went on after ended below the best, and it stopped (mid-epoch
    # or at an epoch's end) once it had spent at least the best
    curve = hopeless.get("curve")
    assert all(point[1] < best_j for point in curve[:-1])
    assert curve[-1][1] >= best_j and hopeless.get("energy_j") >= best_j
    assert len(hopeless.get("curve")) < 40 and result.best.get("run_name") == "fast"
    # what pruning saved is extrapolated from its complete epochs: none when the budget cut its first epoch short
    assert result.pruning["pruned_trials"] == 1
    assert (result.pruning["not_spent_upper_j"] > 0) == (hopeless.get("epochs_completed") >= 1)


def test_breadth_first_rounds_find_the_cheap_setup_before_a_hopeless_one_runs_long(tmp_path, one_thread):
    import csv
    import json

    train = _tiny(epochs=8)
    # the hopeless setup comes first: run depth-first it would train all 8 epochs before the fast one starts
    space = SearchSpace.parse(None, [TrialSpec("hopeless", {"lr": 1e-7}), TrialSpec("fast", {"lr": 0.2})])
    config = SweepConfig(
        train=train, space=space, sampler="grid", pruner="energy", round_epochs=1, study="rounds", out=tmp_path
    )
    result = sweep(config, sensors=[_Work()])
    rounds = [t for t in result.trials if t.get("run_name") == "hopeless"]
    assert [t.state for t in rounds][0] == "paused" and rounds[-1].state == "pruned"
    assert [t.get("round") or 1 for t in rounds] == list(range(1, len(rounds) + 1))
    assert result.best.get("run_name") == "fast" and result.counts.get("complete") == 1
    # every joule once: the study's total is the two runs' own totals, however many rounds they took
    runs = {n: json.loads((tmp_path / "runs" / n / "summary.json").read_text()) for n in ("hopeless", "fast")}
    assert result.energy["total_j"] == pytest.approx(sum(r["energy"]["total_j"] for r in runs.values()))
    energy = result.energy  # the rounds count under the state their configuration ended in
    assert energy["paused_j"] == 0 and energy["complete_j"] + energy["pruned_j"] == pytest.approx(energy["total_j"])
    assert result.run_spent_j(rounds[-1]) == pytest.approx(runs["hopeless"]["energy"]["total_j"])
    rows = list(csv.DictReader((tmp_path / "runs" / "hopeless" / "metrics.csv").open()))
    epochs = [int(r["epoch"]) for r in rows]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 8  # each epoch once, and far fewer than 8
    # the rule, whatever each epoch cost: the fast setup reached the target in round k, so from round k + 1 on the
    # hopeless one started an epoch only while below the best, and it stopped once it had spent at least the best
    best_j, k = result.best.get("energy_to_target_j"), result.best.get("epochs_to_target")
    assert all(float(r["energy_j"]) < best_j for r in rows[k - 1 : -1])
    assert runs["hopeless"]["energy"]["total_j"] >= best_j
    # the report shows one row per setup, each with all its rounds' energy
    from powertrain.report._load import load_sweep_folder

    shown = load_sweep_folder(tmp_path).trials
    assert sorted(t.name for t in shown) == ["fast", "hopeless"]
    assert sum(t.spent_j for t in shown) == pytest.approx(energy["total_j"])


def test_a_paused_round_whose_worker_died_before_enqueueing_the_next_one_gets_it(tmp_path):
    from optuna.distributions import CategoricalDistribution

    from powertrain.study.engine.loop import enqueue_missing_rounds

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    study.add_trial(
        optuna.create_trial(
            state=optuna.trial.TrialState.PRUNED, params={"lr": 0.1},
            distributions={"lr": CategoricalDistribution([0.1, 0.2])},
            user_attrs={"run_name": "lr=0.1", "paused": True, "round": 2, "energy_j": 50.0, "worker": "h:1"},
        )
    )  # fmt: skip
    assert enqueue_missing_rounds(study, settle_s=0) == [0]
    assert enqueue_missing_rounds(study, settle_s=0) == []  # once
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == {"lr": 0.1}
    assert waiting[0].user_attrs["round"] == 3 and "paused" not in waiting[0].user_attrs
    assert "worker" not in waiting[0].user_attrs and waiting[0].user_attrs["energy_j"] == 50.0
