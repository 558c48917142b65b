"""A run killed with SIGKILL loses no finished epoch and counts none twice when resumed."""

import csv
import json
import os
import signal
import subprocess
import sys

from tests.support.waiting import DEADLINE_S

from powertrain.training import RunDir


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_then_resume(long_run_config, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "powertrain", "train", "-c", str(long_run_config), "--out", str(run), "-q"]
    # the run SIGKILLs itself in epoch 3, after two checkpointed epochs, right after a heartbeat holding epoch 3's
    # energy was written (powertrain/_killpoints.py): the state is known exactly, whatever the machine's load
    env = {**os.environ, "POWERTRAIN_KILL_AT": "heartbeat:3"}
    killed = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            timeout=DEADLINE_S)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    before = _rows(run / "metrics.csv")
    beat = json.loads((run / "heartbeat.json").read_text())
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert RunDir(run).load_checkpoint()["epoch"] == len(before) == 2
    assert beat["epoch"] == 3 and beat["energy_j"] > 0  # the killed epoch's energy so far, for the resume to count
    resumed = subprocess.run(
        [sys.executable, "-m", "powertrain", "train", "--resume", str(run), "--epochs", "3", "-q"],
        capture_output=True, text=True, timeout=DEADLINE_S,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    after = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in after] == [1, 2, 3]
    assert after[:2] == before  # finished epochs carried over untouched
    summary = json.loads((run / "summary.json").read_text())
    energy = summary["energy"]
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert energy["lost_j"] == beat["energy_j"]  # the killed epoch's energy is counted, not dropped
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in after)
    assert abs(energy["total_j"] - (epochs_j + energy["lost_j"])) < 1e-6 * max(1.0, energy["total_j"])
    assert abs(float(after[-1]["energy_j"]) - energy["total_j"]) < 1e-6 * max(1.0, energy["total_j"])


def test_sigkill_between_a_checkpoint_and_its_heartbeat_clean_up_counts_nothing_twice(long_run_config, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "powertrain", "train", "-c", str(long_run_config), "--out", str(run), "-q"]
    # killed right after epoch 1's checkpoint was written, while epoch 1's heartbeat is still on disk
    env = {**os.environ, "POWERTRAIN_KILL_AT": "checkpoint:1"}
    killed = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            timeout=DEADLINE_S)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert RunDir(run).load_checkpoint()["epoch"] == 1 and RunDir(run).read_heartbeat()["epoch"] == 1
    resumed = subprocess.run(
        [sys.executable, "-m", "powertrain", "train", "--resume", str(run), "--epochs", "2", "-q"],
        capture_output=True, text=True, timeout=DEADLINE_S,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    energy = json.loads((run / "summary.json").read_text())["energy"]
    assert energy["lost_j"] == 0  # epoch 1 is in the checkpoint: its heartbeat is not counted again
    rows = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in rows)
    assert abs(energy["total_j"] - epochs_j) < 1e-6 * max(1.0, energy["total_j"])
