"""1. spawn: N sleep programs (startsecs=0), from launching the daemon until all RUNNING.

Cheap detection first (the daemon's children counted from /proc, no load on the daemon),
then the daemon's own status (socket / XML-RPC) until every process says RUNNING.
"""

from __future__ import annotations

import os
import time

from benchmarks.common import ChildScanner, Row, Settings, median, wait_for
from benchmarks.managers import managers, sleepers


def one(kind, n: int) -> float:
    with kind() as mgr:
        mgr.write_config(sleepers(n))
        t0 = time.perf_counter()
        mgr.launch()
        scan = ChildScanner(mgr.pid)
        wait_for(lambda: len(scan.children()) >= n, timeout=300, interval=0.005)
        client = mgr.client()
        try:
            mgr.wait_all_running(client, n, timeout=300, interval=0.02)
        finally:
            client.close()
        return time.perf_counter() - t0


def floor(n: int, how: str) -> float:
    """No manager: this process starts the N children itself (own session, no shell),
    one after another as a one-thread daemon must, with subprocess.Popen or with
    os.posix_spawn (what the daemon uses). What spawning alone costs on this machine."""
    import shutil
    import signal
    import subprocess

    pids = []
    sleep = shutil.which("sleep")
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            if how == "Popen":
                child = subprocess.Popen(
                    ["sleep", "100000"], stdin=subprocess.DEVNULL, start_new_session=True
                )
                child.returncode = 0  # reaped below, not by Popen
                pids.append(child.pid)
            else:
                stdin = [(os.POSIX_SPAWN_DUP2, null, 0)]
                pids.append(
                    os.posix_spawn(
                        sleep, ["sleep", "100000"], os.environ, file_actions=stdin, setsid=True
                    )
                )
        return time.perf_counter() - t0
    finally:
        os.close(null)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)


def run(settings: Settings) -> list[Row]:
    rows = []
    for n in settings.pick([100, 500, 1000], [20, 100]):
        repeats = settings.pick(3, 1)
        row = Row("spawn", f"N={n}: launch until all RUNNING (s)", fmt="{:.3f}")
        for kind in managers(settings):
            value = median([one(kind, n) for _ in range(repeats)])
            if kind.label == "supervisord":
                row.supervisord = value
            else:
                row.lite = value
        rows.append(row)
        if n == max(settings.pick([100, 500, 1000], [20, 100])):
            for how in ("Popen", "posix_spawn"):
                base = median([floor(n, how) for _ in range(repeats)])
                metric = f"no manager: {n} x {how}, serial (s)"
                rows.append(Row("spawn", metric, fmt="{:.3f}", baseline=base))
    return rows
