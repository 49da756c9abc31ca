"""1. spawn: N sleep programs (startsecs=0), from launching the daemon until all RUNNING.

RUNNING is detected the same way for both daemons and without asking either anything:
N "success: NAME entered RUNNING state" lines in the daemon's own log, read every 5 ms
from a kept offset. (Polling `status` instead charged supervisord's ~2 s reply for 1000
processes to its spawning.) Each daemon's status is checked afterwards, untimed.
"""

from __future__ import annotations

import os
import time

from benchmarks.common import Row, Settings, median, wait_for
from benchmarks.managers import per_manager, sleepers


def one(kind, n: int) -> float:
    with kind() as mgr:
        mgr.write_config(sleepers(n))
        successes = mgr.log_counter(b"success:")
        t0 = time.perf_counter()
        mgr.launch()
        wait_for(lambda: successes.poll() >= n, timeout=300, interval=0.005, what="N success:")
        elapsed = time.perf_counter() - t0
        client = mgr.client()
        try:
            mgr.wait_all_running(client, n, timeout=300, interval=0.05)  # the log told the truth
        finally:
            client.close()
        return elapsed


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
    sizes = settings.pick([100, 500, 1000], [20, 100])
    repeats = settings.pick(3, 1)
    for n in sizes:
        metric = f"N={n}: launch until N `success:` lines in the daemon's own log (s)"
        row = Row("spawn", metric, fmt="{:.3f}", note=f"median of {repeats}")
        for label, values in per_manager(settings, repeats, lambda k, n=n: one(k, n)).items():
            row.set(label, median(values))
        rows.append(row)
        if n == max(sizes):
            for how in ("Popen", "posix_spawn"):
                base = median([floor(n, how) for _ in range(repeats)])
                metric = f"no manager: {n} x {how}, serial (s)"
                rows.append(Row("spawn", metric, fmt="{:.3f}", baseline=base))
    return rows
