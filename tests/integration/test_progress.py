"""Long waits say what they wait for, on a terminal only (issue 22.20): the ctl's start,
stop and restart, a readiness wait, the launcher's --wait and `make run`'s first
install. Each is run with stderr on a real pty (os.openpty) and then on a pipe."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration.harness import CTL_CMD, DAEMON_CMD, helper

pytestmark = pytest.mark.timeout(60)

CLEAR = "\r\x1b[K"
REPO = Path(__file__).resolve().parents[2]


def on_a_pty(cmd: list[str], env: dict, cwd=None, timeout: float = 30) -> tuple[int, str, str]:
    """Run cmd with stderr on a pty (stdout on a pipe): (exit code, stdout, what the
    terminal got)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env, cwd=cwd
    )
    os.close(slave)
    got = bytearray()
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        open_fds = [master, proc.stdout.fileno()]
        while open_fds:
            left = deadline - time.monotonic()
            assert left > 0, f"still running; terminal so far: {bytes(got)!r}"
            for fd in select.select(open_fds, [], [], left)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the pty's last writer closed it
                    data = b""
                if not data:
                    open_fds.remove(fd)
                (got if fd == master else out).extend(data)
        proc.wait(10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return proc.returncode, out.decode(errors="replace"), got.decode(errors="replace")


def on_a_pipe(cmd: list[str], env: dict, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=cwd, timeout=30
    )


def ctl(daemon, *args) -> list[str]:
    return [*CTL_CMD, "-c", str(daemon.config), *args]


def test_a_slow_start_stop_and_restart_show_a_line_on_a_terminal_only(daemon):
    daemon.start(
        {
            "slow": {"command": ["sleep", "300"], "startsecs": 2, "autostart": False},
            "stubborn": {
                "command": helper("ignore_term"),
                "startsecs": 0,
                "stopwaitsecs": 2,
            },
        }
    )
    code, out, tty = on_a_pty(ctl(daemon, "start", "slow"), daemon.env)
    assert code == 0 and out == "slow: started\n", (out, tty)
    assert "starting slow: STARTING, pid " in tty, repr(tty)
    assert tty.endswith(CLEAR), repr(tty)  # the line is wiped at the end

    code, out, tty = on_a_pty(ctl(daemon, "stop", "stubborn"), daemon.env)
    assert code == 0, (out, tty)
    assert "stopping stubborn: STOPPING" in tty and tty.endswith(CLEAR), repr(tty)

    code, out, tty = on_a_pty(ctl(daemon, "restart", "slow"), daemon.env)
    assert code == 0 and "restarting slow: STARTING" in tty, repr(tty)

    for args in (("restart", "slow"), ("stop", "stubborn"), ("start", "stubborn")):
        res = on_a_pipe(ctl(daemon, *args), daemon.env)
        assert res.returncode == 0 and res.stderr == "", res


def test_a_readiness_wait_says_what_it_waits_for(daemon):
    go = daemon.path("go")
    daemon.start(
        {
            "late": {
                "command": ["sleep", "300"],
                "autostart": False,
                "ready": {"exec": ["test", "-e", str(go)], "interval": 0.2},
            }
        }
    )
    # ready 2 s after the start is asked: long enough for the line to show
    trigger = subprocess.Popen(["sh", "-c", f"sleep 2; touch {go}"])
    try:
        code, out, tty = on_a_pty(ctl(daemon, "start", "late"), daemon.env)
    finally:
        trigger.wait(10)
    assert code == 0, (out, tty)
    assert "starting late: STARTING, pid " in tty and "; waiting for exec" in tty, repr(tty)


def test_the_launchers_wait_shows_a_line_on_a_terminal_only(daemon):
    daemon.write_config({"web": {"command": ["sleep", "300"], "startsecs": 2}})
    code, out, tty = on_a_pty([*DAEMON_CMD, "-c", str(daemon.config), "--wait"], daemon.env)
    daemon._remember_daemon()
    assert code == 0, (out, tty)
    assert "waiting for web to be RUNNING: " in tty and tty.endswith(CLEAR), repr(tty)
    daemon.ctl_ok("shutdown")
    res = on_a_pipe([*DAEMON_CMD, "-c", str(daemon.config), "--wait"], daemon.env)
    daemon._remember_daemon()
    assert res.returncode == 0 and res.stderr == "", res


def test_make_runs_first_install_says_so_on_a_terminal_only(tmp_path):
    """`make run` in a fresh clone spends a minute in pip before anything shows. A
    stand-in python (it makes a venv whose pip and daemon do nothing) keeps the test
    fast and offline; the Makefile is the real one."""
    fake = tmp_path / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        '# "python3 -m venv DIR" only\n'
        'mkdir -p "$3/bin"\n'
        'printf "#!/bin/sh\\nexit 0\\n" > "$3/bin/python"\n'
        'printf "#!/bin/sh\\nexit 0\\n" > "$3/bin/supervisord-lite"\n'
        'chmod +x "$3/bin/python" "$3/bin/supervisord-lite"\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "MAKEFLAGS": ""}

    def make(venv: str) -> list[str]:
        return ["make", "-C", str(REPO), "run", f"PYTHON={fake}", f"VENV={tmp_path / venv}"]

    code, out, tty = on_a_pty(make("a"), env)
    assert code == 0, (out, tty)
    assert "first run: setting up" in tty, repr(tty)
    assert "installing supervisord-lite and its dependencies" in tty, repr(tty)
    code, out, tty = on_a_pty(make("a"), env)  # installed: nothing to say
    assert code == 0 and "installing" not in tty, repr(tty)
    res = on_a_pipe(make("b"), env)
    assert res.returncode == 0 and "installing" not in res.stderr + res.stdout, res


def test_progress_is_only_imported_by_the_ctl_not_more():
    """The ctl's start-up time is a feature: the progress line brings no new imports."""
    code = (
        "import sys; before = set(sys.modules); import supervisord_lite.base.progress;"
        "print(sorted(set(sys.modules) - before - {'supervisord_lite.base.progress'}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert res.stdout.strip() in ("[]", "['supervisord_lite', 'supervisord_lite.base']"), res.stdout
