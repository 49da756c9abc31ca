"""Shared pieces: settings, result rows, statistics, /proc scanning and hard cleanup."""

from __future__ import annotations

import ctypes
import os
import signal
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import psutil

PR_SET_CHILD_SUBREAPER = 36
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Settings:
    quick: bool = False
    with_supervisord: bool = True

    def pick(self, full, quick):
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the table. `better` says which direction wins: "lower" or "higher"."""

    workload: str
    metric: str
    supervisord: float | None = None
    lite: float | None = None
    better: str = "lower"
    fmt: str = "{:.3g}"
    note: str = ""
    baseline: float | None = None  # a no-manager reference figure, shown in both columns

    def set(self, label: str, value: float | None) -> None:
        """Fill the column of the manager called `label`."""
        if label == "supervisord":
            self.supervisord = value
        else:
            self.lite = value

    def ratio(self) -> float | None:
        """How many times better supervisord_lite is (>1 means lite wins)."""
        a, b = self.supervisord, self.lite
        if self.baseline is not None or a is None or b is None:
            return None
        if self.better == "lower":
            return a / b if b else (float("inf") if a else None)
        return b / a if a else (float("inf") if b else None)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p95 of 60 samples is the 57th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def become_subreaper() -> None:
    """Orphans of a killed daemon re-parent to us, so cleanup can find and reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Reap every exited child of ours (we are a subreaper: orphans land here)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(pid: int | None) -> None:
    """Freeze a daemon, SIGKILL it and every descendant, and reap what lands on us."""
    if not pid:
        return
    try:
        root = psutil.Process(pid)
        root.send_signal(signal.SIGSTOP)  # it can spawn nothing more while we look
        victims = [root, *root.children(recursive=True)]
    except psutil.Error:
        victims = []
    for proc in victims:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=5)
    reap_orphans()


def kill_all_descendants() -> None:
    """Last line of defence at exit: nothing this run started may survive it."""
    for _ in range(3):
        kids = psutil.Process().children(recursive=True)
        if not kids:
            break
        for proc in kids:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(kids, timeout=3)
        reap_orphans()


def read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) from /proc/PID/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split(b" ", 2)
    return fields[0].decode(), int(fields[1])


def read_cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class ChildScanner:
    """Children of one pid by scanning /proc, caching ppids so a poll reads only new pids.

    Linux here lacks /proc/PID/task/TID/children; psutil.children() re-reads every
    process's stat on every call, which is too slow to poll at 1 ms.
    """

    def __init__(self, parent: int):
        self.parent = parent
        self.ppid: dict[int, int] = {}
        self.poll()

    def poll(self) -> list[int]:
        """New children since the last poll."""
        pids = set()
        for entry in os.listdir("/proc"):
            if entry[0] in "123456789":
                pids.add(int(entry))
        for gone in self.ppid.keys() - pids:
            del self.ppid[gone]
        fresh = []
        for pid in pids - self.ppid.keys():
            st = read_stat(pid)
            self.ppid[pid] = st[1] if st else -1
            if st and st[1] == self.parent:
                fresh.append(pid)
        return fresh

    def children(self) -> list[int]:
        self.poll()
        return [p for p, pp in self.ppid.items() if pp == self.parent]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.01, what=""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def ctx_switches(pid: int) -> int:
    c = psutil.Process(pid).num_ctx_switches()
    return c.voluntary + c.involuntary
