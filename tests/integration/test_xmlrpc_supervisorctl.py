"""Supervisor's own supervisorctl (PyPI `supervisor`, not ours) driving the daemon over
[xmlrpc]: its output and exit codes, as against supervisord."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from integration.harness import helper, wait_until
from integration.xmlrpc_helpers import SUPERVISORCTL, describe, start_xmlrpc, supervisorctl


def sleeper(**extra) -> dict:
    program = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2}
    program.update(extra)
    return program


def talker(**extra) -> dict:
    program = {
        "command": ["sh", "-c", "echo ready; while :; do echo tick; sleep 0.2; done"],
        "startsecs": 0,
    }
    program.update(extra)
    return program


def lines(res: subprocess.CompletedProcess) -> list[str]:
    return res.stdout.splitlines()


@pytest.mark.timeout(60)
def test_status_start_stop_restart_signal(daemon):
    url = start_xmlrpc(
        daemon, {"web": sleeper(), "idle": sleeper(autostart=False), "pool": sleeper(numprocs=2)}
    )
    daemon.wait_state("web", "RUNNING")
    daemon.wait_state("pool:1", "RUNNING")

    res = supervisorctl(url, "status")
    # idle is STOPPED: supervisorctl exits 3 (LSB "not running"), as against supervisord
    assert res.returncode == 3, describe(res)
    rows = {line.split()[0]: line.split()[1] for line in lines(res)}
    assert rows == {
        "idle": "STOPPED",
        "pool:0": "RUNNING",
        "pool:1": "RUNNING",
        "web": "RUNNING",
    }, res.stdout
    assert re.search(r"^web\s+RUNNING\s+pid \d+, uptime 0:00:\d\d$", res.stdout, re.M), res.stdout
    assert re.search(r"^idle\s+STOPPED\s+Not started$", res.stdout, re.M), res.stdout

    res = supervisorctl(url, "status", "web", "pool:*")
    assert res.returncode == 0, describe(res)
    assert [line.split()[0] for line in lines(res)] == ["web", "pool:0", "pool:1"]

    res = supervisorctl(url, "start", "idle")
    assert (res.returncode, res.stdout) == (0, "idle: started\n"), describe(res)
    assert daemon.state("idle") == "RUNNING"
    res = supervisorctl(url, "start", "idle")
    assert res.stdout == "idle: ERROR (already started)\n", describe(res)
    assert res.returncode == 0, describe(res)  # ALREADY_STARTED is no error for it

    res = supervisorctl(url, "stop", "idle")
    assert (res.returncode, res.stdout) == (0, "idle: stopped\n"), describe(res)
    assert daemon.state("idle") == "STOPPED"
    res = supervisorctl(url, "stop", "idle")
    assert res.stdout == "idle: ERROR (not running)\n", describe(res)
    assert res.returncode == 0, describe(res)  # NOT_RUNNING is no error for stop

    old = daemon.status("pool:0")["pool:0"]["pid"]
    res = supervisorctl(url, "restart", "pool:*")
    assert res.returncode == 0, describe(res)
    assert lines(res) == [
        "pool:0: stopped",
        "pool:1: stopped",
        "pool:0: started",
        "pool:1: started",
    ], res.stdout
    assert daemon.status("pool:0")["pool:0"]["pid"] != old

    res = supervisorctl(url, "signal", "HUP", "web")
    assert (res.returncode, res.stdout) == (0, "web: signalled\n"), describe(res)
    wait_until(lambda: "got SIGHUP" in daemon.read_log("web"), 5)
    res = supervisorctl(url, "signal", "NOSUCH", "web")
    assert res.stdout == "web: ERROR (bad signal name)\n", describe(res)
    assert res.returncode == 1

    res = supervisorctl(url, "start", "nope")
    assert (res.returncode, res.stdout) == (1, "nope: ERROR (no such process)\n"), describe(res)
    res = supervisorctl(url, "stop", "nope:*")
    assert res.stdout == "nope: ERROR (no such group)\n", describe(res)

    res = supervisorctl(url, "pid")
    assert res.stdout.strip() == str(daemon.pid), describe(res)
    res = supervisorctl(url, "pid", "web")
    assert res.stdout.strip() == str(daemon.status("web")["web"]["pid"]), describe(res)


@pytest.mark.timeout(60)
def test_start_of_a_failing_program_is_an_error(daemon):
    url = start_xmlrpc(
        daemon,
        {
            "crash": {
                "command": ["sh", "-c", "exit 3"],
                "autostart": False,
                "startsecs": 1,
                "startretries": 0,
            },
            "gone": {"command": ["/nonexistent/bin/x"], "autostart": False},
        },
    )
    res = supervisorctl(url, "start", "crash")
    assert res.stdout == "crash: ERROR (abnormal termination)\n", describe(res)
    assert res.returncode == 7, describe(res)  # a dead program: LSB "not running"
    res = supervisorctl(url, "start", "gone")
    assert res.stdout == "gone: ERROR (no such file)\n", describe(res)
    assert res.returncode == 1, describe(res)


@pytest.mark.timeout(60)
def test_tail_and_tail_follow(daemon):
    url = start_xmlrpc(daemon, {"talk": talker()})
    wait_until(lambda: daemon.read_log("talk").count("tick") >= 3, 10)
    res = supervisorctl(url, "tail", "talk")
    assert res.returncode == 0, describe(res)
    assert "ready\n" in res.stdout and "tick\n" in res.stdout, describe(res)
    res = supervisorctl(url, "tail", "-5", "talk")
    assert res.stdout in ("tick\n\n", "\ntick\n\n", "ick\n\n") or len(res.stdout) == 6, describe(
        res
    )
    res = supervisorctl(url, "tail", "talk", "stderr")
    assert res.returncode == 0, describe(res)

    follow = subprocess.Popen(
        [SUPERVISORCTL, "-s", url, "tail", "-f", "talk"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + 10
        while sum("tick" in line for line in seen) < 5 and time.monotonic() < deadline:
            seen.append(follow.stdout.readline())
        assert seen[0].startswith("==> Press Ctrl-C to exit <=="), seen
        assert sum("tick" in line for line in seen) >= 5, seen
    finally:
        follow.kill()
        follow.communicate()
    assert daemon.state("talk") == "RUNNING"  # the daemon carries on after the reader left


@pytest.mark.timeout(90)
def test_avail_reread_update_add_remove(daemon):
    url = start_xmlrpc(daemon, {"keep": sleeper(), "change": sleeper(), "drop": sleeper()})
    for name in ("keep", "change", "drop"):
        daemon.wait_state(name, "RUNNING")
    keep_pid = daemon.status("keep")["keep"]["pid"]

    res = supervisorctl(url, "avail")
    assert res.returncode == 0, describe(res)
    assert re.search(r"^keep\s+in use\s+auto\s+999:999$", res.stdout, re.M), res.stdout

    res = supervisorctl(url, "reread")
    assert (res.returncode, res.stdout) == (0, "No config updates to processes\n"), describe(res)

    daemon.write_config({"keep": sleeper(), "change": sleeper(stopwaitsecs=3), "new": sleeper()})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[xmlrpc]\nlisten = "{url}"\n')
    res = supervisorctl(url, "reread")
    assert res.returncode == 0, describe(res)
    assert lines(res) == ["change: changed", "drop: disappeared", "new: available"], res.stdout
    assert set(daemon.status()) == {"keep", "change", "drop"}  # reread applies nothing

    res = supervisorctl(url, "update", "new")
    assert (res.returncode, res.stdout) == (0, "new: added process group\n"), describe(res)
    daemon.wait_state("new", "RUNNING")
    assert set(daemon.status()) == {"keep", "change", "drop", "new"}

    res = supervisorctl(url, "update")
    assert res.returncode == 0, describe(res)
    assert lines(res) == [
        "drop: stopped",
        "drop: removed process group",
        "change: stopped",
        "change: updated process group",
    ], res.stdout
    daemon.wait_state("change", "RUNNING")
    assert set(daemon.status()) == {"keep", "change", "new"}
    assert daemon.status("keep")["keep"]["pid"] == keep_pid  # untouched

    res = supervisorctl(url, "remove", "new")
    assert res.stdout == "ERROR: process/group still running: new\n", describe(res)
    assert res.returncode == 1
    supervisorctl(url, "stop", "new")
    res = supervisorctl(url, "remove", "new")
    assert (res.returncode, res.stdout) == (0, "new: removed process group\n"), describe(res)
    assert "new" not in daemon.status()
    res = supervisorctl(url, "add", "new")
    assert (res.returncode, res.stdout) == (0, "new: added process group\n"), describe(res)
    daemon.wait_state("new", "RUNNING")
    res = supervisorctl(url, "add", "new")
    assert res.stdout == "ERROR: process group already active\n", describe(res)
    res = supervisorctl(url, "add", "nope")
    assert (res.returncode, res.stdout) == (1, "ERROR: no such process/group: nope\n"), describe(
        res
    )


@pytest.mark.timeout(60)
def test_shutdown(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper()})
    daemon.wait_state("web", "RUNNING")
    dpid = daemon.pid
    res = supervisorctl(url, "shutdown")
    assert (res.returncode, res.stdout) == (0, "Shut down\n"), describe(res)

    def gone() -> bool:
        try:
            import os

            os.kill(dpid, 0)
            return False
        except ProcessLookupError:
            return True

    wait_until(gone, 20, message="the daemon to exit")
    assert not (daemon.dir / "xr.sock").exists(), "the XML-RPC socket is removed at exit"
    res = supervisorctl(url, "status")
    assert res.returncode == 4, describe(res)  # supervisorctl: no such file


@pytest.mark.timeout(60)
def test_version_and_maintail(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper()})
    res = supervisorctl(url, "version")
    assert res.returncode == 0 and res.stdout.strip(), describe(res)
    res = supervisorctl(url, "maintail")
    assert res.returncode == 0 and "xmlrpc: serving" in res.stdout, describe(res)
