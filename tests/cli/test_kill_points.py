"""SIGKILL at several points of the same run, resumed each time: every interruption's energy is counted once.

Slow (several processes, each importing torch): run with ``pytest -m slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from tests.support.waiting import DEADLINE_S

from powertrain.training import RunDir

pytestmark = pytest.mark.slow


def _killed_at(point, args):
    """Run ``powertrain train ARGS`` until it SIGKILLs itself at kill point ``point`` (powertrain/_killpoints.py)."""
    env = {**os.environ, "POWERTRAIN_KILL_AT": point}
    done = subprocess.run([sys.executable, "-m", "powertrain", "train", *args, "-q"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=DEADLINE_S)  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_sigkill_at_several_points_then_resume(long_run_config, tmp_path):
    run = RunDir(tmp_path / "run")
    counted = {}

    def note_beat():  # each kill lands right after a heartbeat with energy: the one a resume counts
        beat = run.read_heartbeat()
        assert beat is not None and beat["energy_j"] > 0 and beat["session"] not in counted
        counted[beat["session"]] = beat["energy_j"]

    # 1) killed in epoch 1, before any checkpointed epoch
    _killed_at("heartbeat:1", ["-c", str(long_run_config), "--out", str(run.path)])
    note_beat()
    # 2) and 3) resumed and killed twice in the same epoch
    for _ in range(2):
        _killed_at("heartbeat:1", ["--resume", str(run.path)])
        note_beat()
    # 4) resumed and killed after one more finished epoch
    _killed_at("heartbeat:2", ["--resume", str(run.path)])
    assert len(run.read_metrics()) == 1
    note_beat()
    args = ["train", "--resume", str(run.path), "-q", "--epochs", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "powertrain", *args], capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(run.summary_path.read_text())
    energy = summary["energy"]
    rows = run.read_metrics()
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert energy["lost_j"] == pytest.approx(sum(counted.values()), rel=1e-9)
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in rows)
    assert energy["total_j"] == pytest.approx(epochs_j + energy["lost_j"], rel=1e-6)
    assert sum(energy["by_device_j"].values()) == pytest.approx(energy["total_j"], rel=1e-6)
    assert energy["processes"] == 5 and summary["status"] == "completed"
