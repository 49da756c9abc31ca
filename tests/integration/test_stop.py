"""Stopping: escalation to SIGKILL, stopsignal, process groups, numprocs, unknown names."""

from __future__ import annotations

import time

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(30)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def read_pid(path) -> int:
    return int(path.read_text().strip())


def test_stop_escalates_to_sigkill(daemon):
    daemon.start(
        {"stubborn": {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 1}}
    )
    pid = daemon.wait_state("stubborn", "RUNNING")["pid"]
    daemon.wait_until(lambda: "ready" in daemon.read_log("stubborn"), 5, message="child ready")
    t0 = time.monotonic()
    res = daemon.ctl("stop", "stubborn")
    took = time.monotonic() - t0
    assert res.returncode == 0, daemon.describe(res)
    assert 0.9 <= took < 4, f"stop took {took:.2f}s with stopwaitsecs = 1"
    assert not alive(pid)
    obj = daemon.status("stubborn")["stubborn"]
    assert obj["state"] == "STOPPED"
    assert obj["exitstatus"] == -9


def test_stopsignal_respected(daemon):
    cmd = helper("sigwait", "--exit-on", "INT")
    daemon.start({"web": {"command": cmd, "startsecs": 0, "stopsignal": "INT", "stopwaitsecs": 10}})
    pid = daemon.wait_state("web", "RUNNING")["pid"]
    daemon.wait_until(lambda: "ready" in daemon.read_log("web"), 5, message="child ready")
    t0 = time.monotonic()
    daemon.ctl_ok("stop", "web")
    took = time.monotonic() - t0
    assert took < 5, f"stop took {took:.2f}s: was SIGINT sent at all?"
    assert not alive(pid)
    log = daemon.read_log("web")
    assert "got SIGINT" in log
    assert "got SIGTERM" not in log
    assert daemon.status("web")["web"]["exitstatus"] == 0


def test_stopsignal_by_full_name(daemon):
    cmd = helper("sigwait", "--exit-on", "USR1")
    daemon.start({"web": {"command": cmd, "startsecs": 0, "stopsignal": "SIGUSR1"}})
    daemon.wait_state("web", "RUNNING")
    daemon.wait_until(lambda: "ready" in daemon.read_log("web"), 5, message="child ready")
    daemon.ctl_ok("stop", "web")
    assert "got SIGUSR1" in daemon.read_log("web")


@pytest.mark.parametrize("ignores_term", [False, True], ids=["plain", "grandchild-ignores-term"])
def test_no_grandchild_survives_stop(daemon, ignores_term):
    gpid_file = daemon.path("grandchild.pid")
    cmd = helper("grandchild", "--pidfile", gpid_file)
    if ignores_term:
        cmd.append("--grandchild-ignores-term")
    daemon.start({"tree": {"command": cmd, "startsecs": 0, "stopwaitsecs": 1}})
    pid = daemon.wait_state("tree", "RUNNING")["pid"]
    gpid = daemon.wait_until(lambda: gpid_file.exists() and read_pid(gpid_file), 10)
    assert alive(gpid)
    assert psutil.Process(gpid).ppid() == pid
    daemon.ctl_ok("stop", "tree")
    assert not alive(pid)
    # stop returns once the program is stopped; the group went with it.
    daemon.wait_until(lambda: not alive(gpid), 2, message=f"grandchild {gpid} to be gone")


def test_leftover_group_killed_when_main_exits(daemon):
    """SPEC §3: when the main process exits on its own, the rest of its group is killed."""
    gpid_file = daemon.path("grandchild.pid")
    cmd = helper("grandchild", "--pidfile", gpid_file, "--grandchild-ignores-term")
    cmd += ["--exit-after", "0.5"]
    daemon.start({"tree": {"command": cmd, "startsecs": 0, "autorestart": False}})
    gpid = daemon.wait_until(lambda: gpid_file.exists() and read_pid(gpid_file), 10)
    obj = daemon.wait_state("tree", "EXITED", timeout=10)
    assert obj["exitstatus"] == 1
    daemon.wait_until(lambda: not alive(gpid), 3, message=f"leftover grandchild {gpid} killed")


def test_numprocs_names_and_stop_by_program(daemon):
    daemon.start({"web": {"command": helper("sigwait"), "startsecs": 0, "numprocs": 2}})
    daemon.wait_state("web:0", "RUNNING")
    daemon.wait_state("web:1", "RUNNING")
    st = daemon.status()
    assert set(st) == {"web:0", "web:1"}
    assert st["web:0"]["program"] == "web" and st["web:1"]["program"] == "web"
    assert st["web:0"]["pid"] != st["web:1"]["pid"]
    pids = [st["web:0"]["pid"], st["web:1"]["pid"]]

    res = daemon.ctl("stop", "web")
    assert res.returncode == 0, daemon.describe(res)
    st = daemon.status()
    assert st["web:0"]["state"] == "STOPPED" and st["web:1"]["state"] == "STOPPED"
    assert not any(alive(p) for p in pids)
    assert daemon.ctl("status", "web").returncode == 3

    daemon.ctl_ok("start", "web:1")
    st = daemon.status()
    assert st["web:1"]["state"] == "RUNNING"
    assert st["web:0"]["state"] == "STOPPED"
    assert daemon.ctl("status", "web:1").returncode == 0
    assert daemon.ctl("status", "web").returncode == 3
    assert set(daemon.status("web")) == {"web:0", "web:1"}


def test_status_unknown_name(daemon):
    daemon.start({"web": {"command": helper("sigwait"), "startsecs": 0}})
    daemon.wait_state("web", "RUNNING")
    res = daemon.ctl("status", "nosuch")
    assert res.returncode != 0
    assert "no such process" in (res.stdout + res.stderr).lower()
    assert "Traceback" not in res.stderr
    # A known name next to an unknown one: still not all RUNNING.
    assert daemon.ctl("status", "web", "nosuch").returncode != 0


def test_stop_already_stopped_is_ok(daemon):
    daemon.start({"web": {"command": helper("sigwait"), "startsecs": 0, "autostart": False}})
    assert daemon.state("web") == "STOPPED"
    res = daemon.ctl("stop", "web")
    assert res.returncode in (0, 1), daemon.describe(res)
    assert "Traceback" not in res.stderr
    assert daemon.state("web") == "STOPPED"
