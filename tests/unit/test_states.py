"""Scripted event histories for the process state machine, on a fake clock."""

from __future__ import annotations

import signal
from unittest.mock import ANY

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.states import (
    HISTORY_LEN,
    LEGAL_EDGES,
    LIVE_STATES,
    Cancel,
    Exited,
    Healthy,
    IllegalTransition,
    ProcessMachine,
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
    Unhealthy,
)

pytestmark = pytest.mark.timeout(30)

S = ProcessState
TERM, KILL = int(signal.SIGTERM), int(signal.SIGKILL)


def to(old: ProcessState, new: ProcessState) -> StateChanged:
    """A StateChanged matching any reason."""
    return StateChanged(old, new, ANY)


class Fake:
    """A fake loop: a clock, the machine, and the timers its effects left pending."""

    def __init__(self, **config):
        self.m = ProcessMachine(ProgramConfig(name="web", command=("true",), **config))
        self.now = 1000.0
        self.timers: dict[str, float] = {}  # name -> deadline
        self.next_pid = 100

    def send(self, event):
        effects = self.m.handle(event)
        for e in effects:
            if isinstance(e, Schedule):
                self.timers[e.timer] = self.now + e.delay
            elif isinstance(e, Cancel):
                self.timers.pop(e.timer, None)
        return effects

    def start(self):
        return self.send(StartRequested(self.now))

    def stop(self):
        return self.send(StopRequested(self.now))

    def spawned(self):
        self.next_pid += 1
        return self.send(Spawned(self.next_pid, self.now))

    def exited(self, status, after=0.0):
        self.now += after
        return self.send(Exited(status, self.now))

    def fire(self, timer):
        """Advance the clock to `timer`'s deadline and fire it."""
        self.now = self.timers.pop(timer)
        return self.send(TimerFired(timer, self.now))

    def delay(self, timer):
        return self.timers[timer] - self.now

    def run(self):
        """Start and reach RUNNING (startsecs > 0)."""
        self.start()
        self.spawned()
        self.fire("startsecs")
        assert self.m.state is S.RUNNING


# --- starting ------------------------------------------------------------------


def test_start_with_startsecs_zero_is_running_at_once():
    f = Fake(startsecs=0)
    assert f.m.state is S.STOPPED and f.m.pid is None
    assert f.start() == [to(S.STOPPED, S.STARTING), Spawn()]
    assert f.spawned() == [to(S.STARTING, S.RUNNING)]
    assert f.m.pid == 101 and f.m.started_at == 1000.0 and f.m.is_running()
    assert f.timers == {}


def test_start_waits_startsecs_then_running():
    f = Fake(startsecs=5)
    f.start()
    assert f.spawned() == [Schedule("startsecs", 5)]
    assert f.m.state is S.STARTING and f.m.uptime(f.now + 2) == 2
    assert f.fire("startsecs") == [to(S.STARTING, S.RUNNING)]
    assert f.now == 1005.0 and f.m.uptime(1010.0) == 10
    assert [(t.old, t.new, t.at) for t in f.m.history] == [
        (S.STOPPED, S.STARTING, 1000.0),
        (S.STARTING, S.RUNNING, 1005.0),
    ]


def test_start_when_live_does_nothing():
    f = Fake()
    f.start()
    assert f.start() == []
    f.spawned()
    assert f.start() == []
    f.fire("startsecs")
    assert f.start() == []
    f.stop()
    assert f.start() == [] and f.m.state is S.STOPPING


def test_four_spawns_then_fatal_with_delays_1_2_3():
    f = Fake(startsecs=1)  # startretries=3 by default
    f.start()
    spawns, delays = 1, []
    while True:
        f.spawned()
        effects = f.exited(1, after=0.5)
        if f.m.state is S.FATAL:
            assert effects == [to(S.STARTING, S.FATAL), Cancel("startsecs")]
            break
        assert effects[:2] == [to(S.STARTING, S.BACKOFF), Cancel("startsecs")]
        delays.append(f.delay("backoff"))
        assert f.fire("backoff") == [to(S.BACKOFF, S.STARTING), Spawn()]
        spawns += 1
    assert (spawns, delays) == (4, [1, 2, 3])
    assert f.m.restarts == 3 and f.m.pid is None and f.m.exitstatus == 1
    assert f.m.last_exit_expected is False and f.timers == {}


def test_startretries_zero_is_fatal_after_one_spawn():
    f = Fake(startretries=0)
    f.start()
    f.spawned()
    assert f.exited(0) == [to(S.STARTING, S.FATAL), Cancel("startsecs")]


def test_spawn_failure_is_a_failed_start_and_is_recorded():
    f = Fake(startretries=1)
    f.start()
    effects = f.send(SpawnFailed("/usr/bin/x: No such file or directory", f.now))
    assert effects == [to(S.STARTING, S.BACKOFF), Schedule("backoff", 1.0)]
    assert f.m.spawn_error == "/usr/bin/x: No such file or directory"
    assert "No such file" in effects[0].reason
    f.fire("backoff")
    assert f.send(SpawnFailed("nope", f.now)) == [to(S.STARTING, S.FATAL)]
    assert f.m.state is S.FATAL and f.m.spawn_error == "nope"
    f.start()
    f.spawned()
    assert f.m.spawn_error is None


def test_reaching_running_forgives_earlier_failed_starts():
    f = Fake(startretries=1, autorestart=True, backoff_max=0)
    f.start()
    f.spawned()
    f.exited(1)  # failure 1 of 1 allowed
    f.fire("backoff")
    f.spawned()
    f.fire("startsecs")
    f.exited(1, after=5)  # RUNNING crash: restarted at once
    f.spawned()
    assert f.exited(1)[0] == to(S.STARTING, S.BACKOFF)  # failure count was reset
    assert f.delay("backoff") == 1


# --- autorestart -----------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, status, restarts",
    [
        (True, 0, True),
        (True, 3, True),
        ("unexpected", 0, False),
        ("unexpected", 3, True),
        ("unexpected", -KILL, True),
        (False, 0, False),
        (False, 3, False),
    ],
)
def test_autorestart_policy(policy, status, restarts):
    f = Fake(autorestart=policy, exitcodes=(0, 2))
    f.run()
    effects = f.exited(status, after=5)
    assert f.m.exitstatus == status and f.m.pid is None and f.m.stopped_at == f.now
    assert f.m.last_exit_expected is (status in (0, 2))
    if restarts:
        assert effects == [to(S.RUNNING, S.EXITED), to(S.EXITED, S.STARTING), Spawn()]
        assert f.m.restarts == 1
    else:
        assert effects == [to(S.RUNNING, S.EXITED)]
        assert f.m.state is S.EXITED and f.m.restarts == 0


def crash_delays(f: Fake, crashes: int, run_for: float = 2.0) -> list[float]:
    """Crash a RUNNING process `crashes` times; the wait before each restart (0 = at once)."""
    delays = []
    for _ in range(crashes):
        effects = f.exited(1, after=run_for)
        if f.m.state is S.STARTING:
            assert effects == [to(S.RUNNING, S.EXITED), to(S.EXITED, S.STARTING), Spawn()]
            delays.append(0)
        else:
            assert effects[:2] == [to(S.RUNNING, S.EXITED), to(S.EXITED, S.BACKOFF)]
            delays.append(f.delay("backoff"))
            assert f.fire("backoff") == [to(S.BACKOFF, S.STARTING), Spawn()]
        f.spawned()
        f.fire("startsecs")
    return delays


def test_crash_loop_backs_off_1_2_4_capped():
    f = Fake(autorestart=True, backoff_max=10, backoff_reset=60)
    f.run()
    assert crash_delays(f, 7) == [0, 1, 2, 4, 8, 10, 10]
    assert f.m.restarts == 7


def test_crash_loop_backoff_is_not_a_failed_start():
    f = Fake(autorestart=True, startretries=0, backoff_max=30)
    f.run()
    assert crash_delays(f, 6) == [0, 1, 2, 4, 8, 16]
    assert f.m.state is S.RUNNING


def test_dying_before_startsecs_after_crash_restart_is_a_failed_start():
    f = Fake(autorestart=True, startretries=0)
    f.run()
    crash_delays(f, 2)
    f.exited(1, after=2)
    f.fire("backoff")  # crash-loop wait: fine
    f.spawned()
    assert f.exited(1) == [to(S.STARTING, S.FATAL), Cancel("startsecs")]


def test_backoff_max_zero_restarts_flat_out():
    f = Fake(autorestart=True, backoff_max=0)
    f.run()
    assert crash_delays(f, 5) == [0, 0, 0, 0, 0]


def test_stable_run_resets_the_crash_streak():
    f = Fake(autorestart=True, backoff_max=30, backoff_reset=60)
    f.run()
    assert crash_delays(f, 3) == [0, 1, 2]
    assert crash_delays(f, 1, run_for=60) == [0]  # a stable run: at once
    assert crash_delays(f, 2) == [1, 2]


# --- stopping ----------------------------------------------------------------------


def test_stop_running_then_exit():
    f = Fake(stopsignal=int(signal.SIGINT), stopwaitsecs=7)
    f.run()
    assert f.stop() == [
        to(S.RUNNING, S.STOPPING),
        SendSignal(int(signal.SIGINT)),
        Schedule("stopwait", 7),
    ]
    assert f.m.is_running() and f.m.uptime(f.now) == 0
    assert f.stop() == []
    assert f.exited(-int(signal.SIGINT), after=1) == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]
    assert f.m.pid is None and f.m.exitstatus == -int(signal.SIGINT) and f.timers == {}
    assert f.m.restarts == 0


def test_stop_starting_cancels_startsecs():
    f = Fake(autorestart=True)
    f.start()
    f.spawned()
    assert f.stop() == [
        to(S.STARTING, S.STOPPING),
        Cancel("startsecs"),
        SendSignal(TERM),
        Schedule("stopwait", 10),
    ]
    assert f.timers == {"stopwait": f.now + 10}
    assert f.exited(0) == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]  # never restarts


def test_stopwait_escalates_to_sigkill():
    f = Fake(stopwaitsecs=10)
    f.run()
    f.stop()
    assert f.fire("stopwait") == [SendSignal(KILL)]
    assert f.m.state is S.STOPPING
    assert f.exited(-KILL, after=0.1) == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]


def test_stop_in_backoff_cancels_the_pending_restart():
    f = Fake()
    f.start()
    f.spawned()
    f.exited(1)
    assert f.stop() == [to(S.BACKOFF, S.STOPPED), Cancel("backoff")]
    assert f.timers == {}


@pytest.mark.parametrize("setup", ["stopped", "exited", "fatal"])
def test_stop_when_not_live_does_nothing(setup):
    f = Fake(autorestart=False, startretries=0)
    if setup != "stopped":
        f.start()
        f.spawned()
        if setup == "exited":
            f.fire("startsecs")
        f.exited(0)
    assert f.m.state.value == setup.upper()
    assert f.stop() == []


def test_stop_overtaking_the_spawn():
    f = Fake()
    f.start()
    assert f.stop() == [to(S.STARTING, S.STOPPING), Schedule("stopwait", 10)]
    assert f.spawned() == [SendSignal(TERM)]
    f.exited(-TERM)
    assert f.m.state is S.STOPPED
    f.start()
    f.stop()
    assert f.send(SpawnFailed("x", f.now)) == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]


# --- manual start resets, stray events, errors ----------------------------------------


def test_manual_start_resets_counters_and_cancels_backoff():
    f = Fake(autorestart=True)
    f.run()
    crash_delays(f, 3)
    f.exited(1, after=1)
    assert f.m.state is S.BACKOFF and f.m.restarts == 3
    assert f.start() == [to(S.BACKOFF, S.STARTING), Cancel("backoff"), Spawn()]
    assert f.m.restarts == 0 and f.timers == {}
    f.spawned()
    f.fire("startsecs")
    assert crash_delays(f, 2) == [0, 1]  # streak was reset too


def test_manual_start_from_fatal_gets_all_retries_again():
    f = Fake(startretries=1)
    for _ in range(2):
        f.start()
        f.spawned()
        f.exited(1)
        f.fire("backoff")
        f.spawned()
        assert f.exited(1)[0] == to(S.STARTING, S.FATAL)


@pytest.mark.parametrize("timer", ["startsecs", "backoff", "stopwait", "bogus"])
def test_stray_timers_and_exits_are_ignored(timer):
    f = Fake()
    assert f.send(TimerFired(timer, f.now)) == []
    assert f.send(Exited(0, f.now)) == []
    assert f.send(Spawned(5, f.now)) == []
    f.run()
    assert f.send(TimerFired(timer, f.now)) == []
    assert f.send(Spawned(6, f.now)) == [] and f.m.pid == 101
    assert f.m.state is S.RUNNING


def test_illegal_edge_raises():
    m = ProcessMachine(ProgramConfig(name="web", command=("true",)))
    with pytest.raises(IllegalTransition, match="STOPPED -> RUNNING"):
        m._transition(S.RUNNING, "bug", 0.0)
    with pytest.raises(TypeError):
        m.handle(object())


def test_history_keeps_the_last_50():
    f = Fake(autorestart=True, backoff_max=0)
    f.run()
    crash_delays(f, 40)
    assert len(f.m.history) == HISTORY_LEN
    assert f.m.history[-1].new is S.RUNNING and f.m.history[-1].at == f.now


# --- health restarts ------------------------------------------------------------------


def health_restart(f: Fake, after: float = 5.0) -> list:
    """RUNNING, a health verdict to restart, and the stopped child's exit."""
    f.now += after
    f.send(Unhealthy("unhealthy: GET /: 503", f.now))
    assert f.m.state is S.STOPPING
    return f.exited(-TERM, after=0.1)


def test_health_restarts_in_a_row_back_off_like_a_crash_loop():
    f = Fake(startretries=5, backoff_max=3)
    f.run()
    assert health_restart(f) == [
        Cancel("stopwait"),
        to(S.STOPPING, S.STOPPED),
        to(S.STOPPED, S.STARTING),  # the first one at once, as before
        Spawn(),
    ]
    delays = []
    for _ in range(4):
        f.spawned()
        f.fire("startsecs")
        assert health_restart(f)[-1] == Schedule("backoff", ANY)
        assert f.m.state is S.BACKOFF and f.m.pid is None
        delays.append(f.delay("backoff"))
        assert f.fire("backoff") == [to(S.BACKOFF, S.STARTING), Spawn()]
    assert delays == [1.0, 2.0, 3.0, 3.0]  # capped at backoff_max
    assert f.m.restarts == 5
    backoffs = [t.reason for t in f.m.history if t.new is S.BACKOFF]
    assert backoffs[0] == "unhealthy: GET /: 503; health restart 2 of 5 in 1s", backoffs


def test_past_startretries_health_restarts_in_a_row_is_fatal_with_the_reason():
    f = Fake(startretries=1, backoff_max=0)
    f.run()
    health_restart(f)  # restart 1 of 1, at once
    f.spawned()
    f.fire("startsecs")
    f.now += 5
    f.send(Unhealthy("unhealthy: GET /: 503", f.now))
    assert f.m.history[-1].reason == "giving up: unhealthy: GET /: 503"
    assert f.exited(-TERM, after=0.1) == [Cancel("stopwait"), to(S.STOPPING, S.FATAL)]
    assert f.m.history[-1].reason == (
        "unhealthy: GET /: 503; gave up after 1 health restart in a row without a healthy probe"
    )
    assert f.start()[-1] == Spawn()  # a manual start gets every retry again
    assert f.m._health_restarts == 0


def test_a_healthy_probe_in_between_ends_the_run_of_restarts():
    f = Fake(startretries=1, backoff_max=10)
    f.run()
    for _ in range(5):  # never FATAL, never a backoff: each new child proved healthy
        assert health_restart(f)[-1] == Spawn()
        f.spawned()
        f.fire("startsecs")
        f.send(Healthy(f.now))
    assert f.m.state is S.RUNNING and f.m.restarts == 5


def test_a_manual_stop_wins_over_giving_up_and_over_the_backoff():
    f = Fake(startretries=0)
    f.run()
    f.send(Unhealthy("sick", f.now))
    f.stop()
    assert f.exited(-TERM)[-2:] == [to(S.STOPPING, S.STOPPED), Cancel("stopwait")]
    f = Fake(startretries=3, backoff_max=5)
    f.run()
    health_restart(f)
    f.spawned()
    f.fire("startsecs")
    health_restart(f)
    assert f.m.state is S.BACKOFF
    assert f.stop() == [to(S.BACKOFF, S.STOPPED), Cancel("backoff")]


def test_legal_edges_cover_every_state():
    assert set(LEGAL_EDGES) == set(S)
    assert all(s.value == s.name for s in S)


# --- property ------------------------------------------------------------------------

events = st.one_of(
    st.builds(StartRequested, now=st.just(0.0)),
    st.builds(StopRequested, now=st.just(0.0)),
    st.builds(Spawned, pid=st.integers(1, 1000), now=st.just(0.0)),
    st.builds(SpawnFailed, reason=st.just("boom"), now=st.just(0.0)),
    st.builds(Exited, exitstatus=st.integers(-15, 3), now=st.just(0.0)),
    st.builds(
        TimerFired, timer=st.sampled_from(["startsecs", "backoff", "stopwait"]), now=st.just(0.0)
    ),
    st.builds(Unhealthy, reason=st.just("sick"), now=st.just(0.0)),
    st.builds(Healthy, now=st.just(0.0)),
)


@settings(max_examples=300, deadline=None)
@given(
    history=st.lists(st.tuples(events, st.floats(0, 100)), max_size=60),
    autorestart=st.sampled_from([True, False, "unexpected"]),
    startsecs=st.sampled_from([0, 1]),
    startretries=st.integers(0, 3),
    backoff_max=st.sampled_from([0, 5]),
)
def test_random_histories_keep_the_invariants(
    history, autorestart, startsecs, startretries, backoff_max
):
    cfg = ProgramConfig(
        name="p",
        command=("true",),
        autorestart=autorestart,
        startsecs=startsecs,
        startretries=startretries,
        backoff_max=backoff_max,
    )
    m = ProcessMachine(cfg)
    now = 0.0
    for event, dt in history:
        now += dt
        old = m.state
        effects = m.handle(event.replace(now=now))
        assert isinstance(m.state, ProcessState)
        assert m.state in LIVE_STATES or m.pid is None
        changes = [e for e in effects if isinstance(e, StateChanged)]
        for a, b in zip([old] + [c.new for c in changes], changes):
            assert a is b.old and b.new in LEGAL_EDGES[a]
        assert m.state is (changes[-1].new if changes else old)
        assert m.uptime(now) >= 0 and len(m.history) <= HISTORY_LEN
