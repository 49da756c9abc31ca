"""5. idle cost: 100 sleeping programs, all RUNNING; then the daemon's CPU seconds and
context switches (voluntary + involuntary, psutil) over a quiet window."""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, cpu_seconds, ctx_switches
from benchmarks.managers import managers, sleepers


def measure(kind, n: int, window: float) -> tuple[float, int]:
    with kind() as mgr:
        mgr.write_config(sleepers(n))
        mgr.launch()
        client = mgr.client()
        mgr.wait_all_running(client, n)
        client.close()
        time.sleep(1.0)  # let start-up work (timers, log opens) finish
        cpu0, ctx0 = cpu_seconds(mgr.pid), ctx_switches(mgr.pid)
        time.sleep(window)
        return cpu_seconds(mgr.pid) - cpu0, ctx_switches(mgr.pid) - ctx0


def run(settings: Settings) -> list[Row]:
    n, window = 100, settings.pick(20.0, 3.0)
    cpu = Row("idle", f"{n} programs, {window:g} s: daemon CPU (s)", fmt="{:.3f}")
    ctx = Row("idle", f"{n} programs, {window:g} s: daemon context switches", fmt="{:.0f}")
    for kind in managers(settings):
        c, x = measure(kind, n, window)
        attr = "supervisord" if kind.label == "supervisord" else "lite"
        setattr(cpu, attr, c)
        setattr(ctx, attr, x)
    return [cpu, ctx]
