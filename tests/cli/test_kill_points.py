"""SIGKILL at several points of the same run, resumed each time: every interruption's energy is counted once.

Slow (several processes, each importing torch): run with ``pytest -m slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from powertrain.training import RunDir

pytestmark = pytest.mark.slow


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "powertrain", "train", *args, "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _kill_when(proc, ready, timeout_s=180.0):
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "kill point not reached in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_at_several_points_then_resume(long_run_config, tmp_path):
    run = RunDir(tmp_path / "run")
    counted = {}

    def beat_energy(min_j=0.0):
        beat = run.read_heartbeat()
        return beat is not None and beat["energy_j"] > min_j

    def note_beat():
        beat = run.read_heartbeat()
        done = run.load_checkpoint()["epoch"] if run.checkpoint_path.exists() else 0
        if beat is not None and beat["epoch"] > done:
            counted[beat["session"]] = beat["energy_j"]

    # 1) killed in epoch 1, before any checkpointed epoch
    _kill_when(_start(["-c", str(long_run_config), "--out", str(run.path)]), beat_energy)
    note_beat()
    # 2) and 3) resumed and killed twice in the same epoch
    for _ in range(2):
        _kill_when(_start(["--resume", str(run.path)]), lambda: beat_energy() and run.read_heartbeat()["session"]
                   not in counted)  # fmt: skip
        note_beat()
    # 4) resumed and killed after one more finished epoch
    _kill_when(_start(["--resume", str(run.path)]), lambda: len(run.read_metrics()) >= 1 and beat_energy())
    note_beat()
    done = subprocess.run([sys.executable, "-m", "powertrain", "train", "--resume", str(run.path), "-q", "--epochs",
                           str(len(run.read_metrics()) + 1)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(run.summary_path.read_text())
    energy = summary["energy"]
    rows = run.read_metrics()
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert energy["lost_j"] == pytest.approx(sum(counted.values()), rel=1e-9)
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in rows)
    assert energy["total_j"] == pytest.approx(epochs_j + energy["lost_j"], rel=1e-6)
    assert sum(energy["by_device_j"].values()) == pytest.approx(energy["total_j"], rel=1e-6)
    assert energy["processes"] == 5 and summary["status"] == "completed"
