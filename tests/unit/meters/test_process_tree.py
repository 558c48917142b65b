"""The process tree's CPU time on real /proc: children, forks that exit, PIDs reused, a run shorter than a tick.

Real readings are asserted only against the kernel's own accounting of the same processes (``os.wait4``'s
rusage), never against a hard-coded figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from powertrain.meters import EnergyMeter, ProcessTree
from powertrain.meters._proctree import ProcessTreeReader, process_clock_supported
from powertrain.meters.command import run_command
from powertrain.meters.testing import ScriptedCounterSensor

pytestmark = [
    pytest.mark.skipif(not process_clock_supported(), reason="process attribution needs Linux /proc"),
    pytest.mark.real_cpu_times,
]

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


def reap(child: subprocess.Popen[bytes]) -> float:
    """Wait for the child; return its CPU seconds and its reaped descendants', as the kernel counted them."""
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    return usage.ru_utime + usage.ru_stime


def read_until_exit(reader: ProcessTreeReader, child: subprocess.Popen[bytes]) -> None:
    """Read every 20 ms while the child runs (as the sampler would), without reaping it."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reader.read()
        if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return
        time.sleep(0.02)
    raise AssertionError("child did not finish in 120 s")


def test_a_childs_cpu_time_since_birth_is_counted_at_nanosecond_precision():
    reader = ProcessTreeReader([])
    child = spawn("input()\n" + BURN.format(seconds=0.3))
    reader.add(child.pid, from_birth=True)
    child.stdin.write(b"\n")
    child.stdin.close()
    read_until_exit(reader, child)
    counted = reader.read()
    kernel = reap(child)
    assert counted == pytest.approx(kernel, abs=0.02)


def test_workers_that_fork_and_exit_count_once_with_their_last_moments():
    """A parent forks 4 workers one after the other; each burns CPU and is reaped (DataLoader workers)."""
    code = textwrap.dedent(
        """
        import os, time
        input()
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                end = time.process_time() + 0.15
                while time.process_time() < end: pass
                os._exit(0)
            os.waitpid(pid, 0)
        end = time.process_time() + 0.05
        while time.process_time() < end: pass
        """
    )
    reader = ProcessTreeReader([])
    child = spawn(code)
    reader.add(child.pid, from_birth=True)
    child.stdin.write(b"\n")
    child.stdin.close()
    read_until_exit(reader, child)
    counted = reader.read()
    kernel = reap(child)  # the parent's own time and its reaped workers'
    assert kernel > 0.6
    assert counted == pytest.approx(kernel, abs=0.03)  # ticks: at most a few 10 ms ticks of cutime rounding
    assert reader.lost_s < 0.03


def test_a_grandchild_orphaned_to_init_stays_a_member():
    code = textwrap.dedent(
        """
        import os, sys, time
        r, w = os.pipe()
        parent = os.getpid()
        if os.fork() == 0:
            os.close(r)
            os.write(w, str(os.getpid()).encode()); os.close(w)
            give_up = time.monotonic() + 600
            while os.getppid() == parent and time.monotonic() < give_up:
                time.sleep(0.01)              # until the parent has exited: reparented to init (or a subreaper)
            end = time.process_time() + 0.2
            while time.process_time() < end: pass
            os._exit(0)
        os.close(w)
        print(os.read(r, 32).decode(), flush=True)
        sys.stdin.readline()                  # exit once the reader has seen the grandchild
        """
    )
    reader = ProcessTreeReader([os.getpid()])
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    grandchild = int(child.stdout.readline())
    reader.read()
    assert grandchild in reader.pids()
    child.communicate(b"\n")
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{grandchild}") and time.monotonic() < deadline:
        reader.read()
        time.sleep(0.02)
    reader.read()
    assert grandchild not in reader.pids()
    assert reader.total_s >= 0.15  # the orphan's busy time was counted while it lived


def test_a_reused_pid_is_not_a_member():
    reader = ProcessTreeReader([])
    child = spawn("input()")
    reader.add(child.pid)
    member = reader._members[child.pid]
    member.start -= 1  # as if the member had died and another process had been born under its PID
    reader.read()
    assert child.pid not in reader.pids() and reader.reused == 1
    child.communicate(b"\n")


def test_a_one_step_run_never_reads_zero():
    """A command that uses far less than one 10 ms tick of CPU still gets joules under measure."""
    scope = ProcessTree([])
    sensor = ScriptedCounterSensor(lambda t: 10.0 * t, device="cpu:package-0", component="cpu")
    with EnergyMeter([sensor], sample_period_s=0.05, attribution=scope) as meter:
        run = run_command([sys.executable, "-S", "-c", "pass"], meter)
    m = run.measurement
    assert m.conditions["run_cpu_s"] > 0
    assert m.energy_j > 0
    assert m.attribution["scope"] == "process" and run.argv[0] == sys.executable


class FakeProc:
    """A scripted process table behind ``_proctree``'s /proc readers: pid -> [ppid, start, children_ns, own_ns]."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, table: dict[int, list[int]]) -> None:
        from powertrain.meters import _proctree

        self.table = table
        self.after_read: dict[int, object] = {}  # pid -> a callable run right after that pid's stat is read
        monkeypatch.setattr(_proctree, "_read_stat", self.read_stat)
        monkeypatch.setattr(_proctree, "_own_ns", lambda pid, stat: stat.own_ns)
        monkeypatch.setattr(_proctree, "_newest_pid", lambda: max(self.table))
        monkeypatch.setattr(_proctree, "_listed_pids", lambda: list(self.table))
        monkeypatch.setattr(_proctree, "_is_process", lambda pid: pid in self.table)

    def read_stat(self, pid: int):
        from powertrain.meters._proctree import _Stat

        row = self.table.get(pid)
        stat = None if row is None else _Stat(row[0], row[1], row[2], row[3])
        hook = self.after_read.pop(pid, None)
        if hook is not None:
            hook()
        return stat


def test_a_child_reaped_between_its_parents_read_and_its_own_counts_once(monkeypatch):
    # The race of a real run (bench/cpu_speed.py, a `bash -c` under a wrapper beside a busy core): the sampler reads
    # the parent's stat, the parent then reaps the child, and the sampler finds the child gone. The reap lands in
    # the parent's cutime only at the next read: the child's counted time must be taken back then, not written off.
    s = 1_000_000_000
    proc = FakeProc(monkeypatch, {10: [1, 100, 0, 1 * s], 11: [10, 200, 0, 2 * s]})
    reader = ProcessTreeReader([10], pid_max=1000)
    proc.table[10][3], proc.table[11][3] = int(1.5 * s), 3 * s  # parent +0.5 s, child +1 s
    assert reader.read() == pytest.approx(1.5)
    proc.table[11][3] = int(3.5 * s)  # the child's last 0.5 s, then it exits

    def reap() -> None:
        proc.table[10][2] += proc.table.pop(11)[3]

    proc.after_read[10] = reap  # the parent's stat was read just before it reaped the child
    reader.read()
    assert reader.read() == pytest.approx(2.0)  # parent 0.5 s + child 1.5 s, once
    assert reader.lost_s == pytest.approx(0.0)


def test_a_child_reaped_by_no_member_is_reported_lost(monkeypatch):
    s = 1_000_000_000
    proc = FakeProc(monkeypatch, {10: [1, 100, 0, 1 * s], 11: [10, 200, 0, 2 * s]})
    reader = ProcessTreeReader([10], pid_max=1000)
    proc.table[11][3] = 3 * s
    assert reader.read() == pytest.approx(1.0)
    del proc.table[11]  # gone, and its time never lands in the parent's cutime (the parent ignores SIGCHLD)
    assert reader.read() == pytest.approx(1.0)
    assert reader.read() == pytest.approx(1.0)
    assert reader.lost_s == pytest.approx(3.0)  # what the parent still owes for it, reported, never counted twice
