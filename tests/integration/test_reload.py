"""reload / SIGHUP apply only the difference (SPEC §1 reload); a bad config changes nothing."""

from __future__ import annotations

import json
import os
import signal

import pytest

pytestmark = pytest.mark.timeout(40)


def sleeper(seconds: int = 300, **extra) -> dict:
    return {"command": ["sleep", str(seconds)], "startsecs": 0, **extra}


def pids(daemon) -> dict[str, int]:
    return {name: obj["pid"] for name, obj in daemon.status().items()}


def test_reload_adds_removes_changes_and_keeps_the_rest(daemon):
    daemon.start({"keep": sleeper(), "gone": sleeper(), "edit": sleeper(numprocs=2)})
    before = pids(daemon)
    daemon.write_config({"keep": sleeper(), "edit": sleeper(301, numprocs=2), "new": sleeper()})
    res = daemon.ctl_ok("--json", "reload")
    assert json.loads(res.stdout) == {
        "added": ["new"],
        "changed": ["edit"],
        "scaled": [],
        "removed": ["gone"],
    }
    daemon.wait_state("new", "RUNNING")
    after = pids(daemon)
    assert set(after) == {"keep", "edit:0", "edit:1", "new"}
    assert after["keep"] == before["keep"], "an unchanged program was restarted"
    for name in ("edit:0", "edit:1"):
        assert after[name] != before[name], f"{name} kept its old settings"
        with open(f"/proc/{after[name]}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[1] == b"301"
    daemon.wait_until(lambda: not os.path.exists(f"/proc/{before['gone']}"), 5)


def test_broken_config_is_rejected_whole_and_nothing_changes(daemon):
    daemon.start({"a": sleeper(), "b": sleeper()})
    before = pids(daemon)
    daemon.write_config({"a": sleeper(startsecs="x"), "c": {"startsecs": 1}})
    res = daemon.ctl("reload")
    assert res.returncode == 1, daemon.describe(res)
    assert "programs.a.startsecs" in res.stderr and "programs.c.command" in res.stderr
    assert "Traceback" not in res.stderr
    assert pids(daemon) == before


def test_sighup_reloads_too(daemon):
    daemon.start({"a": sleeper()})
    a_pid = pids(daemon)["a"]
    daemon.write_config({"a": sleeper(), "b": sleeper()})
    os.kill(daemon.pid, signal.SIGHUP)
    daemon.wait_state("b", "RUNNING")
    assert pids(daemon)["a"] == a_pid


def test_reload_of_a_dependency_change_respects_order(daemon):
    daemon.start({"db": sleeper(), "web": sleeper(depends_on=["db"])})
    daemon.write_config({"db": sleeper(302), "web": sleeper(303, depends_on=["db"])})
    res = daemon.ctl_ok("--json", "reload")
    assert sorted(json.loads(res.stdout)["changed"]) == ["db", "web"]
    daemon.wait_state("web", "RUNNING")
    assert daemon.state("db") == "RUNNING"
