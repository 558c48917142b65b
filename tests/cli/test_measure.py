"""`powertrain measure` through the real entry point, with scripted sensors instead of hardware."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.waiting import DEADLINE_S, wait_for

from powertrain.cli import main
from powertrain.errors import SensorUnavailable
from powertrain.meters import Measurement
from powertrain.meters.testing import ScriptedCounterSensor, ScriptedPowerSensor


@pytest.fixture
def sensors(monkeypatch):
    """Replace discovery: a 200 W GPU counter and a 20 W estimated CPU; records how it was called."""
    made = []
    calls = []

    def fake_discover(*, gpu_indices=None):
        calls.append(gpu_indices)
        made[:] = [
            ScriptedCounterSensor(lambda t: 200.0 * t),
            ScriptedPowerSensor([20.0], device="cpu:estimate", component="cpu", source="estimated"),
        ]
        return list(made)

    monkeypatch.setattr("powertrain.cli.measure.discover_sensors", fake_discover)
    return made, calls


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_measure_writes_json_and_exits_with_the_commands_status(tmp_path, sensors, capsys):
    out = tmp_path / "runs" / "energy.json"
    # machine-wide, so the scripted host sensor is the figure itself (the command's share is tested with a scripted
    # scope in tests/unit/meters/, and against real CPU time below)
    argv = ["measure", "--out", str(out), "--interval", "0.01", "--attribution", "machine", "--"]
    status = main([*argv, *child("import sys; sys.exit(3)")])
    assert status == 3
    report = json.loads(out.read_text())
    assert report["measurement"]["attribution"]["scope"] == "machine" and report["schema_version"] == 2
    assert report["exit_code"] == 3
    assert report["command"] == child("import sys; sys.exit(3)")
    assert report["interrupted"] is False
    m = Measurement.from_dict(report["measurement"])
    assert set(m.energy_by_device_j) == {"gpu:0", "cpu:estimate"}
    # the steady 20 W power sensor is integrated on the meter's own clock: exactly 20 W x the command's duration, on
    # any machine (a counter read on the real clock is off by its power x however long a busy machine pauses a read)
    assert m.energy_by_device_j["cpu:estimate"] == pytest.approx(20.0 * m.duration_s, rel=1e-6)
    assert m.energy_by_device_j["gpu:0"] > 0
    assert m.source_by_device == {"gpu:0": "counter", "cpu:estimate": "estimated"}
    assert m.estimated and m.total_includes == ("cpu", "gpu")
    assert {"cpu_model", "gpus", "hostname"} <= set(report["hardware"])
    assert report["meter"]["sample_period_s"] == pytest.approx(0.01)
    err = capsys.readouterr().err
    assert "gpu:0" in err and "exit code 3" in err
    made, _ = sensors
    assert all(s.closed for s in made)


def test_options_after_the_command_belong_to_the_command(tmp_path, sensors, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = "import sys; print(sys.argv[1:])"
    assert main(["measure", sys.executable, "-c", code, "--out", "x", "--gpu", "9"]) == 0
    assert "['--out', 'x', '--gpu', '9']" in capfd.readouterr().out  # the child's own stdout
    assert not Path("x").exists()
    assert sensors[1] == [None]


def test_gpu_indices_are_passed_to_discovery(sensors):
    _, calls = sensors
    assert main(["measure", "--gpu", "1", "--gpu", "0", "--", *child("pass")]) == 0
    assert main(["measure", "--", *child("pass")]) == 0
    assert calls == [[1, 0], None]


def test_a_gpu_that_cannot_be_measured_is_a_one_line_error(monkeypatch, capsys):
    def unavailable(*, gpu_indices=None):
        raise SensorUnavailable("GPU 3 is not visible: CUDA sees 1 GPU(s)")

    monkeypatch.setattr("powertrain.cli.measure.discover_sensors", unavailable)
    assert main(["measure", "--gpu", "3", "--", *child("pass")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "powertrain: error: GPU 3 is not visible: CUDA sees 1 GPU(s)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["measure"], "missing COMMAND"),
        (["measure", "--out", "x.json"], "missing COMMAND"),
        (["measure", "--bogus", "--", "true"], "No such option"),
        (["measure", "--interval", "0", "--", "true"], "--interval"),
        (["measure", "--interval", "fast", "--", "true"], "--interval"),
        (["measure", "--gpu", "zero", "--", "true"], "--gpu"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, sensors, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("powertrain: error:") and message in err


def test_out_pointing_to_a_directory_is_refused_before_running(tmp_path, sensors, capsys):
    marker = tmp_path / "ran"
    assert main(["measure", "--out", str(tmp_path), "--", *child(f"open({str(marker)!r}, 'w')")]) == 2
    assert not marker.exists()


def test_a_command_that_does_not_exist_exits_127(tmp_path, sensors, capsys):
    out = tmp_path / "m.json"
    assert main(["measure", "--out", str(out), "--", "powertrain-no-such-program-xyz"]) == 127
    assert capsys.readouterr().err.strip() == "powertrain: error: command not found: powertrain-no-such-program-xyz"
    assert not out.exists()
    assert all(s.closed for s in sensors[0])


def test_python_dash_m_powertrain_measures_a_real_command(tmp_path):
    out = tmp_path / "m.json"
    result = subprocess.run(
        [sys.executable, "-m", "powertrain", "measure", "--out", str(out), "--", *child("print('child says hi')")],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child says hi"  # the summary goes to stderr
    report = json.loads(out.read_text())
    assert report["exit_code"] == 0 and report["measurement"]["name"] == "command"
    assert report["measurement"]["energy_by_device_j"]  # whatever this machine offers, even an estimate


def test_ctrl_c_is_forwarded_to_the_child_and_the_json_is_still_written(tmp_path):
    ready, out = tmp_path / "ready", tmp_path / "m.json"
    code = (
        "import pathlib, sys, time\n"
        "try:\n"  # ready only once a Ctrl-C would land in the handler (not between touch() and try)
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        "    time.sleep(120)\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(5)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-m", "powertrain", "measure", "--out", str(out), "--", *child(code)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(ready.exists, "the child to start", proc=parent)
        os.kill(parent.pid, signal.SIGINT)
        assert parent.wait(timeout=DEADLINE_S) == 5
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.communicate()
    report = json.loads(out.read_text())
    assert report["interrupted"] is True and report["exit_code"] == 5


@pytest.mark.real_cpu_times
def test_measure_reports_the_commands_energy_with_the_machines_beside_it(tmp_path, sensors):
    out = tmp_path / "m.json"
    busy = "import time\nend = time.process_time() + 0.2\nwhile time.process_time() < end: pass"
    assert main(["measure", "--out", str(out), "--interval", "0.01", "--", *child(busy)]) == 0
    report = json.loads(out.read_text())
    m = Measurement.from_dict(report["measurement"])
    assert report["schema_version"] == 2 and m.attribution["scope"] == "process"
    assert m.conditions["run_cpu_s"] >= 0.2  # the child's own CPU time, counted from its birth
    assert m.energy_j + m.unattributed_j == pytest.approx(m.machine_total_j)
    assert m.energy_by_device_j["gpu:0"] == pytest.approx(m.machine_energy_by_device_j["gpu:0"])  # nobody else's GPU
    machine = tmp_path / "machine.json"
    assert main(["measure", "--attribution", "machine", "--out", str(machine), "--", *child("pass")]) == 0
    m = Measurement.from_dict(json.loads(machine.read_text())["measurement"])
    assert m.attribution["scope"] == "machine" and m.energy_j == m.machine_total_j


def test_a_bad_attribution_is_one_line_and_exit_2(sensors, capsys):
    assert main(["measure", "--attribution", "container", "--", *child("pass")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "attribution must be one of process, cgroup, machine" in err[0]
