"""The pure cores of readiness and health: the machine's Ready/Unhealthy histories, the
failure streak, the probe schedule, the log matcher and sd_notify parsing."""

from __future__ import annotations

import signal
from unittest.mock import ANY

import pytest

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.config.probes import ProbeConfig
from supervisord_lite.core.states import (
    Cancel,
    Exited,
    ProcessMachine,
    ProcessState,
    Ready,
    Schedule,
    SendSignal,
    Spawn,
    Spawned,
    StartRequested,
    StateChanged,
    StopRequested,
    TimerFired,
    Unhealthy,
)
from supervisord_lite.probes.attempts import HealthTracker, LogMatcher, next_delay
from supervisord_lite.probes.notify_socket import parse

pytestmark = pytest.mark.timeout(30)

S = ProcessState
TERM, KILL = int(signal.SIGTERM), int(signal.SIGKILL)
NOTIFY = ProbeConfig("notify", True, 0.5, 5.0)


def to(old, new):
    return StateChanged(old, new, ANY)


def machine(**config) -> ProcessMachine:
    config.setdefault("ready", NOTIFY)
    return ProcessMachine(ProgramConfig(name="web", command=("true",), **config))


def started(m: ProcessMachine, pid: int = 10, now: float = 0.0) -> list:
    m.handle(StartRequested(now))
    return m.handle(Spawned(pid, now))


def test_ready_replaces_startsecs():
    m = machine(startsecs=0)
    assert started(m) == [Schedule("ready", 5.0)]
    assert m.state is S.STARTING
    assert m.handle(TimerFired("startsecs", 1.0)) == []  # no such timer with ready
    assert m.handle(Ready("READY=1", 1.0)) == [Cancel("ready"), to(S.STARTING, S.RUNNING)]
    assert m.history[-1].reason == "ready: READY=1"
    assert m.handle(Ready("again", 2.0)) == []  # only STARTING waits for it


def test_not_ready_in_time_stops_the_child_then_backs_off_then_fatal():
    m = machine(startretries=1, stopwaitsecs=2)
    started(m)
    assert m.handle(TimerFired("ready", 5.0)) == [SendSignal(TERM), Schedule("stopwait", 2.0)]
    assert m.state is S.STARTING
    assert m.handle(Ready("too late", 5.5)) == []  # its time is up
    assert m.handle(TimerFired("stopwait", 7.0)) == [SendSignal(KILL)]
    effects = m.handle(Exited(-KILL, 7.1))
    assert effects == [
        Cancel("stopwait"),
        to(S.STARTING, S.BACKOFF),
        Cancel("ready"),
        Schedule("backoff", 1.0),
    ]
    assert m.history[-1].reason.startswith(
        "not ready within 5s: waiting for READY=1 (sd_notify); killed by SIGKILL; retry 1 of 1"
    )
    m.handle(TimerFired("backoff", 8.1))
    m.handle(Spawned(11, 8.1))
    m.handle(TimerFired("ready", 13.1))
    assert m.handle(Exited(-TERM, 13.2))[1] == to(S.STARTING, S.FATAL)


def test_exit_before_ready_says_so():
    m = machine(startretries=0)
    started(m)
    m.handle(Exited(1, 0.5))
    assert m.state is S.FATAL
    assert m.history[-1].reason.startswith("exit status 1 before ready")


def test_stop_while_waiting_for_ready_cancels_the_ready_timer():
    m = machine()
    started(m)
    assert m.handle(StopRequested(1.0)) == [
        to(S.STARTING, S.STOPPING),
        Cancel("ready"),
        SendSignal(TERM),
        Schedule("stopwait", 10.0),
    ]


def test_unhealthy_restarts_through_stopping_and_counts():
    m = machine(ready=None, startsecs=0, stopwaitsecs=3)
    started(m)
    assert m.state is S.RUNNING
    assert m.handle(Unhealthy("http down", 20.0)) == [
        to(S.RUNNING, S.STOPPING),
        SendSignal(TERM),
        Schedule("stopwait", 3.0),
    ]
    assert m.handle(Unhealthy("again", 20.5)) == []
    assert m.handle(Exited(-TERM, 21.0)) == [
        Cancel("stopwait"),
        to(S.STOPPING, S.STOPPED),
        to(S.STOPPED, S.STARTING),
        Spawn(),
    ]
    assert m.restarts == 1
    assert m.history[-1].reason == "restarting: http down"


def test_a_manual_stop_during_a_health_restart_wins():
    m = machine(ready=None, startsecs=0)
    started(m)
    m.handle(Unhealthy("down", 1.0))
    assert m.handle(StopRequested(1.5)) == []
    assert m.handle(Exited(-TERM, 2.0)) == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]
    assert m.state is S.STOPPED and m.restarts == 0


def test_health_tracker_history():
    t = HealthTracker(failures=3)
    assert (t.health, t.reason) == (None, None)
    assert t.record(True, "ok") == []  # first success: no event
    assert t.health == "healthy"
    assert t.record(False, "refused") == ["unhealthy"]
    assert t.reason == "refused (1 of 3 in a row)"
    assert t.record(False, "refused") == []
    assert t.record(True, "ok") == ["healthy"]  # the streak is broken
    assert t.record(False, "a") == ["unhealthy"]
    assert t.record(False, "b") == []
    assert t.record(False, "c") == ["restart"]
    assert t.reason == "c (3 of 3 in a row)"
    assert t.record(False, "d") == []  # a new count after a restart
    assert t.streak == 1


def test_failures_one_restarts_on_the_first_failure():
    assert HealthTracker(failures=1).record(False, "x") == ["unhealthy", "restart"]


def test_next_delay():
    assert next_delay(started=10.0, interval=1.0, now=10.2) == pytest.approx(0.8)
    assert next_delay(started=10.0, interval=1.0, now=12.0) == 0.0  # a slow probe


def test_log_matcher_lines_split_across_reads():
    hits = []
    m = LogMatcher(r"^Ready to accept", hits.append)
    m.feed(b"starting\nRea")
    assert hits == []
    m.feed(b"dy to accept connections\r\nmore\n")
    assert hits == ["Ready to accept connections"]
    m.feed(b"Ready to accept again\n")
    assert len(hits) == 1  # once


def test_log_matcher_bounds_an_endless_line():
    hits = []
    m = LogMatcher("needle", hits.append)
    m.feed(b"x" * (LogMatcher.MAX_LINE + 10) + b"needle")
    assert len(m.partial) <= LogMatcher.MAX_LINE


@pytest.mark.parametrize(
    "data, want",
    [
        (b"READY=1", {"READY": "1"}),
        (b"READY=1\nSTATUS=up: 3 workers\n", {"READY": "1", "STATUS": "up: 3 workers"}),
        (b"STATUS=", {"STATUS": ""}),
        (b"READY", None),
        (b"=1", None),
        (b"READY=1\x00", None),
        (b"READY=\xff", None),
    ],
)
def test_parse_notify(data, want):
    assert parse(data) == want
