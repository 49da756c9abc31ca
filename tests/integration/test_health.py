"""Health checks, the watchdog, exec probes, nginx, and zero cost when unused (issue 14)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import time

import psutil
import pytest

from integration.harness import free_port, helper

pytestmark = pytest.mark.timeout(60)


def http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def events_until(daemon, until, timeout: float = 20.0) -> list[dict]:
    items: list[dict] = []
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(daemon.socket))
        sock.sendall(b'{"id": 1, "cmd": "events"}\n')
        reader = sock.makefile("rb")
        assert json.loads(reader.readline())["result"] == {"subscribed": True}
        while not items or not until(items[-1]):
            items.append(json.loads(reader.readline())["result"])
    return items


def test_a_hung_http_service_is_marked_unhealthy_then_restarted(daemon):
    port = free_port()
    daemon.start(
        {
            "web": {
                "command": http_server(port),
                "ready": {"tcp": f"127.0.0.1:{port}"},
                "health": {
                    "http": f"http://127.0.0.1:{port}/",
                    "interval": 0.3,
                    "timeout": 0.3,
                    "failures": 3,
                },
                "stopwaitsecs": 1,
            }
        }
    )
    st = daemon.wait_state("web", "RUNNING", timeout=20)
    daemon.wait_until(lambda: daemon.status()["web"]["health"] == "healthy", 10)
    old = st["pid"]
    os.kill(old, signal.SIGSTOP)  # alive, port open, but answers nothing: hung
    try:
        st = daemon.wait_until(
            lambda: (s := daemon.status()["web"])["health"] == "unhealthy" and s, 10
        )
        assert f"; unhealthy: http http://127.0.0.1:{port}/: no answer" in st["description"], st
        assert "no answer within 0.3s" in st["health_reason"], st
        items = events_until(daemon, lambda i: i.get("to") == "RUNNING")
    finally:
        try:
            os.kill(old, signal.SIGCONT)
        except ProcessLookupError:
            pass
    kinds = [i.get("event") or f"{i['from']}->{i['to']}" for i in items]
    assert "unhealthy" in kinds and "RUNNING->STOPPING" in kinds, kinds
    assert kinds.index("unhealthy") < kinds.index("RUNNING->STOPPING") < kinds.index("ready")
    st = daemon.status()["web"]
    assert st["pid"] != old and st["restarts"] == 1, st
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE


def test_watchdog_restarts_a_process_that_stops_pinging(daemon):
    daemon.start(
        {
            "svc": {
                # Pings for 3 s: the check below that it is still the same child has
                # 3 s (not 0.2) of slack on a loaded machine.
                "command": helper("notifier", "--watchdog-every", 0.1, "--watchdog-for", 3.0),
                "ready": {"notify": True},
                "watchdog_sec": 1.5,  # 15 pings' worth: a loaded machine may delay some
            }
        }
    )
    st = daemon.wait_state("svc", "RUNNING")
    assert "WATCHDOG_USEC=1500000" in daemon.read_log("svc")
    time.sleep(0.8)  # pinging: still the same child
    assert daemon.status()["svc"]["pid"] == st["pid"]
    items = events_until(daemon, lambda i: i.get("event") == "watchdog")
    assert items[-1]["reason"] == "watchdog: no WATCHDOG=1 for 1.5s", items
    daemon.wait_until(lambda: daemon.status()["svc"]["restarts"] == 1, 10)


def test_exec_probes_ready_and_health(daemon):
    flag = daemon.dir / "flag"
    daemon.start(
        {
            "svc": {
                "command": ["sleep", "300"],
                "ready": {"exec": ["test", "-e", str(flag)], "interval": 0.1},
                "health": {"exec": ["test", "-e", str(flag)], "interval": 0.2, "failures": 2},
            }
        }
    )
    st = daemon.status()["svc"]
    assert st["state"] == "STARTING" and f"waiting for exec test -e {flag}" in st["description"]
    flag.touch()
    st = daemon.wait_state("svc", "RUNNING")
    daemon.wait_until(lambda: daemon.status()["svc"]["health"] == "healthy", 10)
    flag.unlink()
    daemon.wait_until(lambda: daemon.status()["svc"]["restarts"] == 1, 10)
    assert "exec test: exit status 1" in daemon.logfile.read_text()


def test_an_exec_probe_that_hangs_is_killed_at_its_timeout(daemon):
    daemon.start(
        {
            "svc": {
                "command": ["sleep", "300"],
                "ready": {"exec": ["sleep", "1000"], "interval": 0.1, "timeout": 2.5},
                "startretries": 0,
            }
        }
    )
    dpid = daemon.pid

    def probes() -> list:
        kids = psutil.Process(dpid).children()
        return [p for p in kids if p.cmdline() == ["sleep", "1000"]]

    first = daemon.wait_until(lambda: probes(), 5)[0].pid  # killed at 1 s: no second look
    daemon.wait_until(lambda: first not in [p.pid for p in probes()], 5)  # killed at 1 s
    daemon.wait_state("svc", "FATAL", timeout=10)
    daemon.wait_until(lambda: not probes(), 5)


@pytest.mark.skipif(not shutil.which("nginx"), reason="no nginx")
def test_nginx_http_ready(daemon):
    port = free_port()
    root = daemon.dir / "nginx"
    root.mkdir()
    conf = root / "nginx.conf"
    conf.write_text(
        f"""daemon off; pid {root}/nginx.pid; error_log stderr;
events {{}}
http {{
  access_log off;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}
}}
"""
    )
    daemon.start(
        {
            "nginx": {
                "command": ["nginx", "-p", str(root), "-c", str(conf), "-e", "stderr"],
                "ready": {"http": f"http://127.0.0.1:{port}/"},
                "health": {"http": f"http://127.0.0.1:{port}/", "interval": 0.5},
            },
            "app": {"command": ["sleep", "300"], "depends_on": ["nginx"]},
        }
    )
    daemon.wait_state("app", "RUNNING", timeout=20)
    daemon.wait_until(lambda: daemon.status()["nginx"]["health"] == "healthy", 10)


def _notify_sockets(pid: int) -> list[str]:
    with open("/proc/net/unix") as fh:
        return [line for line in fh if f"@supervisord-lite/{pid}/" in line]


def test_no_probes_no_socket_no_wakeups(daemon):
    dpid = daemon.start({"plain": {"command": ["sleep", "300"], "startsecs": 0}})
    daemon.wait_state("plain", "RUNNING")
    proc = psutil.Process(dpid)
    time.sleep(0.5)  # start-up work (log flushes, the child record) settles
    before = proc.num_ctx_switches().voluntary
    time.sleep(1.5)
    assert proc.num_ctx_switches().voluntary - before == 0
    assert _notify_sockets(dpid) == []
    st = daemon.status()["plain"]
    assert (st["health"], st["health_reason"]) == (None, None)


def test_a_notify_program_makes_the_socket(daemon):
    dpid = daemon.start({"svc": {"command": helper("notifier"), "ready": {"notify": True}}})
    daemon.wait_state("svc", "RUNNING")
    assert len(_notify_sockets(dpid)) == 1


def test_a_broken_health_check_backs_off_then_gives_up_fatal(daemon):
    """Health restarts in a row with no healthy probe between back off like a crash
    loop and end FATAL after startretries of them, with the reason (issue 22.12)."""
    daemon.start(
        {
            "svc": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "startretries": 2,
                "backoff_max": 1,
                "stopwaitsecs": 1,
                "health": {"exec": ["false"], "interval": 0.2, "failures": 1},
            }
        }
    )
    items = events_until(daemon, lambda i: i.get("to") == "FATAL", timeout=30)
    moves = [(i["from"], i["to"]) for i in items if "to" in i]
    assert ("STOPPING", "BACKOFF") in moves and moves[-1] == ("STOPPING", "FATAL"), moves
    st = daemon.status()["svc"]
    assert st["state"] == "FATAL" and st["restarts"] == 2, st
    why = "unhealthy: exec false: exit status 1; gave up after 2 health restarts in a row"
    assert st["description"] == f"{why} without a healthy probe", st
    assert f"gave up: svc entered FATAL state: {why}" in daemon.logfile.read_text()


@pytest.mark.parametrize("spawn_path", ["posix_spawn", "Popen"])
def test_watchdog_pid_is_the_programs_own_pid(daemon, spawn_path):
    """WATCHDOG_PID, which sd_watchdog_enabled() compares with getpid(), is the program's
    own pid; its arguments pass untouched, never read by the shell that sets it (22.15)."""
    marker = daemon.path("injected")
    script = 'echo "$$ $WATCHDOG_PID [$1] [$2]"; exec sleep 300'
    args = [f"$(touch {marker})", f"a b; touch {marker} `touch {marker}`"]
    program = {
        "command": ["sh", "-c", script, "sh", *args],
        "ready": {"notify": True, "timeout": 30},
        "watchdog_sec": 5,
    }
    if spawn_path == "Popen":
        program["directory"] = str(daemon.dir)  # posix_spawn cannot chdir: Popen does
    daemon.start({"svc": program})
    pid = daemon.wait_state("svc", "STARTING")["pid"]
    line = f"{pid} {pid} [{args[0]}] [{args[1]}]"
    daemon.wait_until(lambda: line in daemon.read_log("svc"), 10, message=line)
    assert not marker.exists()
    assert os.getsid(pid) == pid  # still its own session, as every program


def test_watchdog_pid_of_a_missing_command_is_a_spawn_error(daemon):
    program = {
        "command": ["/no/such/daemon"],
        "ready": {"notify": True},
        "watchdog_sec": 5,
        "startretries": 0,
    }
    daemon.start({"svc": program})
    st = daemon.wait_state("svc", "FATAL")
    assert st["description"] == "spawn error: /no/such/daemon: No such file or directory", st
