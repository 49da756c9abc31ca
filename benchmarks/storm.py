"""8. crash storm: N programs that exit every 50 ms (`sleep 0.05`), autorestart=true,
startsecs=0, and backoff_max=0 for supervisord_lite so both restart flat out.

Over the window: restarts achieved (one 'spawned:' line per spawn in each daemon's log),
zombies seen (a child of the daemon in state Z in two samples 100 ms apart: the daemon
left it unreaped for at least 100 ms), and daemon CPU per spawn."""

from __future__ import annotations

import time

from benchmarks.common import ChildScanner, Row, Settings, cpu_seconds, read_stat
from benchmarks.managers import Program, managers


def zombies(scan: ChildScanner) -> set[int]:
    found = set()
    for pid in scan.children():
        st = read_stat(pid)
        if st and st[0] == "Z" and st[1] == scan.parent:
            found.add(pid)
    return found


def measure(kind, n: int, window: float) -> tuple[int, int, float]:
    programs = [
        Program(f"crash{i:02d}", ["sleep", "0.05"], backoff_max=0, stopwaitsecs=1) for i in range(n)
    ]
    with kind() as mgr:
        mgr.write_config(programs)
        mgr.launch()
        scan = ChildScanner(mgr.pid)
        time.sleep(0.5)
        spawned0, cpu0 = mgr.spawned_count(), cpu_seconds(mgr.pid)
        survivors: set[int] = set()
        end = time.monotonic() + window
        while time.monotonic() < end:
            first = zombies(scan)
            time.sleep(0.1)
            survivors |= first & zombies(scan)
            time.sleep(0.05)
        cpu = cpu_seconds(mgr.pid) - cpu0
        spawns = mgr.spawned_count() - spawned0
        return spawns, len(survivors), cpu


def run(settings: Settings) -> list[Row]:
    n, window = 50, settings.pick(20.0, 3.0)
    what = f"{n} programs exiting every 50 ms, {window:g} s"
    spawns = Row("crash storm", f"{what}: restarts achieved", better="higher", fmt="{:.0f}")
    zombie = Row("crash storm", f"{what}: zombies seen in two samples 100 ms apart")
    zombie.fmt = "{:.0f}"
    cpu = Row("crash storm", f"{what}: daemon CPU (s)", fmt="{:.2f}")
    per = Row("crash storm", f"{what}: daemon CPU per spawn (ms)", fmt="{:.3f}")
    for kind in managers(settings):
        s, z, c = measure(kind, n, window)
        attr = "supervisord" if kind.label == "supervisord" else "lite"
        setattr(spawns, attr, s)
        setattr(zombie, attr, z)
        setattr(cpu, attr, c)
        setattr(per, attr, c / s * 1000 if s else None)
    return [spawns, zombie, cpu, per]
