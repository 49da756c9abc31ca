"""Stops, starts and reloads that once hung forever or left a ghost behind (issue 11).

Each test drives the real daemon into a state a command did not expect (a member of a
stop already at rest, a dependency half way through stopping, a program reloaded while
it restarts) and asserts that every command returns and that nothing is left untracked.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from integration.harness import helper, wait_until

pytestmark = pytest.mark.timeout(60)


def runner(**extra) -> dict:
    return {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 5, **extra}


def slow_stopper(**extra) -> dict:
    """Ignores TERM: its stop takes stopwaitsecs, then SIGKILL."""
    return {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 1.5, **extra}


def daemon_children(daemon) -> set[int]:
    try:
        return {c.pid for c in psutil.Process(daemon.pid).children()}
    except psutil.NoSuchProcess:
        return set()


def tracked_pids(daemon) -> set[int]:
    return {obj["pid"] for obj in daemon.status().values() if obj["pid"]}


def assert_all_tracked(daemon) -> None:
    """Every child of the daemon is a process that status knows, and vice versa."""
    wait_until(
        lambda: daemon_children(daemon) == tracked_pids(daemon),
        5,
        message=lambda: f"children {daemon_children(daemon)} vs status {tracked_pids(daemon)}",
    )


def assert_daemon_gone_with_everything(daemon, dpid: int, timeout: float = 15) -> None:
    wait_until(lambda: not psutil.pid_exists(dpid), timeout, message="the daemon to exit")
    left = [p for p in daemon.processes() if p.pid != dpid]
    assert not left, f"left running after shutdown: {[p.pid for p in left]}"


# -------------------------------------------------- stop batches whose members are at rest


def bring_web_to_rest(daemon, how: str) -> None:
    """db runs; web (which depends on db) is left at rest in the way `how` names."""
    if how == "stopped":
        daemon.ctl_ok("stop", "web")
    elif how == "fatal":
        daemon.wait_state("web", "FATAL", timeout=10)
    elif how == "exited":
        daemon.wait_state("web", "EXITED", timeout=10)
    assert daemon.state("db") == "RUNNING"


WEB_AT_REST = {
    "stopped": runner(depends_on=["db"]),
    "autostart_false": runner(depends_on=["db"], autostart=False),
    "fatal": {
        "command": helper("exiter", "--code", 3),
        "depends_on": ["db"],
        "startsecs": 1,
        "startretries": 0,
    },
    "exited": {
        "command": helper("exiter", "--code", 0, "--delay", 0.3),
        "depends_on": ["db"],
        "startsecs": 0,
        "autorestart": False,
    },
}


@pytest.mark.parametrize("how", sorted(WEB_AT_REST))
@pytest.mark.parametrize("command", ["shutdown", "sigterm", "stop all", "restart all", "reload"])
def test_stops_finish_when_a_dependent_is_already_at_rest(daemon, how, command):
    programs = {"db": runner(), "web": WEB_AT_REST[how]}
    dpid = daemon.start(programs)
    daemon.wait_state("db", "RUNNING")
    bring_web_to_rest(daemon, how)
    db_pid = daemon.status()["db"]["pid"]
    if command == "shutdown":
        daemon.ctl_ok("shutdown", timeout=15)
        assert_daemon_gone_with_everything(daemon, dpid)
    elif command == "sigterm":
        os.kill(dpid, signal.SIGTERM)
        assert_daemon_gone_with_everything(daemon, dpid)
    elif command == "stop all":
        daemon.ctl_ok("stop", "all", timeout=15)
        assert not psutil.pid_exists(db_pid) or psutil.Process(db_pid).status() == "zombie"
    elif command == "restart all":
        res = daemon.ctl("restart", "all", timeout=15)
        # web may fail again (fatal/exited kinds), but the command returns and db restarted.
        assert res.returncode in (0, 1), daemon.describe(res)
        assert daemon.status()["db"]["pid"] not in (None, db_pid)
    elif command == "reload":
        programs["db"] = runner(environment={"EDITED": "1"})  # db changed: it must stop
        daemon.write_config(programs)
        daemon.ctl_ok("reload", timeout=15)
        daemon.wait_state("db", "RUNNING")
        assert daemon.status()["db"]["pid"] != db_pid
    if command in ("stop all", "restart all", "reload"):
        assert_all_tracked(daemon)
        daemon.ctl_ok("shutdown", timeout=15)
        assert_daemon_gone_with_everything(daemon, dpid)


def test_a_later_sigterm_still_shuts_down_after_a_stop(daemon):
    dpid = daemon.start({"db": runner(), "web": runner(depends_on=["db"])})
    daemon.wait_state("web", "RUNNING")
    daemon.ctl_ok("stop", "web")
    daemon.ctl_ok("stop", "db")
    os.kill(dpid, signal.SIGTERM)
    assert_daemon_gone_with_everything(daemon, dpid)


# -------------------------------------------------- starting while a dependency stops


def test_start_while_its_dependency_is_stopping_returns_at_once(daemon):
    dpid = daemon.start({"db": slow_stopper(stopwaitsecs=4), "web": runner(depends_on=["db"])})
    daemon.wait_state("web", "RUNNING")
    daemon.ctl_ok("stop", "web")
    with daemon.ctl_in_background("stop", "db") as stopping:
        daemon.wait_state("db", "STOPPING")
        res = daemon.ctl("start", "web", timeout=3)
        assert res.returncode == 1, daemon.describe(res)
        assert "db" in res.stdout + res.stderr and "stopping" in (res.stdout + res.stderr)
        assert not daemon.status()["web"]["description"].startswith("waiting for")
        stopping.wait(15)
    daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)


def test_a_chain_whose_root_fails_fails_all_the_way_up(daemon):
    """a -> b -> c with c FATAL: `start a` returns with an error, nothing waits forever."""
    fatal = {"command": ["/nonexistent/c"], "startsecs": 0, "startretries": 0}
    dpid = daemon.start(
        {
            "a": runner(depends_on=["b"], autostart=False, priority=1),
            "b": runner(depends_on=["c"], autostart=False, priority=2),
            "c": {**fatal, "autostart": False, "priority": 3},
        }
    )
    res = daemon.ctl("start", "a", timeout=10)
    assert res.returncode == 1, daemon.describe(res)
    for name in ("a", "b"):
        description = daemon.status()[name]["description"]
        assert not description.startswith("waiting for"), description
    daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)


# -------------------------------------------------- reload while a restart is under way


@pytest.mark.parametrize("change", ["changed", "removed"])
def test_reload_during_a_restart_leaves_no_ghost(daemon, change):
    programs = {"web": slow_stopper(), "other": runner()}
    dpid = daemon.start(programs)
    daemon.wait_state("web", "RUNNING")
    old_pid = daemon.status()["web"]["pid"]
    with daemon.ctl_in_background("restart", "web") as restart:
        daemon.wait_state("web", "STOPPING")
        if change == "changed":
            programs["web"] = slow_stopper(environment={"EDITED": "1"})
        else:
            del programs["web"]
        daemon.write_config(programs)
        daemon.ctl_ok("reload", timeout=15)
        out, _ = restart.communicate(timeout=15)
    if change == "changed":
        assert restart.returncode == 0, out
        web = daemon.wait_state("web", "RUNNING")
        assert web["pid"] != old_pid
        assert psutil.Process(web["pid"]).environ().get("EDITED") == "1"
    else:
        assert restart.returncode == 1, out
        assert "web" not in daemon.status()
    assert_all_tracked(daemon)
    daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)


def test_restart_during_a_reload_starts_the_new_settings(daemon):
    programs = {"web": slow_stopper(), "other": runner()}
    dpid = daemon.start(programs)
    old_pid = daemon.wait_state("web", "RUNNING")["pid"]
    programs["web"] = slow_stopper(environment={"EDITED": "1"})
    daemon.write_config(programs)
    with daemon.ctl_in_background("reload") as reload:
        daemon.wait_state("web", "STOPPING")
        daemon.ctl_ok("restart", "web", timeout=15)
        assert reload.wait(15) == 0
    web = daemon.wait_state("web", "RUNNING")
    assert web["pid"] != old_pid
    assert psutil.Process(web["pid"]).environ().get("EDITED") == "1"
    assert_all_tracked(daemon)
    daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)


# -------------------------------------------------- a start waiting on its dependencies


@pytest.mark.parametrize("interrupt", ["stop web", "stop db", "shutdown", "reload"])
def test_a_start_waiting_on_dependencies_always_gets_an_answer(daemon, interrupt):
    programs = {
        "db": runner(startsecs=3, autostart=False),
        "web": runner(depends_on=["db"], autostart=False),
    }
    dpid = daemon.start(programs)
    with daemon.ctl_in_background("start", "web") as start:
        wait_until(lambda: "waiting for db" in daemon.status()["web"]["description"], 5)
        if interrupt == "reload":
            programs["db"] = runner(startsecs=3, autostart=False, environment={"EDITED": "1"})
            daemon.write_config(programs)
        res = daemon.ctl(*interrupt.split(), timeout=15)
        assert res.returncode == 0, daemon.describe(res)
        out, _ = start.communicate(timeout=10)
    assert start.returncode != 0, out
    if interrupt != "shutdown":
        assert not daemon.status()["web"]["description"].startswith("waiting for")
        assert_all_tracked(daemon)
        daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)


# -------------------------------------------------- two stops of the same process at once


@pytest.mark.parametrize("first", ["stop all", "restart all", "shutdown"])
def test_a_restart_overlapping_a_batch_stop_lets_both_finish(daemon, first):
    # x keeps the batch open long enough for the restart to start web again.
    dpid = daemon.start({"db": runner(), "web": runner(depends_on=["db"]), "x": slow_stopper()})
    daemon.wait_state("web", "RUNNING")
    with daemon.ctl_in_background(*first.split()) as batch:
        daemon.wait_state("x", "STOPPING")
        res = daemon.ctl("restart", "web", timeout=15)
        out, _ = batch.communicate(timeout=15)
    # During a shutdown the restart is refused, or finds the daemon gone (4).
    assert res.returncode in ((0, 1, 4) if first == "shutdown" else (0, 1)), daemon.describe(res)
    assert batch.returncode in (0, 1), out
    if first != "shutdown":
        assert_all_tracked(daemon)
        daemon.ctl_ok("shutdown", timeout=15)
    assert_daemon_gone_with_everything(daemon, dpid)
