"""2. restart latency: SIGKILL a RUNNING autorestart child; time until its replacement runs.

Detection is identical for both managers and puts no load on them: a 0.5 ms poll of
/proc for a new child of the daemon whose cmdline is already the program's (it has
exec'd, so it is alive as the program, not a fork of the manager).

Two sets of rows. Tuned: kills 0.3 s apart, supervisord_lite given the non-default
`backoff_reset = 0.1` so that a child that ran 0.3 s counts as stable and restarts at
once; this measures the restart path itself. Defaults: what users get, where a second
crash within `backoff_reset` (60 s) waits in BACKOFF by design (docs/states.md): each of
many programs crashed once (median and p95), and a few crashed again, reported apart.
supervisord has no such setting; it gets the same config in both.
"""

from __future__ import annotations

import os
import signal
import time

from benchmarks.common import (
    ChildScanner,
    Row,
    Settings,
    median,
    percentile,
    read_cmdline,
    wait_for,
)
from benchmarks.managers import Program, per_manager

MARK = "31415926"
CMDLINE = b"sleep\0" + MARK.encode() + b"\0"


def cmdline_of(mark: str) -> bytes:
    return b"sleep\0" + mark.encode() + b"\0"


def find_child(scan: ChildScanner, cmdline: bytes = CMDLINE) -> int:
    def alive():
        for pid in scan.children():
            if read_cmdline(pid) == cmdline:
                return pid
        return None

    return wait_for(alive, timeout=10, interval=0.005, what="the program's child")


def kill_and_time(
    scan: ChildScanner, old: int, cmdline: bytes = CMDLINE, timeout: float = 5.0
) -> tuple[float, int]:
    scan.poll()
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    candidates: list[int] = []
    deadline = t0 + timeout
    while True:
        candidates.extend(p for p in scan.poll() if p != old)
        for pid in candidates:
            if read_cmdline(pid) == cmdline:
                return time.perf_counter() - t0, pid
        if time.perf_counter() > deadline:
            raise TimeoutError("no replacement child appeared")
        time.sleep(0.0005)


def measure(kind, kills: int, backoff_reset: float | None = 0.1) -> list[float]:
    """Latencies of `kills` SIGKILLs 0.3 s apart on one daemon."""
    program = Program("victim", ["sleep", MARK], backoff_reset=backoff_reset)
    with kind() as mgr:
        mgr.write_config([program])
        mgr.launch()
        scan = ChildScanner(mgr.pid)
        pid = find_child(scan)
        latencies = []
        for _ in range(kills):
            time.sleep(0.3)
            latency, pid = kill_and_time(scan, pid)
            latencies.append(latency)
        return latencies


def floor(kills: int) -> list[float]:
    """No manager: this process reaps the killed child and Popen()s the replacement itself,
    detected the same way. What any manager spawning with subprocess costs at least."""
    import subprocess

    scan = ChildScanner(os.getpid())
    child = subprocess.Popen(["sleep", MARK])
    latencies = []
    try:
        for _ in range(kills):
            time.sleep(0.3)
            scan.poll()
            t0 = time.perf_counter()
            child.kill()
            child.wait()
            child = subprocess.Popen(["sleep", MARK], start_new_session=True)
            while read_cmdline(child.pid) != CMDLINE:
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
    finally:
        child.kill()
        child.wait()
    return latencies


def run(settings: Settings) -> list[Row]:
    return tuned_rows(settings) + default_rows(settings)


def tuned_rows(settings: Settings) -> list[Row]:
    """Kills 0.3 s apart, with supervisord_lite told that 0.1 s of running is stable."""
    rounds, per_round = settings.pick(3, 1), settings.pick(20, 8)
    kills = rounds * per_round
    how = (
        f"{kills} kills 0.3 s apart, {rounds} daemon(s) each; lite: backoff_reset = 0.1, "
        "NOT the default 60; new child seen in /proc"
    )
    med = Row("restart", "SIGKILL -> replacement running, median (ms)", fmt="{:.2f}", note=how)
    p95 = Row("restart", "SIGKILL -> replacement running, p95 (ms)", fmt="{:.2f}", note=how)
    results = per_manager(settings, rounds, lambda kind: measure(kind, per_round))
    for label, runs in results.items():
        values = [v * 1000 for latencies in runs for v in latencies]
        med.set(label, median(values))
        p95.set(label, percentile(values, 95))
    base = [v * 1000 for v in floor(kills)]
    return [
        med,
        p95,
        Row("restart", "no manager: kill + waitpid + Popen, median (ms)", baseline=median(base)),
    ]


def crash_each(kind, programs: int, again: int) -> tuple[list[float], list[float]]:
    """Default settings: `programs` programs on one fresh daemon; each one's child is
    killed once, 0.3 s after the previous kill (its first crash: restarted at once), then
    the first `again` of them a second time (within backoff_reset: held in BACKOFF).
    Returns (first-crash latencies, second-crash latencies)."""
    marks = [f"{MARK}{i:02d}" for i in range(programs)]
    config = [Program(f"victim{i:02d}", ["sleep", mark]) for i, mark in enumerate(marks)]
    with kind() as mgr:
        mgr.write_config(config)
        mgr.launch()
        scan = ChildScanner(mgr.pid)
        pids = [find_child(scan, cmdline_of(mark)) for mark in marks]
        first, second = [], []
        for i, mark in enumerate(marks):
            time.sleep(0.3)
            latency, pids[i] = kill_and_time(scan, pids[i], cmdline_of(mark))
            first.append(latency)
        for i, mark in enumerate(marks[:again]):
            time.sleep(0.3)
            latency, pids[i] = kill_and_time(scan, pids[i], cmdline_of(mark))
            second.append(latency)
        return first, second


def default_rows(settings: Settings) -> list[Row]:
    """Default settings, as users get them. A program's first crash restarts at once in
    supervisord_lite (never restarted before); a second crash within backoff_reset = 60 s
    waits in BACKOFF for 1 s (a crash loop by its rules), so the two are reported apart.
    Many programs per daemon give many first crashes: median and p95 mean something."""
    rounds, programs, again = settings.pick(3, 1), settings.pick(15, 4), settings.pick(2, 1)
    how = f"defaults, {programs} programs crashed once on each of {rounds} daemon(s), 0.3 s apart"
    first = Row("restart", "first SIGKILL after start -> replacement, median (ms)", note=how)
    first95 = Row("restart", "first SIGKILL after start -> replacement, p95 (ms)", note=how)
    how2 = f"defaults, {again} program(s) crashed again on each of {rounds} daemon(s)"
    second = Row("restart", "second SIGKILL 0.3 s later -> replacement, median (ms)", note=how2)
    for row in (first, first95, second):
        row.fmt = "{:.2f}"
    results = per_manager(settings, rounds, lambda kind: crash_each(kind, programs, again))
    for label, runs in results.items():
        firsts = [v * 1000 for f, _ in runs for v in f]
        first.set(label, median(firsts))
        first95.set(label, percentile(firsts, 95))
        second.set(label, median([v * 1000 for _, s in runs for v in s]))
    return [first, first95, second]
