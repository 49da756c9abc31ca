"""The state machine's oneshot edges (docs/states.md, docs/lifecycle.md): scripted
histories on a fake clock."""

from __future__ import annotations

import pytest
from unit.test_states import Fake, to

from supervisord_lite.core.states import LEGAL_EDGES, ProcessState, Schedule, Spawn, SpawnFailed

pytestmark = pytest.mark.timeout(30)

S = ProcessState


def test_a_job_stays_starting_until_it_exits_then_is_completed():
    f = Fake(oneshot=True, startsecs=5)
    assert f.start() == [to(S.STOPPED, S.STARTING), Spawn()]
    assert f.spawned() == []  # no startsecs, no ready timer: the exit decides
    assert f.m.state is S.STARTING and f.timers == {}
    assert f.exited(0, after=30) == [to(S.STARTING, S.EXITED)]
    assert f.m.completed() is True and f.m.last_exit_expected is True
    assert f.m.restarts == 0 and f.timers == {}
    assert "completed (exit status 0)" in f.m.history[-1].reason


def test_a_job_is_not_restarted_whatever_autorestart_says():
    f = Fake(oneshot=True, autorestart=True, exitcodes=(0, 2))
    f.start()
    f.spawned()
    assert f.exited(2) == [to(S.STARTING, S.EXITED)]
    assert f.m.state is S.EXITED and f.m.completed() is True


def test_a_failing_job_backs_off_and_retries_then_is_fatal():
    f = Fake(oneshot=True, startretries=1)
    f.start()
    f.spawned()
    assert f.exited(3) == [to(S.STARTING, S.BACKOFF), Schedule("backoff", 1.0)]
    assert f.m.completed() is None  # still trying
    f.fire("backoff")
    f.spawned()
    assert f.exited(3) == [to(S.STARTING, S.FATAL)]
    assert f.m.completed() is False
    assert "exit status 3 (unexpected); gave up after 2 tries" in f.m.history[-1].reason


def test_a_spawn_failure_is_not_a_completion():
    f = Fake(oneshot=True, startretries=0)
    f.start()
    f.send(SpawnFailed("no such file", f.now))
    assert f.m.state is S.FATAL and f.m.completed() is None


def test_a_job_can_be_stopped_and_started_again():
    f = Fake(oneshot=True)
    f.start()
    f.spawned()
    f.stop()
    assert f.m.state is S.STOPPING
    f.exited(-15)
    assert f.m.state is S.STOPPED and f.m.completed() is None
    f.start()
    f.spawned()
    f.exited(0)
    assert f.m.state is S.EXITED and f.m.completed() is True
    assert f.start() == [to(S.EXITED, S.STARTING), Spawn()]  # a completed job runs again


def test_only_a_job_takes_the_starting_to_exited_edge():
    assert S.EXITED in LEGAL_EDGES[S.STARTING]
    f = Fake(startsecs=5)  # not a oneshot: an early exit is a failed start
    f.start()
    f.spawned()
    f.exited(0)
    assert f.m.state is S.BACKOFF and f.m.completed() is None
