"""A throwaway MLflow tracking server for the tests: ``mlflow server`` on a SQLite file, loopback only, a free port.

``scripts/setup.sh --test`` installs MLflow (the ``trackers`` extra). The server runs in its own process group (MLflow
starts uvicorn workers under it), is ready when ``/health`` answers, and the whole group is ended when the test session
ends. Artifacts are proxied by the server into its own folder (``--artifacts-destination``). A small watchdog leads the
group: if the test process dies without ending it (SIGKILL, a killed CI job), the watchdog ends the group itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.server_process import log_tail, stop_group

__all__ = ["MlflowServer"]

# argv: PARENT_PID COMMAND...; runs COMMAND in this process group and ends the group once PARENT_PID is gone
WATCHDOG = """
import os, signal, subprocess, sys, time
parent, command = int(sys.argv[1]), sys.argv[2:]
child = subprocess.Popen(command)
signal.signal(signal.SIGTERM, lambda *_: (os.killpg(0, signal.SIGKILL)))
while child.poll() is None:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        os.killpg(0, signal.SIGKILL)
    time.sleep(0.5)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """Start with :meth:`start`, point clients at :attr:`url`, end with :meth:`stop`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="powertrain-mlflow-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> MlflowServer:
        """Start the server and wait until ``/health`` answers (or the process dies)."""
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        watched = [sys.executable, "-c", WATCHDOG, str(os.getpid()), *command]
        with open(self.root / "log", "wb") as log:
            self._process = subprocess.Popen(watched, stdout=log, stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.url} in {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        """The end of the server's log."""
        return log_tail(self.root)

    def stop(self) -> None:
        """End the server's whole process group and delete its folder."""
        stop_group(self._process, self.root)
