"""Ctrl-C during `powertrain train` keeps the finished epochs, says so, and exits with 130."""

import csv
import json
import signal
import subprocess
import sys
import time


def test_sigint_writes_an_interrupted_summary_and_exits_130(long_run_config, tmp_path):
    config = long_run_config
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain", "train", "-c", str(config), "--out", str(run), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run / "metrics.csv").exists() or len((run / "metrics.csv").read_text().splitlines()) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["final"] is True
    with (run / "metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert summary["epochs_completed"] == len(rows) >= 1
