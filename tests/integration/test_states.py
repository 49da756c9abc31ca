"""Process states and restart rules (SPEC §3): startsecs, retries, autorestart, backoff."""

from __future__ import annotations

import time

import pytest

from integration.harness import helper


def marks(path, event=None):
    """[(event, name, time, pid)] from a helper's marker file."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        ev, name, t, pid = line.split()
        if event is None or ev == event:
            out.append((ev, name, float(t), int(pid)))
    return out


@pytest.mark.timeout(30)
def test_startsecs_starting_then_running(daemon):
    # 3 s: the first status must still find it STARTING on a loaded machine.
    daemon.start({"slow": {"command": helper("sigwait"), "startsecs": 3}})
    launched = time.monotonic()
    assert daemon.state("slow") == "STARTING"
    assert daemon.ctl("status", "slow").returncode == 3
    daemon.wait_state("slow", "RUNNING", timeout=10)
    elapsed = time.monotonic() - launched
    assert elapsed >= 2.5, f"RUNNING after {elapsed:.2f}s despite startsecs = 3"

    # A manual start waits past startsecs before it answers.
    daemon.ctl_ok("stop", "slow")
    t0 = time.monotonic()
    daemon.ctl_ok("start", "slow")
    took = time.monotonic() - t0
    assert 2.8 <= took < 8, f"start returned after {took:.2f}s with startsecs = 3"
    assert daemon.state("slow") == "RUNNING"


@pytest.mark.timeout(30)
def test_immediate_exit_ends_fatal_after_retries(daemon):
    m = daemon.path("marks")
    cmd = helper("exiter", "--code", 1, "--mark", m)
    daemon.start({"crash": {"command": cmd, "startsecs": 1, "startretries": 2, "autostart": False}})
    t0 = time.monotonic()
    res = daemon.ctl("start", "crash", timeout=20)
    took = time.monotonic() - t0
    assert res.returncode == 1, daemon.describe(res)
    obj = daemon.status("crash")["crash"]
    assert obj["state"] == "FATAL"
    assert obj["pid"] is None
    assert obj["exitstatus"] == 1
    # first attempt + 2 retries, waiting 1 s then 2 s in BACKOFF
    assert len(marks(m, "start")) == 3, marks(m)
    assert 2.5 <= took < 10, f"FATAL after {took:.2f}s, expected ~3 s (1 s + 2 s of backoff)"
    starts = [t for _, _, t, _ in marks(m, "start")]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert 0.8 <= gaps[0] <= 1.8 and 1.8 <= gaps[1] <= 2.8, f"backoff gaps {gaps}"
    assert daemon.ctl("status", "crash").returncode == 3


@pytest.mark.timeout(30)
def test_fatal_then_manual_start_resets(daemon):
    m = daemon.path("marks")
    cmd = helper("exiter", "--code", 1, "--mark", m)
    daemon.start({"crash": {"command": cmd, "startsecs": 1, "startretries": 0}})
    daemon.wait_state("crash", "FATAL", timeout=10)
    assert len(marks(m, "start")) == 1
    assert daemon.ctl("start", "crash").returncode == 1
    assert daemon.state("crash") == "FATAL"
    assert len(marks(m, "start")) == 2


@pytest.mark.timeout(30)
def test_autorestart_true_restarts_after_exit_0(daemon):
    m = daemon.path("marks")
    cmd = helper("exiter", "--code", 0, "--delay", 0.4, "--mark", m)
    daemon.start({"job": {"command": cmd, "startsecs": 0.1, "autorestart": True}})
    daemon.wait_until(lambda: len(marks(m, "start")) >= 2, 10, message="a restart after exit 0")
    obj = daemon.wait_state("job", "RUNNING", "STARTING", "BACKOFF", "EXITED")
    assert obj["restarts"] >= 1, obj
    starts = marks(m, "start")
    assert starts[0][3] != starts[1][3]


@pytest.mark.timeout(30)
def test_autorestart_unexpected_and_false(daemon):
    def prog(code, **extra):
        p = {
            "command": helper(
                "exiter", "--code", code, "--delay", 0.3, "--mark", daemon.path(code)
            ),
            "startsecs": 0.1,
            "exitcodes": [0, 2],
            "autorestart": "unexpected",
        }
        p.update(extra)
        return p

    daemon.start(
        {
            "one": prog(1),  # unexpected: restarted
            "two": prog(2),  # expected: stays EXITED
            "never": prog(3, autorestart=False),
        }
    )
    # "one" restarts at once, then after 1 s of backoff: 3 spawns take > 1 s, which is
    # plenty of time for the others to have been restarted if they (wrongly) were.
    daemon.wait_until(
        lambda: len(marks(daemon.path(1), "start")) >= 3, 15, message="'one' restarted twice"
    )
    two = daemon.wait_state("two", "EXITED")
    assert two["exitstatus"] == 2
    assert two["pid"] is None
    never = daemon.wait_state("never", "EXITED")
    assert never["exitstatus"] == 3
    assert len(marks(daemon.path(2), "start")) == 1
    assert len(marks(daemon.path(3), "start")) == 1
    assert daemon.status("one")["one"]["restarts"] >= 2
    assert daemon.status("two")["two"]["restarts"] == 0


@pytest.mark.timeout(40)
def test_crash_loop_backoff_grows_and_is_capped(daemon):
    m = daemon.path("marks")
    cmd = helper("exiter", "--code", 1, "--delay", 0.4, "--mark", m)
    daemon.start(
        {
            "loop": {
                "command": cmd,
                "startsecs": 0.2,
                "autorestart": True,
                "backoff_max": 2.5,
                "backoff_reset": 60,
            }
        }
    )
    daemon.wait_until(lambda: len(marks(m, "start")) >= 5, 25, message="5 spawns")
    daemon.ctl_ok("stop", "loop")
    starts = [t for _, _, t, _ in marks(m, "start")]
    exits = [t for _, _, t, _ in marks(m, "exit")]
    gaps = [starts[i + 1] - exits[i] for i in range(4)]
    # Never restarted before: at once; then 1 s, 2 s, then 4 s capped to 2.5 s.
    expected = [0, 1, 2, 2.5]
    for got, want in zip(gaps, expected):
        assert want - 0.25 <= got <= want + 0.6, f"restart gaps {gaps}, expected ~{expected}"
    obj = daemon.status("loop")["loop"]
    assert obj["state"] == "STOPPED"
    assert obj["restarts"] >= 4


@pytest.mark.timeout(30)
def test_manual_stop_cancels_pending_backoff(daemon):
    m = daemon.path("marks")
    cmd = helper("exiter", "--code", 1, "--delay", 0.3, "--mark", m)
    daemon.start(
        {"loop": {"command": cmd, "startsecs": 0.1, "autorestart": True, "backoff_max": 5}}
    )
    # After the second exit it waits 1 s in BACKOFF.
    daemon.wait_until(lambda: len(marks(m, "exit")) >= 2, 10, message="two exits")
    daemon.wait_state("loop", "BACKOFF", "EXITED", timeout=2)
    daemon.ctl_ok("stop", "loop")
    assert daemon.state("loop") == "STOPPED"
    n = len(marks(m, "start"))
    # Past the pending restart's deadline, nothing was spawned.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert daemon.state("loop") == "STOPPED"
        time.sleep(0.1)
    assert len(marks(m, "start")) == n


@pytest.mark.timeout(30)
def test_exitstatus_of_signalled_process(daemon):
    daemon.start({"web": {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 0.5}})
    daemon.wait_state("web", "RUNNING")
    daemon.ctl_ok("stop", "web")
    obj = daemon.status("web")["web"]
    assert obj["state"] == "STOPPED"
    assert obj["exitstatus"] == -9, obj
