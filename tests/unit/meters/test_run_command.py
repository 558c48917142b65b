"""run_command: the library side of `powertrain measure`."""

from __future__ import annotations

import sys

import pytest

from powertrain.meters import EnergyMeter
from powertrain.meters.command import run_command
from powertrain.meters.testing import ScriptedPowerSensor


def meter() -> EnergyMeter:
    """A steady 80 W power sensor, integrated on the meter's own clock: a window holds exactly 80 W x its duration."""
    return EnergyMeter([ScriptedPowerSensor([80.0])], sample_period_s=0.01)


def test_exit_status_and_measurement_of_the_child():
    with meter() as m:
        run = run_command([sys.executable, "-c", "import sys; sys.exit(3)"], m)
    assert run.exit_code == 3
    assert run.argv[1:] == ("-c", "import sys; sys.exit(3)")
    assert not run.interrupted
    assert run.measurement.name == "command"
    assert run.measurement.energy_j == pytest.approx(80.0 * run.measurement.duration_s, rel=1e-6)


def test_a_child_killed_by_a_signal_exits_like_in_a_shell():
    with meter() as m:
        run = run_command([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], m)
    assert run.exit_code == 128 + 15


def test_live_callback_runs_while_the_child_runs(tmp_path):
    flag = tmp_path / "seen"
    child = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(flag)!r})\n"
        "deadline = time.monotonic() + 60\n"
        "while not p.exists() and time.monotonic() < deadline: time.sleep(0.01)\n"
        "sys.exit(0 if p.exists() else 1)\n"
    )
    seen = []

    def on_poll(elapsed_s: float, power_w: float, energy_j: float) -> None:
        seen.append((elapsed_s, power_w, energy_j))
        flag.touch()

    with meter() as m:
        run = run_command([sys.executable, "-c", child], m, poll_s=0.02, on_poll=on_poll)
    assert run.exit_code == 0  # the child saw the file the callback wrote
    assert seen and all(elapsed >= 0 and energy >= 0 for elapsed, _, energy in seen)


def test_missing_program_and_empty_command():
    with meter() as m:
        with pytest.raises(FileNotFoundError):
            run_command(["powertrain-no-such-program-xyz"], m)
        with pytest.raises(ValueError):
            run_command([], m)
        assert m.open_windows == []
