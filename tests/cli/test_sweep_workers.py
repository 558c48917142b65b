"""Real worker processes: two workers share a PostgreSQL study; a worker killed with SIGKILL mid-trial and started
again finishes the study, on SQLite and on PostgreSQL, with finished trials intact and nothing counted twice."""

import json
import os
import signal
import subprocess
import sys
import uuid

import optuna
import pytest
from tests.support.waiting import DEADLINE_S

from powertrain.training import RunDir

CONFIG = """
train:
  dataset: synthetic
  model: mlp
  epochs: {epochs}
  batch_size: 16
  lr: 0.01
  device: cpu
  estimate_batch_size: 0
  image_size: 16
  channels: 1
  meter_interval_s: 0.05
  dataset_options: {{num_classes: 4, train_size: {train_size}, test_size: 64}}
space:
  seed: {seeds}
objective: energy
study: {study}
"""


def _config(tmp_path, *, epochs, train_size, seeds):
    study = f"s{uuid.uuid4().hex[:8]}"  # a fresh study per test on the shared PostgreSQL server
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG.format(epochs=epochs, train_size=train_size, seeds=seeds, study=study))
    return path, study


def _worker(config, out, storage, *, kill_at=None):
    cmd = [sys.executable, "-m", "powertrain", "sweep", str(config), "--out", str(out), "-q"]
    if storage:
        cmd += ["--storage", storage]
    env = {**os.environ, "POWERTRAIN_KILL_AT": kill_at} if kill_at else None  # powertrain/_killpoints.py
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc, timeout=DEADLINE_S):
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err


def test_two_workers_share_a_postgresql_grid_each_point_exactly_once(tmp_path, postgres_url):
    config, study_name = _config(tmp_path, epochs=1, train_size=128, seeds=[0, 1, 2, 3, 4, 5])
    workers = [_worker(config, tmp_path / f"w{i}", postgres_url) for i in range(2)]
    try:
        for proc in workers:
            _finish(proc)
    finally:
        for proc in workers:  # a failed assertion must not leave a worker behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    study = optuna.load_study(study_name=study_name, storage=postgres_url)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 6  # none lost, none failed, none extra
    assert sorted(t.params["seed"] for t in study.trials) == [0, 1, 2, 3, 4, 5]  # each point exactly once
    for trial in study.trials:  # each trial's run directory is on the disk of the worker that ran it
        run_dir = trial.user_attrs["run_dir"]
        assert run_dir.startswith((str(tmp_path / "w0"), str(tmp_path / "w1")))
        assert json.loads(RunDir(run_dir).summary_path.read_text())["status"] == "completed"
    shown = subprocess.run([sys.executable, "-m", "powertrain", "sweep", "show", postgres_url, "--study", study_name],
                           capture_output=True, text=True, timeout=DEADLINE_S)  # fmt: skip
    assert shown.returncode == 0 and "6 trials on" in shown.stdout, shown.stderr


def test_two_workers_run_breadth_first_rounds_each_round_once_and_every_epoch_once(tmp_path, postgres_url):
    config, study_name = _config(tmp_path, epochs=3, train_size=128, seeds=[0, 1, 2, 3])
    config.write_text(config.read_text() + "round_epochs: 1\n")
    out = tmp_path / "shared"  # one machine: both workers keep their run directories in one study folder
    workers = [_worker(config, out, postgres_url) for _ in range(2)]
    try:
        for proc in workers:
            _finish(proc)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    study = optuna.load_study(study_name=study_name, storage=postgres_url)
    for seed in range(4):
        rounds = sorted((t for t in study.trials if t.params["seed"] == seed), key=lambda t: t.number)
        assert [t.state.name for t in rounds] == ["PRUNED", "PRUNED", "COMPLETE"]  # two rounds handed on, then done
        assert [t.user_attrs.get("paused", False) for t in rounds] == [True, True, False]
        assert [t.user_attrs.get("round", 1) for t in rounds] == [1, 2, 3]
        run = RunDir(rounds[-1].user_attrs["run_dir"])
        assert [int(r["epoch"]) for r in run.read_metrics()] == [1, 2, 3]  # each round continued the checkpoint
        summary = json.loads(run.summary_path.read_text())
        spent = sum(t.user_attrs["energy_j"] - t.user_attrs.get("base_energy_j", 0.0) for t in rounds)
        assert spent == pytest.approx(summary["energy"]["total_j"])  # every joule of the run once
    assert len(study.trials) == 12  # 4 setups x 3 rounds: no round lost, none run twice


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_worker_killed_mid_trial_restarts_and_finishes_the_study(tmp_path, backend, request):
    storage = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    config, study_name = _config(tmp_path, epochs=3, train_size=768, seeds=[0, 1])
    out = tmp_path / "study"
    # the worker SIGKILLs itself in epoch 2 of its second trial, right after a heartbeat of that epoch holding energy
    # was written (a kill point the code announces: no race between a check here and the kill)
    proc = _worker(config, out, storage, kill_at="heartbeat:2@seed=1")
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == -signal.SIGKILL, err
    victim = (out / "runs" / "seed=1").resolve()  # the grid's seeded order runs seed=0 first
    url = storage or f"sqlite:///{out / 'study.db'}"
    killed = optuna.load_study(study_name=study_name, storage=url)
    finished_before = {t.params["seed"]: dict(t.user_attrs) for t in killed.trials if t.state.is_finished()}
    assert [t.state.name for t in killed.trials] == ["COMPLETE", "RUNNING"]  # the first trial finished, then the kill
    checkpointed = RunDir(victim).load_checkpoint()["epoch"]
    beat = RunDir(victim).read_heartbeat()  # what the restart finds: the killed epoch's energy so far
    assert checkpointed == 1 and beat["epoch"] == 2 and beat["energy_j"] > 0
    lost_j = float(beat["energy_j"])

    restarted = _worker(config, out, storage)
    try:
        _finish(restarted)
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait()

    study = optuna.load_study(study_name=study_name, storage=url)
    by_state = {}
    for t in study.trials:
        by_state.setdefault(t.state.name, []).append(t)
    assert len(by_state["COMPLETE"]) == 2 and len(by_state["FAIL"]) == 1  # the killed attempt: FAIL, never COMPLETE
    assert sorted(t.params["seed"] for t in by_state["COMPLETE"]) == [0, 1]
    lost, retry = by_state["FAIL"][0], next(t for t in by_state["COMPLETE"] if t.user_attrs["run_dir"] == str(victim))
    assert retry.system_attrs["failed_trial"] == lost.number
    for seed, attrs in finished_before.items():  # trials finished before the kill are untouched
        again = next(t for t in by_state["COMPLETE"] if t.params["seed"] == seed)
        assert again.user_attrs == attrs
    summary = json.loads(RunDir(victim).summary_path.read_text())
    metrics = RunDir(victim).read_metrics()
    # every epoch once: the retry continued the checkpoint (epoch 1 kept, the killed epoch 2 redone, not repeated)
    assert summary["status"] == "completed" and [int(r["epoch"]) for r in metrics] == [1, 2, 3]
    assert summary["energy"]["lost_j"] == pytest.approx(lost_j)  # the killed epoch's energy, counted once
    assert [p[0] for p in retry.user_attrs["curve"]] == [1, 2, 3]
    # the study's energy counts each joule once: the failed attempt's reported energy plus what the retry added
    spent = lost.user_attrs.get("energy_j", 0.0) + (retry.user_attrs["energy_j"] - retry.user_attrs["base_energy_j"])
    assert retry.user_attrs["base_energy_j"] == lost.user_attrs.get("energy_j", 0.0)
    assert spent == pytest.approx(retry.user_attrs["energy_j"])
    results = json.loads((out / "results.json").read_text())
    other = next(t for t in by_state["COMPLETE"] if t is not retry)
    assert results["energy"]["total_j"] == pytest.approx(retry.user_attrs["energy_j"] + other.user_attrs["energy_j"])
