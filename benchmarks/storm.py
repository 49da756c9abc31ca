"""8. crash storm: N programs that exit every 50 ms (`sleep 0.05`), autorestart=true,
startsecs=0, and backoff_max=0 for supervisord_lite so both restart flat out.

Over the window: restarts achieved (one 'spawned:' line per spawn in each daemon's log),
zombies seen (a child of the daemon in state Z in two samples 100 ms apart: the daemon
left it unreaped for at least 100 ms), and daemon CPU per spawn."""

from __future__ import annotations

import time

from benchmarks.common import ChildScanner, Row, Settings, cpu_seconds, median, read_stat
from benchmarks.managers import Program, per_manager


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
        spawned = mgr.log_counter(b"spawned:")
        spawned0, cpu0 = spawned.poll(), cpu_seconds(mgr.pid)
        survivors: set[int] = set()
        end = time.monotonic() + window
        while time.monotonic() < end:
            first = zombies(scan)
            time.sleep(0.1)
            survivors |= first & zombies(scan)
            time.sleep(0.05)
        cpu = cpu_seconds(mgr.pid) - cpu0
        spawns = spawned.poll() - spawned0
        return spawns, len(survivors), cpu


def run(settings: Settings) -> list[Row]:
    n, window, repeats = 50, settings.pick(20.0, 3.0), settings.pick(3, 1)
    what = f"{n} programs exiting every 50 ms, {window:g} s"
    note = f"lite: backoff_max = 0, NOT the default 30; median of {repeats}, order alternating"
    spawns = Row("crash storm", f"{what}: restarts achieved", better="higher", fmt="{:.0f}")
    zombie = Row("crash storm", f"{what}: zombies seen in two samples 100 ms apart")
    zombie.fmt = "{:.0f}"
    cpu = Row("crash storm", f"{what}: daemon CPU (s)", fmt="{:.2f}")
    per = Row("crash storm", f"{what}: daemon CPU per spawn (ms)", fmt="{:.3f}")
    for row in (spawns, zombie, cpu, per):
        row.note = note
    for label, runs in per_manager(settings, repeats, lambda k: measure(k, n, window)).items():
        spawns.set(label, median([s for s, _, _ in runs]))
        zombie.set(label, median([z for _, z, _ in runs]))
        cpu.set(label, median([c for _, _, c in runs]))
        per_spawn = [c / s * 1000 for s, _, c in runs if s]
        per.set(label, median(per_spawn) if per_spawn else None)
    return [spawns, zombie, cpu, per]
