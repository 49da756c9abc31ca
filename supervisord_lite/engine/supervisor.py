"""The process table: carries out state-machine effects, and owns every child and pid.

Everything runs on the loop's thread. The supervisor feeds events to each process's
machine and carries out the effects (transitions told to the listeners, timers,
signals); what it delegates keeps its own room: in what order processes start and stop
(sequencing.py), a child from spawn to exit (children.py, reaping in reaper.py), the
`status` figures (figures.py), children's output into logs (output.py), a reload's
diff and new table (reload.py), and the `status` text of a slot (core/process.py). It
never reads a pipe itself.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, Optional

from supervisord_lite.base.log import log
from supervisord_lite.base.names import select
from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.core.process import Process, description_of, slots_for, status_of
from supervisord_lite.core.states import (
    Cancel,
    ProcessState,
    Schedule,
    SendSignal,
    Spawn,
    StateChanged,
    StopRequested,
    TimerFired,
)
from supervisord_lite.engine.children import Children
from supervisord_lite.engine.figures import Figures
from supervisord_lite.engine.hooks import Hooks
from supervisord_lite.engine.output import Output
from supervisord_lite.engine.recovery import ChildRecord
from supervisord_lite.engine.reload import Reloader
from supervisord_lite.engine.rolling import Rolls
from supervisord_lite.engine.scaling import ScaleError, Scaler, runtime_programs
from supervisord_lite.engine.sequencing import Sequencer
from supervisord_lite.engine.subscribers import Subscribers
from supervisord_lite.linux.held_sockets import SocketRegistry
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.logs import daemon_log
from supervisord_lite.logs.logfile import LogFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.engine.event_sources import EventSources
    from supervisord_lite.engine.scheduler import Scheduler
    from supervisord_lite.linux.cgroups import CgroupTree
    from supervisord_lite.probes.runner import ProbeRunner


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
        self.record: ChildRecord | None = None  # crash recovery: who runs, beside the pidfile
        self.cgroups: CgroupTree | None = None  # set by the daemon where cgroups are in force
        self.output = Output(loop, lambda: self.config.log_dir)
        self.output.on_child_eof = self._reap_soon
        self._reap_queued = False
        self.figures = Figures(self)  # `status` figures: .reading(), .of(process, reading)
        self.scaled: dict[str, int] = {}  # program -> numprocs a `scale` set (scaling.py)
        self._scaler = Scaler(self)
        self._reloader = Reloader(self)
        self._sequencer = Sequencer(self, self._reloader.start_successor)
        self._children = Children(self)
        # Made when first needed (a program with a probe): a daemon without them never
        # loads their modules.
        self._probes: ProbeRunner | None = None  # readiness, health, sd_notify
        self._hooks: Hooks | None = None  # exec_start_pre ... exec_stop_post
        self.memory_limit_hits: dict[str, int] = {}  # process name -> memory restarts
        self.hook_failures: dict[str, int] = {}  # process name -> failed hook commands
        self.scheduler: Scheduler | None = None  # made for the first program with a schedule
        self.events: EventSources | None = None  # made at the first [listeners.NAME]
        self.set_table(config, slots_for(config.programs.values(), {})[0])
        self.sockets = SocketRegistry()  # [sockets.*]: the daemon binds them (held_sockets.py)
        self.rolls = Rolls(self)  # restart --rolling (rolling.py)
        self.listeners.append(self.rolls.state_changed)
        self.cgroup_names: dict[Process, str] = {}  # a surge's slots: see cgroup_of

    @property
    def probes(self) -> ProbeRunner:
        """Readiness, health and sd_notify (probes/runner.py, docs/health.md)."""
        if self._probes is None:
            from supervisord_lite.probes.runner import ProbeRunner

            self._probes = ProbeRunner(self)
        return self._probes

    def probes_made(self) -> ProbeRunner | None:
        """The probe runner if one was made (probes() makes it)."""
        return self._probes

    def close_probes(self) -> None:
        if self._probes is not None:
            self._probes.close()

    # -- the table ----------------------------------------------------------------

    def apply_config(self, new: DaemonConfig, on_done: Callable[[dict], None]) -> dict:
        """Move to a new config, touching only what differs (reload.py); on_done(diff)
        once applied. Returns the diff: the programs added, changed and removed."""
        self.rolls.interrupt("interrupted by a reload")
        return self._reloader.apply(new, on_done)

    def set_table(self, config: DaemonConfig, processes: dict[str, Process]) -> None:
        """Take a new config and process table (a reload's replace step)."""
        old = {p.program.name: p.program for p in self.processes.values()}  # the table's
        self.config = config
        self.processes = processes
        self._sequencer.new_table(self.programs())
        self._follow_schedules()
        if self.events is not None or any(p.listener for p in config.programs.values()):
            self._configure_events(old)

    def _follow_schedules(self) -> None:
        """Time the table's schedules (engine/scheduler.py): kept across a reload."""
        if self.scheduler is None:
            if not any(p.schedule for p in self.config.programs.values()):
                return  # no schedule, no timer, no module loaded
            from supervisord_lite.engine.schedule_state import state_path
            from supervisord_lite.engine.scheduler import Scheduler  # only with schedules

            self.scheduler = Scheduler(self, state_path(self.config.pidfile))
        self.scheduler.update(self.processes.values())

    def _configure_events(self, old: dict[str, ProgramConfig]) -> None:
        """The listeners' pools and what feeds them (event_sources.py)."""
        if self.events is None:
            # Only for a config with listeners: a daemon without never loads them.
            from supervisord_lite.engine.event_sources import EventSources

            self.events = EventSources(self.loop, self.listeners.append)
        new = {p.program.name: p.program for p in self.processes.values()}  # start order
        self.events.configure(old.values(), new.values())

    def programs(self) -> dict[str, ProgramConfig]:
        """The config's programs with the numbers of processes in force (a `scale`'s)."""
        return runtime_programs(self.config, self.scaled)

    def reloading(self) -> bool:
        return self._reloader.replacing

    def scale(self, name: str, count: int, on_done: Callable[[list[str]], None]) -> dict:
        """Set a program's number of processes (scaling.py): only the tail starts or
        stops. What it does; on_done(removed names) once the tail has stopped.
        ScaleError when it cannot (also while a rolling restart of it is under way: the
        roll's order of slots would lose the ones that go)."""
        if any(
            self.processes.get(n) is not None and self.processes[n].program.name == name
            for roll in self.rolls.under_way
            for n in roll.names
        ):
            raise ScaleError(
                f"a rolling restart of {name} is under way; try again when it is done", "busy"
            )
        return self._scaler.scale(name, count, on_done)

    def resolve(self, names: list[str]) -> tuple[list[Process], list[str]]:
        """The processes NAMEs mean (a full name, `GROUP:*`, `GROUP`, a program, `all`:
        names.select), in table order; plus the NAMEs that mean none."""
        if len(names) == 1:  # the common cases, at once: one process, or all of them
            if names[0] == "all":  # before a process of that name, as names.select
                return list(self.processes.values()), []
            if names[0] in self.processes:
                return [self.processes[names[0]]], []
        return select(names, self.processes.values(), _name_key)

    # -- starting and stopping (sequencing.py decides the order) ------------------------

    def start_autostart(self) -> None:
        """Start every autostart program, in priority order (dependents as deps come up)."""
        if self.events is not None:
            self.events.supervisor_state("RUNNING")
        with self.spawns_together():
            for process in list(self.processes.values()):
                if process.program.autostart:
                    self.start(process)

    def spawns_together(self):
        """A context for a burst of starts: their spawns may overlap (children.py
        together()); each is filed before it ends."""
        return self._children.together()

    def start(self, process: Process) -> None:
        """Start a process, its dependencies first; a start that cannot happen is refused
        (listeners told, change None), so whoever waits for it gets an answer."""
        self._sequencer.start(process)

    def refuse_start(self, process: Process, reason: str) -> None:
        self._sequencer.refuse_start(process, reason)

    def settle_waiting_soon(self) -> None:
        """Start or refuse the processes waiting for dependencies, after this step."""
        self._sequencer.settle_waiting_soon()

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None:
        """Stop processes in order (dependents and higher priority first); then on_done()."""
        self._sequencer.stop_many(processes, on_done)

    def shutdown(self, on_done: Callable[[], None]) -> None:
        if self.shutting_down:
            return
        self.shutting_down = True
        if self.scheduler is not None:
            self.scheduler.close()  # no run starts once the stop has begun
        if self.events is not None:
            self.events.supervisor_state("STOPPING")
        daemon_log.info("shutting down: stopping %d processes", len(self.processes))
        for process in self.processes.values():
            if process.waiting_for_deps:
                self.refuse_start(process, "the daemon is shutting down")
        self.rolls.interrupt("interrupted: the daemon is shutting down")
        # Then the hooks still running (exec_stop_post), each bounded by hook_timeout.
        everyone = [*self.processes.values(), *self.rolls.extra_slots()]
        self.stop_many(everyone, lambda: self.after_hooks(on_done))

    def after_hooks(self, callback: Callable[[], None]) -> None:
        """callback() once no hook command runs (at once without hooks)."""
        if self._hooks is None:
            callback()
        else:
            self._hooks.when_idle(callback)

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
            self.cgroups.kill(self.cgroup_of(process))  # stopwaitsecs is up: those that fled too
        return True

    # -- events in, effects out ---------------------------------------------------

    def dispatch(self, process: Process, event) -> None:
        for effect in process.machine.handle(event):
            self._apply(process, effect)

    def _apply(self, process: Process, effect) -> None:
        if isinstance(effect, StateChanged):
            self._on_transition(process, effect)
        elif isinstance(effect, Spawn):
            if process.program.has_hooks():  # exec_start_pre first, in turn with others
                self.hooks.spawn(process)
            else:
                self._children.spawn(process)
        elif isinstance(effect, SendSignal):
            if effect.signal != signal.SIGKILL and process.program.exec_stop:
                if process.state is S.STOPPING:  # a stop: exec_stop replaces the signal
                    self.hooks.stop(process, effect.signal)
                    return
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

    def resume_timer(self, process: Process, schedule: Schedule) -> None:
        """Arm a machine timer carried across an exec of the daemon (handover.py)."""
        self._apply(process, schedule)

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
        if self._hooks is not None and process.program.has_hooks():
            self._hooks.transitioned(process, change)
        self.listeners.emit(process, change)
        if new is S.STOPPED and process.restart_pending is not None:
            self.loop.call_soon(lambda: self._finish_restart(process))
        self._sequencer.transitioned(process, change)

    # -- restarts the daemon decides --------------------------------------------------

    def notice(self, process: Process, item: dict) -> None:
        """Tell the notice listeners (events, alerts) something that is not a state
        change: `item` has `event` (ready, unhealthy, healthy, watchdog, memory_limit,
        oom_kill), `reason` and maybe more fields."""
        if item.get("event") in ("memory_limit", "oom_kill"):  # for metrics
            hits = self.memory_limit_hits
            hits[process.name] = hits.get(process.name, 0) + 1
        elif item.get("event") == "hook" and not item.get("ok"):  # for metrics
            failures = self.hook_failures
            failures[process.name] = failures.get(process.name, 0) + 1
        elif item.get("event") == "healthy" and "healthy" in self._sequencer.conditions_used:
            self.settle_waiting_soon()  # a dependent may wait for this one to be healthy
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

    def cgroup_of(self, process: Process) -> str:
        """The cgroup a process slot runs in: its name, but for a surge's second slot of
        the same name (rolling.py), which must not share the first one's."""
        return self.cgroup_names.get(process, process.name) if self.cgroup_names else process.name

    def use_cgroups(self, tree: CgroupTree) -> None:
        """Track every process in a cgroup of its own from now on (linux/cgroups.py)."""
        self.cgroups = tree
        self._children.use_cgroups()

    def cgroup_gone(self, name: str, tries: int = 20) -> None:
        """A process slot has left the table (reload): its cgroup goes once its tree is
        gone (retried for 2 s; what stays busy is removed at shutdown)."""
        if self.cgroups is not None and not self.cgroups.remove(name) and tries:
            self.loop.call_later(0.1, lambda: self.cgroup_gone(name, tries - 1))

    # -- children (children.py spawns and acts on exits) ------------------------------

    def spawn_probe(self, process: Process, argv: tuple[str, ...]) -> int:
        """Start an `exec` probe as the program would run (user, directory, environment):
        its pid, to be reaped through watch_exit."""
        return self._children.spawn_probe(process, argv)

    def watch_exit(self, pid: int, on_exit: Callable[[int], None], group: bool = False) -> None:
        """Call on_exit(exitstatus) when the reaper reaps `pid`, a child not in the table
        (an exec probe, an alert's exec, a name lookup, a hook); with group, what is left
        of its process group is killed first."""
        self._children.reaper.watched[pid] = on_exit
        if group:
            self._children.reaper.watched_groups.add(pid)

    def still_watched(self, pid: int) -> bool:
        return pid in self._children.reaper.watched

    @property
    def hooks(self) -> Hooks:
        """exec_start_pre ... exec_stop_post (hooks.py), made at the first program with one."""
        if self._hooks is None:
            self._hooks = Hooks(self)
        return self._hooks

    def spawn_now(self, process: Process) -> None:
        """The Spawn effect itself, once the hooks before it are done."""
        self._children.spawn(process)

    # -- output (output.py does the work) -----------------------------------------

    def open_log(self, process: Process, stream: str) -> LogFile | None:
        """The process's LogFile for stream (made now if there is none yet), or None."""
        return self.output.open_log(process, stream)

    def reopen_logs(self) -> None:
        """Reopen every log file at its path (after an outside rotation: SIGUSR2)."""
        self.output.reopen_logs(self.processes.values())

    def close_logs(self, process: Process) -> None:
        """Drain the process's pipes into its logs, then close both (it is done with them)."""
        self.output.close_logs(process)

    def reap(self) -> None:
        """SIGCHLD: reap every exited child (reaper.py), then act on each of ours.

        sd_notify messages queued before go first: a READY=1 sent just before the
        sender exited is credited before its exit is acted on."""
        if self._probes is not None:
            self._probes.drain_notify()
        self._children.reaper.reap()

    def _reap_soon(self) -> None:
        """A child's pipe ended: look for its exit at the end of this loop turn, not
        after another sleep for the SIGCHLD that follows it. The exit is usually there
        by then (a restart sooner by that turn); if not, the SIGCHLD brings it."""
        if not self._reap_queued:
            self._reap_queued = True
            self.loop.call_soon(self._reap_queued_exits)

    def _reap_queued_exits(self) -> None:
        self._reap_queued = False
        self.reap()

    # -- status -------------------------------------------------------------------

    def status(self, process: Process, current: float | None = None) -> dict:
        """The `status` object of one process (process.status_of) with its tree's figures."""
        status = self.bare_status(process, current)
        status.update(self.figures.of(process))
        return status

    def bare_status(self, process: Process, current: float | None = None) -> dict:
        """The `status` object without the tree's figures: what the ctl's text shows."""
        status = status_of(process, self._sequencer.unready_dependencies, current)
        status["numprocs"] = process.program.numprocs
        status["numprocs_config"] = self.numprocs_config(process)
        if process.program.limits:  # cpu_quota, tasks_max: kept in cpu.max, pids.max
            quotas = dict(process.program.limits)
            cpu = quotas.get("cpu_quota")
            if cpu is not None:
                status["cpu_quota"] = f"{cpu:g}%"
            if quotas.get("tasks_max") is not None:
                status["tasks_max"] = quotas["tasks_max"]
        return status

    def numprocs_config(self, process: Process) -> int:
        """The config file's numprocs for process's program (its own once removed)."""
        program = self.config.programs.get(process.program.name, process.program)
        return program.numprocs

    def describe(self, process: Process, uptime: float | None = None) -> str:
        """The `status` description of one process (process.description_of)."""
        return description_of(process, self._sequencer.unready_dependencies, uptime)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _name_key(process: Process) -> tuple[str, str, str]:
    return process.name, process.program.name, process.program.group
