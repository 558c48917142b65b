"""Resume and accounting under faults: nothing lost, nothing counted twice, every figure covers the whole run.

Interruptions are made in-process by a reporter that raises (or signals) at a chosen point of the loop, so these
tests need no subprocess; tests/cli/test_signals.py covers real signals.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from tests.support.waiting import wait_for

from powertrain._files import current_umask
from powertrain.errors import ConfigError, OutputError, Terminated
from powertrain.meters.testing import ScriptedCounterSensor
from powertrain.training import RunDir, train
from powertrain.training.progress import QuietReporter

POWER_W = 50.0


def sensor():
    return ScriptedCounterSensor(lambda t: POWER_W * t, device="gpu:0", clock=time.monotonic)


class StopAt(QuietReporter):
    """Raises ``error`` when epoch ``epoch`` starts (``where="start"``) or after its evaluation (``"end"``).

    At the start it first waits until the run's heartbeat holds energy of that epoch (the meter sampled it and the
    heartbeat thread wrote it), so the interruption has energy to lose. After the evaluation nothing needs waiting
    for: the heartbeat's last write, when the run ends, covers the epoch's training and evaluation.
    """

    def __init__(self, epoch, error, where="start", *, run=None):
        self.epoch, self.error, self.where, self.run, self.record = epoch, error, where, run, None

    def start_epoch(self, epoch, steps):
        if self.where == "start" and epoch == self.epoch:
            if self.run is not None:
                wait_for(lambda: _holds_energy(self.run.read_heartbeat(), epoch), f"a heartbeat of epoch {epoch}")
            raise self.error

    def end_epoch(self, record):
        if self.where == "end" and record.epoch == self.epoch:
            self.record = record
            raise self.error


def _holds_energy(beat, epoch):
    return beat is not None and beat["epoch"] == epoch and beat["energy_j"] > 0


def summary_of(run):
    return json.loads(RunDir(run).summary_path.read_text())


def test_resume_without_checkpoint_refuses_and_keeps_the_record(small_config):
    done = train(small_config(epochs=1), sensors=[sensor()])
    run = RunDir(done.run_dir)
    run.checkpoint_path.unlink()
    metrics, summary = run.metrics_path.read_bytes(), run.summary_path.read_bytes()
    with pytest.raises(ConfigError, match="no checkpoint.pt but records finished work"):
        train(small_config(epochs=2), resume=run.path, sensors=[sensor()])
    assert run.metrics_path.read_bytes() == metrics and run.summary_path.read_bytes() == summary


def test_an_epoch_interrupted_twice_counts_both_interruptions_and_its_evaluation(small_config):
    first = StopAt(2, KeyboardInterrupt(), where="end")  # killed after epoch 2's evaluation, before its checkpoint
    with pytest.raises(KeyboardInterrupt):
        train(small_config(epochs=3), sensors=[sensor()], reporter=first)
    run = RunDir(small_config().out)
    beat1 = run.read_heartbeat()
    epoch2 = first.record
    assert beat1["epoch"] == 2  # the heartbeat covers training and evaluation of the unfinished epoch
    assert beat1["energy_j"] >= epoch2.train_energy_j + epoch2.eval_energy_j > 0

    with pytest.raises(KeyboardInterrupt):  # the same epoch, interrupted again
        again = StopAt(2, KeyboardInterrupt(), run=run)
        train(small_config(epochs=3), resume=run.path, sensors=[sensor()], reporter=again)
    beat2 = run.read_heartbeat()
    assert beat2["session"] != beat1["session"] and beat2["energy_j"] > 0
    assert summary_of(run.path)["energy"]["lost_j"] == pytest.approx(beat1["energy_j"])

    result = train(small_config(epochs=3), resume=run.path, sensors=[sensor()])
    energy = result.summary["energy"]
    assert energy["lost_j"] == pytest.approx(beat1["energy_j"] + beat2["energy_j"])
    assert energy["total_j"] == pytest.approx(energy["train_j"] + energy["eval_j"] + energy["lost_j"])
    assert [r.epoch for r in result.history] == [1, 2, 3]
    # whole run, all three processes: the per-device split adds up to the total, lost energy included
    assert energy["processes"] == 3
    assert sum(energy["by_device_j"].values()) == pytest.approx(energy["total_j"], rel=1e-6)
    assert energy["lost_by_device_j"]["gpu:0"] == pytest.approx(energy["lost_j"])


def test_resuming_a_finished_run_keeps_whole_run_figures(small_config):
    done = train(small_config(epochs=2, subset=10_000), sensors=[sensor()])
    again = train(small_config(epochs=2, subset=10_000), resume=done.run_dir, sensors=[sensor()])
    before, after = done.summary["energy"], again.summary["energy"]
    assert after["by_device_j"] == pytest.approx(before["by_device_j"]) and after["by_device_j"]["gpu:0"] > 0
    assert after["total_j"] == pytest.approx(before["total_j"]) and after["sources"] == ["counter"]
    assert (after["processes"], after["estimated"]) == (2, False)
    # one numbering for the user: metrics.csv, best_epoch and epochs_to_target all count from 1
    assert [int(r["epoch"]) for r in RunDir(done.run_dir).read_metrics()] == [1, 2]
    assert again.summary["best_epoch"] in (1, 2)
    # --subset larger than the dataset is said, not silently ignored
    assert "larger than the 256 training samples" in done.summary["warnings"][0]
    # files follow the umask (they were owner-only before)
    for name in ("config.yaml", "metrics.csv", "summary.json", "checkpoint.pt", "model.pt"):
        assert (done.run_dir / name).stat().st_mode & 0o777 == 0o666 & ~current_umask(), name


def test_sigterm_is_handled_like_ctrl_c(small_config):
    reporter = StopAt(2, None)
    reporter.start_epoch = lambda epoch, steps: epoch == 2 and os.kill(os.getpid(), signal.SIGTERM)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a fresh process (another test may leave one)
    try:
        with pytest.raises(Terminated):
            train(small_config(epochs=3), sensors=[sensor()], reporter=reporter)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = summary_of(small_config().out)
    assert (summary["status"], summary["signal"], summary["final"]) == ("interrupted", "SIGTERM", True)
    assert summary["epochs_completed"] == 1 == len(RunDir(small_config().out).read_metrics())


def test_a_crash_and_a_full_disk_record_a_final_status(small_config, monkeypatch):
    with pytest.raises(RuntimeError):
        train(small_config(epochs=3), sensors=[sensor()], reporter=StopAt(2, RuntimeError("driver crashed")))
    summary = summary_of(small_config().out)
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: driver crashed"
    assert summary["epochs_completed"] == 1

    real_save = RunDir.save_checkpoint

    def full(self, state):  # the disk fills up during epoch 1
        if state["epoch"] >= 1:
            raise OutputError(f"cannot write {self.checkpoint_path}: No space left on device")
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", full)
    with pytest.raises(OutputError):
        train(small_config(epochs=1, out=small_config().out + "-2"), sensors=[sensor()])
    assert summary_of(small_config().out + "-2")["status"] == "failed"


def test_diverged_run_says_why(small_config):
    result = train(small_config(epochs=3, lr=1e30, momentum=0.0, nesterov=False), sensors=[sensor()])
    assert result.status == "diverged"
    assert "lower the learning rate" in result.summary["reason"] and "epoch 1" in result.summary["reason"]
    # an lr beyond float32 overflows inside the optimizer: the same status and a line saying why, not a traceback
    result = train(small_config(epochs=3, lr=1e308, out=small_config().out + "-2"), sensors=[sensor()])
    assert result.status == "diverged" and "optimizer overflowed" in result.summary["reason"]


def test_an_epoch_shorter_than_the_heartbeat_interval_has_its_training_energy_on_disk(small_config):
    """The heartbeat is written when the training phase ends, not only every interval (here 0.5 s, longer than an
    epoch): a kill during the evaluation still finds the epoch's training energy to count as lost."""
    seen = {}

    class Look(QuietReporter):
        def end_epoch(self, record):  # after the evaluation, before the checkpoint clears the heartbeat
            seen[record.epoch] = (record, RunDir(small_config().out).read_heartbeat())

    train(small_config(epochs=2, meter_interval_s=5.0), sensors=[sensor()], reporter=Look())
    for epoch, (record, beat) in seen.items():
        assert beat["epoch"] == epoch and beat["energy_j"] >= record.train_energy_j > 0
