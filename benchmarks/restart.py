"""2. restart latency: SIGKILL a RUNNING autorestart child; time until its replacement runs.

Detection is identical for both managers and puts no load on them: a 0.5 ms poll of
/proc for a new child of the daemon whose cmdline is already the program's (it has
exec'd, so it is alive as the program, not a fork of the manager). Between kills we
wait 0.3 s so the child is "stable": supervisord_lite is configured with
backoff_reset = 0.1 s, so a child that ran that long restarts at once (SPEC §3).
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
from benchmarks.managers import Program, managers

MARK = "31415926"
CMDLINE = b"sleep\0" + MARK.encode() + b"\0"


def find_child(scan: ChildScanner) -> int:
    def alive():
        for pid in scan.children():
            if read_cmdline(pid) == CMDLINE:
                return pid
        return None

    return wait_for(alive, timeout=10, interval=0.005, what="the program's child")


def kill_and_time(scan: ChildScanner, old: int, timeout: float = 5.0) -> tuple[float, int]:
    scan.poll()
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    candidates: list[int] = []
    deadline = t0 + timeout
    while True:
        candidates.extend(p for p in scan.poll() if p != old)
        for pid in candidates:
            if read_cmdline(pid) == CMDLINE:
                return time.perf_counter() - t0, pid
        if time.perf_counter() > deadline:
            raise TimeoutError("no replacement child appeared")
        time.sleep(0.0005)


def measure(kind, kills: int) -> list[float]:
    program = Program("victim", ["sleep", MARK], backoff_reset=0.1)
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
    kills = settings.pick(60, 8)
    med = Row("restart", f"SIGKILL -> replacement running, median of {kills} (ms)", fmt="{:.2f}")
    p95 = Row("restart", f"SIGKILL -> replacement running, p95 of {kills} (ms)", fmt="{:.2f}")
    for kind in managers(settings):
        values = [v * 1000 for v in measure(kind, kills)]
        if kind.label == "supervisord":
            med.supervisord, p95.supervisord = median(values), percentile(values, 95)
        else:
            med.lite, p95.lite = median(values), percentile(values, 95)
    base = [v * 1000 for v in floor(kills)]
    return [
        med,
        p95,
        Row("restart", "no manager: kill + waitpid + Popen, median (ms)", baseline=median(base)),
    ]
