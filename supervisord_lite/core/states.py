"""The per-process state machine (docs/states.md): events in, effects out.

Pure: no os.*, no clock reads, no logging. The loop stamps each event with
`time.monotonic()` and carries out the returned effects in order. After a
`Spawn` effect the loop must feed `Spawned` or `SpawnFailed` before any other
event for this process.
"""

from __future__ import annotations

import signal

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.machine_events import (
    LEGAL_EDGES,
    LIVE_STATES,
    Cancel,
    Effect,
    Event,
    Exited,
    Healthy,
    ProcessState,
    Ready,
    Schedule,
    SendSignal,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StateChanged,
    StopRequested,
    TimerFired,
    Transition,
    Unhealthy,
)

__all__ = [
    "HISTORY_LEN",
    "LEGAL_EDGES",
    "LIVE_STATES",
    "IllegalTransition",
    "ProcessMachine",
    "ProcessState",
    "describe_exit",
    "StartRequested",
    "StopRequested",
    "Spawned",
    "SpawnFailed",
    "Exited",
    "TimerFired",
    "Ready",
    "Unhealthy",
    "Healthy",
    "Event",
    "Spawn",
    "SendSignal",
    "Schedule",
    "Cancel",
    "StateChanged",
    "Effect",
    "Transition",
]

HISTORY_LEN = 50
# A machine's effect list between events: shared, and immutable so that an effect
# emitted outside handle() fails loudly instead of waiting for the next event.
_IDLE = ()


S = ProcessState


class IllegalTransition(RuntimeError):
    """An edge missing from LEGAL_EDGES was attempted: a bug in this module."""


# Signal number -> name, looked up once: Signals(n).name goes through the enum machinery,
# tens of microseconds on a cold cache, twice on every crash's way to its restart.
_SIGNAL_NAMES = {sig.value: sig.name for sig in signal.Signals}


def describe_exit(exitstatus: int) -> str:
    """`exit status 1` or `killed by SIGKILL` for an os.waitstatus_to_exitcode value."""
    if exitstatus >= 0:
        return f"exit status {exitstatus}"
    name = _SIGNAL_NAMES.get(-exitstatus)
    return f"killed by {name}" if name is not None else f"killed by signal {-exitstatus}"


class ProcessMachine:
    """One process's lifecycle. `config` may be replaced; it is read at each event."""

    __slots__ = (
        "config",
        "state",
        "pid",
        "started_at",
        "stopped_at",
        "exitstatus",
        "last_exit_expected",
        "restarts",
        "spawn_error",
        "history",
        "_failures",
        "_streak",
        "_out",
        "_not_ready",
        "_restart_for",
        "_health_restarts",
        "_give_up",
    )

    def __init__(self, config: ProgramConfig):
        self.config = config
        self.state = S.STOPPED
        self.pid: int | None = None
        self.started_at: float | None = None  # now of the last Spawned
        self.stopped_at: float | None = None  # now of the last entry to STOPPED/EXITED/FATAL
        self.exitstatus: int | None = None
        # True: exit code in exitcodes, or the exit we asked for with a stop;
        # False: an unexpected code, or died before startsecs.
        self.last_exit_expected: bool | None = None
        self.restarts = 0  # automatic restarts since the last manual start
        self.spawn_error: str | None = None
        self.history: list[Transition] = []
        self._failures = 0  # failed starts since the last RUNNING or manual start
        self._streak = 0  # crash-loop restarts since the last stable run or manual start
        self._out: list[Effect] = _IDLE  # type: ignore[assignment]
        # Why a STARTING child is being stopped: its ready timeout passed.
        self._not_ready: str | None = None
        # Why a STOPPING child is to be started again once it exits (health, watchdog).
        self._restart_for: str | None = None
        # Health (and watchdog) restarts in a row with no healthy probe in between: they
        # back off like a crash loop, and past startretries the process is FATAL.
        self._health_restarts = 0
        # Why a STOPPING child, once it exits, is FATAL: too many health restarts.
        self._give_up: str | None = None

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; return the effects for the loop to carry out, in order."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"not a process event: {event!r}")
        self._out = out = []
        handler(self, event)
        self._out = _IDLE  # type: ignore[assignment]
        return out

    def uptime(self, now: float) -> float:
        """Seconds since the spawn while STARTING or RUNNING; 0 otherwise."""
        if self.state in (S.STARTING, S.RUNNING) and self.started_at is not None:
            return max(0.0, now - self.started_at)
        return 0.0

    @property
    def failed_starts(self) -> int:
        """Failed starts since the last RUNNING or manual start: Supervisor's `backoff`
        counter, which its PROCESS_STATE_STARTING/BACKOFF events call `tries`."""
        return self._failures

    def is_running(self) -> bool:
        """A live child exists (STARTING, RUNNING or STOPPING with a pid)."""
        return self.pid is not None

    # --- handlers ---------------------------------------------------------

    def _on_start(self, ev: StartRequested) -> None:
        if self.state in LIVE_STATES:
            return  # the caller reports "already started" / "stopping"
        was_backoff = self.state is S.BACKOFF
        self.restarts = self._failures = self._streak = self._health_restarts = 0
        # STOPPED|EXITED|FATAL|BACKOFF -> STARTING
        self._transition(S.STARTING, "start requested", ev.now)
        if was_backoff:
            self._out.append(Cancel("backoff"))
        self._out.append(Spawn())

    def _on_stop(self, ev: StopRequested) -> None:
        if self.state in (S.STARTING, S.RUNNING):
            was_starting = self.state is S.STARTING
            # STARTING|RUNNING -> STOPPING
            self._transition(S.STOPPING, "stop requested", ev.now)
            if self.pid is not None:  # else Spawned, still to come, sends it
                if was_starting:
                    self._out.append(Cancel(self._start_timer()))
                self._out.append(SendSignal(self.config.stopsignal))
            self._out.append(Schedule("stopwait", self.config.stopwaitsecs))
        elif self.state is S.BACKOFF:
            # BACKOFF -> STOPPED: a manual stop cancels the pending restart
            self._transition(S.STOPPED, "stop requested; restart cancelled", ev.now)
            self._out.append(Cancel("backoff"))
        elif self.state is S.STOPPING:
            self._restart_for = self._give_up = None  # a manual stop wins over health's

    def _on_spawned(self, ev: Spawned) -> None:
        if self.pid is not None or self.state not in (S.STARTING, S.STOPPING):
            return  # no spawn outstanding: stray
        self.pid, self.started_at, self.spawn_error = ev.pid, ev.now, None
        self._not_ready = None
        if self.state is S.STOPPING:  # a stop overtook the spawn
            self._out.append(SendSignal(self.config.stopsignal))
        elif self.config.oneshot:
            pass  # a job stays STARTING until it exits: its exit code says how it went
        elif self.config.ready is not None:
            # Ready replaces startsecs: RUNNING comes with Ready, or never (timeout).
            self._out.append(Schedule("ready", self.config.ready.timeout))
        elif self.config.startsecs <= 0:
            # STARTING -> RUNNING
            self._reach_running(f"spawned pid {ev.pid}; startsecs=0", ev.now)
        else:
            self._out.append(Schedule("startsecs", self.config.startsecs))

    def _on_spawn_failed(self, ev: SpawnFailed) -> None:
        if self.pid is not None or self.state not in (S.STARTING, S.STOPPING):
            return
        self.spawn_error = ev.reason
        if self.state is S.STOPPING:
            # STOPPING -> STOPPED: the stop overtook a spawn that then failed
            self._transition(S.STOPPED, f"spawn failed: {ev.reason}", ev.now)
            self._out.append(Cancel("stopwait"))
        else:
            self._start_failed(f"spawn failed: {ev.reason}", ev.now, cancel_startsecs=False)

    def _on_exited(self, ev: Exited) -> None:
        if self.pid is None:
            return  # no live child: a stale report
        self.pid = None
        self.exitstatus = ev.exitstatus
        what = describe_exit(ev.exitstatus)
        if self.state is S.STARTING and self.config.oneshot:
            self._job_exited(ev, what)
        elif self.state is S.STARTING:
            self.last_exit_expected = False
            if self._not_ready is not None:
                what = f"{self._not_ready}; {what}"
                self._out.append(Cancel("stopwait"))
            else:
                what += " before ready" if self.config.ready is not None else " before startsecs"
            self._start_failed(what, ev.now, cancel_startsecs=True)
        elif self.state is S.STOPPING:
            self.last_exit_expected = True
            if self._give_up is not None or self._restart_for is not None:
                self._out.append(Cancel("stopwait"))
                self._health_stopped(what, ev.now)
            else:
                # STOPPING -> STOPPED
                self._transition(S.STOPPED, f"stopped ({what})", ev.now)
                self._out.append(Cancel("stopwait"))
        else:
            self._running_exited(ev, what)

    def _on_timer(self, ev: TimerFired) -> None:
        if ev.timer == "startsecs" and self.state is S.STARTING and self.pid is not None:
            if self.config.ready is not None:
                return  # a stale timer (a reload added `ready`): only Ready ends STARTING
            # STARTING -> RUNNING
            self._reach_running(f"stayed up {self.config.startsecs:g}s (startsecs)", ev.now)
        elif ev.timer == "backoff" and self.state is S.BACKOFF:
            self.restarts += 1
            # BACKOFF -> STARTING
            self._transition(S.STARTING, "backoff elapsed; restarting", ev.now)
            self._out.append(Spawn())
        elif ev.timer == "ready" and self.state is S.STARTING and self.pid is not None:
            # Not ready in time: a failed start, acted on once the child has exited.
            ready = self.config.ready
            self._not_ready = f"not ready within {ready.timeout:g}s: waiting for {ready.describe()}"
            self._out.append(SendSignal(self.config.stopsignal))
            self._out.append(Schedule("stopwait", self.config.stopwaitsecs))
        elif ev.timer == "stopwait" and self.pid is not None:
            if self.state is S.STOPPING or (self.state is S.STARTING and self._not_ready):
                self._out.append(SendSignal(int(signal.SIGKILL)))  # stays where it is

    def _on_ready(self, ev: Ready) -> None:
        if self.state is S.STARTING and self.pid is not None and self._not_ready is None:
            self._out.append(Cancel("ready"))
            # STARTING -> RUNNING
            self._reach_running(f"ready: {ev.reason}", ev.now)

    def _on_unhealthy(self, ev: Unhealthy) -> None:
        if self.state is not S.RUNNING:
            return  # already on its way down or up: nothing to restart
        self._health_restarts += 1
        if self._health_restarts > self.config.startretries:
            tries = self._health_restarts - 1
            self._give_up = (
                f"{ev.reason}; gave up after {tries} health restart{'s' if tries != 1 else ''}"
                " in a row without a healthy probe"
            )
            # RUNNING -> STOPPING, then FATAL once it has exited
            self._transition(S.STOPPING, f"giving up: {ev.reason}", ev.now)
        else:
            self._restart_for = ev.reason
            # RUNNING -> STOPPING, then a start (at once, or after a backoff) once exited
            self._transition(S.STOPPING, f"restarting: {ev.reason}", ev.now)
        self._out.append(SendSignal(self.config.stopsignal))
        self._out.append(Schedule("stopwait", self.config.stopwaitsecs))

    def _on_healthy(self, ev: Healthy) -> None:
        self._health_restarts = 0

    _handlers = {
        StartRequested: _on_start,
        StopRequested: _on_stop,
        Spawned: _on_spawned,
        SpawnFailed: _on_spawn_failed,
        Exited: _on_exited,
        TimerFired: _on_timer,
        Ready: _on_ready,
        Unhealthy: _on_unhealthy,
        Healthy: _on_healthy,
    }

    # --- steps --------------------------------------------------------------

    def _start_timer(self) -> str:
        """The timer that ends STARTING: the ready timeout, or startsecs."""
        return "ready" if self.config.ready is not None else "startsecs"

    def _reach_running(self, reason: str, now: float) -> None:
        self._transition(S.RUNNING, reason, now)
        self._failures = 0  # as supervisor: reaching RUNNING forgives failed starts

    def _start_failed(self, what: str, now: float, cancel_startsecs: bool) -> None:
        """A start that died before startsecs: retry after 1 s, 2 s, 3 s ... or give up."""
        self._failures += 1
        if self._failures > self.config.startretries:
            # STARTING -> FATAL
            self._transition(S.FATAL, f"{what}; gave up after {self._failures} tries", now)
        else:
            # STARTING -> BACKOFF
            reason = f"{what}; retry {self._failures} of {self.config.startretries}"
            self._transition(S.BACKOFF, f"{reason} in {self._failures}s", now)
        if cancel_startsecs:
            self._out.append(Cancel(self._start_timer()))
        if self.state is S.BACKOFF:
            self._out.append(Schedule("backoff", float(self._failures)))

    def _job_exited(self, ev: Exited, what: str) -> None:
        """A oneshot's exit: completed with a code in exitcodes (never restarted), else
        a failed start (BACKOFF, retries, FATAL)."""
        if ev.exitstatus in self.config.exitcodes:
            self.last_exit_expected = True
            self._failures = 0
            # STARTING -> EXITED
            self._transition(S.EXITED, f"completed ({what})", ev.now)
        else:
            self.last_exit_expected = False
            self._start_failed(f"{what} (unexpected)", ev.now, cancel_startsecs=False)

    def completed(self) -> bool | None:
        """A oneshot at rest after a run: True completed, False failed for good; None
        while it has not finished (or is not a oneshot)."""
        if not self.config.oneshot:
            return None
        if self.state is S.EXITED:
            return bool(self.last_exit_expected)
        if self.state is S.FATAL and self.exitstatus is not None and self.spawn_error is None:
            return False
        return None

    def _health_stopped(self, what: str, now: float) -> None:
        """The child a health (or watchdog) restart stopped has exited: start it again,
        at once the first time in a row, then after 1 s, 2 s, 4 s ... capped at
        backoff_max, as a crash loop; or, past startretries in a row, give up."""
        if self._give_up is not None:
            reason, self._give_up = self._give_up, None
            # STOPPING -> FATAL
            self._transition(S.FATAL, reason, now)
            return
        reason, self._restart_for = self._restart_for, None
        n, cap = self._health_restarts, float(self.config.backoff_max)
        if n <= 1 or cap <= 0:
            # STOPPING -> STOPPED -> STARTING: the second half of a health restart
            self._transition(S.STOPPED, f"stopped ({what})", now)
            self.restarts += 1
            self._transition(S.STARTING, f"restarting: {reason}", now)
            self._out.append(Spawn())
            return
        delay = min(2.0 ** min(n - 2, 62), cap)
        retries = self.config.startretries
        # STOPPING -> BACKOFF: health restarts in a row back off (the timer restarts it)
        self._transition(S.BACKOFF, f"{reason}; health restart {n} of {retries} in {delay:g}s", now)
        self._out.append(Schedule("backoff", delay))

    def _running_exited(self, ev: Exited, what: str) -> None:
        """Apply autorestart, with the crash-loop backoff, to a RUNNING process's exit."""
        cfg = self.config
        expected = ev.exitstatus in cfg.exitcodes
        self.last_exit_expected = expected
        # RUNNING -> EXITED
        self._transition(S.EXITED, f"{what} ({'expected' if expected else 'unexpected'})", ev.now)
        if cfg.autorestart == "unexpected":
            restart = not expected
        else:
            restart = bool(cfg.autorestart)
        if not restart:
            return
        assert self.started_at is not None
        if ev.now - self.started_at >= cfg.backoff_reset:
            self._streak = 0  # a stable run: forget earlier crashes
        if self._streak == 0 or cfg.backoff_max <= 0:
            self._streak += 1
            self.restarts += 1
            # EXITED -> STARTING
            self._transition(S.STARTING, "autorestart", ev.now)
            self._out.append(Spawn())
        else:
            delay = min(2.0 ** min(self._streak - 1, 62), float(cfg.backoff_max))
            self._streak += 1
            # EXITED -> BACKOFF (a crash-loop wait, not a failed start)
            self._transition(S.BACKOFF, f"crash loop: restart in {delay:g}s", ev.now)
            self._out.append(Schedule("backoff", delay))

    def _transition(self, new: ProcessState, reason: str, now: float) -> None:
        """Take one edge of LEGAL_EDGES: record it in history and emit StateChanged."""
        old = self.state
        if new not in LEGAL_EDGES[old]:
            raise IllegalTransition(f"{old.value} -> {new.value} ({reason})")
        self.state = new
        self.history.append(Transition(old, new, reason, now))
        del self.history[:-HISTORY_LEN]
        if new in (S.STOPPED, S.EXITED, S.FATAL):
            self.stopped_at = now
        self._out.append(StateChanged(old, new, reason))
