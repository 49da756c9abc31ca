"""The process table: carries out state-machine effects, reaps children, orders starts and stops.

It owns every child and the pid table; everything runs on the loop's thread. It hands
children's output to output.py, a reload's diff and new table to reload.py, and the
`status` text of a slot to core/process.py; it never reads a pipe itself.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Callable, Optional

from supervisord_lite.base.names import select
from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.core.ordering import AT_REST, StopBatch, transitive_dependents
from supervisord_lite.core.process import Process, description_of, slots_for, status_of
from supervisord_lite.core.states import (
    LIVE_STATES,
    Cancel,
    Exited,
    ProcessState,
    Schedule,
    SendSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StateChanged,
    StopRequested,
    TimerFired,
    describe_exit,
)
from supervisord_lite.engine.output import Output
from supervisord_lite.engine.reaper import Reaper, kill_group_leftovers
from supervisord_lite.engine.recovery import ChildRecord
from supervisord_lite.engine.reload import Reloader
from supervisord_lite.engine.subscribers import Subscribers
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.linux.spawn import SpawnError, spawn
from supervisord_lite.logs import daemon_log
from supervisord_lite.logs.logfile import LogFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.engine.event_sources import EventSources
    from supervisord_lite.engine.memory_watch import MemoryWatch
    from supervisord_lite.linux.cgroups import CgroupTree
    from supervisord_lite.linux.proctree import Snapshot
    from supervisord_lite.probes.runner import ProbeRunner

log = logging.getLogger("supervisord_lite")

S = ProcessState

# Called with (process, change) on every transition, and with change=None when a
# process's wait for its dependencies ends in failure.
Listener = Callable[["Process", Optional[StateChanged]], None]
# Called with (process, item) for what is not a transition, e.g. a memory limit
# crossed: item is the events stream's object ("event", "reason", figures).
NoticeListener = Callable[["Process", dict], None]


class Supervisor:
    def __init__(self, config: DaemonConfig, loop: EventLoop):
        self.config = config
        self.loop = loop
        self.processes: dict[str, Process] = {}
        self.by_pid: dict[int, Process] = {}
        # Each told on its own: one that raises is dropped, the transition completes.
        self.listeners: Subscribers[Listener] = Subscribers("state-change listener")
        self.notice_listeners: Subscribers[NoticeListener] = Subscribers("notice listener")
        self.shutting_down = False
        self._stop_batches: list[StopBatch] = []
        self._soon: set[Callable[[], None]] = set()
        self.record: ChildRecord | None = None  # crash recovery: who runs, beside the pidfile
        self._dependents: dict[str, set[str]] = {}
        self.output = Output(loop)
        self._reloader = Reloader(self)
        self._reaper = Reaper(loop, self.by_pid, self._reaped, self._exited)
        # Made when first needed (a program with a probe, a memory limit): a daemon
        # without them never loads their modules.
        self._probes: ProbeRunner | None = None  # readiness, health, sd_notify
        self._memory: MemoryWatch | None = None  # memory_limit sampling
        self.cgroups: CgroupTree | None = None  # set by the daemon where cgroups are in force
        self._snapshot: Snapshot | None = None  # for status figures, at most 1 s old
        self._snapshot_at = 0.0
        self._oom_kills: dict[str, int] = {}
        self.memory_limit_hits: dict[str, int] = {}  # process name -> memory restarts
        self.events: EventSources | None = None  # made at the first [listeners.NAME]
        self.set_table(config, slots_for(config.programs.values(), {})[0])

    @property
    def probes(self) -> ProbeRunner:
        """Readiness, health and sd_notify (probes/runner.py, docs/health.md)."""
        if self._probes is None:
            from supervisord_lite.probes.runner import ProbeRunner

            self._probes = ProbeRunner(self)
        return self._probes

    def close_probes(self) -> None:
        if self._probes is not None:
            self._probes.close()

    # -- the table ----------------------------------------------------------------

    def apply_config(self, new: DaemonConfig, on_done: Callable[[dict], None]) -> dict:
        """Move to a new config, touching only what differs (reload.py); on_done(diff)
        once applied. Returns the diff: the programs added, changed and removed."""
        return self._reloader.apply(new, on_done)

    def set_table(self, config: DaemonConfig, processes: dict[str, Process]) -> None:
        """Take a new config and process table (a reload's replace step)."""
        old = self.programs()
        self.config = config
        self.processes = processes
        self._dependents = transitive_dependents(self.programs())
        if self.events is not None or any(p.listener for p in config.programs.values()):
            self._configure_events(old)

    def _configure_events(self, old: dict[str, ProgramConfig]) -> None:
        """The listeners' pools and what feeds them (event_sources.py)."""
        if self.events is None:
            # Only for a config with listeners: a daemon without never loads them.
            from supervisord_lite.engine.event_sources import EventSources

            self.events = EventSources(self.loop, self.listeners.append)
        self.events.configure(old.values(), self.programs().values())

    def programs(self) -> dict[str, ProgramConfig]:
        return {p.program.name: p.program for p in self.processes.values()}

    def resolve(self, names: list[str]) -> tuple[list[Process], list[str]]:
        """The processes NAMEs mean (a full name, `GROUP:*`, `GROUP`, a program, `all`:
        names.select), in table order; plus the NAMEs that mean none."""
        if len(names) == 1 and names[0] in self.processes:  # the common case, at once
            return [self.processes[names[0]]], []
        return select(names, self.processes.values(), _name_key)

    def program_processes(self, program_name: str) -> list[Process]:
        return [p for p in self.processes.values() if p.program.name == program_name]

    # -- starting -----------------------------------------------------------------

    def start_autostart(self) -> None:
        """Start every autostart program, in priority order (dependents as deps come up)."""
        if self.events is not None:
            self.events.supervisor_state("RUNNING")
        for process in list(self.processes.values()):
            if process.program.autostart:
                self.start(process)

    def start(self, process: Process) -> None:
        """Start a process, first bringing up what it depends on (like systemd's Requires).

        A start that cannot happen is refused: dep_error says why and listeners are told
        (change None), so that whoever waits for the start gets an answer."""
        if self.shutting_down or process.state in LIVE_STATES:
            return
        if process.retired is not None:
            self._reloader.start_successor(process)
            return
        process.dep_error = None
        missing = self._unready_dependencies(process)
        stopping = [dep for dep in missing if dep.state is S.STOPPING]
        if stopping:
            # Its stop was asked for after whatever wanted it running: do not undo it.
            self.refuse_start(
                process,
                f"dependency {stopping[0].name} is stopping; "
                f"start {process.name} again once it has stopped",
            )
            return
        if missing:
            process.waiting_for_deps = True
            for dep in missing:
                if dep.state not in LIVE_STATES and not dep.waiting_for_deps:
                    self.start(dep)
            # A dependency may have been refused on the spot: settle this wait too.
            self.settle_waiting_soon()
            return
        process.waiting_for_deps = False
        self.dispatch(process, StartRequested(now()))

    def refuse_start(self, process: Process, reason: str) -> None:
        process.waiting_for_deps = False
        process.dep_error = reason
        log.warning("%s: not started: %s", process.name, reason)
        self._notify(process, None)

    def _unready_dependencies(self, process: Process) -> list[Process]:
        return [
            dep
            for name in process.program.depends_on
            for dep in self.program_processes(name)
            if dep.state is not S.RUNNING
        ]

    def _start_waiting_dependents(self) -> None:
        """Start each waiting process whose dependencies are all RUNNING; refuse those
        waiting on one that came to rest. Repeated until nothing changes: a refusal
        makes no transition, yet it settles whoever waits on the refused process."""
        settled = True
        while settled and not self.shutting_down:
            settled = False
            for process in list(self.processes.values()):
                if not process.waiting_for_deps:
                    continue
                unready = self._unready_dependencies(process)
                failed = [d for d in unready if d.state in AT_REST and not d.waiting_for_deps]
                if failed:
                    dep = failed[0]
                    self.refuse_start(process, f"dependency {dep.name} is {dep.state.value}")
                    settled = True
                elif not unready:
                    process.waiting_for_deps = False
                    self.dispatch(process, StartRequested(now()))
                    settled = True

    def settle_waiting_soon(self) -> None:
        """Start or refuse the processes waiting for dependencies, after this step."""
        self._once_soon(self._start_waiting_dependents)

    # -- stopping -----------------------------------------------------------------

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None:
        """Stop processes in order (dependents and higher priority first); then on_done()."""
        batch = StopBatch(processes, self._dependents, self._request_stop, on_done)
        self._stop_batches.append(batch)
        self._advance_stop_batches()

    def shutdown(self, on_done: Callable[[], None]) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True
        if self.events is not None:
            self.events.supervisor_state("STOPPING")
        daemon_log.info("shutting down: stopping %d processes", len(self.processes))
        for process in self.processes.values():
            if process.waiting_for_deps:
                self.refuse_start(process, "the daemon is shutting down")
        self.stop_many(list(self.processes.values()), on_done)

    def send_signal(self, process: Process, signum: int) -> bool:
        """Signal a live process (its group when stopasgroup); False if it is not running."""
        pid = process.pid
        if pid is None or pid not in self.by_pid:
            return False
        try:
            if process.program.stopasgroup:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        except ProcessLookupError:
            return False
        if signum == signal.SIGKILL and process.program.stopasgroup and self.cgroups:
            self.cgroups.kill(process.name)  # stopwaitsecs is up: descendants that fled too
        return True

    # -- events in, effects out ---------------------------------------------------

    def dispatch(self, process: Process, event) -> None:
        for effect in process.machine.handle(event):
            self._apply(process, effect)

    def _apply(self, process: Process, effect) -> None:
        if isinstance(effect, StateChanged):
            self._on_transition(process, effect)
        elif isinstance(effect, Spawn):
            self._spawn(process)
        elif isinstance(effect, SendSignal):
            if effect.signal == signal.SIGKILL:
                log.warning("killing %s (pid %s) with SIGKILL", process.name, process.pid)
            self.send_signal(process, effect.signal)
        elif isinstance(effect, Schedule):
            self._cancel_timer(process, effect.timer)
            if process.timers is None:
                process.timers = {}
            process.timers[effect.timer] = self.loop.call_later(
                effect.delay, lambda: self._fire(process, effect.timer)
            )
        elif isinstance(effect, Cancel):
            self._cancel_timer(process, effect.timer)

    def _fire(self, process: Process, timer: str) -> None:
        if process.timers:
            process.timers.pop(timer, None)
        self.dispatch(process, TimerFired(timer, now()))

    def _cancel_timer(self, process: Process, name: str) -> None:
        timer = process.timers.pop(name, None) if process.timers else None
        if timer is not None:
            timer.cancel()

    def _on_transition(self, process: Process, change: StateChanged) -> None:
        process.changed_at = time.time()
        process.stamp = None
        new = change.new
        if process.checks is not None:
            self.probes.state_changed(process, change)
        if new is S.RUNNING and change.old is S.STARTING and process.program.ready:
            daemon_log.info("success: %s entered RUNNING state (%s)", process.name, change.reason)
        elif new is S.RUNNING and change.old is S.STARTING:
            daemon_log.info(
                "success: %s entered RUNNING state, process has stayed up for > than %s "
                "seconds (startsecs)",
                process.name,
                _num(process.program.startsecs),
            )
        elif new is S.FATAL and change.old is S.STOPPING:  # health restarts gave up
            daemon_log.info("gave up: %s entered FATAL state: %s", process.name, change.reason)
        elif new is S.FATAL:
            daemon_log.info(
                "gave up: %s entered FATAL state, too many start retries too quickly",
                process.name,
            )
        elif new is S.STOPPING:
            daemon_log.info("waiting for %s to stop", process.name)
        self._notify(process, change)
        if new is S.STOPPED and process.restart_pending is not None:
            self.loop.call_soon(lambda: self._finish_restart(process))
        if (new is S.RUNNING or new in AT_REST) and process.retired is None:
            # Dependents waiting on this process can now start (or must give up). Not for
            # a slot a reload retires: they wait for its successor instead.
            self.settle_waiting_soon()
        if self._stop_batches:
            if new in AT_REST:
                for batch in self._stop_batches:
                    batch.came_to_rest(process)
            self._once_soon(self._advance_stop_batches)

    def _once_soon(self, callback: Callable[[], None]) -> None:
        """Run callback after the current step, once however many transitions asked.

        Deferring keeps handlers from re-entering each other mid-step; coalescing keeps
        a 500-process stop at one scan per loop turn instead of one per exit."""
        if callback not in self._soon:
            self._soon.add(callback)
            self.loop.call_soon(lambda: self._run_once_soon(callback))

    def _run_once_soon(self, callback: Callable[[], None]) -> None:
        self._soon.discard(callback)
        callback()

    def _advance_stop_batches(self) -> None:
        for batch in list(self._stop_batches):
            batch.dependents = self._dependents  # a reload may have changed them
            if batch.advance():
                self._stop_batches.remove(batch)
                self.loop.call_soon(batch.on_done)

    def _request_stop(self, process: Process) -> None:
        process.restart_pending = None  # a stop asked for is never undone by a restart
        if process.waiting_for_deps:
            self.refuse_start(process, "stopped while waiting for its dependencies")
        self.dispatch(process, StopRequested(now()))

    # -- restarts the daemon decides --------------------------------------------------

    def notice(self, process: Process, item: dict) -> None:
        """Tell the notice listeners (events, alerts) something that is not a state
        change: `item` has `event` (ready, unhealthy, healthy, watchdog, memory_limit,
        oom_kill), `reason` and maybe more fields."""
        if item.get("event") in ("memory_limit", "oom_kill"):  # for metrics
            hits = self.memory_limit_hits
            hits[process.name] = hits.get(process.name, 0) + 1
        self.notice_listeners.emit(process, item)

    def restart_for(self, process: Process, item: dict) -> None:
        """Restart `process` with its stop rules, then a start, counted in its restarts;
        `item` (why) goes to the notice listeners (the events stream)."""
        self.notice(process, item)
        process.restart_pending = process.machine.restarts + 1
        self.dispatch(process, StopRequested(now()))

    def _finish_restart(self, process: Process) -> None:
        restarts, process.restart_pending = process.restart_pending, None
        if restarts is None or process.state is not S.STOPPED or self.shutting_down:
            return
        self.start(process)
        process.machine.restarts = restarts  # the start reset it: this one is automatic

    def tree_pids(self, process: Process, snapshot: Snapshot) -> list[int]:
        """The pids of process's whole tree: its cgroup's members, else its descendants
        and session in `snapshot`."""
        if self.cgroups is not None:
            return self.cgroups.pids(process.name)
        pid = process.pid
        return snapshot.tree(pid) if pid is not None else []

    def figures(self, process: Process) -> dict:
        """`status` figures of process's tree: how it is tracked, CPU, memory, tasks."""
        tracking = "pgroup" if self.cgroups is None else "cgroup"
        figures = {"tracking": tracking, "cpu_seconds": None, "memory_bytes": None, "tasks": None}
        if process.pid is not None:
            snapshot = self._recent_snapshot(process.pid)
            rss, cpu, tasks = snapshot.totals(self.tree_pids(process, snapshot))
            figures.update(cpu_seconds=round(cpu, 2), memory_bytes=rss, tasks=tasks)
        figures["memory_limit_by"] = self._memory_limit_by(process)
        return figures

    def _memory_limit_by(self, process: Process) -> str | None:
        """Who enforces memory_limit: the kernel ("memory.max"), or our /proc sampling
        where the memory controller is not on (None: no limit)."""
        if process.program.memory_limit is None:
            return None
        if self.cgroups is not None and "memory" in self.cgroups.controllers:
            return "memory.max"
        return "sampling"

    def figures_stamp(self, process: Process) -> tuple:
        """What process's figures depend on: they stay the same while this does."""
        pid = process.pid
        taken = -1.0
        if pid is not None:
            self._recent_snapshot(pid)
            taken = self._snapshot_at
        memory_limit = process.program.memory_limit
        return taken, pid, self.cgroups is not None, memory_limit

    def _recent_snapshot(self, pid: int) -> Snapshot:
        # One /proc pass serves every status request for a second; a new pid not in it
        # (spawned since) takes a fresh one, but not twice in 10 ms.
        age = now() - self._snapshot_at
        snapshot = self._snapshot
        if snapshot is None or age > 1.0 or (pid not in snapshot.stat and age > 0.01):
            from supervisord_lite.linux.proctree import Snapshot  # at the first status figures

            snapshot = self._snapshot = Snapshot()
            self._snapshot_at = now()
        return snapshot

    def _kill_leftovers(self, process: Process, pid: int) -> None:
        kill_group_leftovers(process, pid)
        if self.cgroups is not None:
            self.cgroups.kill(process.name)  # those that left the group too

    def use_cgroups(self, tree: CgroupTree) -> None:
        """Track every process in a cgroup of its own from now on (linux/cgroups.py)."""
        self.cgroups = tree
        self._reaper.kill_leftovers = self._kill_leftovers

    def cgroup_gone(self, name: str, tries: int = 20) -> None:
        """A process slot has left the table (reload): its cgroup goes once its tree is
        gone (retried for 2 s; what stays busy is removed at shutdown)."""
        if self.cgroups is not None and not self.cgroups.remove(name) and tries:
            self.loop.call_later(0.1, lambda: self.cgroup_gone(name, tries - 1))

    def _check_oom(self, process: Process) -> None:
        """Report a kill by the kernel's OOM killer in process's cgroup (memory.max)."""
        count = self.cgroups.oom_kills(process.name) if self.cgroups else 0
        if count > self._oom_kills.get(process.name, 0):
            limit = process.program.memory_limit
            reason = f"killed by the kernel's OOM killer (memory.max {limit} bytes)"
            log.warning("%s: %s", process.name, reason)
            self.notice(process, {"event": "oom_kill", "reason": reason, "memory_limit": limit})
        self._oom_kills[process.name] = count

    def _notify(self, process: Process, change: StateChanged | None) -> None:
        self.listeners.emit(process, change)

    # -- spawning -----------------------------------------------------------------

    def _spawn(self, process: Process) -> None:
        program = process.program
        if process.retired is not None:
            # Never reached through start(), which hands retired slots to their
            # successors; kept so that no path can start a child nobody tracks.
            log.error("%s: not spawning a process slot that a reload retired", process.name)
            self.dispatch(process, SpawnFailed("retired by reload", now()))
            return
        try:
            stdout_log = self.open_log(process, "stdout")
            stderr_log = self.open_log(process, "stderr")
            # A `log` ready probe reads the pipes even when the logs are "none".
            log_probe = program.ready is not None and program.ready.kind == "log"
            # A listener's stdin and stdout are its protocol (event_sources.py).
            listener = program.listener is not None

            def start_child():
                return spawn(
                    program,
                    process.num,
                    capture_stdout=stdout_log is not None
                    or log_probe
                    or listener
                    or program.stdout_events_enabled,
                    capture_stderr=stderr_log is not None
                    or log_probe
                    or program.stderr_events_enabled,
                    extra_env=self.probes.child_env(process) if program.ready else None,
                    stdin_pipe=listener,
                )

            if self.cgroups is None:
                child = start_child()
            else:
                child = self.cgroups.spawn_into(process.name, start_child, program.memory_limit)
        except (SpawnError, OSError) as exc:
            reason = str(exc) if isinstance(exc, SpawnError) else _os_reason(exc)
            log.error("spawnerr: %s: %s", process.name, reason)
            self.dispatch(process, SpawnFailed(reason, now()))
            return
        process.child = child
        process.ever_started = True
        self.by_pid[child.pid] = process
        for fd, logfile, stream in (
            (child.stdout_fd if program.listener is None else None, stdout_log, "stdout"),
            (child.stderr_fd, stderr_log, "stderr"),
        ):
            if fd is not None:
                self.output.watch_pipe(process, fd, logfile, stream)
        daemon_log.info("spawned: '%s' with pid %d", process.name, child.pid)
        if self.record is not None:
            self.record.spawned(process.name, child.pid)
        if process.checks is not None or program.ready is not None or program.health is not None:
            self.probes.spawned(process)  # before Spawned, which may reach RUNNING at once
        if self.events is not None:
            self.events.spawned(process, child)  # a listener's pipes, PROCESS_LOG taps
        self.dispatch(process, Spawned(child.pid, now()))
        if program.memory_limit is not None:
            if self._memory is None:
                from supervisord_lite.engine.memory_watch import MemoryWatch

                self._memory = MemoryWatch(
                    self.loop,
                    lambda: self.processes.values(),  # afresh: a reload replaces the dict
                    self.tree_pids,
                    self.restart_for,
                )
            self._memory.spawned(process)

    def spawn_probe(self, process: Process, argv: tuple[str, ...]) -> int:
        """Start an `exec` probe as the program would run (user, directory, environment):
        its pid, to be reaped through watch_exit."""
        program = process.program.replace(command=argv, redirect_stderr=False)
        return spawn(program, process.num, capture_stdout=False, capture_stderr=False).pid

    def watch_exit(self, pid: int, on_exit: Callable[[int], None]) -> None:
        """Call on_exit(exitstatus) when the reaper reaps `pid`, a child not in the table
        (an exec probe, an alert's exec, a name lookup)."""
        self._reaper.watched[pid] = on_exit

    # -- output (output.py does the work) -----------------------------------------

    def open_log(self, process: Process, stream: str) -> LogFile | None:
        """The process's LogFile for stream (opened now if it never ran), or None."""
        return self.output.open_log(process, stream, self.config.log_dir)

    def reopen_logs(self) -> None:
        """Reopen every log file at its path (after an outside rotation: SIGUSR2)."""
        self.output.reopen_logs(self.processes.values())

    def close_logs(self, process: Process) -> None:
        """Drain the process's pipes into its logs, then close both (it is done with them)."""
        self.output.close_logs(process)

    # -- reaping ------------------------------------------------------------------

    def reap(self) -> None:
        """SIGCHLD: reap every exited child (reaper.py), then act on each of ours.

        sd_notify messages queued before go first: a READY=1 sent just before the
        sender exited is credited before its exit is acted on."""
        if self._probes is not None:
            self._probes.drain_notify()
        self._reaper.reap()

    def _reaped(self, process: Process) -> None:
        if self.record is not None:
            self.record.exited(process.name)

    def _exited(self, process: Process, exitstatus: int) -> None:
        process.child = None
        if self.cgroups is not None and "memory" in self.cgroups.controllers:
            self._check_oom(process)
        for reader in list(process.readers):
            reader.drain()  # what it wrote before dying goes to the log before the exit
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
        self.dispatch(process, Exited(exitstatus, now()))

    # -- status -------------------------------------------------------------------

    def status(self, process: Process, current: float | None = None) -> dict:
        """The `status` object of one process (process.status_of)."""
        status = status_of(process, self._unready_dependencies, current)
        status.update(self.figures(process))
        return status

    def describe(self, process: Process, uptime: float | None = None) -> str:
        """The `status` description of one process (process.description_of)."""
        return description_of(process, self._unready_dependencies, uptime)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _os_reason(exc: OSError) -> str:
    if exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)


def _name_key(process: Process) -> tuple[str, str, str]:
    return process.name, process.program.name, process.program.group
