"""Hooks (SPEC §13, docs/lifecycle.md) through the real daemon: the order and the
environment as the hooks themselves record them, a failing exec_start_pre failing the
start with its output, a hanging hook killed at hook_timeout, exec_stop replacing the
stop signal, exec_stop_post after a crash, and the races (stop, reload and shutdown
during a hook): never a hang, never a stray hook process."""

from __future__ import annotations

import json
import pwd
import sys
import time

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(60)

PY = sys.executable


def hook(record, label, *extra):
    return helper("hook_recorder", record, label, *extra)


def records(path) -> list[dict]:
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def labels(path) -> list[str]:
    return [r["label"] for r in records(path)]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_hooks_run_in_order_with_the_programs_environment(daemon):
    rec = str(daemon.path("rec"))
    workdir = daemon.path("work")
    workdir.mkdir()
    daemon.start(
        {
            "app": {
                "command": helper("sigwait"),
                "directory": str(workdir),
                "environment": {"APP_ENV": "prod"},
                "startsecs": 0,
                "exec_start_pre": [hook(rec, "pre1"), hook(rec, "pre2")],
                "exec_start_post": [hook(rec, "post")],
                "exec_stop_post": [hook(rec, "stop_post")],
            }
        }
    )
    st = daemon.wait_state("app", "RUNNING")
    daemon.wait_until(lambda: labels(rec) == ["pre1", "pre2", "post"])
    pre1, pre2, post = records(rec)
    assert pre1["MAINPID"] is None and pre1["hook"] == "exec_start_pre", pre1
    assert post["MAINPID"] == str(st["pid"]) and post["hook"] == "exec_start_post", post
    for r in (pre1, pre2, post):
        assert r["APP_ENV"] == "prod" and r["cwd"] == str(workdir), r
    assert pre1["t"] <= pre2["t"] <= post["t"]
    daemon.ctl_ok("stop", "app")
    daemon.wait_until(lambda: labels(rec)[-1:] == ["stop_post"])
    stop_post = records(rec)[-1]
    assert stop_post["MAINPID"] == str(st["pid"]), stop_post
    # Their output goes to the program's stderr log.
    err = daemon.wait_until(
        lambda: (t := daemon.read_log("app", "stderr")) and "stop_post" in t and t
    )
    assert "hook pre1 says hello on stdout" in err and "hook pre1 says hello on stderr" in err
    assert "hook pre1" not in daemon.read_log("app", "stdout")


def test_failing_exec_start_pre_fails_the_start_with_its_output(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "startretries": 1,
                "exec_start_pre": [hook(rec, "bad", "--exit", 7), hook(rec, "never")],
            },
        }
    )
    st = daemon.wait_state("app", "FATAL", timeout=20)
    assert "exec_start_pre" in st["description"] and "exit status 7" in st["description"], st
    assert "hook bad says hello" in st["description"], st
    assert st["pid"] is None
    assert labels(rec) == ["bad", "bad"]  # the first try and one retry; "never" never ran


def test_hanging_hook_is_killed_at_hook_timeout_and_reported(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "startretries": 0,
                "hook_timeout": 1,
                "exec_start_pre": [hook(rec, "hang", "--sleep", 300, "--leave-child")],
            },
        }
    )
    # the status that shows the hook (it is killed a second later: a later one may not)
    st = daemon.wait_until(lambda: (s := daemon.status()["app"])["hook"] and s)
    assert st["hook"].startswith("exec_start_pre: ") and st["state"] == "STARTING", st
    st = daemon.wait_state("app", "FATAL", timeout=20)
    assert "did not finish within hook_timeout (1s): killed" in st["description"], st
    assert st["hook"] is None
    (entry,) = records(rec)
    daemon.wait_until(lambda: not alive(entry["pid"]) and not alive(entry["child"]))
    assert "hook_timeout" in daemon.logfile.read_text()


def test_exec_stop_replaces_the_signal_then_sigkill_after_stopwaitsecs(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            # Ignores TERM: only exec_stop, then SIGKILL, can end it.
            "app": {
                "command": helper("ignore_term"),
                "startsecs": 0,
                "stopwaitsecs": 1,
                "exec_stop": [hook(rec, "stop")],
            },
        }
    )
    st = daemon.wait_state("app", "RUNNING")
    daemon.ctl_ok("stop", "app")
    st = daemon.wait_state("app", "STOPPED", timeout=15)
    assert st["exitstatus"] == -9, st  # exec_stop did not stop it: SIGKILL did
    (entry,) = records(rec)
    assert entry["hook"] == "exec_stop" and entry["MAINPID"] is not None, entry


def test_exec_stop_that_stops_the_program(daemon):
    mark = str(daemon.path("mark"))
    daemon.start(
        {
            "app": {
                "command": helper("sigwait", "--exit-on", "USR1", "--mark", mark),
                "startsecs": 0,
                "stopwaitsecs": 30,
                # as systemd's ExecStop= wants it: signal, then wait for the exit (the
                # stop signal follows a hook that returns with the program still alive)
                "exec_stop": [
                    [
                        "sh",
                        "-c",
                        'kill -USR1 "$MAINPID"; while kill -0 "$MAINPID"; do sleep 0.02; done',
                    ]
                ],
            },
        }
    )
    daemon.wait_state("app", "RUNNING")
    daemon.ctl_ok("stop", "app")
    daemon.wait_state("app", "STOPPED", timeout=10)
    assert "got SIGUSR1" in daemon.read_log("app")
    assert "got SIGTERM" not in daemon.read_log("app")


def test_exec_stop_post_runs_after_a_crash(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": [PY, "-c", "import time, sys; time.sleep(0.5); sys.exit(3)"],
                "startsecs": 0,
                "autorestart": False,
                "exec_stop_post": [hook(rec, "cleanup")],
            },
        }
    )
    daemon.wait_state("app", "EXITED")
    daemon.wait_until(lambda: labels(rec) == ["cleanup"])
    (entry,) = records(rec)
    assert entry["EXIT_STATUS"] == "3" and entry["MAINPID"] is not None, entry


def test_stop_during_exec_start_pre_kills_the_hook(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "exec_start_pre": [hook(rec, "slow", "--sleep", 300, "--leave-child")],
            },
        }
    )
    daemon.wait_until(lambda: records(rec))
    res = daemon.ctl("stop", "app", timeout=20)
    st = daemon.wait_state("app", "STOPPED")
    assert st["pid"] is None and st["hook"] is None, (st, daemon.describe(res))
    (entry,) = records(rec)
    daemon.wait_until(lambda: not alive(entry["pid"]) and not alive(entry["child"]))


def test_shutdown_during_a_hook_never_hangs_or_leaves_it(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "hook_timeout": 2,
                "exec_start_pre": [hook(rec, "slow", "--sleep", 300, "--leave-child")],
                "exec_stop_post": [hook(rec, "stop_post_slow", "--sleep", 300)],
            },
            "web": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "hook_timeout": 2,
                "exec_stop_post": [hook(rec, "web_post", "--sleep", 300, "--leave-child")],
            },
        }
    )
    daemon.wait_until(lambda: "slow" in labels(rec))
    daemon.wait_state("web", "RUNNING")
    dpid = daemon.pid
    daemon.ctl("shutdown", timeout=30)
    daemon.wait_until(lambda: not alive(dpid), timeout=20)
    for entry in records(rec):
        for pid in (entry["pid"], entry.get("child")):
            if pid:
                daemon.wait_until(lambda p=pid: not alive(p))
    assert "web_post" in labels(rec)  # the stop hook ran (and was bounded)


def test_reload_during_a_hook(daemon):
    rec = str(daemon.path("rec"))
    prog = {
        "command": ["sleep", "300"],
        "startsecs": 0,
        "exec_start_pre": [hook(rec, "slow", "--sleep", 300, "--leave-child")],
    }
    daemon.start({"app": prog})
    daemon.wait_until(lambda: records(rec))
    daemon.write_config({"app": {**prog, "exec_start_pre": [hook(rec, "fast")]}})
    daemon.ctl_ok("reload", timeout=30)
    st = daemon.wait_state("app", "RUNNING", timeout=15)
    assert labels(rec) == ["slow", "fast"], labels(rec)
    first = records(rec)[0]
    daemon.wait_until(lambda: not alive(first["pid"]) and not alive(first["child"]))
    assert st["hook"] is None


def test_stop_post_of_a_crash_runs_before_the_restarts_pre(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": [PY, "-c", "import time, sys; time.sleep(0.3); sys.exit(1)"],
                "startsecs": 0,
                "autorestart": True,
                "backoff_max": 0,
                "exec_start_pre": [hook(rec, "pre")],
                "exec_stop_post": [hook(rec, "post", "--sleep", 0.5)],
            },
        }
    )
    daemon.wait_until(lambda: len(labels(rec)) >= 5, timeout=20)
    daemon.ctl_ok("stop", "app")
    seq = labels(rec)[:5]
    assert seq == ["pre", "post", "pre", "post", "pre"], labels(rec)


def test_a_hook_that_cannot_start_fails_the_start_and_a_failing_post_is_reported(daemon):
    daemon.start(
        {
            "bad": {
                "command": ["sleep", "300"],
                "startretries": 0,
                "exec_start_pre": [[str(daemon.path("no-such-hook"))]],
            },
            "post": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "exec_start_post": [["sh", "-c", "echo post broke >&2; exit 9"]],
            },
        }
    )
    st = daemon.wait_state("bad", "FATAL")
    assert "exec_start_pre" in st["description"] and "no-such-hook" in st["description"], st
    daemon.wait_until(lambda: "exec_start_post sh -c" in daemon.logfile.read_text())
    log = daemon.logfile.read_text()
    assert "exit status 9; output: post broke" in log, log[-2000:]
    assert daemon.status()["post"]["state"] == "RUNNING"  # reported, not acted on


def test_hooks_in_events_and_metrics(daemon):
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "exec_start_post": [["sh", "-c", "exit 4"]],
            },
            "job": {"command": ["true"], "oneshot": True},
            "plain": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    with daemon.ctl_in_background("events", "--json") as proc:
        daemon.wait_state("app", "RUNNING")
        daemon.ctl_ok("restart", "app")
        daemon.wait_until(lambda: 'app",group="app"} 2' in daemon.ctl_ok("metrics").stdout)
        proc.kill()
        proc.wait()
        out = proc.stdout.read()
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    hooks = [e for e in events if e.get("event") == "hook"]
    assert hooks and hooks[0]["hook"] == "exec_start_post" and hooks[0]["ok"] is False, events
    assert hooks[0]["reason"] == "exit status 4" and hooks[0]["argv"] == ["sh", "-c", "exit 4"]
    metrics = daemon.ctl_ok("metrics").stdout
    assert 'supervisord_lite_process_hook_failures_total{name="app",group="app"} 2' in metrics
    assert 'hook_failures_total{name="plain"' not in metrics
    daemon.wait_state("job", "EXITED")
    metrics = daemon.ctl_ok("metrics").stdout
    assert 'supervisord_lite_process_completed{name="job",group="job"} 1' in metrics


def test_hooks_and_a_completed_job_leave_the_daemon_idle(daemon):
    """Hooks done and a job completed: no timer left, the daemon wakes 0 times."""
    rec = str(daemon.path("rec"))
    dpid = daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "exec_start_pre": [hook(rec, "pre")],
                "exec_start_post": [hook(rec, "post")],
                "exec_stop_post": [hook(rec, "stop_post")],
            },
            "job": {"command": ["true"], "oneshot": True},
            "after": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "depends_on": {"job": "completed_successfully"},
            },
        }
    )
    daemon.wait_state("after", "RUNNING")
    daemon.wait_until(lambda: labels(rec) == ["pre", "post"] and not daemon.status()["app"]["hook"])
    proc = psutil.Process(dpid)
    time.sleep(0.5)  # start-up work (log flushes, the child record) settles
    before = proc.num_ctx_switches().voluntary
    time.sleep(1.5)
    assert proc.num_ctx_switches().voluntary - before == 0


def test_stop_answers_a_start_queued_behind_a_slow_stop_post_at_once(daemon):
    rec = str(daemon.path("rec"))
    daemon.start(
        {
            "app": {
                "command": [PY, "-c", "import time, sys; time.sleep(0.3); sys.exit(1)"],
                "startsecs": 0,
                "autorestart": True,
                "backoff_max": 0,
                "hook_timeout": 30,
                "exec_start_pre": [hook(rec, "pre")],
                "exec_stop_post": [hook(rec, "post", "--sleep", 300)],
            },
        }
    )
    daemon.wait_until(lambda: labels(rec) == ["pre", "post"])
    st = daemon.status()["app"]
    assert st["state"] == "STARTING" and st["hook"].startswith("exec_stop_post"), st
    res = daemon.ctl("stop", "app", timeout=10)
    assert res.returncode == 0, daemon.describe(res)
    st = daemon.wait_state("app", "STOPPED", timeout=5)
    assert labels(rec) == ["pre", "post"]  # the restart's pre never ran


def test_status_follows_a_hook_beside_a_running_process(daemon):
    flag = daemon.path("go")
    wait_for_flag = ["sh", "-c", f'while [ ! -e "{flag}" ]; do sleep 0.1; done']
    daemon.start(
        {"app": {"command": ["sleep", "300"], "startsecs": 0, "exec_start_post": [wait_for_flag]}}
    )
    st = daemon.wait_until(lambda: (s := daemon.status()["app"])["hook"] and s)
    assert st["state"] == "RUNNING" and "running exec_start_post: sh -c" in st["description"]
    flag.write_text("")
    daemon.wait_until(lambda: daemon.status()["app"]["hook"] is None)
    assert "running" not in daemon.status()["app"]["description"]


def test_hooks_run_as_the_programs_user(daemon):
    uid = pwd.getpwnam("nobody").pw_uid
    daemon.start(
        {
            "app": {
                "command": ["sleep", "300"],
                "user": "nobody",
                "startsecs": 0,
                "exec_start_pre": [["sh", "-c", 'echo "pre uid $(id -u)"']],
            }
        }
    )
    daemon.wait_state("app", "RUNNING")
    assert f"pre uid {uid}" in daemon.read_log("app", "stderr")
