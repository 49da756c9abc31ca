"""Start and stop order: priority and depends_on (SPEC §3 "Order")."""

from __future__ import annotations

import time

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(40)


def events(path):
    """{(event, name): time} from the shared marker file; first occurrence wins."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            ev, name, t, _pid = line.split()
            out.setdefault((ev, name), float(t))
    return out


def prog(m, name, **extra):
    p = {
        "command": helper("sigwait", "--mark", m, "--name", name, "--stop-delay", 0.3),
        "startsecs": 0,
        "stopwaitsecs": 5,
    }
    p.update(extra)
    return p


def test_priority_start_order(daemon):
    m = daemon.path("marks")
    # Written in the wrong order on purpose: the table order must not matter.
    daemon.start(
        {
            "c": prog(m, "c", priority=300),
            "a": prog(m, "a", priority=100),
            "b": prog(m, "b", priority=200),
        }
    )
    st = {n: daemon.wait_state(n, "RUNNING") for n in "abc"}
    # Spawned in priority order: with sequential pid allocation, the pids tell the order
    # of the fork()s (the children's own start marks race with each other).
    pids = [st[n]["pid"] for n in "abc"]
    ctimes = [psutil.Process(p).create_time() for p in pids]
    assert ctimes == sorted(ctimes), f"create times {ctimes} for a, b, c"
    if max(pids) - min(pids) < 10_000:  # no pid wrap-around in between
        assert pids == sorted(pids), f"pids {pids} for a (100), b (200), c (300)"


def test_priority_stop_order_on_shutdown(daemon):
    m = daemon.path("marks")
    dpid = daemon.start(
        {
            "a": prog(m, "a", priority=100),
            "b": prog(m, "b", priority=200),
            "c": prog(m, "c", priority=300),
        }
    )
    for n in "abc":
        daemon.wait_state(n, "RUNNING")
    daemon.wait_until(lambda: len([k for k in events(m) if k[0] == "start"]) == 3, 5)
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not psutil.pid_exists(dpid), 15, message="daemon exit")
    ev = events(m)
    begin = {n: ev[("stop-begin", n)] for n in "abc"}
    # Higher priority stops first: c, then b, then a.
    assert begin["c"] <= begin["b"] <= begin["a"], f"stop signals received at {begin}"


def test_depends_on_waits_for_running(daemon):
    m = daemon.path("marks")
    daemon.start(
        {
            "app": prog(m, "app", depends_on=["db"], priority=1),
            # 3 s: the status right after launch must still find db STARTING on a
            # loaded machine.
            "db": prog(m, "db", startsecs=3, priority=999),
        }
    )
    # Ready does not wait for dependents: right now db is STARTING and app not spawned.
    st = daemon.status()
    assert st["db"]["state"] == "STARTING", st
    assert st["app"]["state"] != "RUNNING" and st["app"]["pid"] is None, st
    daemon.wait_state("app", "RUNNING", timeout=10)
    db = daemon.status("db")["db"]
    assert db["state"] == "RUNNING"
    ev = events(m)
    gap = ev[("start", "app")] - ev[("start", "db")]
    assert gap >= 2.8, f"app started {gap:.2f}s after db, whose startsecs = 3"


def test_depends_on_stop_order(daemon):
    m = daemon.path("marks")
    dpid = daemon.start(
        {
            # priorities alone would stop db first: depends_on must win.
            "db": prog(m, "db", priority=900),
            "app": prog(m, "app", depends_on=["db"], priority=10),
        }
    )
    daemon.wait_state("app", "RUNNING", timeout=10)
    daemon.wait_until(lambda: ("start", "app") in events(m), 5)
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not psutil.pid_exists(dpid), 15, message="daemon exit")
    ev = events(m)
    assert ev[("stop-end", "app")] <= ev[("stop-begin", "db")], (
        f"db signalled before its dependent app had exited: {ev}"
    )


def test_stop_all_respects_depends_on(daemon):
    m = daemon.path("marks")
    daemon.start(
        {
            "db": prog(m, "db"),
            "app": prog(m, "app", depends_on=["db"]),
        }
    )
    daemon.wait_state("app", "RUNNING", timeout=10)
    daemon.wait_until(lambda: ("start", "app") in events(m), 5)
    t0 = time.monotonic()
    daemon.ctl_ok("stop", "all")
    took = time.monotonic() - t0
    ev = events(m)
    assert ev[("stop-end", "app")] <= ev[("stop-begin", "db")], ev
    assert took >= 0.5, f"stop all took {took:.2f}s: two 0.3 s stops in sequence"
    assert {o["state"] for o in daemon.status().values()} == {"STOPPED"}
