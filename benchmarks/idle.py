"""5. idle cost: 100 sleeping programs, all RUNNING; then the daemon's CPU seconds and
context switches (voluntary + involuntary, psutil) over a quiet window."""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, cpu_seconds, ctx_switches, median
from benchmarks.managers import per_manager


def measure(kind, n: int, window: float) -> tuple[float, int]:
    with kind() as mgr:
        mgr.launch_sleepers(n)
        time.sleep(1.0)  # let start-up work (timers, log opens) finish
        cpu0, ctx0 = cpu_seconds(mgr.pid), ctx_switches(mgr.pid)
        time.sleep(window)
        return cpu_seconds(mgr.pid) - cpu0, ctx_switches(mgr.pid) - ctx0


def run(settings: Settings) -> list[Row]:
    n, window, repeats = 100, settings.pick(20.0, 3.0), settings.pick(3, 1)
    what = f"{n} programs, {window:g} s"
    note = f"median of {repeats}, order alternating"
    cpu = Row("idle", f"{what}: daemon CPU (s)", fmt="{:.3f}", note=note)
    ctx = Row("idle", f"{what}: daemon context switches", fmt="{:.0f}", note=note)
    for label, runs in per_manager(settings, repeats, lambda k: measure(k, n, window)).items():
        cpu.set(label, median([c for c, _ in runs]))
        ctx.set(label, median([x for _, x in runs]))
    return [cpu, ctx]
