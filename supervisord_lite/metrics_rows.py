"""What `metrics` reports, gathered: one metrics.ProcessRow per process from the table
and /proc, and the daemon's own row. metrics.py turns them into text.

CPU time and resident memory are read from /proc (proc(5)) directly: two small reads
per running process, where psutil would build an object and read more.
"""

from __future__ import annotations

import os
import time

from supervisord_lite.loop import now
from supervisord_lite.metrics import DaemonRow, ProcessRow

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_and_memory(pid: int) -> tuple[float, int] | None:
    """(user + system CPU seconds, resident bytes) of `pid`; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/statm", "rb") as fh:
            statm = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS, int(statm.split()[1]) * _PAGE


def process_rows(processes) -> list[ProcessRow]:
    """A row per process (supervisor Process slots), in table order."""
    mono, wall = now(), time.time()
    rows = []
    for process in processes:
        machine = process.machine
        figures = cpu_and_memory(machine.pid) if machine.pid is not None else None
        started = machine.started_at
        rows.append(
            ProcessRow(
                name=process.name,
                group=process.program.group,
                state=machine.state.value,
                restarts=machine.restarts,
                start_time=None if started is None else round(wall - (mono - started), 3),
                exit_status=machine.exitstatus,
                cpu_seconds=None if figures is None else figures[0],
                memory_bytes=None if figures is None else figures[1],
                healthy=_healthy(process),
                log_bytes=process.log_bytes(),
            )
        )
    return rows


def _healthy(process) -> bool | None:
    """The health check's verdict; None when there is none yet (no health table, not
    RUNNING, or just restarted): an unknown is no series, never a false 0."""
    health = process.checks.health if process.checks is not None else None
    return None if health is None else health == "healthy"


def daemon_row(clients: int) -> DaemonRow:
    cpu, memory = cpu_and_memory(os.getpid()) or (0.0, 0)
    return DaemonRow(cpu_seconds=cpu, memory_bytes=memory, clients=clients,
                     start_time=_own_start_time())  # fmt: skip


def _own_start_time() -> float:
    """When this process started, in seconds since the epoch: its start in clock ticks
    after boot (/proc/self/stat field 22) plus the boot time (/proc/stat btime)."""
    with open("/proc/self/stat", "rb") as fh:
        stat = fh.read()
    ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
    with open("/proc/stat", "rb") as fh:
        btime = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
    return round(btime + ticks / _TICKS, 2)
