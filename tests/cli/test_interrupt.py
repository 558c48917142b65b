"""Ctrl-C during `powertrain train` keeps the finished epochs, says so, and exits with 130."""

import csv
import json
import os
import signal
import subprocess
import sys

from tests.support.waiting import DEADLINE_S, wait_for


def test_sigint_writes_an_interrupted_summary_and_exits_130(long_run_config, tmp_path):
    config = long_run_config
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain", "train", "-c", str(config), "--out", str(run), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "passive"},
    )  # fmt: skip
    metrics = run / "metrics.csv"
    wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2, "a finished epoch", proc=proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["final"] is True
    assert summary["conditions"]["omp_wait_policy"] == "PASSIVE"  # what the run's threads ran under
    with (run / "metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert summary["epochs_completed"] == len(rows) >= 1
