"""The Prometheus text exposition (format 0.0.4) of the process table and the daemon.

`render` is a pure function of rows already gathered (one `ProcessRow` per process, and
the daemon's own figures): the control command and the HTTP endpoint call it alike.
Conventions (prometheus.io/docs/practices/naming): base units (seconds, bytes), `_total`
for counters, a HELP and a TYPE line before each family, label values escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

PREFIX = "supervisord_lite"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL")


class ProcessRow(NamedTuple):
    """What the exposition says of one process."""

    name: str
    group: str
    state: str
    restarts: int
    start_time: float | None  # wall clock of its current (or last) start; None: never
    exit_status: int | None  # the last exit; None before any
    cpu_seconds: float | None  # None: not running (no series)
    memory_bytes: int | None
    healthy: bool | None  # None: no health check configured
    log_bytes: dict[str, int]  # stream -> bytes read from its pipe since the daemon began
    memory_limit: int | None = None  # its memory_limit in bytes; None: none
    memory_limit_hits: int = 0  # restarts for going over it (or OOM kills), daemon's life
    cpu_quota: float | None = None  # limits.cpu_quota as CPUs (0.5 for "50%"); None: none
    tasks_max: int | None = None  # limits.tasks_max; None: none
    completed: bool | None = None  # a oneshot's last run: None while it has no verdict
    hook_failures: int | None = None  # hook commands that failed; None: no hooks


class DaemonRow(NamedTuple):
    cpu_seconds: float
    memory_bytes: int
    clients: int
    start_time: float


def escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(out: list[str], name: str, kind: str, text: str) -> str:
    full = f"{PREFIX}_{name}"
    out.append(f"# HELP {full} {text}")
    out.append(f"# TYPE {full} {kind}")
    return full


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def render(rows: Iterable[ProcessRow], daemon: DaemonRow) -> str:
    rows = list(rows)
    labels = [f'name="{escape(r.name)}",group="{escape(r.group)}"' for r in rows]
    out: list[str] = []
    full = _family(out, "up", "gauge", "1: the daemon answers.")
    out.append(f"{full} 1")
    full = _family(out, "daemon_cpu_seconds_total", "counter", "CPU time of the daemon.")
    out.append(f"{full} {_num(daemon.cpu_seconds)}")
    full = _family(out, "daemon_resident_memory_bytes", "gauge", "Resident memory of the daemon.")
    out.append(f"{full} {daemon.memory_bytes}")
    full = _family(out, "daemon_start_time_seconds", "gauge", "When the daemon started.")
    out.append(f"{full} {_num(daemon.start_time)}")
    full = _family(out, "control_clients", "gauge", "Open control connections.")
    out.append(f"{full} {daemon.clients}")

    full = _family(out, "process_state", "gauge", "1 for the state the process is in.")
    for row, lab in zip(rows, labels):
        out.extend(f'{full}{{{lab},state="{state}"}} {int(row.state == state)}' for state in STATES)
    full = _family(out, "process_up", "gauge", "1 when the process is RUNNING.")
    out.extend(f"{full}{{{lab}}} {int(r.state == 'RUNNING')}" for r, lab in zip(rows, labels))
    full = _family(
        out,
        "process_restarts_total",
        "counter",
        "Automatic restarts since the last manual start (a manual start resets it).",
    )
    out.extend(f"{full}{{{lab}}} {r.restarts}" for r, lab in zip(rows, labels))
    _optional(out, rows, labels, "process_start_time_seconds", "gauge",
              "When the process last started (seconds since the epoch).", "start_time")  # fmt: skip
    _optional(out, rows, labels, "process_exit_status", "gauge",
              "The last exit status; -N for a kill by signal N.", "exit_status")  # fmt: skip
    _optional(out, rows, labels, "process_cpu_seconds_total", "counter",
              "CPU time of the running process's tree.", "cpu_seconds")  # fmt: skip
    _optional(out, rows, labels, "process_resident_memory_bytes", "gauge",
              "Resident memory of the running process's tree.", "memory_bytes")  # fmt: skip
    if any(r.healthy is not None for r in rows):
        full = _family(out, "process_healthy", "gauge", "1: its health check passes.")
        out.extend(
            f"{full}{{{lab}}} {int(r.healthy)}"
            for r, lab in zip(rows, labels)
            if r.healthy is not None
        )
    limited = [(r, lab) for r, lab in zip(rows, labels) if r.memory_limit is not None]
    if limited:  # only where some program has a memory_limit
        full = _family(out, "process_memory_limit_bytes", "gauge",
                       "The memory_limit of the process's tree.")  # fmt: skip
        out.extend(f"{full}{{{lab}}} {r.memory_limit}" for r, lab in limited)
        full = _family(out, "process_memory_limit_hits_total", "counter",
                       "Restarts for going over memory_limit, and OOM kills.")  # fmt: skip
        out.extend(f"{full}{{{lab}}} {r.memory_limit_hits}" for r, lab in limited)
    if any(r.cpu_quota is not None for r in rows):  # only where some program has one
        _optional(out, rows, labels, "process_cpu_quota_cpus", "gauge",
                  "limits.cpu_quota, in CPUs (cpu.max).", "cpu_quota")  # fmt: skip
    if any(r.tasks_max is not None for r in rows):
        _optional(out, rows, labels, "process_tasks_max", "gauge",
                  "limits.tasks_max (pids.max).", "tasks_max")  # fmt: skip
    if any(r.completed is not None for r in rows):  # only where a oneshot has finished
        _optional(out, rows, labels, "process_completed", "gauge",
                  "A oneshot's last run: 1 completed, 0 failed for good.", "completed")  # fmt: skip
    if any(r.hook_failures is not None for r in rows):
        _optional(out, rows, labels, "process_hook_failures_total", "counter",
                  "Hook commands that failed or timed out.", "hook_failures")  # fmt: skip
    full = _family(
        out, "process_log_bytes_total", "counter", "Bytes the process wrote, per stream."
    )
    for row, lab in zip(rows, labels):
        out.extend(f'{full}{{{lab},stream="{s}"}} {n}' for s, n in sorted(row.log_bytes.items()))
    out.append("")
    return "\n".join(out)


def _optional(out, rows, labels, name: str, kind: str, text: str, field: str) -> None:
    """A family whose series exist only for the processes that have the figure."""
    full = _family(out, name, kind, text)
    for row, lab in zip(rows, labels):
        value = getattr(row, field)
        if value is not None:
            out.append(f"{full}{{{lab}}} {_num(int(value) if isinstance(value, bool) else value)}")
