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


def _train(args, *, kill_at=None):
    """``powertrain train ARGS``; with ``kill_at``, the run SIGKILLs itself at that kill point (_killpoints.py)."""
    env = {**os.environ, "POWERTRAIN_KILL_AT": kill_at} if kill_at else None
    done = subprocess.run([sys.executable, "-m", "powertrain", "train", *args, "-q"], env=env, capture_output=True,
                          text=True, timeout=DEADLINE_S)  # fmt: skip
    assert done.returncode == (-signal.SIGKILL if kill_at else 0), done.stderr


def test_sigkill_then_resume(long_run_config, tmp_path):
    run = tmp_path / "run"
    # the run SIGKILLs itself in epoch 3, after two checkpointed epochs, right after a heartbeat holding epoch 3's
    # energy was written: the state is known exactly, whatever the machine's load
    _train(["-c", str(long_run_config), "--out", str(run)], kill_at="heartbeat:3")

    before = _rows(run / "metrics.csv")
    beat = json.loads((run / "heartbeat.json").read_text())
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert RunDir(run).load_checkpoint()["epoch"] == len(before) == 2
    assert beat["epoch"] == 3 and beat["energy_j"] > 0  # the killed epoch's energy so far, for the resume to count
    _train(["--resume", str(run), "--epochs", "3"])
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
    # killed right after epoch 1's checkpoint was written, while epoch 1's heartbeat is still on disk
    _train(["-c", str(long_run_config), "--out", str(run)], kill_at="checkpoint:1")
    assert RunDir(run).load_checkpoint()["epoch"] == 1 and RunDir(run).read_heartbeat()["epoch"] == 1
    _train(["--resume", str(run), "--epochs", "2"])
    energy = json.loads((run / "summary.json").read_text())["energy"]
    assert energy["lost_j"] == 0  # epoch 1 is in the checkpoint: its heartbeat is not counted again
    rows = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in rows)
    assert abs(energy["total_j"] - epochs_j) < 1e-6 * max(1.0, energy["total_j"])
