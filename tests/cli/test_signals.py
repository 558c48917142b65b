"""Real signals: SIGTERM stops `powertrain train` like Ctrl-C (exit 143); a SIGKILLed `measure` takes its child along.

The SIGKILLed measure also leaves its energy so far on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.support.waiting import DEADLINE_S, wait_for

from powertrain.training import RunDir


def test_sigterm_records_the_status_and_exits_143(long_run_config, tmp_path):
    """What SLURM or Kubernetes send; keeping the checkpointed epochs is tested in-process (test_resume_accounting)."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain", "train", "-c", str(long_run_config), "--out", str(run), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: (run / "heartbeat.json").exists(), "the first epoch to start", proc=proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "--resume" in err and "Traceback" not in err
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["status"], summary["signal"], summary["final"]) == ("interrupted", "SIGTERM", True)
    # whichever epoch the signal landed in (epochs are short): the record is exactly the checkpointed epochs
    done = RunDir(run).load_checkpoint()["epoch"] if (run / "checkpoint.pt").exists() else 0
    assert summary["epochs_completed"] == done == len(RunDir(run).read_metrics())
    beat = RunDir(run).read_heartbeat()
    assert beat is None or beat["epoch"] == done + 1  # the epoch in flight, for a resume to count as lost


def test_sigkilled_measure_takes_its_child_along_and_leaves_partial_energy(tmp_path):
    pid_file, out = tmp_path / "child.pid", tmp_path / "energy.json"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "powertrain", "measure", "--out", str(out), "--", sys.executable, "-c", child],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: out.exists() and "so_far" in out.read_text(), "a partial report", proc=proc)
    child_pid = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    wait_for(lambda: not _alive(child_pid), "the measured command to end with its SIGKILLed powertrain measure")
    report = json.loads(out.read_text())
    assert report["status"] == "running" and report["so_far"]["duration_s"] > 0
    assert report["so_far"]["energy_j"] >= 0 and report["hardware"]["cpu_logical_cores"] >= 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) is not running
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
