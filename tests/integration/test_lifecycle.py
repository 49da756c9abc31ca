"""The basic life of a daemon and one program, driven by the real ctl (SPEC §1)."""

from __future__ import annotations

import os

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(30)


def web_program(**extra):
    prog = {"command": helper("sigwait"), "startsecs": 0.2, "stopwaitsecs": 5}
    prog.update(extra)
    return {"web": prog}


def test_status_running_then_stop_start(daemon):
    daemon.start(web_program())
    obj = daemon.wait_state("web", "RUNNING")
    assert obj["program"] == "web"
    assert isinstance(obj["pid"], int) and psutil.pid_exists(obj["pid"])
    assert obj["uptime"] >= 0
    assert daemon.ctl("status").returncode == 0
    assert daemon.ctl("status", "web").returncode == 0
    first_pid = obj["pid"]

    res = daemon.ctl("stop", "web")
    assert res.returncode == 0, daemon.describe(res)
    assert "web" in res.stdout
    obj = daemon.status("web")["web"]
    assert obj["state"] == "STOPPED"
    assert obj["pid"] is None
    assert obj["uptime"] == 0
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == "zombie"
    assert daemon.ctl("status").returncode == 3
    assert daemon.ctl("status", "web").returncode == 3

    res = daemon.ctl("start", "web")
    assert res.returncode == 0, daemon.describe(res)
    obj = daemon.status("web")["web"]
    assert obj["state"] == "RUNNING"
    assert obj["pid"] and obj["pid"] != first_pid
    assert daemon.ctl("status").returncode == 0


def test_status_json_fields(daemon):
    daemon.start(web_program())
    obj = daemon.wait_state("web", "RUNNING")
    for key in ("name", "program", "state", "pid", "exitstatus", "uptime", "restarts"):
        assert key in obj, f"status --json lacks {key!r}: {obj}"
    assert "description" in obj
    assert obj["exitstatus"] is None  # never exited yet
    assert obj["restarts"] == 0
    assert isinstance(obj["uptime"], (int, float))


def test_restart_gives_new_pid(daemon):
    daemon.start(web_program())
    old = daemon.wait_state("web", "RUNNING")["pid"]
    res = daemon.ctl("restart", "web")
    assert res.returncode == 0, daemon.describe(res)
    new = daemon.status("web")["web"]
    assert new["state"] == "RUNNING"
    assert new["pid"] and new["pid"] != old
    daemon.wait_until(lambda: not psutil.pid_exists(old), 5, message="old pid to be gone")


def test_signal_hup_reaches_child(daemon):
    daemon.start(web_program())
    daemon.wait_state("web", "RUNNING")
    daemon.wait_until(lambda: "ready" in daemon.read_log("web"), 5, message="child ready in log")
    res = daemon.ctl("signal", "HUP", "web")
    assert res.returncode == 0, daemon.describe(res)
    daemon.wait_until(lambda: "got SIGHUP" in daemon.read_log("web"), 5, message="SIGHUP logged")
    # By number too; and the child keeps running.
    res = daemon.ctl("signal", "10", "web")  # SIGUSR1 on Linux
    assert res.returncode == 0, daemon.describe(res)
    daemon.wait_until(lambda: "got SIGUSR1" in daemon.read_log("web"), 5, message="SIGUSR1")
    assert daemon.state("web") == "RUNNING"


def test_signal_to_stopped_or_unknown_fails(daemon):
    daemon.start(web_program(autostart=False))
    assert daemon.ctl("signal", "HUP", "nosuch").returncode == 1
    assert daemon.ctl("signal", "HUP", "web").returncode == 1


def test_pid_of_daemon_and_process(daemon):
    dpid = daemon.start(web_program())
    res = daemon.ctl_ok("pid")
    assert int(res.stdout.strip()) == dpid
    ppid = daemon.wait_state("web", "RUNNING")["pid"]
    res = daemon.ctl_ok("pid", "web")
    assert int(res.stdout.strip()) == ppid
    assert psutil.Process(ppid).ppid() == dpid
    assert daemon.ctl("pid", "nosuch").returncode == 1


def test_version(daemon):
    daemon.start(web_program())
    res = daemon.ctl_ok("version")
    assert "0.1.0" in res.stdout


def test_start_stop_unknown_name(daemon):
    daemon.start(web_program())
    res = daemon.ctl("start", "nosuch")
    assert res.returncode == 1
    assert "no such process" in (res.stdout + res.stderr).lower()
    res = daemon.ctl("stop", "nosuch")
    assert res.returncode == 1
    assert "no such process" in (res.stdout + res.stderr).lower()


def test_stop_all_and_start_all(daemon):
    progs = web_program()
    progs["api"] = {"command": helper("sigwait"), "startsecs": 0}
    daemon.start(progs)
    daemon.wait_state("web", "RUNNING")
    daemon.wait_state("api", "RUNNING")
    daemon.ctl_ok("stop", "all")
    assert {o["state"] for o in daemon.status().values()} == {"STOPPED"}
    daemon.ctl_ok("start", "all")
    assert {o["state"] for o in daemon.status().values()} == {"RUNNING"}


def test_shutdown_leaves_nothing(daemon):
    dpid = daemon.start(web_program())
    child = daemon.wait_state("web", "RUNNING")["pid"]
    res = daemon.ctl("shutdown")
    assert res.returncode == 0, daemon.describe(res)
    daemon.wait_until(lambda: not psutil.pid_exists(dpid), 10, message="daemon to exit")
    assert not psutil.pid_exists(child)
    assert not daemon.socket.exists(), "socket left behind"
    assert not daemon.pidfile.exists(), "pidfile left behind"
    assert daemon.processes() == []
    # And now the ctl cannot reach it.
    assert daemon.ctl("status").returncode == 4


def test_child_closing_its_output_keeps_running_until_it_exits(daemon, tmp_path):
    """A pipe's end makes the daemon look for the child's exit at once (a restart
    sooner by a loop turn); a child that only closed its stdout and stderr has not
    exited: it stays RUNNING with its pid, and its real exit later is still seen."""
    go = tmp_path / "go"
    script = f"exec >&- 2>&-; while [ ! -e {go} ]; do sleep 0.05; done; exit 3"
    daemon.start({"quiet": {"command": ["sh", "-c", script], "startsecs": 0, "autorestart": False}})
    pid = daemon.wait_state("quiet", "RUNNING")["pid"]
    # Its pipes have ended by now (the shell closed them before anything else): the
    # daemon still answers, and still sees the same live child.
    daemon.wait_until(lambda: not os.path.exists(f"/proc/{pid}/fd/1"), 5)
    for _ in range(5):
        obj = daemon.status("quiet")["quiet"]
        assert (obj["state"], obj["pid"]) == ("RUNNING", pid)
    go.touch()
    obj = daemon.wait_state("quiet", "EXITED")
    assert obj["exitstatus"] == 3 and obj["pid"] is None
