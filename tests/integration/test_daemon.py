"""The daemon process itself: single instance, stale takeover, signals, --check, ctl errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess

import psutil
import pytest

from integration.harness import CTL_CMD, DAEMON_CMD, helper

pytestmark = pytest.mark.timeout(40)


def web(**extra):
    p = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 5}
    p.update(extra)
    return {"web": p}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_second_daemon_refused(daemon):
    dpid = daemon.start(web())
    child = daemon.wait_state("web", "RUNNING")["pid"]
    res = daemon.launch()
    assert res.returncode != 0, "a second daemon on the same config started"
    msg = res.stderr + res.stdout
    assert msg.strip(), "refused without saying why"
    assert re.search(r"already|running|in use|locked", msg, re.I), msg
    assert "Traceback" not in msg
    # The first one is untouched.
    assert daemon.pid == dpid
    assert alive(dpid)
    st = daemon.status("web")["web"]
    assert st["state"] == "RUNNING" and st["pid"] == child
    daemon.ctl_ok("restart", "web")


def test_stale_pidfile_and_socket_taken_over(daemon):
    old_dpid = daemon.start(web())
    daemon.wait_state("web", "RUNNING")
    os.kill(old_dpid, signal.SIGKILL)
    daemon.wait_until(lambda: not alive(old_dpid), 5, message="old daemon dead")
    assert daemon.socket.exists() and daemon.pidfile.exists()
    assert daemon.ctl("status").returncode == 4

    new_dpid = daemon.start()
    assert new_dpid != old_dpid
    assert daemon.ctl_ok("pid").stdout.strip() == str(new_dpid)
    daemon.wait_state("web", "RUNNING")
    daemon.ctl_ok("restart", "web")


def test_children_of_sigkilled_daemon_stopped_by_next(daemon):
    """SPEC §1: the next daemon finds a SIGKILLed daemon's children and stops them."""
    old_dpid = daemon.start(web())
    old_child = daemon.wait_state("web", "RUNNING")["pid"]
    os.kill(old_dpid, signal.SIGKILL)
    daemon.wait_until(lambda: not alive(old_dpid), 5, message="old daemon dead")
    # A SIGKILLed daemon leaves its children running.
    assert alive(old_child)

    daemon.start()
    new = daemon.wait_state("web", "RUNNING")
    assert new["pid"] != old_child
    # No duplicates, no strays.
    daemon.wait_until(lambda: not alive(old_child), 5, message=f"old child {old_child} gone")
    mine = [
        p
        for p in daemon.processes()
        if any("sigwait.py" in part for part in p.cmdline()) and p.status() != "zombie"
    ]
    assert [p.pid for p in mine] == [new["pid"]]


def test_stale_files_from_nothing_taken_over(daemon):
    """A pidfile naming a dead pid and a socket nobody listens on are not obstacles."""
    daemon.write_config(web())
    dead = psutil.Popen(["true"])
    dead.wait()
    daemon.pidfile.write_text(f"{dead.pid}\n")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(daemon.socket))
    s.close()  # leaves the socket file with no listener
    daemon.start()
    daemon.wait_state("web", "RUNNING")


def test_sigterm_graceful(daemon):
    dpid = daemon.start(web(numprocs=2))
    children = [daemon.wait_state(n, "RUNNING")["pid"] for n in ("web:0", "web:1")]
    os.kill(dpid, signal.SIGTERM)
    daemon.wait_until(lambda: not alive(dpid), 15, message="daemon to exit on SIGTERM")
    assert not any(alive(c) for c in children)
    assert not daemon.socket.exists()
    assert not daemon.pidfile.exists()
    assert daemon.processes() == []
    for n in ("web:0", "web:1"):
        assert "got SIGTERM" in daemon.read_log(n)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
def test_other_shutdown_signals(daemon, sig):
    dpid = daemon.start(web())
    child = daemon.wait_state("web", "RUNNING")["pid"]
    os.kill(dpid, sig)
    daemon.wait_until(lambda: not alive(dpid), 15, message=f"daemon to exit on {sig.name}")
    assert not alive(child)
    assert not daemon.socket.exists() and not daemon.pidfile.exists()


def test_check_ok(daemon):
    daemon.write_config(
        {
            "web": {"command": helper("sigwait"), "numprocs": 3},
            "db": {"command": "sleep 100"},
        }
    )
    res = daemon.launch("--check")
    assert res.returncode == 0, res
    assert "config OK: 2 programs" in res.stdout + res.stderr
    assert daemon.processes() == []
    assert not daemon.socket.exists()


def test_check_bad_config_reports_all_errors(daemon):
    daemon.write_config(
        {
            "x": {"command": helper("sigwait"), "startsecs": "x"},
            "y": {"command": helper("sigwait"), "bogus_key": 1},
        }
    )
    res = daemon.launch("--check")
    out = res.stdout + res.stderr
    assert res.returncode == 2, res
    assert "Traceback" not in out
    assert re.search(r"sdl\.toml: programs\.x\.startsecs: ", out), out
    assert re.search(r"sdl\.toml: programs\.y\.bogus_key", out), out


def test_daemon_with_bad_config_starts_nothing(daemon):
    daemon.write_config({"x": {"command": helper("sigwait"), "startsecs": "x"}})
    res = daemon.launch()
    assert res.returncode != 0
    assert re.search(r"programs\.x\.startsecs", res.stderr), res
    assert "Traceback" not in res.stderr
    assert daemon.processes() == []
    assert not daemon.socket.exists()
    assert not daemon.pidfile.exists()


def test_daemon_with_unknown_dependency_or_cycle(daemon):
    daemon.write_config(
        {
            "a": {"command": helper("sigwait"), "depends_on": ["b"]},
            "b": {"command": helper("sigwait"), "depends_on": ["a"]},
            "c": {"command": helper("sigwait"), "depends_on": ["nosuch"]},
        }
    )
    res = daemon.launch("--check")
    assert res.returncode == 2, res
    out = res.stdout + res.stderr
    assert 'programs.c.depends_on: unknown program "nosuch"' in out, out
    assert "dependency cycle: a -> b -> a" in out or "dependency cycle: b -> a -> b" in out, out
    assert "Traceback" not in out


def test_ctl_without_daemon(daemon):
    daemon.write_config(web())
    res = daemon.ctl("status")
    assert res.returncode == 4, daemon.describe(res)
    assert str(daemon.socket) in res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    res = subprocess.run(
        [*CTL_CMD, "-s", str(daemon.dir / "nothing.sock"), "status"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert res.returncode == 4
    assert "nothing.sock" in res.stdout + res.stderr


def test_ctl_usage_errors(daemon):
    daemon.start(web())
    # No command at all is the interactive shell (SPEC §6), no longer a usage error.
    for args in (["frobnicate"], ["signal"], ["signal", "HUP"], ["start"]):
        res = daemon.ctl(*args)
        assert res.returncode == 2, daemon.describe(res)
        assert "Traceback" not in res.stderr


def test_version_flag():
    res = subprocess.run([*DAEMON_CMD, "--version"], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0
    assert "0.1.0" in res.stdout + res.stderr


def test_foreground_mode(daemon):
    daemon.write_config(web())
    err_path = daemon.dir / "foreground.err"
    with open(err_path, "wb") as err:  # a file: a pipe nobody reads could block the daemon
        proc = subprocess.Popen(
            [*DAEMON_CMD, "-n", "-c", str(daemon.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=daemon.env,
        )
    try:
        # the pidfile is locked before the pid is in it (a detaching daemon forks between)
        daemon.wait_until(lambda: daemon.socket.exists() and daemon.pidfile.exists()
                          and daemon.pidfile.read_text().strip(), 10)  # fmt: skip
        assert daemon.pid == proc.pid, "-n must not fork"
        daemon.wait_state("web", "RUNNING")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert err_path.read_text(errors="replace").strip(), "-n logs to stderr as well"
        assert not daemon.socket.exists() and not daemon.pidfile.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sd_notify_ready_and_stopping(daemon):
    daemon.write_config(web())
    path = str(daemon.dir / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(daemon.env, NOTIFY_SOCKET=path)
    proc = subprocess.Popen(
        [*DAEMON_CMD, "-n", "-c", str(daemon.config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        messages = []

        def received(word):
            while not any(word in m for m in messages):
                messages.append(sock.recv(4096).decode())
            return True

        received("READY=1")
        # Ready means: socket listening, pidfile written, autostart programs spawned.
        assert daemon.pidfile.exists()
        assert daemon.status("web")["web"]["pid"]
        proc.send_signal(signal.SIGTERM)
        received("STOPPING=1")
        assert proc.wait(timeout=15) == 0
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sighup_reloads_config(daemon):
    dpid = daemon.start(web())
    pid = daemon.wait_state("web", "RUNNING")["pid"]
    progs = web()
    progs["extra"] = {"command": helper("sigwait"), "startsecs": 0}
    daemon.write_config(progs)
    os.kill(dpid, signal.SIGHUP)
    daemon.wait_until(lambda: "extra" in daemon.status(), 10, message="extra added by reload")
    daemon.wait_state("extra", "RUNNING")
    assert daemon.status("web")["web"]["pid"] == pid, "an unchanged program was restarted"
    assert daemon.pid == dpid


def test_reload_rejects_bad_config_and_keeps_running(daemon):
    daemon.start(web())
    pid = daemon.wait_state("web", "RUNNING")["pid"]
    daemon.write_config({"web": {"command": helper("sigwait"), "startsecs": "x"}})
    res = daemon.ctl("reload")
    assert res.returncode == 1, daemon.describe(res)
    assert "programs.web.startsecs" in res.stdout + res.stderr
    st = daemon.status("web")["web"]
    assert st["state"] == "RUNNING" and st["pid"] == pid
