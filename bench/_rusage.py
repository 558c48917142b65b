"""Run a command pinned to one CPU and write the kernel's own account of its CPU time (``os.wait4``) as JSON.

A helper of ``bench/cpu_speed.py``: it runs under ``powertrain measure``, so the attributed CPU seconds of the
measurement (this wrapper and its child) can be checked against an account that does not go through attribution.

Usage: ``python bench/_rusage.py OUT.json CPU -- COMMAND [ARGS...]``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python bench/_rusage.py OUT.json CPU -- COMMAND [ARGS...]", file=sys.stderr)  # noqa: T201
        return 2
    out, cpu, command = Path(argv[0]), int(argv[1]), argv[3:]
    os.sched_setaffinity(0, {cpu})  # the child inherits it
    child = subprocess.Popen(command)  # noqa: S603
    _, status, usage = os.wait4(child.pid, 0)
    report = {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wrapper_cpu_s": time.process_time(),
        "max_rss_kib": usage.ru_maxrss,
        "voluntary_switches": usage.ru_nvcsw,
        "involuntary_switches": usage.ru_nivcsw,
    }
    out.write_text(json.dumps(report) + "\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
