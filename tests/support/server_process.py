"""What the tests' own servers (MLflow, Prometheus) share: the end of their log, and stopping their process group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

__all__ = ["log_tail", "stop_group"]


def log_tail(folder: Path) -> str:
    """The end of ``folder/log`` ('' when there is none)."""
    try:
        return (folder / "log").read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def stop_group(process: subprocess.Popen | None, folder: Path) -> None:
    """SIGTERM the process group of ``process`` (SIGKILL after 15 s), then delete ``folder``."""
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
