"""listeners: event delivery to an event listener, beside supervisord with the same one.

One program (`sleep`, autorestart) and one listener written with supervisor.childutils
(benchmarks/listener_probe.py) subscribed to PROCESS_STATE, in both managers. The
benchmark SIGKILLs the program's child and times until the listener has read the
PROCESS_STATE_EXITED event for that pid (the listener stamps it with CLOCK_MONOTONIC,
one clock for both processes), then waits for the replacement's RUNNING event. The
daemon's CPU over the kills, divided by the events the listener got, is the CPU per
event (it includes reaping and restarting the child, the same work on both sides).
supervisord_lite is given `backoff_reset = 0.1`, as in `restart`, so a child that ran
0.3 s restarts at once; supervisord gets `buffer_size = 1024` so neither drops.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from benchmarks.common import ChildScanner, Row, Settings, daemon_cpu, median, percentile
from benchmarks.managers import Lite, Program, per_manager
from benchmarks.restart import cmdline_of, find_child

MARK = "27182818"
PROBE = str(Path(__file__).with_name("listener_probe.py"))


def listener_section(kind, out: Path) -> str:
    command = [sys.executable, PROBE, str(out)]
    if kind is Lite:
        words = ", ".join(f'"{w}"' for w in command)
        return f'\n[listeners.probe]\ncommand = [{words}]\nevents = ["PROCESS_STATE"]\n'
    return (
        "\n[eventlistener:probe]\n"
        f"command={' '.join(command)}\n"
        "events=PROCESS_STATE\nbuffer_size=1024\nstartsecs=0\nautorestart=true\n"
    )


def events_seen(out: Path) -> list[tuple[str, int, float]]:
    try:
        lines = out.read_text().splitlines()
    except OSError:
        return []
    return [(n, int(p), float(t)) for n, p, t in (line.split() for line in lines if line)]


def wait_event(out: Path, name: str, pid: int | None, timeout: float = 10.0) -> float:
    """When the listener got event `name` (about `pid`, if given): its monotonic stamp."""
    deadline = time.monotonic() + timeout
    while True:
        for event, about, stamp in events_seen(out):
            if event == name and (pid is None or about == pid):
                return stamp
        if time.monotonic() > deadline:
            raise TimeoutError(f"the listener never got {name} for pid {pid}")
        time.sleep(0.0005)


def measure(kind, kills: int) -> tuple[list[float], float]:
    """(kill -> listener latencies, daemon CPU seconds per event delivered)."""
    program = Program("victim", ["sleep", MARK], backoff_reset=0.1)
    with kind() as mgr:
        out = mgr.dir / "events.txt"
        mgr.write_config([program])
        with open(mgr.config, "a") as f:
            f.write(listener_section(kind, out))
        mgr.launch()
        scan = ChildScanner(mgr.pid)
        pid = find_child(scan, cmdline_of(MARK))
        wait_event(out, "PROCESS_STATE_RUNNING", pid)
        cpu0, events0 = daemon_cpu(mgr.pid), len(events_seen(out))
        latencies = []
        for _ in range(kills):
            time.sleep(0.3)
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            latencies.append(wait_event(out, "PROCESS_STATE_EXITED", pid) - t0)
            pid = find_child(scan, cmdline_of(MARK))
            wait_event(out, "PROCESS_STATE_RUNNING", pid)
        delivered = len(events_seen(out)) - events0
        cpu = daemon_cpu(mgr.pid) - cpu0
        return latencies, cpu / max(delivered, 1)


def run(settings: Settings) -> list[Row]:
    kills = settings.pick(40, 5)
    results = per_manager(settings, 1, lambda kind: measure(kind, kills))
    how = f"{kills} SIGKILLs 0.3 s apart; childutils listener on PROCESS_STATE"
    rows = [
        Row("listeners", "kill -> listener has PROCESS_STATE_EXITED, median (ms)", note=how),
        Row("listeners", "kill -> listener has PROCESS_STATE_EXITED, p95 (ms)", note=how),
        Row("listeners", "daemon CPU per event delivered (ms)",
            note="incl. reaping and restarting the child"),
    ]  # fmt: skip
    for label, [(latencies, cpu_per_event)] in results.items():
        rows[0].set(label, median(latencies) * 1000)
        rows[1].set(label, percentile(latencies, 95) * 1000)
        rows[2].set(label, cpu_per_event * 1000)
    return rows
