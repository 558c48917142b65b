"""Kill points (powertrain/_killpoints.py): inert by default, a SIGKILL exactly where the variable says."""

import os
import signal
import subprocess
import sys

import pytest
from tests.support.waiting import DEADLINE_S

PROBE = "from powertrain._killpoints import reached\nreached('heartbeat', 1, '/s/runs/seed=0')\nprint('past 1')\n" \
        "reached('heartbeat', 2, '/s/runs/seed=0')\nprint('past 2')\n"  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "status", "printed"),
    [
        (None, 0, "past 1\npast 2\n"),  # no variable: nothing happens
        ("heartbeat:2", -signal.SIGKILL, "past 1\n"),
        ("heartbeat:2@seed=0", -signal.SIGKILL, "past 1\n"),
        ("heartbeat:2@seed=1", 0, "past 1\npast 2\n"),  # another place
        ("heartbeat:3", 0, "past 1\npast 2\n"),  # another number
        ("checkpoint:2", 0, "past 1\npast 2\n"),  # another point
    ],
)
def test_a_process_kills_itself_only_at_the_named_point(spec, status, printed):
    env = {k: v for k, v in os.environ.items() if k != "POWERTRAIN_KILL_AT"}
    if spec is not None:
        env["POWERTRAIN_KILL_AT"] = spec
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=DEADLINE_S)
    assert (done.returncode, done.stdout) == (status, printed), done.stderr
