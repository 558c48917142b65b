"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder, no network.

``scripts/setup.sh --test`` (run by ``make test``) installs Debian's ``postgresql``. The server listens only on a Unix
socket in its own folder (no TCP port: nothing another process on the machine holds or takes can collide with it),
with ``trust`` authentication; ``pg_ctl start -w`` returns once it accepts connections. It is stopped (``pg_ctl stop
-m immediate``) and deleted when the test session ends. As root, the cluster runs as the ``postgres`` user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/N/bin`` with ``initdb``, or the folder of ``initdb`` on PATH; else None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """Start with :meth:`start`, connect with :attr:`url`, end with :meth:`stop`."""

    def __init__(self) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL is not installed: run `make test` (scripts/setup.sh --test installs Debian's postgresql)"
            )
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="powertrain-pg-"))
        self.data = self.root / "data"
        self.url = f"postgresql://postgres@/postgres?host={self.root}"  # the socket folder, no TCP
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, timeout_s: float = 120.0) -> PostgresServer:
        """initdb, then start the server; ``pg_ctl -w`` waits (up to ``timeout_s``) until it accepts connections."""
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses='' -c unix_socket_directories={self.root} -c fsync=off"
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                      "-w", "-t", str(int(timeout_s)), "start")  # fmt: skip
        except subprocess.CalledProcessError:
            log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {log[-2000:]}") from None
        return self

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        except (subprocess.CalledProcessError, FileNotFoundError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_server_only(self) -> None:
        """Stop the server but keep its data (to test an unreachable server)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
