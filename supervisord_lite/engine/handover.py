"""The process table across an exec of the daemon (`reexec`, docs/zero-downtime.md).

`snapshot` turns every process slot into plain JSON values, and lists the descriptors
that must survive the exec (each child's pipe read ends); `restore`, in the new image,
puts them back: the same machines (state, pid, counters, history), the same children,
their pipes read again into their logs, and the machine timers re-armed for what was
left of them. The monotonic clock runs on across an exec, so uptimes stay right.

What is not carried: a sequence in flight (a `stop` batch still waiting for dependents
to exit, a `start` waiting for dependencies is started again), and probe attempts under
way (the probes start afresh). It never execs or touches a socket: the daemon does.
"""

from __future__ import annotations

import base64
import os
import signal

from supervisord_lite.base.log import log
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import ProcessState, Schedule, StateChanged, Transition
from supervisord_lite.linux.loop import now
from supervisord_lite.linux.spawn import Child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.engine.supervisor import Supervisor


S = ProcessState

# The machine's plain fields, carried as they are.
_MACHINE_FIELDS = (
    "pid",
    "started_at",
    "stopped_at",
    "exitstatus",
    "last_exit_expected",
    "restarts",
    "spawn_error",
    "_failures",
    "_streak",
    "_not_ready",
    "_restart_for",
    "_health_restarts",
    "_give_up",
)


def snapshot(supervisor: Supervisor, final: bool = True) -> tuple[dict, list[int]]:
    """Every slot as JSON values, and the pipe descriptors to keep open across the exec.

    The final one must be taken just before the exec, with nothing in between: an
    unfinished line a `log_prefix` marker holds is written out then (its rest follows
    unmarked, as after any flush), so the new image owes the log nothing but what is
    still in the pipes. Not final: a sample for the new code's check, changing nothing."""
    current = now()
    processes = {}
    fds: list[int] = []
    cgroup_of = getattr(supervisor, "cgroup_of", None)  # a surge's slot runs in its own
    for name, process in supervisor.processes.items():
        processes[name] = slot = _slot(process, current, fds, final)
        if cgroup_of is not None and cgroup_of(process) != name:
            slot["cgroup"] = cgroup_of(process)
    runner = supervisor.probes_made()
    notify = runner.notify_fd() if runner is not None else None
    if notify is not None:  # the sd_notify socket the children's NOTIFY_SOCKET names
        fds.append(notify)
    document = {"processes": processes, "memory_limit_hits": supervisor.memory_limit_hits}
    return {**document, "notify_fd": notify}, fds


def _slot(process: Process, current: float, fds: list[int], final: bool) -> dict:
    machine = process.machine
    readers = []
    for reader in process.readers:
        if reader.fd < 0:
            continue
        if final:
            reader.flush_held_line()
        readers.append(
            {
                "fd": reader.fd,
                "stream": reader.stream,
                "line_start": reader.marker.at_line_start if reader.marker else True,
                "enlarged": reader.enlarged,
            }
        )
        fds.append(reader.fd)
    pending = {
        stream: base64.b64encode(bytes(logfile.pending)).decode()
        for stream, logfile in process.logs.items()
        if logfile is not None and logfile.pending
    }
    timers = {
        timer_name: max(0.0, timer.when - current)
        for timer_name, timer in (process.timers or {}).items()
        if not timer.cancelled
    }
    return {
        "state": machine.state.value,
        "machine": {field: getattr(machine, field) for field in _MACHINE_FIELDS},
        "history": [[t.old.value, t.new.value, t.reason, t.at] for t in machine.history],
        "timers": timers,
        "readers": readers,
        "pending": pending,
        "log_bytes": process.log_bytes(),
        "changed_at": process.changed_at,
        "ever_started": process.ever_started,
        "waiting_for_deps": process.waiting_for_deps,
        "dep_error": process.dep_error,
        "restart_pending": process.restart_pending,
    }


def restore(supervisor: Supervisor, state: dict) -> list[Process]:
    """Put the slots of `state` back into the supervisor's table (its config loaded
    afresh: a program's changed settings apply from its next start, as nothing is
    restarted); returns the slots the state does not have (programs added to the
    config since), for the caller to autostart. A slot the config lost has its child
    stopped. Each slot is restored on its own: one that fails is logged, and its child
    is still reaped and its pipes read."""
    supervisor.memory_limit_hits.update(state.get("memory_limit_hits") or {})
    if state.get("notify_fd") is not None:
        supervisor.probes.adopt_notify(state["notify_fd"])
    waiting = []
    for name, slot in state["processes"].items():
        process = supervisor.processes.get(name)
        if process is None:
            _orphan(supervisor, name, slot)
            continue
        try:
            _restore_slot(supervisor, process, slot)
        except Exception:
            log.exception("reexec: %s could not be restored in full", name)
        if slot.get("waiting_for_deps"):
            waiting.append(process)
    for process in waiting:
        supervisor.start(process)  # its wait for dependencies begins again
    return [p for name, p in supervisor.processes.items() if name not in state["processes"]]


def _restore_slot(supervisor: Supervisor, process: Process, slot: dict) -> None:
    machine = process.machine
    pid = slot["machine"].get("pid")
    _adopt_child(supervisor, process, pid, slot)
    machine.state = S(slot["state"])
    for field in _MACHINE_FIELDS:
        if field in slot["machine"]:
            setattr(machine, field, slot["machine"][field])
    machine.history = [
        Transition(S(old), S(new), reason, at) for old, new, reason, at in slot["history"]
    ]
    if slot.get("cgroup") and hasattr(supervisor, "cgroup_names"):
        supervisor.cgroup_names[process] = slot["cgroup"]
    process.changed_at = slot["changed_at"]
    process.ever_started = slot["ever_started"]
    process.dep_error = slot["dep_error"]
    process.restart_pending = slot["restart_pending"]
    for stream, count in slot["log_bytes"].items():
        if count:
            process.count_log_bytes(stream, count)
    for timer, delay in slot["timers"].items():
        supervisor.resume_timer(process, Schedule(timer, delay))
    if pid is not None and _wants_probes(process):
        supervisor.probes.spawned(process)
        if machine.state is S.RUNNING:
            supervisor.probes.state_changed(process, StateChanged(S.STARTING, S.RUNNING, "reexec"))


def _adopt_child(supervisor: Supervisor, process: Process, pid: int | None, slot: dict) -> None:
    """The child (if any) back in the table and on record, its pipes read again."""
    fds = {"stdout": None, "stderr": None}
    for reader in slot["readers"]:
        stream = reader["stream"]
        logged = supervisor.output.logged(process, stream)
        data = slot["pending"].get(stream)
        if logged and data:
            logfile = supervisor.open_log(process, stream)
            assert logfile is not None
            logfile.write(base64.b64decode(data))  # held back for a slow stream
        supervisor.output.watch_pipe(process, reader["fd"], stream, logged)
        watched = process.readers[-1]
        watched.enlarged = reader["enlarged"]
        if watched.marker is not None:
            watched.marker.at_line_start = reader["line_start"]
        fds[stream] = reader["fd"]
    if pid is None:
        return
    process.child = Child(pid, fds["stdout"], fds["stderr"])
    process.ever_started = True
    supervisor.by_pid[pid] = process
    if supervisor.record is not None:
        supervisor.record.spawned(process.name, pid)


def _orphan(supervisor: Supervisor, name: str, slot: dict) -> None:
    """A slot the config no longer has (removed from the file since the last load): as
    a reload would, its child is stopped (SIGTERM to its group; it is reaped as any
    child, and stays on record until it has gone, for a SIGKILLed daemon's successor)."""
    for reader in slot["readers"]:
        os.close(reader["fd"])
    pid = slot["machine"].get("pid")
    if pid is None:
        return
    if supervisor.record is not None:
        supervisor.record.spawned(name, pid)
    log.warning("reexec: %s (pid %d) is no longer in the config: stopping it", name, pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def _wants_probes(process: Process) -> bool:
    return process.program.ready is not None or process.program.health is not None
