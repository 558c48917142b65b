"""The sweep engine's answers to the faults of issue #24, one by one, on studies written with Optuna directly (the
harness of real killed workers is tests/cli/test_fault_harness.py)."""

from __future__ import annotations

import json
import sqlite3
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from powertrain.cli import main
from powertrain.errors import ConfigError, OutputError
from powertrain.meters import Reading, Sensor
from powertrain.study import load_sweep, merge_sweeps
from powertrain.study.engine.recovery import enqueue_copy, recover_lost_trials
from powertrain.study.engine.rounds import enqueue_missing_rounds

optuna.logging.set_verbosity(optuna.logging.WARNING)
LR = CategoricalDistribution([0.01, 0.1, 0.3])


def _trial(lr, state, *, energy, base=0.0, duration=1.0, base_s=0.0, run=None, **attrs):
    user = {"run_name": run or f"lr={lr}", "hardware": "cpu A", "energy_j": energy, "base_energy_j": base,
            "duration_s": duration, "base_duration_s": base_s, "config": {"epochs": 3}, **attrs}  # fmt: skip
    values = [energy] if state == TrialState.COMPLETE else None
    return optuna.create_trial(state=state, values=values, params={"lr": lr}, distributions={"lr": LR},
                               user_attrs=user)  # fmt: skip


def _study(folder, name, trials, objective=("energy",), target=None):
    folder.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
    study.set_user_attr("powertrain:config", {"objective": list(objective), "target_accuracy": target})
    for trial in trials:
        study.add_trial(trial)
    return folder


def _count(folder):
    with sqlite3.connect(folder / "study.db") as db:
        return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]


# -- 1, 2: merge -------------------------------------------------------------------------------------------------------
def test_a_study_merged_into_itself_is_refused_however_it_is_named(tmp_path, capsys, monkeypatch):
    folder = _study(tmp_path / "m", "m", [_trial(0.1, TrialState.COMPLETE, energy=2.5)])
    monkeypatch.chdir(tmp_path)
    for dest, source in (("m", "m"), ("./m", "m"), (f"sqlite:///{folder / 'study.db'}", "m"), ("m", "./m/")):
        assert main(["sweep", "merge", dest, source]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot be merged into itself" in err, err
    assert _count(folder) == 1 and load_sweep(folder).energy["total_j"] == 2.5  # was 3 -> 6 -> 12 trials


def test_merging_back_and_forth_copies_each_trial_once(tmp_path):
    a = _study(tmp_path / "a", "s", [_trial(0.1, TrialState.COMPLETE, energy=2.0)])
    b = _study(tmp_path / "b", "s", [_trial(0.3, TrialState.COMPLETE, energy=3.0)])
    merge_sweeps(tmp_path / "ab", [a, b])
    merge_sweeps(a, [tmp_path / "ab"])  # a gets b's trial, not its own back
    merge_sweeps(tmp_path / "ab", [a, b])  # nothing new
    assert load_sweep(a).energy["total_j"] == 5.0 and load_sweep(tmp_path / "ab").energy["total_j"] == 5.0


def test_an_incompatible_source_is_found_before_anything_is_merged(tmp_path, capsys):
    a = _study(tmp_path / "a", "a", [_trial(0.1, TrialState.COMPLETE, energy=2.0)])
    other = _study(tmp_path / "b", "b", [_trial(0.1, TrialState.COMPLETE, energy=2.0)], objective=("time",))
    assert main(["sweep", "merge", str(tmp_path / "dest"), str(a), str(other)]) == 2
    assert "cannot merge them" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()  # A's trials were copied before B was looked at
    merge_sweeps(tmp_path / "dest", [a])
    with pytest.raises(ConfigError, match="other objectives"):
        merge_sweeps(tmp_path / "dest", [other], study="a")
    assert _count(tmp_path / "dest") == 1


# -- 3: a failed run is never a complete trial -------------------------------------------------------------------------
def test_a_failed_run_that_cannot_be_resumed_stays_a_failed_trial_and_the_study_goes_on(tmp_path):
    from powertrain.study import SweepConfig, sweep
    from powertrain.study.engine.space import SearchSpace
    from powertrain.training import TrainConfig

    train = TrainConfig(dataset="synthetic", model="mlp", epochs=2, batch_size=32, device="cpu", estimate_batch_size=0,
                        image_size=8, channels=1, dataset_options={"num_classes": 2, "train_size": 64, "test_size": 32})
    config = SweepConfig(train=train, space=SearchSpace.parse({"seed": [0, 1]}, None), objective=["energy"],
                         study="s", out=str(tmp_path))  # fmt: skip
    # what a worker left when the disk filled at epoch 2's checkpoint, and then checkpoint.pt was lost too
    run = tmp_path / "runs" / "seed=0"
    run.mkdir(parents=True)
    import yaml

    (run / "config.yaml").write_text(yaml.safe_dump(config.space.config_for(train, {"seed": 0}).replace(
        out=str(run.resolve())).to_dict()))  # fmt: skip
    (run / "summary.json").write_text(json.dumps({"status": "failed", "final": True, "epochs_completed": 1,
                                                  "energy": {"total_j": 7.0}, "duration_s": 2.0,
                                                  "error": "OutputError: No space left on device"}))  # fmt: skip
    (run / "metrics.csv").write_text("epoch,complete,val_accuracy,energy_j,elapsed_s,train_energy_j,eval_energy_j\n"
                                     "1,1,0.5,7.0,2.0,6.0,1.0\n")  # fmt: skip
    result = sweep(config, sensors=[_Steady()])
    failed = next(t for t in result.trials if t.get("run_name") == "seed=0")
    assert failed.state == "fail" and "no checkpoint.pt" in failed.get("error")
    assert failed.get("train_status") == "failed" and failed.spent_j == 7.0  # what it spent is the study's cost
    assert result.energy["fail_j"] == 7.0
    assert [t.state for t in result.trials if t.get("run_name") == "seed=1"] == ["complete"]  # the study went on
    assert json.loads((run / "summary.json").read_text())["status"] == "failed"  # never read back as complete


def test_the_read_back_of_a_lost_trial_takes_only_runs_that_ended(tmp_path):
    from powertrain.study.engine.figures import existing_summary

    for status, read in (("completed", True), ("pruned", True), ("failed", False), ("interrupted", False)):
        folder = tmp_path / status
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"status": status, "final": True, "energy": {"total_j": 1}}))
        assert (existing_summary(folder) is not None) is read
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "summary.json").write_text('{"status": "completed", "final": true, "energy": 5}')
    assert existing_summary(tmp_path / "damaged") is None  # resumed (and rewritten), not read as a run of 0 J


# -- 4, 5, 6: what counts, and under which state ---------------------------------------------------------------------
def test_a_copy_records_the_run_s_energy_and_time_so_far_in_the_write_that_creates_it(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.add_trial(_trial(0.1, TrialState.PRUNED, energy=9.0, base=4.0, duration=3.0, base_s=1.0, paused=True))
    enqueue_copy(study, study.trials[0], {"powertrain:continues": 0}, round=2)
    copy = study.trials[1]
    assert copy.state == TrialState.WAITING
    assert (copy.user_attrs["base_energy_j"], copy.user_attrs["base_duration_s"]) == (9.0, 3.0)
    assert copy.user_attrs["energy_j"] == 9.0  # so from its claim on, it spends 0 J until its run adds more


def test_a_configuration_s_attempts_and_rounds_count_under_the_state_it_ended_in(tmp_path):
    folder = _study(tmp_path / "s", "s", [
        _trial(0.01, TrialState.PRUNED, energy=10.0, duration=1.0, paused=True, round=1),
        _trial(0.01, TrialState.FAIL, energy=10.0, base=10.0, duration=1.0, base_s=1.0, round=2),  # killed in round 2
        _trial(0.01, TrialState.PRUNED, energy=25.0, base=10.0, duration=2.5, base_s=1.0, round=2),  # then pruned
        _trial(0.1, TrialState.FAIL, energy=7.0, duration=0.7, run="lost"),  # a finished run, lost before its tell
        _trial(0.1, TrialState.COMPLETE, energy=7.0, base=7.0, duration=0.7, base_s=0.7, run="lost"),  # read back
    ])  # fmt: skip
    result = load_sweep(folder)
    energy = result.energy
    assert energy == {"total_j": 32.0, "complete_j": 7.0, "pruned_j": 25.0, "paused_j": 0.0, "fail_j": 0.0,
                      "running_j": 0.0, "lost_j": 0.0}  # fmt: skip
    rows = {t.number: result.run_spent_j(t) for t in result.trials}
    assert rows == {0: 0.0, 1: 0.0, 2: 25.0, 3: 0.0, 4: 7.0}  # the retry that completed shows the run's 7 J
    assert [t.spent_s for t in result.trials] == pytest.approx([1.0, 0.0, 1.5, 0.7, 0.0])  # durations differenced
    carbon = result.to_dict()["carbon"]
    assert carbon["duration_s"] == pytest.approx(2.5 + 0.7)  # the runs' own durations, not their cumulative sums


def test_trials_of_older_versions_without_base_duration_take_it_off_their_curve(tmp_path):
    old = _trial(0.1, TrialState.COMPLETE, energy=30.0, base=10.0, duration=3.0,
                 curve=[[1, 10.0, 1.0, 0.3], [2, 20.0, 2.0, 0.4], [3, 30.0, 3.0, 0.5]])  # fmt: skip
    del old.user_attrs["base_duration_s"]
    (trial,) = load_sweep(_study(tmp_path / "s", "s", [old])).trials
    assert trial.spent_s == pytest.approx(2.0)  # 3 s in all, 1 s already counted by the round that spent 10 J


# -- lost trials: the orphan of a kill at the claim, a paused round of a dead worker ----------------------------------
def test_an_orphan_claimed_without_a_worker_is_retried_once_grace_s_has_passed(tmp_path):
    import datetime as dt

    from powertrain.study.engine.recovery import orphans

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.enqueue_trial({"lr": 0.1}, user_attrs={"run_name": "lr=0.1"})
    trial_id = study.trials[0]._trial_id
    assert study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)  # claimed; then the kill
    assert orphans(study, 3600, ready=True) == [] and len(orphans(study, 3600, ready=False)) == 1  # too young yet
    started = study.trials[0].datetime_start
    assert started is not None and dt.datetime.now() - started < dt.timedelta(hours=1)

    class Config:
        grace_s, max_retries = 0, 3

    assert recover_lost_trials(study, Config()) == [0]  # type: ignore[arg-type]
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.WAITING] and study.trials[1].user_attrs["run_name"] == "lr=0.1"


def test_a_paused_round_of_a_dead_worker_of_this_machine_continues_at_once(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.add_trial(_trial(0.1, TrialState.PRUNED, energy=5.0, paused=True, round=1,
                           worker=f"{socket.gethostname()}:{dead.stdout.strip()}"))  # fmt: skip
    assert enqueue_missing_rounds(study, settle_s=3600) == [0]  # no 30 s wait for a process known to be gone
    assert study.trials[1].user_attrs["round"] == 2 and study.trials[1].user_attrs["base_energy_j"] == 5.0


# -- storage failures, friction ----------------------------------------------------------------------------------------
def test_a_full_disk_under_the_storage_is_one_line(tmp_path):
    from powertrain.study.engine.storage import storage_errors

    def full():
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as cause:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause

    with pytest.raises(OutputError) as caught:
        with storage_errors(f"sqlite:///{tmp_path / 'study.db'}"):
            full()
    assert str(caught.value).startswith(f"the study storage sqlite:///{tmp_path / 'study.db'} failed: database or")
    assert "\n" not in str(caught.value) and "rerun the same command" in str(caught.value)


def test_sqlite_s_disk_io_error_on_a_full_disk_says_the_disk_is_full(tmp_path, monkeypatch):
    """SQLite says 'disk I/O error' when its write-ahead log's shared memory cannot grow: the line names the disk."""
    import shutil

    from powertrain.study.engine import storage

    url = f"sqlite:///{tmp_path / 'study.db'}"

    def failing():
        raise optuna.exceptions.StorageInternalError("commit") from sqlite3.OperationalError("disk I/O error")

    for free, said in ((0, True), (50 << 20, False)):
        monkeypatch.setattr(storage.shutil, "disk_usage", lambda _p, free=free: shutil._ntuple_diskusage(1, 1, free))
        with pytest.raises(OutputError) as caught:
            with storage.storage_errors(url):
                failing()
        assert ("disk I/O error (its disk is full);" in str(caught.value)) is said, str(caught.value)


def test_the_best_of_a_study_with_a_target_reached_it(tmp_path, capsys):
    folder = _study(tmp_path / "s", "s", [
        _trial(0.01, TrialState.COMPLETE, energy=1.0, reached_target=False),  # the fewest joules, never on target
        _trial(0.1, TrialState.COMPLETE, energy=4.0, reached_target=True, energy_to_target_j=3.0),
    ], target=0.9)  # fmt: skip
    assert load_sweep(folder).best.get("run_name") == "lr=0.1"
    nothing = _study(tmp_path / "n", "n", [_trial(0.01, TrialState.COMPLETE, energy=1.0, reached_target=False)],
                     target=0.9)  # fmt: skip
    assert load_sweep(nothing).best is None
    assert main(["sweep", "show", str(nothing)]) == 0
    assert "best: none yet (no finished trial reached the target)" in capsys.readouterr().out


def test_show_in_a_pipe_prints_whole_names_and_no_target_says_so(tmp_path, capsys):
    name = "lr=0.01,batch_size=128,weight_decay=0.0005,optimizer=adamw"
    folder = _study(tmp_path / "s", "s", [_trial(0.01, TrialState.COMPLETE, energy=1.0, run=name)])
    assert main(["sweep", "show", str(folder)]) == 0
    out = capsys.readouterr().out
    assert name in out and "…" not in out  # not lr=0... at 80 columns
    assert "- (no target)" in out and "not reached" not in out  # no target: nothing was "not reached"


def test_compare_refuses_studies_with_different_objectives(tmp_path, capsys):
    a = _study(tmp_path / "a", "a", [_trial(0.1, TrialState.COMPLETE, energy=1.0)])
    b = _study(tmp_path / "b", "b", [_trial(0.1, TrialState.COMPLETE, energy=1.0)], objective=("time",))
    assert main(["sweep", "show", str(a), "--compare", str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different objectives" in err  # not "best: None (-) vs None (-)"


def test_a_trial_that_reached_the_target_shows_so_not_budget_exhausted():
    from powertrain.cli._sweep_view import _state
    from powertrain.study import TrialRecord

    reached = TrialRecord(0, "complete", {}, [1.0], {"train_status": "budget_exhausted", "reached_target": True})
    assert _state(reached) == "complete (reached target)"
    stopped = TrialRecord(1, "pruned", {}, None, {"train_status": "budget_exhausted", "reached_target": False})
    assert _state(stopped) == "pruned (budget_exhausted)"


class _Steady(Sensor):
    """A 20 W CPU counter on the real clock (the figures here are asserted from the run's own files)."""

    name, device, component, kind = "steady", "cpu:test", "cpu", "counter"

    def read(self) -> Reading:
        now = time.monotonic()
        return Reading(timestamp_s=now, energy_j=20.0 * now)

