"""A throwaway Prometheus server for the tests: Debian's ``prometheus``, loopback only, scraping given targets.

``scripts/setup.sh --test`` installs Debian's ``prometheus``. The server keeps its data in a temporary folder, is ready
when ``/-/ready`` answers, is queried through its HTTP API (:meth:`query`), and is ended (and its folder deleted) by
:meth:`stop`.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.server_process import log_tail, stop_group

__all__ = ["PrometheusServer", "free_port"]


def _die_with_parent():  # noqa: ANN202 - a preexec_fn
    """Prometheus gets SIGTERM when the test process dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``)."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)

    return preexec


def free_port() -> int:
    """A TCP port nothing listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    """Scrape ``targets`` (``host:port``) every ``interval_s``; start with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, targets: list[str], *, interval_s: float = 1.0) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: run `make test` (scripts/setup.sh --test installs it)")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="powertrain-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        interval = f"{int(interval_s * 1000)}ms"
        (self.root / "prometheus.yml").write_text(
            "global:\n"
            f"  scrape_interval: {interval}\n"
            f"  scrape_timeout: {interval}\n"
            "scrape_configs:\n"
            "  - job_name: powertrain\n"
            f"    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> PrometheusServer:
        """Start Prometheus and wait until it is ready."""
        command = [
            self.binary,
            f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with open(self.root / "log", "wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                             preexec_fn=_die_with_parent())  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus was not ready on {self.url} in {timeout_s:.0f} s: {self.log_tail()}")

    def query(self, promql: str, **params: Any) -> list[dict[str, Any]]:
        """The ``result`` list of an instant query (``/api/v1/query``), or of a range query when ``start`` is given."""
        endpoint = "query_range" if "start" in params else "query"
        data = urllib.parse.urlencode({"query": promql, **params}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/{endpoint}", data=data, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def log_tail(self) -> str:
        """The end of Prometheus's log."""
        return log_tail(self.root)

    def stop(self) -> None:
        """End Prometheus and delete its folder."""
        stop_group(self._process, self.root)
