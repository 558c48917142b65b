"""Lightning and transformers are optional extras: the core works without them, their modules name the extra."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.waiting import DEADLINE_S

# Runs in a fresh interpreter where importing lightning, pytorch_lightning or transformers fails, as it does where the
# extras are not installed (this venv has them, for the other tests).
SCRIPT = """
import importlib, json, sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lightning", "pytorch_lightning", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Missing())
import powertrain, powertrain.integrations, powertrain.integrations.optuna
from powertrain.errors import ConfigError
from powertrain.integrations import EnergyTracker

errors = {}
for name in ("lightning", "huggingface"):
    try:
        importlib.import_module(f"powertrain.integrations.{name}")
    except ConfigError as exc:
        errors[name] = str(exc)
EnergyTracker(carbon=False)
print(json.dumps(errors))
"""


def test_core_and_tracker_work_without_the_extras_and_each_module_names_its_extra():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=DEADLINE_S)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = json.loads(proc.stdout.splitlines()[-1])
    assert errors.keys() == {"lightning", "huggingface"}
    assert "pip install 'powertrain[lightning]'" in errors["lightning"]
    assert "pip install 'powertrain[huggingface]'" in errors["huggingface"]
    assert all("\n" not in message for message in errors.values())  # one line
