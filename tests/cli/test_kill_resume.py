"""A run killed with SIGKILL loses no finished epoch and counts none twice when resumed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

from powertrain.training import RunDir


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_then_resume(long_run_config, tmp_path):
    config = long_run_config
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "powertrain", "train", "-c", str(config), "--out", str(run), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait until two epochs are checkpointed
            done = len(_rows(run / "metrics.csv")) if (run / "metrics.csv").exists() else 0
            beat = json.loads((run / "heartbeat.json").read_text()) if (run / "heartbeat.json").exists() else {}
            if done >= 2 and beat.get("epoch", -1) > done and beat.get("energy_j", 0) > 0:
                break  # two epochs checkpointed and energy already spent in the next one
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            raise AssertionError("the run did not finish two epochs in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    before = _rows(run / "metrics.csv")
    beat = json.loads((run / "heartbeat.json").read_text())
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    checkpointed = RunDir(run).load_checkpoint()["epoch"]  # the source of truth; metrics.csv may lag by one
    # the heartbeat belongs to an unfinished epoch unless the kill fell between checkpoint and heartbeat clean-up
    expected_lost_j = beat["energy_j"] if beat["epoch"] > checkpointed else 0.0
    target = checkpointed + 1
    resumed = subprocess.run(
        [sys.executable, "-m", "powertrain", "train", "--resume", str(run), "--epochs", str(target), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    after = _rows(run / "metrics.csv")
    assert [int(r["epoch"]) for r in after] == list(range(1, target + 1))
    assert after[: len(before)] == before  # finished epochs carried over untouched
    summary = json.loads((run / "summary.json").read_text())
    energy = summary["energy"]
    assert summary["status"] == "completed" and summary["epochs_completed"] == target
    assert energy["lost_j"] == expected_lost_j  # the killed epoch's energy is counted, not dropped
    epochs_j = sum(float(r["train_energy_j"]) + float(r["eval_energy_j"]) for r in after)
    assert abs(energy["total_j"] - (epochs_j + energy["lost_j"])) < 1e-6 * max(1.0, energy["total_j"])
    assert abs(float(after[-1]["energy_j"]) - energy["total_j"]) < 1e-6 * max(1.0, energy["total_j"])
