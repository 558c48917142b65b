"""Commands that need no torch start without importing it (torch alone costs seconds).

Every command module must import torch (and anything that imports it) inside the command function, never at module
level: this test fails for a command module that breaks the pattern.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support.waiting import DEADLINE_S

PROBE = """
import contextlib, io, sys
from powertrain.cli import app, main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert main(["version"]) == 0
    assert main(["info", "--json"]) == 0
    assert main(["measure", "--interval", "0.05", "--", sys.executable, "-c", "pass"]) == 0
    for command in app.registered_commands:
        main([command.name or command.callback.__name__, "--help"])
    for group in app.registered_groups:
        main([group.name, "--help"])
        for command in group.typer_instance.registered_commands:
            assert main([group.name, command.name, "--help"]) == 0
    import powertrain, powertrain.training.config
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "optuna", "sqlalchemy", "matplotlib"))
print(",".join(heavy))
"""


def test_version_info_measure_and_every_help_run_without_importing_torch():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported at start-up: {done.stdout.strip()[:300]}"


def test_the_package_still_exports_its_api_lazily():
    import powertrain
    import powertrain.training

    assert powertrain.train is powertrain.training.train
    assert powertrain.EnergyMeter.__name__ == "EnergyMeter"
    assert "TrainConfig" in dir(powertrain) and "RunDir" in dir(powertrain.training)
