"""reexec (docs/zero-downtime.md): the time from the request to the new image's reply
(it replies once ready: socket served, every child taken over), with 1000 programs
running, supervisord_lite only (supervisord cannot upgrade without restarting every
program). The reexec runs the installed code twice, the takeover check (a child
that imports the whole package) and then the exec, so a loaded host shows in it.

Also the same with one program (what the 1000 add), and the daemon's CPU per reexec
(its own, both images: the check child is not counted).
"""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, cpu_seconds, median
from benchmarks.managers import Lite

PROGRAMS = 1000


def measure(programs: int, repeats: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    with Lite() as mgr:
        mgr.launch_sleepers(programs, timeout=300)
        client = mgr.client()
        pids = {name: pid for name, _, pid in client.states()}
        client.close()
        for _ in range(repeats):
            client = mgr.client()
            cpu0, t0 = cpu_seconds(mgr.pid), time.perf_counter()
            result = client.call("reexec")
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu_seconds(mgr.pid) - cpu0)
            client.close()
            assert result["pid"] == mgr.pid, result
        client = mgr.client()
        after = {name: pid for name, _, pid in client.states()}
        client.close()
        assert after == pids, "reexec changed a process"
    return walls, cpus


def run(settings: Settings) -> list[Row]:
    repeats = settings.pick(5, 1)
    many = settings.pick(PROGRAMS, 20)
    note = f"median of {repeats}; request to reply from the new image"
    rows = []
    for count in (1, many):
        walls, cpus = measure(count, repeats)
        wall = Row("reexec", f"{count} programs: request to ready (s)", fmt="{:.3f}", note=note)
        wall.lite_only = True
        wall.set("lite", median(walls))
        cpu = Row("reexec", f"{count} programs: daemon CPU per reexec (s)", fmt="{:.3f}")
        cpu.lite_only = True
        cpu.set("lite", median(cpus))
        rows += [wall, cpu]
    return rows
