"""The CPU time of a process tree, at nanosecond precision, without rescanning /proc (Linux; private).

Members are keyed by ``(pid, start time)`` (``/proc/PID/stat`` field 22), so a PID the kernel reuses during a run
is never mistaken for a member. Each read:

1. **New processes.** The kernel hands out PIDs in order, and ``/proc/loadavg``'s last field is the newest one, so
   every process born since the previous read has a PID in the range ``(previous newest, newest]``. When the range
   is short its ``/proc/PID/stat`` files are read directly; when it is long (a machine forking fast) only the PIDs
   of that range that ``/proc`` lists are. A new process whose parent is a member becomes one (its whole CPU time
   counts: it was born during the run), and so do its own new children, in birth order. No read walks all of /proc
   (the first one does, to find the children the roots already have).
2. **CPU time.** A member's CPU time is its thread group's ``CLOCK_PROCESS_CPUTIME_ID`` clock (every thread, dead
   ones included, in nanoseconds, readable for any process), plus the time of children it has reaped
   (``cutime + cstime``, in ticks).
3. **Exits.** A member that exited between two reads was reaped by its parent, whose ``cutime + cstime`` then grew
   by the child's whole CPU time; the part this reader had already counted is taken back from the nearest member
   ancestor still alive, so nothing counts twice and the child's last moments are not lost. When the reap lands
   in the parent's ``cutime`` only after the read that saw the child gone (the parent's stat was read a moment
   before it reaped the child), the debt waits for that growth instead of being written off. A child reaped by a
   process outside the tree (an orphan adopted by init, a forkserver's worker) loses its time after the last read;
   :attr:`ProcessTreeReader.lost_s` says how much was dropped that way (time counted on a parent that went
   negative).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ProcessTreeReader", "process_clock_supported"]

logger = logging.getLogger(__name__)

_TICK_NS = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
_PROBE_LIMIT = 256  # above this many new PIDs, list /proc instead of probing each one


def process_clock_supported() -> bool:
    """True when this platform lets us read another process's CPU clock and /proc (Linux)."""
    return hasattr(time, "clock_gettime_ns") and os.path.exists("/proc/self/stat") and os.path.exists("/proc/loadavg")


def _cpu_clock(pid: int) -> int:
    # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's posix-timers.h: the thread group's runtime
    return ((~pid) << 3) | 2


@dataclass(slots=True)
class _Stat:
    ppid: int
    start: int
    children_ns: int
    own_ns: int  # utime + stime, ticks: the fallback when the clock cannot be read


@dataclass(slots=True)
class _Member:
    pid: int
    start: int
    ppid: int
    own_ns: int  # at the last read
    children_ns: int
    debt_ns: int = 0  # counted time of departed descendants whose reap has not landed in children_ns yet
    debtors: int = 0  # how many departed descendants that debt is for

    @property
    def total_ns(self) -> int:
        return self.own_ns + self.children_ns


def _read_stat(pid: int) -> _Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()  # the command name may hold spaces and parentheses
    try:  # fields[0] is field 3 (state)
        return _Stat(
            int(fields[1]), int(fields[19]), (int(fields[13]) + int(fields[14])) * _TICK_NS,
            (int(fields[11]) + int(fields[12])) * _TICK_NS,
        )  # fmt: skip
    except (IndexError, ValueError):
        return None


def _own_ns(pid: int, stat: _Stat) -> int:
    try:
        return time.clock_gettime_ns(_cpu_clock(pid))
    except OSError:
        return stat.own_ns


def _is_process(pid: int) -> bool:
    """True when ``pid`` is a thread group leader (a thread's TID has a /proc entry too)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1]) == pid
    except (OSError, ValueError):
        return False
    return False


def _newest_pid() -> int:
    with open("/proc/loadavg", "rb") as f:
        return int(f.read().split()[-1])


def _listed_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


class ProcessTreeReader:
    """Cumulative CPU seconds of the roots and all their descendants since this reader was made (Linux).

    Args:
        roots: PIDs of the roots. Their CPU time and their existing descendants' counts from now on.
        pid_max: The kernel's PID limit (for the wrap of the new-PID range; read from /proc by default).
    """

    def __init__(self, roots: Iterable[int] = (), *, pid_max: int | None = None) -> None:
        self.pid_max = pid_max or _read_pid_max()
        self._lock = threading.Lock()  # add() may come from another thread than read()
        self._members: dict[int, _Member] = {}
        self._newest = _newest_pid()
        self.total_ns = 0
        self.lost_ns = 0
        self.reused = 0  # members whose PID was reused by another process
        self.seen = 0  # processes that were members at some point
        self.unreadable = 0  # new processes whose stat could not be read
        roots = list(roots)
        for pid in roots:
            self.add(pid, from_birth=False)
        if roots:
            self._adopt_existing()

    @property
    def total_s(self) -> float:
        """The run's CPU seconds counted so far."""
        return self.total_ns / 1e9

    @property
    def lost_s(self) -> float:
        """CPU seconds of exited members that no live member's ``cutime`` could account for (or has yet)."""
        with self._lock:
            return (self.lost_ns + sum(m.debt_ns for m in self._members.values())) / 1e9

    def pids(self) -> set[int]:
        """PIDs of the members alive at the last read."""
        with self._lock:
            return set(self._members)

    def add(self, pid: int, *, from_birth: bool = True) -> bool:
        """Make ``pid`` a root: count all its CPU time since birth (``from_birth``) or from now on.

        Returns:
            False when the process does not exist (any more).
        """
        stat = _read_stat(pid)
        if stat is None:
            return False
        member = _Member(pid, stat.start, stat.ppid, _own_ns(pid, stat), stat.children_ns)
        with self._lock:
            if pid in self._members:
                return True
            if from_birth:
                self.total_ns += member.total_ns
            self._members[pid] = member
            self.seen += 1
        return True

    def _adopt_existing(self) -> None:
        """Find the descendants the roots already have (one walk of /proc, at construction only)."""
        stats = {pid: s for pid in _listed_pids() if pid not in self._members and (s := _read_stat(pid)) is not None}
        grown = True
        while grown:
            grown = False
            for pid, stat in list(stats.items()):
                if stat.ppid in self._members:
                    self._members[pid] = _Member(pid, stat.start, stat.ppid, _own_ns(pid, stat), stat.children_ns)
                    self.seen += 1
                    del stats[pid]
                    grown = True

    def read(self) -> float:
        """Fold in the time since the last read and return the cumulative CPU seconds."""
        with self._lock:
            self._read()
            return self.total_s

    def _read(self) -> None:
        departed: list[_Member] = []
        credit: dict[int, int] = {}
        for pid, member in list(self._members.items()):
            stat = _read_stat(pid)
            if stat is None or stat.start != member.start:
                self.reused += stat is not None
                departed.append(self._members.pop(pid))
                continue
            own = max(_own_ns(pid, stat), member.own_ns)
            self.total_ns += own - member.own_ns
            credit[pid] = max(stat.children_ns - member.children_ns, 0)
            member.own_ns, member.children_ns, member.ppid = own, max(stat.children_ns, member.children_ns), stat.ppid
        for gone in departed:  # its reaped total lands in the nearest living ancestor's cutime, now or soon
            self.lost_ns += gone.debt_ns
            ancestor = self._living_ancestor(gone, departed)
            if ancestor is not None:
                self._members[ancestor].debt_ns += gone.total_ns
                self._members[ancestor].debtors += 1
        for pid, growth in credit.items():
            self._settle(self._members[pid], growth)
        self._discover()

    def _settle(self, member: _Member, growth_ns: int) -> None:
        """Count a member's ``cutime`` growth, less what its departed descendants had already counted."""
        if growth_ns == 0 and member.debt_ns:
            return  # the reap has not landed yet: the debt waits for the growth
        net = growth_ns - member.debt_ns
        if net >= 0:
            self.total_ns += net
            member.debt_ns = member.debtors = 0
        elif -net <= 2 * _TICK_NS * member.debtors:  # cutime is in ticks: the rest of the debt is their rounding
            self.lost_ns -= net
            member.debt_ns = member.debtors = 0
        else:  # only part of the reaps landed: the rest waits
            member.debt_ns = -net

    def _living_ancestor(self, gone: _Member, departed: list[_Member]) -> int | None:
        by_pid = {m.pid: m for m in departed}
        ppid, hops = gone.ppid, 0
        while ppid not in self._members and ppid in by_pid and hops < len(departed):
            ppid, hops = by_pid[ppid].ppid, hops + 1
        return ppid if ppid in self._members else None

    def _discover(self) -> None:
        try:
            newest = _newest_pid()
        except (OSError, ValueError, IndexError):
            return
        previous, self._newest = self._newest, newest
        span = (newest - previous) % self.pid_max
        if span == 0:
            return
        if span <= _PROBE_LIMIT:
            candidates = [(previous + i) % self.pid_max for i in range(1, span + 1)]
        else:  # many births: only the listed PIDs of the new range
            candidates = sorted(pid for pid in _listed_pids() if 0 < (pid - previous) % self.pid_max <= span)
            candidates.sort(key=lambda pid: (pid - previous) % self.pid_max)
        for pid in candidates:  # in birth order, so a child's parent is adopted before it
            if pid in self._members:
                continue
            stat = _read_stat(pid)
            if stat is None:
                continue
            if stat.ppid in self._members and _is_process(pid):
                member = _Member(pid, stat.start, stat.ppid, _own_ns(pid, stat), stat.children_ns)
                self.total_ns += member.total_ns
                self._members[pid] = member
                self.seen += 1


def _read_pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4_194_304
