"""Tune trainables for the Ray tests (importable by Ray's worker processes: the repository root is on their path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from powertrain.integrations.ray import TrialEnergy


def busy(seconds: float) -> None:
    """Keep one core busy for ``seconds``."""
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def rendezvous(folder: str, count: int, deadline_s: float = 120.0) -> None:
    """Wait until ``count`` trials have arrived in ``folder`` (so they run at the same time)."""
    Path(folder, f"{os.getpid()}").touch()
    give_up = time.monotonic() + deadline_s
    while len(list(Path(folder).iterdir())) < count:
        if time.monotonic() > give_up:
            raise TimeoutError(f"only {len(list(Path(folder).iterdir()))} of {count} trials arrived")
        time.sleep(0.01)


def trainable(config):
    """``config["epochs"]`` epochs of ``config["epoch_s"]`` seconds of work; accuracy grows by ``config["lr"]``.

    With ``config["together"]`` (a folder), the trials first wait for each other there.
    """
    if config.get("together"):
        rendezvous(config["together"], 2)
    with TrialEnergy(target_metric="accuracy", target=config.get("target", 2.0)) as energy:
        for epoch in range(1, config["epochs"] + 1):
            busy(config["epoch_s"])
            energy.report({"accuracy": config["lr"] * epoch, "pid": os.getpid(), "wall_s": time.time()})
