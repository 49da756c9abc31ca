"""3. ctl latency with 100 programs: a whole `status` command (process start to exit),
and status round trips per second over one open connection (XML-RPC getAllProcessInfo
on a persistent HTTP connection vs JSON lines on one supervisord_lite socket).
"""

from __future__ import annotations

import subprocess
import time

from benchmarks.common import Row, Settings, median
from benchmarks.managers import managers, sleepers


def ctl_status_times(mgr, repeats: int) -> list[float]:
    argv = mgr.ctl("status")
    subprocess.run(argv, capture_output=True, timeout=60)  # warm the page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=60)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 3) or not proc.stdout:
            raise RuntimeError(f"{argv}: exit {proc.returncode}: {proc.stderr!r}")
    return times


def round_trips_per_second(mgr, seconds: float, n: int) -> float:
    client = mgr.client()
    try:
        assert len(client.status()) == n
        count = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            client.status()
            count += 1
        return count / elapsed
    finally:
        client.close()


def run(settings: Settings) -> list[Row]:
    n = 100
    whole = Row("ctl", f"`status` command wall time, {n} programs (ms)", fmt="{:.1f}")
    rtt = Row("ctl", f"status round trips/s on one connection, {n} programs", better="higher")
    rtt.fmt = "{:.0f}"
    for kind in managers(settings):
        with kind() as mgr:
            mgr.write_config(sleepers(n))
            mgr.launch()
            client = mgr.client()
            mgr.wait_all_running(client, n)
            client.close()
            time.sleep(0.5)
            w = median(ctl_status_times(mgr, settings.pick(15, 3))) * 1000
            r = median(
                [
                    round_trips_per_second(mgr, settings.pick(2.0, 0.5), n)
                    for _ in range(settings.pick(3, 1))
                ]
            )
        if kind.label == "supervisord":
            whole.supervisord, rtt.supervisord = w, r
        else:
            whole.lite, rtt.lite = w, r
    return [whole, rtt]
