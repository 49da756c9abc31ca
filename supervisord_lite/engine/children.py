"""A process's child from spawn to exit: starting it, and acting on its exit.

A Spawn effect becomes a child here: its logs opened (files only at the first byte),
started by linux/spawn.py (inside its cgroup where cgroups are in force), its pipes
handed to output.py, its pid put in the supervisor's table and on the crash-recovery
record, its probes and memory watch told. When the reaper (reaper.py) has collected
an exit, the child's last output is drained into its logs, a kill by the kernel's OOM
killer is reported, and the exit goes to the machine. The table, the machines and the
listeners stay the supervisor's: what this module needs of them is `ChildrenHost`.
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from typing import Protocol

from supervisord_lite.base.log import log
from supervisord_lite.config.model import DaemonConfig
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import Exited, ProcessState, Spawned, SpawnFailed, describe_exit
from supervisord_lite.engine.figures import Figures
from supervisord_lite.engine.output import Output
from supervisord_lite.engine.reaper import Reaper, kill_group_leftovers
from supervisord_lite.engine.recovery import ChildRecord
from supervisord_lite.linux.cgroups import cpu_max
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.linux.spawn import (
    PendingSpawn,
    SpawnError,
    begin_spawn,
    finish_spawn,
    no_spawner,
    spawn,
    use_spawner,
)
from supervisord_lite.logs import daemon_log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.engine.event_sources import EventSources
    from supervisord_lite.engine.hooks import Hooks
    from supervisord_lite.engine.memory_watch import MemoryWatch
    from supervisord_lite.linux.cgroups import CgroupTree
    from supervisord_lite.linux.held_sockets import SocketRegistry
    from supervisord_lite.probes.runner import ProbeRunner


S = ProcessState

# Spawns sent to the helper and not yet finished, at most: enough to keep it busy while
# the daemon files the last one, few enough that their pipes cost nothing.
TOGETHER_WINDOW = 8


class ChildrenHost(Protocol):
    """What spawning and exits need of the supervisor."""

    loop: EventLoop
    config: DaemonConfig
    processes: dict[str, Process]
    by_pid: dict[int, Process]  # the live children: shared with the reaper, not copied
    output: Output
    record: ChildRecord | None  # crash recovery: who runs, beside the pidfile
    cgroups: CgroupTree | None  # where cgroups are in force
    figures: Figures  # the trees' figures, for the memory watch
    sockets: SocketRegistry  # the held sockets a child is handed
    events: EventSources | None  # the event listeners' (event_sources.py), if any

    def cgroup_of(self, process: Process) -> str: ...

    @property
    def hooks(self) -> Hooks:
        """exec_start_pre ... exec_stop_post (made at the first use)."""
        ...

    @property
    def probes(self) -> ProbeRunner:
        """Readiness, health and sd_notify (made at the first use)."""
        ...

    def dispatch(self, process: Process, event) -> None: ...

    def notice(self, process: Process, item: dict) -> None: ...

    def restart_for(self, process: Process, item: dict) -> None: ...


class Children:
    """Spawns the supervisor's children, and acts on their exits once reaped."""

    def __init__(self, host: ChildrenHost):
        self.host = host
        self.reaper = Reaper(host.loop, host.by_pid, self._reaped, self._exited)
        use_spawner(host.loop)  # a large descriptor table spawns through a helper
        self._memory: MemoryWatch | None = None  # memory_limit sampling, made when needed
        self._oom_kills: dict[str, int] = {}  # process name -> OOM kills seen in its cgroup
        self._together: deque | None = None  # spawns a helper is starting (together())

    def use_cgroups(self) -> None:
        """The host's cgroups are in force: an exit kills what left the group too."""
        self.reaper.kill_leftovers = self._kill_leftovers
        no_spawner()  # each child is born in the cgroup the daemon joins for it

    # -- spawning -----------------------------------------------------------------

    def spawn(self, process: Process) -> None:
        """Carry out a Spawn effect: the child started and tracked, or SpawnFailed.
        Inside together(), a spawn a helper takes is finished later in the same step."""
        host = self.host
        program = process.program
        listener = program.listener is not None  # stdin and stdout: the protocol
        if process.retired is not None:
            # Never reached through start(), which hands retired slots to their
            # successors; kept so that no path can start a child nobody tracks.
            log.error("%s: not spawning a process slot that a reload retired", process.name)
            host.dispatch(process, SpawnFailed("retired by reload", now()))
            return
        try:
            stdout_logged = host.output.logged(process, "stdout")
            stderr_logged = host.output.logged(process, "stderr")
            # A `log` ready probe reads the pipes even when the logs are "none".
            log_probe = program.ready is not None and program.ready.kind == "log"

            extra_env = host.probes.child_env(process) if program.ready else None
            listen_fds, stdin_fd = None, None
            if program.sockets or program.stdin_socket is not None:
                listen_fds, stdin_fd, listen_env = host.sockets.handover(program)
                extra_env = {**(extra_env or {}), **listen_env}

            def start_child():
                return begin_spawn(
                    process.settings(),
                    process.num,
                    capture_stdout=stdout_logged
                    or log_probe
                    or listener
                    or program.stdout_events_enabled,
                    capture_stderr=stderr_logged or log_probe or program.stderr_events_enabled,
                    extra_env=extra_env,
                    listen_fds=listen_fds,
                    stdin_fd=stdin_fd,
                    stdin_pipe=listener,
                )

            if host.cgroups is None:
                pending = start_child()
            else:
                cgroup = host.cgroup_of(process)  # a surge's own (rolling.py)
                quotas = dict(program.limits) if program.limits else {}
                cpu = quotas.get("cpu_quota")
                pending = host.cgroups.spawn_into(
                    cgroup,
                    start_child,
                    program.memory_limit,
                    cpu_max(cpu) if cpu is not None else None,
                    quotas.get("tasks_max"),
                )
        except KeyError as exc:  # handover: a socket not held (cannot happen once loaded)
            self._spawn_failed(process, f"socket {exc} is not held by the daemon")
            return
        except (SpawnError, OSError) as exc:
            self._spawn_failed(process, _spawn_reason(exc))
            return
        if self._together is not None and pending.ticket is not None:  # in flight
            self._together.append((process, pending, stdout_logged, stderr_logged))
            if len(self._together) > TOGETHER_WINDOW:
                self._finish(*self._together.popleft())
        else:
            self._finish(process, pending, stdout_logged, stderr_logged)

    @contextmanager
    def together(self):
        """Spawns that overlap: inside, a spawn a helper takes (a large burst) is sent,
        and the daemon goes on to the next while the helper starts it; each is finished
        (pid filed, Spawned) at the latest when the outermost together() ends, in the
        same step, so nothing outside ever sees one half done."""
        outermost = self._together is None
        if outermost:
            self._together = deque()
        try:
            yield
        finally:
            if outermost:
                waiting, self._together = self._together, None
                while waiting:
                    self._finish(*waiting.popleft())

    def _finish(self, process: Process, pending: PendingSpawn, stdout_logged: bool,
                stderr_logged: bool) -> None:  # fmt: skip
        host = self.host
        program = process.program
        listener = program.listener is not None
        try:
            child = finish_spawn(pending)
        except SpawnError as exc:
            self._spawn_failed(process, str(exc))
            return
        process.child = child
        process.ever_started = True
        host.by_pid[child.pid] = process
        for fd, logged, stream in (
            (child.stdout_fd if not listener else None, stdout_logged, "stdout"),
            (child.stderr_fd, stderr_logged, "stderr"),
        ):
            if fd is not None:
                host.output.watch_pipe(process, fd, stream, logged)
        daemon_log.info("spawned: '%s' with pid %d", process.name, child.pid)
        if host.record is not None:
            host.record.spawned(process.name, child.pid)
        if process.checks is not None or program.ready is not None or program.health is not None:
            host.probes.spawned(process)  # before Spawned, which may reach RUNNING at once
        if host.events is not None:
            host.events.spawned(process, child)  # a listener's pipes, PROCESS_LOG taps
        host.dispatch(process, Spawned(child.pid, now()))
        if program.memory_limit is not None:
            self._memory_watch().spawned(process)

    def _spawn_failed(self, process: Process, reason: str) -> None:
        log.error("spawnerr: %s: %s", process.name, reason)
        self.host.dispatch(process, SpawnFailed(reason, now()))

    def _memory_watch(self) -> MemoryWatch:
        if self._memory is None:
            # Loaded at the first program with a memory_limit: a daemon without one
            # never imports it.
            from supervisord_lite.engine.memory_watch import MemoryWatch

            host = self.host
            self._memory = MemoryWatch(
                host.loop,
                lambda: host.processes.values(),  # afresh: a reload replaces the dict
                host.figures.reading,
                host.restart_for,
            )
        return self._memory

    def spawn_probe(self, process: Process, argv: tuple[str, ...]) -> int:
        """Start an `exec` probe as the program would run (user, directory, environment):
        its pid, to be reaped through the reaper's `watched`."""
        program = process.settings().replace(command=argv, redirect_stderr=False)
        return spawn(program, process.num, capture_stdout=False, capture_stderr=False).pid

    # -- exits --------------------------------------------------------------------

    def _reaped(self, process: Process) -> None:
        if self.host.record is not None:
            self.host.record.exited(process.name, process.pid)

    def _exited(self, process: Process, exitstatus: int) -> None:
        host = self.host
        child = process.child
        if process.program.stdin and child is not None and child.stdin_fd is not None:
            os.close(child.stdin_fd)  # `stdin = true`: its pipe ends with it
        process.child = None
        if host.cgroups is not None and "memory" in host.cgroups.controllers:
            self._check_oom(process)
        for reader in list(process.readers):
            reader.drain_all()  # what it wrote before dying goes to the log before the exit
        if process.program.exec_stop_post:  # queued before a restart's exec_start_pre
            host.hooks.exited(process, process.pid, exitstatus)
        expected = exitstatus in process.program.exitcodes
        if process.state is S.STOPPING:
            daemon_log.info("stopped: %s (%s)", process.name, describe_exit(exitstatus))
        else:
            daemon_log.info(
                "exited: %s (%s; %s)",
                process.name,
                describe_exit(exitstatus),
                "expected" if expected else "not expected",
            )
        host.dispatch(process, Exited(exitstatus, now()))

    def _check_oom(self, process: Process) -> None:
        """Report a kill by the kernel's OOM killer in process's cgroup (memory.max)."""
        cgroups = self.host.cgroups
        count = cgroups.oom_kills(self.host.cgroup_of(process)) if cgroups else 0
        if count > self._oom_kills.get(process.name, 0):
            limit = process.program.memory_limit
            reason = f"killed by the kernel's OOM killer (memory.max {limit} bytes)"
            log.warning("%s: %s", process.name, reason)
            self.host.notice(
                process, {"event": "oom_kill", "reason": reason, "memory_limit": limit}
            )
        self._oom_kills[process.name] = count

    def _kill_leftovers(self, process: Process, pid: int) -> None:
        kill_group_leftovers(process, pid)
        if self.host.cgroups is not None:
            self.host.cgroups.kill(self.host.cgroup_of(process))  # those that left the group


def _spawn_reason(exc: Exception) -> str:
    """A SpawnError's text is the reason; a cgroup's OSError is told like the OS's."""
    if isinstance(exc, SpawnError) or not isinstance(exc, OSError):
        return str(exc)
    if exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)
