"""Shared pieces: settings, result rows, statistics, /proc scanning and hard cleanup."""

from __future__ import annotations

import ctypes
import os
import signal
import statistics
import subprocess
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
    lite_only: bool = False  # supervisord is not run for this row (the note says why)

    def set(self, label: str, value: float | None) -> None:
        """Fill the column of the manager called `label`."""
        if label == "supervisord":
            self.supervisord = value
        else:
            self.lite = value

    def ratio(self) -> float | None:
        """How many times better supervisord_lite is (>1 means lite wins)."""
        a, b = self.supervisord, self.lite
        if self.baseline is not None or self.lite_only or a is None or b is None:
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

    /proc/PID/task/TID/children needs a kernel built with CONFIG_PROC_CHILDREN, which
    not every host has; psutil.children() re-reads every process's stat on every call,
    which is too slow to poll at 1 ms.
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


CLK_TCK = os.sysconf("SC_CLK_TCK")


def daemon_cpu(pid: int) -> float:
    """CPU seconds a (single- or multi-threaded) process has run, user + system.

    /proc/PID/task/*/schedstat holds each thread's exact run time in nanoseconds; where
    the kernel lacks it, /proc/PID/stat's utime + stime, in clock ticks (10 ms here), is
    the fallback: a single request is then below one tick, so a per-request figure from it
    is only meaningful summed over many requests.
    """
    total, found = 0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            continue
    if found:
        return total / 1e9
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: fields 14, 15


def command_wall_times(argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of `argv` run whole, `repeats` times after one run that warms the
    page cache; a run that fails or prints nothing is an error, not a fast figure."""
    subprocess.run(argv, capture_output=True, timeout=60)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=60)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 3) or not proc.stdout:  # 3: some process not running
            raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stdout!r} {proc.stderr!r}")
    return times


def status_round_trips(mgr, seconds: float, n: int) -> tuple[float, float]:
    """(status round trips/s, daemon CPU ms per request) over `seconds` of back-to-back
    calls on one connection of `mgr.client()`, which must see all `n` programs."""
    client = mgr.client()
    try:
        assert len(client.status()) == n
        count = 0
        cpu0 = daemon_cpu(mgr.pid)
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            client.status()
            count += 1
        cpu = daemon_cpu(mgr.pid) - cpu0
        return count / elapsed, cpu / count * 1000
    finally:
        client.close()


class CpuMeter:
    """A daemon's CPU summed over the windows bracketed by `with meter:`: per-request cost
    without the daemon's own idle work between requests (supervisord's 1 s tick)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.seconds = 0.0
        self.windows = 0

    def __enter__(self):
        self._start = daemon_cpu(self.pid)
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += daemon_cpu(self.pid) - self._start
        self.windows += 1

    def per_window_ms(self) -> float | None:
        return self.seconds / self.windows * 1000 if self.windows else None


def wait_dead(pids: list[int], timeout: float) -> float:
    """Block until every process in `pids` has exited (a zombie counts: it is dead, its
    parent just has not reaped it yet); returns time.perf_counter() at the last death.

    Uses one pidfd per process (Linux >= 5.3): poll(2) wakes on each exit, so waiting
    costs no CPU that the daemon being timed would compete for. Falls back to reading
    /proc/PID/stat every millisecond.
    """
    import select

    deadline = time.perf_counter() + timeout
    fds: dict[int, int] = {}
    pending = set(pids)
    try:
        if hasattr(os, "pidfd_open"):
            for pid in pids:
                try:
                    fds[os.pidfd_open(pid)] = pid
                except ProcessLookupError:
                    pending.discard(pid)  # already gone
                except OSError:
                    break  # no pidfds here: poll /proc below
            if len(fds) == len(pending):
                poller = select.poll()
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                while pending:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        raise TimeoutError(f"{len(pending)} of {len(pids)} still alive")
                    for fd, _ in poller.poll(left * 1000):
                        poller.unregister(fd)
                        pending.discard(fds[fd])
                return time.perf_counter()
        while pending:
            for pid in list(pending):
                st = read_stat(pid)
                if st is None or st[0] in "ZX":
                    pending.discard(pid)
            if not pending:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(pending)} of {len(pids)} still alive")
            time.sleep(0.001)
        return time.perf_counter()
    finally:
        for fd in fds:
            os.close(fd)


UNRELATED_HELPER = """
import os, signal, sys
sleep = "/bin/sleep" if os.path.exists("/bin/sleep") else "/usr/bin/sleep"
pids = [os.posix_spawn(sleep, ["sleep", "100000"], {}) for _ in range(int(sys.argv[1]))]
sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.read()  # until the benchmark closes our stdin (or dies)
for pid in pids:
    os.kill(pid, signal.SIGKILL)
for pid in pids:
    os.waitpid(pid, 0)
"""


class UnrelatedProcesses:
    """`n` sleeping processes that belong to no manager: a busy host's other processes.

    A helper process starts them as its own children and kills and reaps them when its
    stdin closes; the benchmark's last-resort cleanup (kill_all_descendants) also finds
    them, as descendants of this process.
    """

    def __init__(self, n: int):
        import subprocess
        import sys

        self.n = n
        self.helper = subprocess.Popen(
            [sys.executable, "-c", UNRELATED_HELPER, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if self.helper.stdout.readline() != b"ready\n":
            self.close()
            raise RuntimeError("the helper could not start its unrelated processes")

    def close(self) -> None:
        import subprocess

        try:
            self.helper.stdin.close()
            self.helper.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            kill_tree(self.helper.pid)
            self.helper.wait()
        finally:
            self.helper.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
