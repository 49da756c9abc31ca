"""Failures found by the stateful test (test_stateful.py), each shrunk to a plain test.

Each docstring holds the shrunk hypothesis step list it came from; docs/testing.md says how
to turn a new one into a test here.
"""

from __future__ import annotations

import socket
import time

import pytest

from integration.harness import helper
from integration.invariants import Connection, assert_consistent, assert_shutdown_leaves_nothing

pytestmark = pytest.mark.timeout(40)


def runner(**extra):
    return {"command": helper("sigwait"), "startsecs": 0, **extra}


def wait_ready(daemon, *names):
    """sigwait prints `ready` once its handlers are set: a TERM before that kills it instead."""
    daemon.wait_until(lambda: all("ready" in daemon.read_log(n) for n in names), 10)


def test_stop_all_returns_when_a_dependent_is_already_at_rest(daemon):
    """boot(kinds=['pair', 'pair', 'dependent']); send_signal('TERM', 'c'); command('stop', 'all')

    `stop all` never replied (nor did `shutdown`) once the dependent c had exited on its own.
    """
    daemon.start({"b": runner(), "c": runner(depends_on=["b"])})
    wait_ready(daemon, "b", "c")
    daemon.ctl_ok("signal", "TERM", "c")
    daemon.wait_state("c", "EXITED")
    res = daemon.ctl("stop", "all", timeout=10)
    assert res.returncode == 0, daemon.describe(res)
    assert_consistent(daemon)
    assert_shutdown_leaves_nothing(daemon, deadline=10)


def test_restart_all_replies_when_a_restart_of_one_overlaps_it(daemon):
    """boot(kinds=['pair', 'pair', 'dependent']);
    pipelined_requests([('restart', 'all'), ('restart', 'a'), ('start', 'c')])

    The `restart all` reply never came, and b was left STOPPED for good.
    """
    daemon.start({"a": runner(), "b": runner()})
    wait_ready(daemon, "a", "b")
    conns = [Connection(daemon.socket, 10), Connection(daemon.socket, 10)]
    try:
        conns[0].send(0, "restart", {"names": ["all"]})
        conns[1].send(1, "restart", {"names": ["a"]})
        deadline = time.monotonic() + 10
        replies = []
        for conn in conns:
            try:
                replies.append(conn.read_reply(deadline))
            except socket.timeout:
                replies.append(None)
    finally:
        for conn in conns:
            conn.close()
    states = {name: obj["state"] for name, obj in daemon.status().items()}
    assert replies[0] is not None, f"restart all never replied; states now {states}"
    assert replies[1] is not None, f"restart a never replied; states now {states}"
    assert states == {"a": "RUNNING", "b": "RUNNING"}, states


def test_restart_during_a_reload_that_removes_the_program_leaves_no_ghost(daemon):
    """concurrent_ctl(first='reload', second='restart', name='a', edit='remove')

    The reload removed a while `restart a` was under way; a's processes were spawned again
    after the removal: children the daemon no longer lists.
    """
    daemon.start({"a": runner(numprocs=2), "b": runner()})
    wait_ready(daemon, "a:0", "a:1", "b")
    daemon.write_config({"b": runner()})
    with daemon.ctl_in_background("reload") as reload:
        daemon.ctl("restart", "a", timeout=10)
        reload.communicate(timeout=10)
    assert_consistent(daemon, {"b"})


def test_restart_during_a_reload_that_changes_the_program_leaves_no_ghost(daemon):
    """boot(kinds=['crasher', 'crasher', 'stubborn']);
    concurrent_ctl(edit='change', first='stop', name='c', second='restart')

    (The edit makes the first command a `reload`.) A reload changed c (a TERM-ignoring
    program) while `restart c` was under way: one of the two ignore_term children was left
    running, a child of the daemon that status does not list.
    """
    stubborn = {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 0.3}
    daemon.start({"c": stubborn})
    daemon.write_config({"c": {**stubborn, "stopwaitsecs": 0.5}})
    with daemon.ctl_in_background("reload") as reload:
        daemon.ctl("restart", "c", timeout=10)
        reload.communicate(timeout=10)
    assert_consistent(daemon, {"c"})
