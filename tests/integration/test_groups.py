"""Groups and supervisorctl's names through the real daemon: full names in status, every
command taking GROUP:*, GROUP, a program or a full name; group start order; the child's
SUPERVISOR_* variables; reload treating a group change as a change of its programs."""

from __future__ import annotations

import json

import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(40)


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


LARAVEL = {
    "laravel-worker": sleeper(numprocs=3, process_name="{program_name}_{process_num:02d}"),
    "nginx": sleeper(),
    "php": sleeper(),
}
WEB = {"web": {"programs": ["nginx", "php"]}}
WORKERS = [f"laravel-worker:laravel-worker_0{n}" for n in range(3)]


def states(daemon) -> dict[str, str]:
    return {name: obj["state"] for name, obj in daemon.status().items()}


def test_status_shows_supervisorctls_names_and_groups(daemon):
    daemon.start(LARAVEL, groups=WEB)
    status = daemon.status()
    assert set(status) == {*WORKERS, "web:nginx", "web:php"}
    assert status["web:php"]["program"] == "php" and status["web:php"]["group"] == "web"
    assert status[WORKERS[0]]["group"] == "laravel-worker"
    text = daemon.ctl("status").stdout
    assert "laravel-worker:laravel-worker_00" in text and "web:nginx" in text


def test_group_star_stops_exactly_that_group(daemon):
    daemon.start(LARAVEL, groups=WEB)
    for name in daemon.status():
        daemon.wait_state(name, "RUNNING")
    daemon.ctl_ok("stop", "laravel-worker:*")
    assert states(daemon) == {**dict.fromkeys(WORKERS, "STOPPED"), "web:nginx": "RUNNING",
                              "web:php": "RUNNING"}  # fmt: skip
    daemon.ctl_ok("start", "laravel-worker")  # the group by its bare name
    assert all(state == "RUNNING" for state in states(daemon).values())
    daemon.ctl_ok("stop", "web")  # a group of two programs
    assert states(daemon)["web:php"] == "STOPPED" and states(daemon)["web:nginx"] == "STOPPED"
    assert states(daemon)[WORKERS[0]] == "RUNNING"
    daemon.ctl_ok("start", "php")  # a program inside a group, by its own name
    assert states(daemon)["web:php"] == "RUNNING" and states(daemon)["web:nginx"] == "STOPPED"
    daemon.ctl_ok("restart", "web:nginx")  # a full name
    assert states(daemon)["web:nginx"] == "RUNNING"
    res = daemon.ctl("stop", "nginx:*", "laravel-worker:laravel-worker_09")
    assert res.returncode == 1
    assert "nginx:*: ERROR (no such process)" in res.stdout, daemon.describe(res)
    assert "laravel-worker_09: ERROR (no such process)" in res.stdout


def test_signal_pid_and_tail_take_group_names(daemon):
    daemon.start(
        {"a": {"command": helper("sigwait"), "startsecs": 0}, "b": sleeper()},
        groups={"g": {"programs": ["a", "b"]}},
    )
    daemon.wait_state("g:a", "RUNNING")
    daemon.wait_until(lambda: "ready" in daemon.read_log("g:a"), 5, message="child ready")
    daemon.ctl_ok("signal", "USR1", "g:*")
    daemon.wait_until(lambda: "USR1" in daemon.read_log("g:a"), 5, message="got USR1")
    pid = daemon.ctl_ok("pid", "a").stdout.strip()  # a program of one process
    assert int(pid) == daemon.status()["g:a"]["pid"]
    assert "USR1" in daemon.ctl_ok("tail", "a").stdout
    res = daemon.ctl("tail", "g")
    assert res.returncode == 1 and "name one of: g:a, g:b" in res.stdout + res.stderr


def test_group_priority_orders_start_and_stop(daemon):
    daemon.start(
        {"first": sleeper(priority=999), "late": sleeper(priority=1), "mid": sleeper(priority=50)},
        groups={"early": {"programs": ["first"], "priority": 0}},
    )
    log = daemon.wait_until(
        lambda: (text := daemon.logfile.read_text()).count("spawned:") == 3 and text, 10
    )
    spawned = [line.split("'")[1] for line in log.splitlines() if "spawned:" in line]
    assert spawned == ["early:first", "late", "mid"]
    daemon.ctl_ok("stop", "all")
    log = daemon.logfile.read_text()
    stopped = [line.split("stopped: ")[1].split(" ")[0] for line in log.splitlines()
               if "stopped: " in line]  # fmt: skip
    assert stopped == ["mid", "late", "early:first"]  # reverse start order


def test_child_gets_supervisors_variables_and_the_daemon_environment(daemon):
    env_dump = ["sh", "-c", "env | grep -E '^(SUPERVISOR_|SHARED|OWN)' | sort; sleep 300"]
    daemon.start(
        {
            "w": {
                "command": env_dump,
                "startsecs": 0,
                "numprocs": 2,
                "numprocs_start": 5,
                "process_name": "w_{process_num}",
                "environment": {"OWN": "w"},
                "stdout_logfile": "w{process_num}.log",
            }
        },  # fmt: skip
        groups={"pool": {"programs": ["w"]}},
        environment={"SHARED": "daemon", "OWN": "daemon"},
    )
    log = daemon.path("w6.log")
    daemon.wait_until(lambda: log.exists() and "SUPERVISOR_PROCESS_NUM" in log.read_text(), 5)
    lines = set(log.read_text().splitlines())
    assert {
        "OWN=w",
        "SHARED=daemon",
        "SUPERVISOR_GROUP_NAME=pool",
        "SUPERVISOR_PROCESS_NAME=w_6",
        "SUPERVISOR_PROCESS_NUM=6",
    } <= lines, lines


def test_reload_treats_a_group_change_as_a_change_of_its_programs(daemon):
    programs = {"a": sleeper(), "b": sleeper()}
    daemon.start(programs)
    before = {name: obj["pid"] for name, obj in daemon.status().items()}
    daemon.write_config(programs, groups={"g": {"programs": ["a"]}})
    res = daemon.ctl_ok("--json", "reload")
    assert json.loads(res.stdout) == {
        "added": [],
        "changed": ["a"],
        "scaled": [],
        "removed": [],
    }
    daemon.wait_state("g:a", "RUNNING")
    after = {name: obj["pid"] for name, obj in daemon.status().items()}
    assert set(after) == {"g:a", "b"}
    assert after["b"] == before["b"]  # untouched
    assert after["g:a"] != before["a"]


def test_log_prefix_group_is_the_group(daemon):
    daemon.start(
        {
            "w": {
                "command": ["sh", "-c", "echo hi; sleep 300"],
                "startsecs": 0,
                "log_prefix": "{group}|{name}| ",
                "stdout_logfile": "w.log",
            }
        },  # fmt: skip
        groups={"pool": {"programs": ["w"]}},
    )
    log = daemon.path("w.log")
    daemon.wait_until(lambda: log.exists() and log.read_text() == "pool|pool:w| hi\n", 5)
