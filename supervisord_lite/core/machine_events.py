"""The state machine's vocabulary (docs/states.md): the states and the legal edges
between them, the events fed to a ProcessMachine, the effects it returns, and the
transitions it records. Pure values;
states.py holds the machine, and re-exports these for its callers.
"""

from __future__ import annotations

import enum
from typing import Union

from supervisord_lite.base.frozen import Frozen, _set


class ProcessState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


S = ProcessState

# The only legal edges (docs/states.md); the machine's `_transition` refuses anything
# else.
LEGAL_EDGES: dict[ProcessState, frozenset[ProcessState]] = {
    S.STOPPED: frozenset({S.STARTING}),
    # STARTING -> EXITED: a oneshot job that ran to completion (never RUNNING).
    S.STARTING: frozenset({S.RUNNING, S.BACKOFF, S.FATAL, S.STOPPING, S.EXITED}),
    S.RUNNING: frozenset({S.EXITED, S.STOPPING}),
    S.BACKOFF: frozenset({S.STARTING, S.STOPPED}),
    # STOPPING -> BACKOFF | FATAL: the stop half of a health restart, ending in its
    # backoff wait, or in giving up after startretries of them in a row.
    S.STOPPING: frozenset({S.STOPPED, S.BACKOFF, S.FATAL}),
    S.EXITED: frozenset({S.STARTING, S.BACKOFF}),
    S.FATAL: frozenset({S.STARTING}),
}

# States in which a child may be alive (pid is None in every other state).
LIVE_STATES = frozenset({S.STARTING, S.RUNNING, S.STOPPING})


# --- events -----------------------------------------------------------------
# Small immutable value classes (see base/frozen.py): slots, ==, hash, repr.


class StartRequested(Frozen):
    __slots__ = ("now",)

    def __init__(self, now: float):
        _set(self, "now", now)


class StopRequested(Frozen):
    __slots__ = ("now",)

    def __init__(self, now: float):
        _set(self, "now", now)


class Spawned(Frozen):
    __slots__ = ("pid", "now")

    def __init__(self, pid: int, now: float):
        _set(self, "pid", pid)
        _set(self, "now", now)


class SpawnFailed(Frozen):
    __slots__ = ("reason", "now")

    def __init__(self, reason: str, now: float):
        _set(self, "reason", reason)
        _set(self, "now", now)


class Exited(Frozen):
    __slots__ = ("exitstatus", "now")

    def __init__(self, exitstatus: int, now: float):
        _set(self, "exitstatus", exitstatus)  # as os.waitstatus_to_exitcode: -N = signal N
        _set(self, "now", now)


class TimerFired(Frozen):
    __slots__ = ("timer", "now")

    def __init__(self, timer: str, now: float):
        _set(self, "timer", timer)  # "startsecs" | "ready" | "backoff" | "stopwait"
        _set(self, "now", now)


class Ready(Frozen):
    """The ready probe passed (docs/health.md): STARTING -> RUNNING, instead of startsecs."""

    __slots__ = ("reason", "now")

    def __init__(self, reason: str, now: float):
        _set(self, "reason", reason)
        _set(self, "now", now)


class Unhealthy(Frozen):
    """Health failed `failures` times in a row, or the watchdog starved: restart it."""

    __slots__ = ("reason", "now")

    def __init__(self, reason: str, now: float):
        _set(self, "reason", reason)
        _set(self, "now", now)


class Healthy(Frozen):
    """A health probe passed (or, without one, a watchdog ping came): the run of health
    restarts in a row is over."""

    __slots__ = ("now",)

    def __init__(self, now: float):
        _set(self, "now", now)


Event = Union[
    StartRequested,
    StopRequested,
    Spawned,
    SpawnFailed,
    Exited,
    TimerFired,
    Ready,
    Unhealthy,
    Healthy,
]

# --- effects ----------------------------------------------------------------


class Spawn(Frozen):
    __slots__ = ()


class SendSignal(Frozen):
    __slots__ = ("signal",)

    def __init__(self, signal: int):
        _set(self, "signal", signal)


class Schedule(Frozen):
    __slots__ = ("timer", "delay")

    def __init__(self, timer: str, delay: float):
        _set(self, "timer", timer)
        _set(self, "delay", delay)  # seconds; replaces a pending timer of the same name


class Cancel(Frozen):
    __slots__ = ("timer",)

    def __init__(self, timer: str):
        _set(self, "timer", timer)


class StateChanged(Frozen):
    __slots__ = ("old", "new", "reason")

    def __init__(self, old: ProcessState, new: ProcessState, reason: str):
        _set(self, "old", old)
        _set(self, "new", new)
        _set(self, "reason", reason)


Effect = Union[Spawn, SendSignal, Schedule, Cancel, StateChanged]


class Transition(Frozen):
    __slots__ = ("old", "new", "reason", "at")

    def __init__(self, old: ProcessState, new: ProcessState, reason: str, at: float):
        _set(self, "old", old)
        _set(self, "new", new)
        _set(self, "reason", reason)
        _set(self, "at", at)
