"""Runs each process's probes on the loop and turns their results into machine events.

Per child, a Checks record (made only for a program with `ready`, `health` or
`watchdog_sec`): what STARTING waits for, the health tracker, sd_notify's STATUS=, and
the one attempt and timer in flight. The supervisor tells the runner when a child is
spawned and when a process changes state; the runner feeds `Ready` and `Unhealthy` to
the machine through the supervisor and tells its listeners (`events`) `ready`,
`unhealthy`, `healthy` and `watchdog`. A daemon without probes never creates a Checks,
a timer or the notify socket.
"""

from __future__ import annotations

import socket
from typing import Callable, Protocol, cast

from supervisord_lite.base.log import log
from supervisord_lite.core.states import Healthy, ProcessState, Ready, StateChanged, Unhealthy
from supervisord_lite.linux.loop import now
from supervisord_lite.linux.pid_env import OWN_PID
from supervisord_lite.logs import daemon_log
from supervisord_lite.probes.attempts import (
    MIN_READY_ATTEMPT,
    ExecAttempt,
    HealthTracker,
    HttpAttempt,
    LogMatcher,
    TcpAttempt,
    next_delay,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.config.probes import ProbeConfig
    from supervisord_lite.core.process import ProbeView, Process
    from supervisord_lite.linux.cgroups import CgroupTree
    from supervisord_lite.linux.loop import EventLoop, Timer
    from supervisord_lite.probes.notify_socket import NotifyReceiver

S = ProcessState


def wants_checks(program) -> bool:
    return program.ready is not None or program.health is not None


class Checks:
    """One child's probe state (a new one per spawn)."""

    __slots__ = (
        "waiting_for",
        "tracker",
        "notify_status",
        "attempt",
        "attempt_timer",
        "next_timer",
        "watchdog_timer",
        "matcher",
        "stopped",
        "probe_error",
        "proven",
    )

    def __init__(self) -> None:
        self.waiting_for: str | None = None  # STARTING: what readiness waits for
        self.tracker: HealthTracker | None = None  # once RUNNING with a health table
        self.notify_status: str | None = None  # the last STATUS= it sent
        self.attempt = None  # the probe in flight
        self.attempt_timer: Timer | None = None  # its timeout
        self.next_timer: Timer | None = None  # the next probe
        self.watchdog_timer: Timer | None = None
        self.matcher: LogMatcher | None = None
        self.stopped = False
        # Why the ready probe itself cannot run (an exec probe's command missing): a
        # problem to report, unlike a probe that runs and says "not yet".
        self.probe_error: str | None = None
        # This child has passed a health probe (or, without one, fed the watchdog): the
        # machine's run of health restarts in a row is over (states.Healthy).
        self.proven = False

    @property
    def health(self) -> str | None:
        return self.tracker.health if self.tracker is not None else None

    @property
    def health_reason(self) -> str | None:
        return self.tracker.reason if self.tracker is not None else None

    def key(self) -> tuple:
        """What status shows from here: part of the status cache's key."""
        return (
            self.waiting_for,
            self.health,
            self.health_reason,
            self.notify_status,
            self.probe_error,
        )

    def cancel_attempt(self) -> None:
        attempt, self.attempt = self.attempt, None
        if attempt is not None:
            attempt.cancel()
        for name in ("attempt_timer", "next_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    def stop(self) -> None:
        self.stopped = True
        self.waiting_for = None
        self.cancel_attempt()
        if self.watchdog_timer is not None:
            self.watchdog_timer.cancel()
            self.watchdog_timer = None
        self.matcher = None


if TYPE_CHECKING:
    # Process.checks is typed by what status reads of it (core's ProbeView); this
    # runner is what fills the slot, and a Checks must keep satisfying that view.
    _CHECKS_ARE_A_PROBE_VIEW: type[ProbeView] = Checks


def checks_of(process: Process) -> Checks | None:
    """The process's probe record as this runner made it (only the runner sets
    Process.checks, always to a Checks or None)."""
    return cast("Checks | None", process.checks)


class ProbeHost(Protocol):
    """What the runner needs of the supervisor that owns the processes."""

    loop: EventLoop
    processes: dict[str, Process]  # by full name: an sd_notify sender found by cgroup
    by_pid: dict[int, Process]  # the live children: an sd_notify sender found by pid
    cgroups: CgroupTree | None  # where cgroups are in force (a sender's cgroup names it)

    def dispatch(self, process: Process, event) -> None:
        """Feed an event (Ready, Unhealthy, Healthy) to the process's machine."""

    def notice(self, process: Process, item: dict) -> None:
        """Tell the listeners (events, alerts) what is not a transition."""

    def spawn_probe(self, process: Process, argv: tuple[str, ...]) -> int:
        """Start an exec probe as the program would run: its pid."""
        ...

    def watch_exit(self, pid: int, on_exit: Callable[[int], None]) -> None:
        """Call on_exit(exitstatus) once that pid, not in the table, is reaped."""

    def settle_waiting_soon(self) -> None:
        """Start (or refuse) the processes waiting for dependencies, after this step:
        a "healthy" condition is met by a passing probe, which is no transition."""


class ProbeRunner:
    def __init__(self, supervisor: ProbeHost):
        self.supervisor = supervisor
        self.loop = supervisor.loop
        self.receiver: NotifyReceiver | None = None  # made when a notify program spawns

    # -- from the supervisor --------------------------------------------------------

    def child_env(self, process: Process) -> dict[bytes, bytes] | None:
        """NOTIFY_SOCKET (and WATCHDOG_USEC, WATCHDOG_PID) for an sd_notify program; else
        None. WATCHDOG_PID is pid_env.OWN_PID: spawn sets it to the child's own pid."""
        program = process.program
        if program.ready is None or program.ready.kind != "notify":
            return None
        env = {b"NOTIFY_SOCKET": self._receiver().address.encode()}
        if program.watchdog_sec is not None:
            env[b"WATCHDOG_USEC"] = b"%d" % int(program.watchdog_sec * 1_000_000)
            env[b"WATCHDOG_PID"] = OWN_PID  # else sd_watchdog_enabled() answers any reader
        return env

    def spawned(self, process: Process) -> None:
        """A new child: begin waiting for it to be ready (its machine is STARTING)."""
        old = checks_of(process)
        if old is not None:
            old.stop()
        program = process.program
        if not wants_checks(program):
            process.checks = None
            return
        checks = process.checks = Checks()
        ready = program.ready
        if ready is None or process.state is not S.STARTING:
            return
        checks.waiting_for = ready.describe()
        if ready.kind == "log":
            checks.matcher = LogMatcher(ready.target, lambda line: self._log_matched(process, line))
            for reader in process.readers:
                reader.tap = checks.matcher.feed
        elif ready.kind != "notify":
            self._probe(process, checks, ready, self._ready_result, first=True)

    def state_changed(self, process: Process, change: StateChanged | None) -> None:
        checks = checks_of(process)
        if checks is None or change is None:
            return
        if change.new is S.RUNNING:
            checks.waiting_for = None
            checks.cancel_attempt()
            checks.matcher = None
            program = process.program
            if program.health is not None:
                checks.tracker = HealthTracker(program.health.failures)
                self._schedule(process, checks, program.health, program.health.interval)
            if program.watchdog_sec is not None:
                self._arm_watchdog(process, checks)
        elif change.new is not S.STARTING:
            checks.stop()  # STOPPING, EXITED, BACKOFF, FATAL...: no more probing

    def drain_notify(self) -> None:
        """Handle every queued sd_notify message: called before reaping, so a READY=1
        sent just before exiting counts."""
        if self.receiver is not None:
            self.receiver.drain()

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
            self.receiver = None

    # -- probing ------------------------------------------------------------------

    def _probe(self, process: Process, checks: Checks, probe: ProbeConfig, on_result, first=False):
        limit = probe.timeout
        if probe is process.program.ready:
            limit = min(max(probe.interval, MIN_READY_ATTEMPT), probe.timeout)
        started = now()

        def done(ok: bool, reason: str) -> None:
            if checks.stopped or checks.attempt is not attempt:
                return
            checks.attempt = None
            if checks.attempt_timer is not None:
                checks.attempt_timer.cancel()
                checks.attempt_timer = None
            if probe is process.program.ready:
                self._ready_probe_ran(process, checks, getattr(attempt, "cannot_run", None))
            on_result(process, checks, probe, ok, reason, started)

        def timed_out() -> None:
            checks.attempt_timer = None
            if checks.attempt is attempt:
                attempt.cancel()
                done(False, f"{probe.describe()}: no answer within {limit:g}s")

        attempt = self._attempt(process, probe, done)
        checks.attempt = attempt
        checks.attempt_timer = self.loop.call_later(limit, timed_out)
        attempt.start()

    def _attempt(self, process: Process, probe: ProbeConfig, done):
        if probe.kind == "tcp":
            return TcpAttempt(self.loop, probe, done)
        if probe.kind == "http":
            return HttpAttempt(self.loop, probe, done)
        supervisor = self.supervisor
        return ExecAttempt(
            lambda: supervisor.spawn_probe(process, probe.target),
            supervisor.watch_exit,
            done,
            probe.target,
        )

    def _schedule(self, process: Process, checks: Checks, probe: ProbeConfig, delay: float):
        def fire() -> None:
            checks.next_timer = None
            if not checks.stopped:
                on_result = self._ready_result if checks.tracker is None else self._health_result
                self._probe(process, checks, probe, on_result)

        checks.next_timer = self.loop.call_later(delay, fire)

    def _ready_result(self, process, checks, probe, ok: bool, reason: str, started: float):
        if ok:
            self._ready(process, reason)
        else:
            self._schedule(process, checks, probe, next_delay(started, probe.interval, now()))

    def _health_result(self, process, checks, probe, ok: bool, reason: str, started: float):
        tracker = checks.tracker
        assert tracker is not None
        verdicts = tracker.record(ok, reason)
        if ok and not checks.proven:
            self._proven(process, checks)
        for verdict in verdicts:
            if verdict == "restart":
                self._restart(process, f"unhealthy: {reason}")
                return
            shown = tracker.reason if verdict == "unhealthy" else reason
            daemon_log.info("%s: %s: %s", process.name, verdict, shown)
            self._tell(process, verdict, shown or "")
        if not checks.stopped:
            self._schedule(process, checks, probe, next_delay(started, probe.interval, now()))

    def _ready_probe_ran(self, process: Process, checks: Checks, error: str | None) -> None:
        """Report a ready probe that cannot run, once per cause and child: without it
        the process would wait out its whole timeout in silence."""
        if error == checks.probe_error:
            return
        checks.probe_error = error
        process.stamp = None
        if error is not None:
            log.warning("%s: the ready probe cannot run: %s", process.name, error)
            self._tell(process, "probe_error", error)

    def _proven(self, process: Process, checks: Checks) -> None:
        checks.proven = True
        self.supervisor.dispatch(process, Healthy(now()))
        # Its first passing probe: a dependent waiting for it to be "healthy" may start.
        self.supervisor.settle_waiting_soon()

    def _log_matched(self, process: Process, line: str) -> None:
        self._ready(process, f"log line {line[:200]!r}")

    def _ready(self, process: Process, reason: str) -> None:
        if process.state is not S.STARTING or process.pid is None:
            return
        daemon_log.info("%s: ready: %s", process.name, reason)
        self._tell(process, "ready", reason)
        self.supervisor.dispatch(process, Ready(reason, now()))

    def _restart(self, process: Process, reason: str, kind: str = "unhealthy") -> None:
        log.warning("%s: restarting: %s", process.name, reason)
        self._tell(process, kind, reason)
        self.supervisor.dispatch(process, Unhealthy(reason, now()))

    def _tell(self, process: Process, kind: str, reason: str) -> None:
        process.stamp = None
        self.supervisor.notice(process, {"event": kind, "reason": reason})

    # -- sd_notify ------------------------------------------------------------------

    def _receiver(self, adopted: socket.socket | None = None) -> NotifyReceiver:
        if self.receiver is None:
            # Loaded with the first notify program: a daemon without one never loads it.
            from supervisord_lite.probes.notify_socket import NotifyReceiver

            # A pidfd per datagram is of use only where cgroups can name its sender.
            want_pidfd = self.supervisor.cgroups is not None
            self.receiver = NotifyReceiver(self.loop, self._notified, want_pidfd, adopted)
        return self.receiver

    def notify_fd(self) -> int | None:
        """The sd_notify socket's descriptor, if one is bound: what reexec hands on."""
        return None if self.receiver is None else self.receiver.sock.fileno()

    def adopt_notify(self, fd: int) -> None:
        """Take over the sd_notify socket a previous image bound (reexec): the running
        children's NOTIFY_SOCKET names it."""
        self._receiver(socket.socket(fileno=fd))

    def _notified(self, pid: int, fields: dict[str, str], pidfd: int = -1) -> None:
        # Loaded by _receiver already: only its socket calls this.
        from supervisord_lite.probes.notify_socket import pidfd_cgroup_id, sender_process

        process = sender_process(pid, self.supervisor.by_pid)
        cgroups = self.supervisor.cgroups
        if process is None and pidfd >= 0 and cgroups is not None:
            # Gone from /proc (reaped by its own parent): the kernel still knows the
            # cgroup it died in, and under cgroup tracking that names the process.
            cgroup_id = pidfd_cgroup_id(pidfd)
            name = cgroups.name_of(cgroup_id) if cgroup_id is not None else None
            process = self.supervisor.processes.get(name) if name is not None else None
        checks = checks_of(process) if process is not None else None
        if process is None or checks is None or checks.stopped:
            log.debug("sd_notify message from pid %d, not a notify process: dropped", pid)
            return
        program = process.program
        if program.ready is None or program.ready.kind != "notify":
            return
        if "STATUS" in fields:
            checks.notify_status = fields["STATUS"] or None
        if fields.get("READY") == "1":
            self._ready(process, f"READY=1 from pid {pid}")
        if fields.get("WATCHDOG") == "1" and checks.watchdog_timer is not None:
            self._arm_watchdog(process, checks)
            if program.health is None and not checks.proven:
                self._proven(process, checks)
        elif fields.get("WATCHDOG") == "trigger" and process.state is S.RUNNING:
            self._restart(process, "watchdog: WATCHDOG=trigger", "watchdog")
        if fields.get("STOPPING") == "1":
            daemon_log.info("%s: says it is stopping (STOPPING=1)", process.name)

    def _arm_watchdog(self, process: Process, checks: Checks) -> None:
        if checks.watchdog_timer is not None:
            checks.watchdog_timer.cancel()
        seconds = process.program.watchdog_sec

        def starved() -> None:
            checks.watchdog_timer = None
            if not checks.stopped and process.state is S.RUNNING:
                self._restart(process, f"watchdog: no WATCHDOG=1 for {seconds:g}s", "watchdog")

        checks.watchdog_timer = self.loop.call_later(seconds, starved)
