"""What `metrics` reports, gathered: one metrics.ProcessRow per process from the table
and its tree's figures (those `status` shows), and the daemon's own row, read from
/proc (proc(5)) directly. metrics.py turns them into text.
"""

from __future__ import annotations

import os
import time

from supervisord_lite.control.metrics import DaemonRow, ProcessRow
from supervisord_lite.linux.loop import now

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


def process_rows(supervisor) -> list[ProcessRow]:
    """A row per process of the table, in table order. CPU and memory are the whole
    tree's, the figures `status` shows (one reading of our trees for all of them)."""
    mono, wall = now(), time.time()
    rows = []
    reading = supervisor.figures.reading()
    for process in supervisor.processes.values():
        machine = process.machine
        figures = supervisor.figures.of(process, reading)
        quotas = dict(process.program.limits) if process.program.limits else {}
        cpu_quota = quotas.get("cpu_quota")
        started = machine.started_at
        rows.append(
            ProcessRow(
                name=process.name,
                group=process.program.group,
                state=machine.state.value,
                restarts=machine.restarts,
                start_time=None if started is None else round(wall - (mono - started), 3),
                exit_status=machine.exitstatus,
                cpu_seconds=figures["cpu_seconds"],
                memory_bytes=figures["memory_bytes"],
                healthy=_healthy(process),
                log_bytes=process.log_bytes(),
                memory_limit=process.program.memory_limit,
                memory_limit_hits=supervisor.memory_limit_hits.get(process.name, 0),
                cpu_quota=None if cpu_quota is None else cpu_quota / 100,
                tasks_max=quotas.get("tasks_max"),
                completed=machine.completed() if process.program.oneshot else None,
                hook_failures=(
                    supervisor.hook_failures.get(process.name, 0)
                    if process.program.has_hooks()
                    else None
                ),
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
