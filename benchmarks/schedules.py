"""Schedules (docs/lifecycle.md), supervisord_lite only (supervisord has none; cron
beside it is another daemon):

- idle: 100 oneshot jobs on schedules none of which is due in the window (`@every 1h`
  and `0 3 * * *`, half each), beside 100 sleeping programs; the daemon's context
  switches over a quiet window. One timer for the nearest run: expect 0.
- per run: 10 jobs `@every 1s` running `true`; the daemon's CPU per scheduled run
  (the timer, the start, the exit, the state file written), over a window.
"""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, cpu_seconds, ctx_switches, median, wait_for
from benchmarks.managers import Lite, Program, sleepers

NOTE = "supervisord has no schedules"


def jobs(n: int, schedules: list[str]) -> list[Program]:
    return [
        Program(f"j{i:04d}", ["true"], autostart=False, autorestart=False,
                lite_keys=(("oneshot", True), ("schedule", schedules[i % len(schedules)])))
        for i in range(n)
    ]  # fmt: skip


def idle(n: int, window: float) -> float:
    with Lite() as mgr:
        mgr.write_config(sleepers(n) + jobs(n, ["@every 1h", "0 3 * * *"]))
        mgr.launch()
        client = mgr.client()
        try:
            running = lambda: sum(s == "RUNNING" for _, s, _ in client.states()) == n  # noqa: E731
            wait_for(running, timeout=120, interval=0.05, what="sleepers RUNNING")
        finally:
            client.close()
        time.sleep(1.0)  # let start-up work (log flushes, the child record) finish
        ctx0 = ctx_switches(mgr.pid)
        time.sleep(window)
        return ctx_switches(mgr.pid) - ctx0


def per_run(n: int, window: float) -> float:
    with Lite() as mgr:
        mgr.write_config(jobs(n, ["@every 1s"]))
        mgr.launch()
        client = mgr.client()

        def runs() -> int:
            return sum(p["scheduled_runs"] for p in client.status())

        try:
            wait_for(lambda: runs() >= n, timeout=30, interval=0.05, what="first runs")
            cpu0, runs0 = cpu_seconds(mgr.pid), runs()
            time.sleep(window)
            cpu1, runs1 = cpu_seconds(mgr.pid), runs()
        finally:
            client.close()
        return (cpu1 - cpu0) / max(1, runs1 - runs0) * 1e3


def run(settings: Settings) -> list[Row]:
    n, window, repeats = 100, settings.pick(10.0, 2.0), settings.pick(3, 1)
    note = f"median of {repeats}; {NOTE}"
    ctx = Row("schedules", f"{n} scheduled jobs none due + {n} sleepers, {window:g} s: "
              "daemon context switches", fmt="{:.0f}", note=note, lite_only=True)  # fmt: skip
    ctx.set("supervisord_lite", median([idle(n, window) for _ in range(repeats)]))
    cpu = Row("schedules", f"10 jobs @every 1s, {window:g} s: daemon CPU per run (ms)",
              fmt="{:.2f}", note=note, lite_only=True)  # fmt: skip
    cpu.set("supervisord_lite", median([per_run(10, window) for _ in range(repeats)]))
    return [ctx, cpu]
