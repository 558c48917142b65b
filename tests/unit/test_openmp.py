"""powertrain's training commands make OpenMP threads sleep while they wait, before torch is imported; nothing else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SNIPPET = """
import os, sys
{before}
from powertrain._openmp import prefer_passive_waiting, wait_policy
print(prefer_passive_waiting(), os.environ.get("OMP_WAIT_POLICY"), wait_policy())
"""


def _run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env}, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_set_before_torch_is_imported():
    assert _run(SNIPPET.format(before="")) == "True PASSIVE PASSIVE"


def test_the_users_choice_is_kept():
    assert _run(SNIPPET.format(before=""), OMP_WAIT_POLICY="active") == "False active ACTIVE"


def test_too_late_once_torch_is_imported_and_then_it_says_so():
    assert _run(SNIPPET.format(before="import torch")) == "False None default"


@pytest.mark.parametrize(("command", "policy"), [("train", "PASSIVE"), ("sweep", "PASSIVE"), ("measure", "None")])
def test_the_cli_sets_it_for_training_commands_only(command, policy):
    code = (
        f"import os; from powertrain.cli import main; main([{command!r}, '--help']); "
        "print('policy', os.environ.get('OMP_WAIT_POLICY'))"
    )
    assert _run(code) == f"policy {policy}"  # measure runs the user's command as the user runs it
