"""Open a page in real headless Chromium and read back what a person would see, through the DevTools protocol.

The protocol runs over ``--remote-debugging-pipe`` (JSON messages separated by NUL bytes on file descriptors 3 and
4), so no websocket library and no network port are needed. :func:`inspect_page` loads a file, waits for the load
event, and returns the size of every image as laid out, every console error and uncaught exception, and a
full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(img => {
  const r = img.getBoundingClientRect();
  return {alt: img.alt, complete: img.complete, natural_w: img.naturalWidth, natural_h: img.naturalHeight,
          w: r.width, h: r.height};
}))"""


def chromium_path() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")


@dataclass
class PageReport:
    """What Chromium saw: laid-out images, console errors and exceptions, network requests, the title."""

    title: str
    images: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.log: Any = None

    def log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return ": " + self.log.read().decode(errors="replace")[-2000:]

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout_s: float = 120.0) -> dict[str, Any]:  # fmt: skip
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium exited (status {self.proc.poll()}){self.log_tail()}") from None
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_event(self, method: str, timeout_s: float = 120.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout_s
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining_s = deadline - time.monotonic()  # a generous deadline (a busy machine), and a real one: no hang
            if remaining_s <= 0 or not select.select([self.read_fd], [], [], remaining_s)[0]:
                raise TimeoutError(f"Chromium did not answer in time{self.log_tail()}")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit status {self.proc.poll()}){self.log_tail()}")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return dict(json.loads(message))


def inspect_page(path: Path, screenshot: Path, *, width: int = 1280) -> PageReport:
    """Load ``path`` in headless Chromium, write a full-page PNG to ``screenshot``, and report what it saw."""
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (scripts/setup.sh --test installs it)")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="powertrain-chromium-")

    def child_fds() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
        # copies above 10 first, so that neither end is already 3 or 4 (dup2 onto itself would keep close-on-exec)
        commands = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        replies = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.dup2(commands, 3)  # dup2 copies are inheritable; every other descriptor closes on exec
        os.dup2(replies, 4)

    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        close_fds=False, preexec_fn=child_fds,
    )  # fmt: skip
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    pipe.log = log
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")
        title = pipe.send("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                          session=session)["result"]["value"]  # fmt: skip
        images = json.loads(pipe.send("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True},
                                      session=session)["result"]["value"])  # fmt: skip
        height = pipe.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                                "returnByValue": True}, session=session)["result"]["value"]  # fmt: skip
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
                  session=session)  # fmt: skip
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        report = PageReport(title=title, images=images)
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                report.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                report.errors.append(str(params["exceptionDetails"].get("text")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                report.errors.append(str(params["entry"].get("text")))
            elif method == "Network.requestWillBeSent":
                report.requests.append(str(params["request"]["url"]))
        return report
    finally:
        try:
            pipe.send("Browser.close", timeout_s=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
        log.close()
