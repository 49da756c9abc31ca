"""1. spawn: N sleep programs (startsecs=0), from launching the daemon until all RUNNING.

Cheap detection first (the daemon's children counted from /proc, no load on the daemon),
then the daemon's own status (socket / XML-RPC) until every process says RUNNING.
"""

from __future__ import annotations

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


def floor(n: int) -> float:
    """No manager: this process Popen()s the N children itself (own session, no shell),
    one after another as a one-thread daemon must. What spawning with subprocess costs."""
    import subprocess

    children = []
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            children.append(
                subprocess.Popen(
                    ["sleep", "100000"], stdin=subprocess.DEVNULL, start_new_session=True
                )
            )
        return time.perf_counter() - t0
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()


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
            base = median([floor(n) for _ in range(repeats)])
            rows.append(
                Row("spawn", f"no manager: {n} x Popen, serial (s)", fmt="{:.3f}", baseline=base)
            )
    return rows
