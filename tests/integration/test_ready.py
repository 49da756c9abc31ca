"""Readiness (issue 14): STARTING lasts until the probe says ready; dependents and a
waiting `start` wait for it; not ready in time is a failed start."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest

from integration.harness import free_port, helper

pytestmark = pytest.mark.timeout(60)


def http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_notify_ready_gates_running_status_and_dependents(daemon):
    daemon.start(
        {
            "svc": {
                # 3 s: the status right after launch must still find it STARTING on a
                # loaded machine, where the ctl alone may take a second.
                "command": helper("notifier", "--ready-after", 3, "--status", "warming up"),
                "ready": {"notify": True},
                "startsecs": 0,
            },
            "dep": {"command": ["sleep", "300"], "depends_on": ["svc"], "startsecs": 0},
        }
    )
    st = daemon.status()
    assert st["svc"]["state"] == "STARTING", st
    assert "waiting for READY=1 (sd_notify)" in st["svc"]["description"], st
    assert st["dep"]["state"] == "STOPPED" and "waiting for svc" in st["dep"]["description"]
    daemon.wait_state("svc", "RUNNING")
    st = daemon.wait_state("dep", "RUNNING")
    svc = daemon.status()["svc"]
    assert svc["description"].endswith("; warming up"), svc
    assert "NOTIFY_SOCKET" not in daemon.read_log("dep")
    assert "WATCHDOG_USEC=None" in daemon.read_log("svc")


def test_ctl_start_waits_for_ready(daemon):
    daemon.start(
        {
            "svc": {
                "command": helper("notifier", "--ready-after", 1.0),
                "ready": {"notify": True},
                "autostart": False,
            }
        }
    )
    res = daemon.ctl_ok("start", "svc")
    assert "started" in res.stdout
    st = daemon.status()["svc"]
    assert st["state"] == "RUNNING" and "sent b'READY=1'" in daemon.read_log("svc"), st


def test_never_ready_is_a_failed_start_then_fatal(daemon):
    daemon.start(
        {
            "stuck": {
                "command": helper("notifier", "--ready-after", -1),
                "ready": {"notify": True, "timeout": 0.5},
                # Two retries: BACKOFF lasts 1 s, then 2 s, so a status poll slowed down
                # by a loaded machine still sees one of them.
                "startretries": 2,
                "stopwaitsecs": 1,
            }
        }
    )
    st = daemon.wait_state("stuck", "BACKOFF", timeout=15)
    why = "not ready within 0.5s: waiting for READY=1 (sd_notify); killed by SIGTERM; retry "
    assert st["description"].startswith((why + "1 of 2", why + "2 of 2")), st
    daemon.wait_state("stuck", "FATAL", timeout=15)
    assert daemon.read_log("stuck").count("WATCHDOG_USEC") == 3  # the first try + 2 retries
    res = daemon.ctl("start", "stuck")
    assert res.returncode == 1, daemon.describe(res)


def test_garbage_datagrams_are_dropped_and_ready_counts(daemon):
    daemon.start(
        {
            "svc": {
                "command": helper("notifier", "--garbage", "--ready-after", 0.2),
                "ready": {"notify": True},
            }
        }
    )
    daemon.wait_state("svc", "RUNNING")
    assert daemon.pid  # the daemon is alive after the garbage


def test_a_stranger_cannot_make_a_process_ready(daemon):
    daemon.start(
        {
            "svc": {
                "command": helper("notifier", "--ready-after", -1),
                "ready": {"notify": True, "timeout": 30},
            }
        },
        loglevel="debug",
    )
    st = daemon.wait_state("svc", "STARTING")
    env = open(f"/proc/{st['pid']}/environ", "rb").read().split(b"\0")
    notify = [e for e in env if e.startswith(b"NOTIFY_SOCKET=")][0].split(b"=", 1)[1].decode()
    # This test process is no descendant of svc: its READY=1 must be ignored.
    subprocess.run(
        helper("notifier", "--ready-after", 0, "--exit-after-ready"),
        env={"NOTIFY_SOCKET": notify},
        check=True,
        timeout=10,
        capture_output=True,
    )
    daemon.wait_until(lambda: "not a notify process: dropped" in daemon.logfile.read_text(), 5)
    assert daemon.status()["svc"]["state"] == "STARTING"


def test_ready_then_exit_at_once_is_credited(daemon):
    daemon.start(
        {
            "oneshot": {
                "command": helper("notifier", "--exit-after-ready"),
                "ready": {"notify": True},
                "startretries": 0,
                "autorestart": False,
            }
        },
        loglevel="debug",
    )
    st = daemon.wait_state("oneshot", "EXITED", "FATAL")
    assert st["state"] == "EXITED", st


@pytest.mark.skipif(not shutil.which("systemd-notify"), reason="no systemd-notify")
def test_systemd_notify_from_a_descendant(daemon):
    daemon.start(
        {
            "svc": {
                "command": ["sh", "-c", "sleep 0.3; systemd-notify --ready; exec sleep 300"],
                "ready": {"notify": True, "timeout": 20},
            }
        }
    )
    daemon.wait_state("svc", "RUNNING", timeout=20)


def test_tcp_and_http_ready_on_python_http_server(daemon):
    p1, p2 = free_port(), free_port()
    daemon.start(
        {
            "tcp": {"command": http_server(p1), "ready": {"tcp": f"127.0.0.1:{p1}"}},
            "http": {"command": http_server(p2), "ready": {"http": f"http://127.0.0.1:{p2}/"}},
            "after": {"command": ["sleep", "300"], "depends_on": ["tcp", "http"]},
        }
    )
    for name in ("tcp", "http", "after"):
        daemon.wait_state(name, "RUNNING", timeout=20)
    log = daemon.logfile.read_text()
    assert f"tcp: ready: tcp 127.0.0.1:{p1} accepts connections" in log
    assert f"http: ready: GET http://127.0.0.1:{p2}/: 200" in log


def test_http_ready_waits_for_a_2xx(daemon):
    port = free_port()
    daemon.start(
        {
            "web": {
                "command": http_server(port),
                "ready": {"http": f"http://127.0.0.1:{port}/missing", "timeout": 1.5},
                "startretries": 2,  # BACKOFF for 1 s, then 2 s: a slow poll still sees it
            }
        }
    )
    st = daemon.status()["web"]
    assert f"waiting for http http://127.0.0.1:{port}/missing" in st["description"], st
    st = daemon.wait_state("web", "BACKOFF", timeout=15)
    assert st["description"].startswith("not ready within 1.5s"), st  # a 404 is no answer


@pytest.mark.parametrize("logfile", ["auto", "none"])
def test_log_ready_even_with_logs_none(daemon, logfile):
    daemon.start(
        {
            "svc": {
                # The line comes after 3 s: the status below must still see STARTING.
                "command": helper("say_later", "--delay", 3, "--stderr"),
                "ready": {"log": "Ready to accept connections$"},
                "stdout_logfile": logfile,
                "stderr_logfile": logfile,
            }
        }
    )
    st = daemon.status()["svc"]
    assert st["state"] == "STARTING", st
    assert 'waiting for log "Ready to accept connections$"' in st["description"]
    daemon.wait_state("svc", "RUNNING")
    if logfile == "auto":
        assert "Ready to accept connections" in daemon.read_log("svc", "stderr")


@pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server")
@pytest.mark.parametrize("probe", ["log", "tcp"])
def test_redis_ready(daemon, probe):
    port = free_port()
    ready = (
        {"log": "Ready to accept connections"} if probe == "log" else {"tcp": f"127.0.0.1:{port}"}
    )
    daemon.start(
        {
            "redis": {
                "command": [
                    "redis-server",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                "ready": ready,
            },
            "client": {"command": ["sleep", "300"], "depends_on": ["redis"]},
        }
    )
    daemon.wait_state("client", "RUNNING", timeout=20)


def read_events(daemon, until, timeout: float = 10.0) -> list[dict]:
    """Subscribe to `events` on the socket; collect items until until(item) or timeout."""
    items: list[dict] = []
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(daemon.socket))
        sock.sendall(b'{"id": 1, "cmd": "events"}\n')
        reader = sock.makefile("rb")
        assert json.loads(reader.readline())["result"] == {"subscribed": True}
        while True:
            item = json.loads(reader.readline())["result"]
            items.append(item)
            if until(item):
                return items


def test_events_stream_has_ready_items(daemon):
    daemon.start(
        {
            "svc": {
                "command": helper("notifier", "--ready-after", 1.0),
                "ready": {"notify": True},
                "autostart": False,
            }
        }
    )
    with daemon.ctl_in_background("start", "svc"):
        items = read_events(daemon, lambda item: item.get("to") == "RUNNING")
    ready = [i for i in items if i.get("event") == "ready"]
    assert ready and ready[0]["process"] == "svc" and "READY=1" in ready[0]["reason"], items
    assert items.index(ready[0]) < len(items) - 1  # before STARTING -> RUNNING


def test_a_ready_exec_probe_that_cannot_run_is_reported(daemon):
    """A typo in the probe's command: said in status, the log and the events stream, and
    the FATAL that follows says what it waited for (issue 22.8)."""
    daemon.start(
        {
            "svc": {
                "command": ["sleep", "300"],
                # 4 s: the status after the probe error must still see STARTING.
                "ready": {"exec": ["/no/such/check", "-q"], "interval": 0.2, "timeout": 4},
                "startretries": 0,
                "autostart": False,
            }
        }
    )
    with daemon.ctl_in_background("start", "svc"):
        items = read_events(daemon, lambda item: item.get("event") == "probe_error")
    why = "/no/such/check: No such file or directory"
    assert items[-1]["reason"] == why and items[-1]["process"] == "svc", items
    st = daemon.status()["svc"]
    assert st["state"] == "STARTING", st
    assert f"waiting for exec /no/such/check -q (it cannot run: {why})" in st["description"], st
    assert f"svc: the ready probe cannot run: {why}" in daemon.logfile.read_text()
    st = daemon.wait_state("svc", "FATAL", timeout=15)
    assert st["description"] == (
        "not ready within 4s: waiting for exec /no/such/check -q; killed by SIGTERM; "
        f"gave up after 1 tries; the ready probe cannot run: {why}"
    ), st
    text = daemon.logfile.read_text()
    assert text.count("the ready probe cannot run") == 1, text  # once, not per attempt


def test_a_relative_exec_probe_runs_from_the_config_files_folder(daemon):
    """`./check.sh` is resolved like a program's command: the daemon runs in / (22.8)."""
    script = daemon.path("check.sh")
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    daemon.start(
        {
            "svc": {
                "command": ["sleep", "300"],
                "ready": {"exec": ["./check.sh"], "interval": 0.2, "timeout": 10},
                "health": {"exec": "./check.sh", "interval": 0.2},
            }
        }
    )
    st = daemon.wait_state("svc", "RUNNING", timeout=15)
    assert f"ready: exec {script}: exit status 0" in daemon.logfile.read_text(), st
    daemon.wait_until(lambda: daemon.status()["svc"]["health"] == "healthy", 10)


def test_not_ready_in_time_says_what_it_waited_for_not_exited_too_quickly(daemon):
    port = free_port()
    daemon.start(
        {
            "web": {
                "command": ["sleep", "300"],
                "ready": {"tcp": f"127.0.0.1:{port}", "timeout": 0.5},
                "startretries": 0,
                "stopwaitsecs": 1,
            }
        }
    )
    st = daemon.wait_state("web", "FATAL", timeout=15)
    assert st["description"] == (
        f"not ready within 0.5s: waiting for tcp 127.0.0.1:{port}; killed by SIGTERM; "
        "gave up after 1 tries"
    ), st
