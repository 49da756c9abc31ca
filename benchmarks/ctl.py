"""3. ctl latency with 100 programs: a whole `status` command (process start to exit),
and status round trips per second over one open connection (XML-RPC getAllProcessInfo
on a persistent HTTP connection vs JSON lines on one supervisord_lite socket), with the
daemon's CPU per request over those round trips (the rate also counts the client's
decoding: Python's XML-RPC parser on supervisord's side).

Both sides' requests ask the same: the states, no tree CPU/memory figures (XML-RPC has
none; supervisord_lite's `status` with "figures": false, as its text `status` asks).
Requests here come back to back; `paced` measures status at a dashboard's pace, and the
cost of the figures too.
"""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, command_wall_times, median, status_round_trips
from benchmarks.managers import per_manager


def measure(kind, n: int, settings: Settings) -> tuple[list[float], float, float]:
    """(`status` command wall times, round trips/s, daemon CPU ms per round trip) on one
    daemon with n programs."""
    with kind() as mgr:
        mgr.launch_sleepers(n)
        time.sleep(0.5)
        walls = command_wall_times(mgr.ctl("status"), settings.pick(5, 3))
        return (walls, *status_round_trips(mgr, settings.pick(2.0, 0.5), n))


def run(settings: Settings) -> list[Row]:
    n, rounds = 100, settings.pick(3, 1)
    note = f"{rounds} daemon(s) each, order alternating"
    whole = Row("ctl", f"`status` command wall time, {n} programs (ms)", fmt="{:.1f}")
    whole.note = f"median of {settings.pick(5, 3) * rounds}, {note}"
    rtt = Row("ctl", f"status round trips/s on one connection, {n} programs", better="higher")
    rtt.fmt, rtt.note = "{:.0f}", f"median of {rounds} x {settings.pick(2.0, 0.5):g} s, {note}"
    cpu = Row("ctl", f"daemon CPU per status request in those round trips, {n} programs (ms)")
    cpu.fmt, cpu.note = "{:.3f}", rtt.note
    for label, runs in per_manager(settings, rounds, lambda k: measure(k, n, settings)).items():
        whole.set(label, median([w for walls, _, _ in runs for w in walls]) * 1000)
        rtt.set(label, median([r for _, r, _ in runs]))
        cpu.set(label, median([c for _, _, c in runs]))
    return [whole, rtt, cpu]
