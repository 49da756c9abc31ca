"""Faults a hostile user found in the daemon itself: a SIGHUP lost during a reload, a
daemon killed by its own log, timers too long for epoll, non-standard JSON, a relative
command that works only in the foreground, a deleted control socket, --json errors."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess

import psutil
import pytest

from integration.harness import DAEMON_CMD, helper, small_disk

pytestmark = pytest.mark.timeout(60)

LONG = 1e9  # seconds: about 31.7 years, far past epoll's 24.8-day limit


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


def raw_call(daemon, line: bytes, timeout: float = 10.0) -> bytes:
    """Send one raw request line; the first reply line, as bytes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(daemon.socket))
        sock.sendall(line)
        buf = b""
        while b"\n" not in buf:
            data = sock.recv(65536)
            assert data, f"connection closed before a reply; got {buf!r}"
            buf += data
        return buf.split(b"\n", 1)[0]


def strict_json(text: bytes):
    """Standard JSON only: NaN, Infinity and -Infinity are not JSON (RFC 8259)."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def assert_supervising(daemon, name: str) -> None:
    """`name` is RUNNING, and a kill of it is noticed and repaired."""
    old = daemon.wait_state(name, "RUNNING")["pid"]
    os.kill(old, signal.SIGKILL)
    daemon.wait_until(lambda: daemon.status()[name]["pid"] not in (None, old), 10)
    daemon.wait_state(name, "RUNNING")


# ------------------------------------------------------------------- 1: SIGHUP during a reload


def test_sighup_during_a_reload_is_queued_and_applied_after_it(daemon):
    slow = {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 3}
    daemon.start({"slow": slow})
    daemon.wait_state("slow", "RUNNING")
    # A changed slow: the reload must stop it, which takes stopwaitsecs (it ignores TERM).
    daemon.write_config({"slow": {**slow, "stopwaitsecs": 2}})
    os.kill(daemon.pid, signal.SIGHUP)
    daemon.wait_state("slow", "STOPPING")
    daemon.write_config({"slow": {**slow, "stopwaitsecs": 2}, "late": sleeper()})
    os.kill(daemon.pid, signal.SIGHUP)
    os.kill(daemon.pid, signal.SIGHUP)  # repeats coalesce into the one queued reload
    daemon.wait_until(lambda: "queued" in daemon.logfile.read_text(), 5)
    daemon.wait_until(lambda: "late" in daemon.status(), 15, message="the second edit applied")
    daemon.wait_state("late", "RUNNING")
    log = daemon.logfile.read_text()
    assert log.count("reloaded:") == 2, log  # the queued one ran once, not once per HUP


# ------------------------------------------------------------------ 2: the daemon's own log


@pytest.fixture
def tiny_log_disk(daemon):
    """A 128 KiB tmpfs holding the daemon's own log file (needs root and mount)."""
    with small_disk(daemon, "dlog", "128k") as path:
        daemon.logfile = path / "sdl.log"
        yield path


def fill(directory) -> str:
    """Fill the file system of `directory`; the filler's path."""
    filler = os.path.join(directory, "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_under_the_daemon_log_does_not_kill_the_daemon(daemon, tiny_log_disk):
    # Long error lines: the first ones may still fit in the log file's last page.
    missing = "/nonexistent/" + "x" * 200 + "/cmd"
    bad = {"command": [missing], "autostart": False, "startretries": 0}
    dpid = daemon.start({"a": sleeper(), "bad": bad}, logfile="dlog/sdl.log")
    pid_a = daemon.wait_state("a", "RUNNING")["pid"]
    filler = fill(tiny_log_disk)
    for _ in range(40):  # error lines (spawnerr), each flushed at once: ENOSPC
        daemon.ctl("start", "bad")
    assert alive(dpid), "the daemon died of its full log disk"
    assert daemon.status()["a"]["pid"] == pid_a
    assert_supervising(daemon, "a")
    assert daemon.pidfile.exists()
    # Room again: the log says what it lost, once, and goes on.
    os.unlink(filler)
    daemon.ctl("start", "bad")
    daemon.wait_until(lambda: "spawnerr" in daemon.logfile.read_text(), 5)
    text = daemon.logfile.read_text()
    assert "No space left on device" in text, text[-2000:]


def test_sigusr2_with_the_log_directory_gone_keeps_the_old_log(daemon):
    dpid = daemon.start({"a": sleeper()}, logfile="dlog/sdl.log")
    daemon.logfile = daemon.path("dlog/sdl.log")
    daemon.wait_state("a", "RUNNING")
    os.rename(daemon.path("dlog"), daemon.path("moved"))
    daemon.logfile = daemon.path("moved/sdl.log")  # the old stream, still open
    os.kill(dpid, signal.SIGUSR2)
    daemon.wait_until(lambda: "cannot reopen" in daemon.logfile.read_text(), 5)
    assert alive(dpid), "the daemon died of a failed reopen"
    assert_supervising(daemon, "a")
    # Once the directory is back, a reopen works again and says so there.
    os.mkdir(daemon.path("dlog"))
    os.kill(dpid, signal.SIGUSR2)
    new_log = daemon.path("dlog/sdl.log")
    daemon.wait_until(lambda: new_log.exists() and "reopened" in new_log.read_text(), 5)
    daemon.logfile = new_log
    daemon.ctl_ok("status")


# ----------------------------------------------------------------- 3: timers past 24.8 days


def test_timers_of_years_neither_kill_the_daemon_nor_fire(daemon):
    programs = {
        "stubborn": {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": LONG},
        "slowstart": {"command": ["sleep", "300"], "startsecs": LONG},
        "crashy": {
            "command": ["sh", "-c", "sleep 0.2; exit 3"],
            "startsecs": 0,
            "backoff_max": LONG,
            "backoff_reset": LONG,
        },
    }
    dpid = daemon.start(programs, idle_timeout=LONG, line_timeout=LONG)
    assert daemon.wait_state("slowstart", "STARTING")
    # An idle client, then a half-written line: both arm a client timer of LONG.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(daemon.socket))
        sock.sendall(b'{"id": 1, "cmd"')
        daemon.ctl_ok("version")
        assert alive(dpid)
    stubborn = daemon.wait_state("stubborn", "RUNNING")["pid"]
    # A stop whose stopwaitsecs is LONG: the daemon waits (for years), and lives.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(daemon.socket))
        sock.sendall(b'{"id": 1, "cmd": "stop", "args": {"names": ["stubborn"]}}\n')
        daemon.wait_state("stubborn", "STOPPING")
        daemon.wait_until(lambda: daemon.status()["crashy"]["state"] == "BACKOFF", 10)
        assert alive(dpid)
        assert daemon.status()["slowstart"]["state"] == "STARTING"
        os.kill(stubborn, signal.SIGKILL)
        daemon.wait_state("stubborn", "STOPPED")
    assert alive(dpid)
    # Still supervised: a start that dies before its startsecs is retried.
    old = daemon.status()["slowstart"]["pid"]
    os.kill(old, signal.SIGKILL)
    daemon.wait_until(lambda: daemon.status()["slowstart"]["pid"] not in (None, old), 10)
    assert daemon.status()["slowstart"]["state"] == "STARTING"


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("supervisord", "idle_timeout", "inf"),
        ("supervisord", "line_timeout", "nan"),
        ("supervisord", "idle_timeout", "1e300"),
        ("supervisord", "max_clients", "100000000000000000000"),
        ("programs.a", "stopwaitsecs", "inf"),
        ("programs.a", "startsecs", "-inf"),
        ("programs.a", "backoff_max", "nan"),
        ("programs.a", "backoff_reset", "1e300"),
        ("programs.a", "numprocs", "1000000000"),
        ("programs.a", "stdout_logfile_backups", "1000000000000"),
        ("programs.a", "stderr_logfile_backups", "1000000000000"),
        ("programs.a", "startretries", "100000000000000000000"),
        ("programs.a", "priority", "100000000000000000000"),
        ("programs.a", "stdout_logfile_maxbytes", "100000000000000000000"),
        ("programs.a", "stderr_logfile_maxbytes", "100000000000000000000"),
    ],
)
def test_absurd_numbers_are_config_errors_naming_the_key(daemon, table, key, value):
    tables = {"supervisord": daemon.supervisord_section(), "programs.a": sleeper()}
    lines = []
    for name, keys in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items() if k != key or name != table]
        if name == table:
            lines.append(f"{key} = {value}")
    daemon.config.write_text("\n".join(lines) + "\n")
    res = daemon.launch("--check")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert f"{table}.{key}" in res.stderr and "Traceback" not in res.stderr, res.stderr


# ------------------------------------------------------------------ 4: --json on a failure


def test_json_failures_print_the_error_object_on_stdout(daemon):
    daemon.start({"a": sleeper()})
    res = daemon.ctl("--json", "status", "nosuch")
    assert res.returncode == 3, daemon.describe(res)
    error = json.loads(res.stdout)
    assert error["code"] == "NO_SUCH_PROCESS" and "nosuch" in error["message"], error
    res = daemon.ctl("--json", "pid", "nosuch")
    assert res.returncode == 1 and json.loads(res.stdout)["code"] == "NO_SUCH_PROCESS"


# ------------------------------------------------------------------- 5: NaN / Infinity ids


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_standard_json_numbers_are_refused_never_echoed(daemon, constant):
    dpid = daemon.start({"a": sleeper()})
    for line in (
        b'{"id": ' + constant + b', "cmd": "version"}\n',
        b'{"id": 1, "cmd": "tail", "args": {"name": "a", "lines": ' + constant + b"}}\n",
    ):
        reply = strict_json(raw_call(daemon, line))
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
        assert reply["id"] is None, reply
    assert alive(dpid)


# ------------------------------------------------------------------ 6: a relative command


def test_a_relative_command_runs_from_the_config_folder_when_detached(daemon):
    script = daemon.path("run.sh")
    script.write_text("#!/bin/sh\nexec sleep 300\n")
    script.chmod(0o755)
    subdir = daemon.path("app")
    subdir.mkdir()
    inner = subdir / "inner.sh"
    inner.write_text("#!/bin/sh\nexec sleep 301\n")
    inner.chmod(0o755)
    daemon.start(
        {
            "rel": {"command": "./run.sh", "startsecs": 0},
            "indir": {"command": ["./inner.sh"], "directory": "app", "startsecs": 0},
        }
    )
    daemon.wait_state("rel", "RUNNING")
    daemon.wait_state("indir", "RUNNING")


def test_check_names_a_missing_relative_command(daemon):
    daemon.write_config({"rel": {"command": "./missing.sh --flag"}})
    res = daemon.launch("--check")
    # An error of --check (the launch only warns and that program ends FATAL): 22.18
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "programs.rel.command" in res.stderr, res.stderr
    assert str(daemon.path("missing.sh")) in res.stderr, res.stderr


# --------------------------------------------------------------- 7: a deleted control socket


def test_a_deleted_socket_is_recreated_on_sighup_and_the_ctl_says_how(daemon):
    dpid = daemon.start({"a": sleeper()})
    os.unlink(daemon.socket)
    res = daemon.ctl("status")
    assert res.returncode == 4, daemon.describe(res)
    assert f"kill -HUP {dpid}" in res.stderr, res.stderr
    assert "Start it with" not in res.stderr, res.stderr
    os.kill(dpid, signal.SIGHUP)
    daemon.wait_until(daemon.socket.exists, 5)
    daemon.ctl_ok("status")
    assert "re-created" in daemon.logfile.read_text()
    # And it is still the daemon's own: a shutdown removes it.
    daemon.ctl_ok("shutdown")
    assert not daemon.socket.exists()


def test_the_ctl_hint_without_a_daemon_still_says_start_it(daemon):
    daemon.write_config({"a": sleeper()})
    res = daemon.ctl("status")
    assert res.returncode == 4 and "Start it with" in res.stderr, daemon.describe(res)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("closed", [(2,), (0, 1, 2)], ids=["stderr", "all three"])
def test_a_foreground_daemon_started_with_closed_std_streams_runs(daemon, closed):
    """`supervisord-lite -n 2>&-` runs and logs to its file. Its std descriptors are
    /dev/null, so no file it opens lands on one of them, where a last word written to
    fd 2 would go into that file."""
    daemon.write_config({"a": sleeper()})

    def close_them() -> None:
        for fd in closed:
            os.close(fd)

    proc = subprocess.Popen(
        [*DAEMON_CMD, "-c", str(daemon.config), "-n"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=daemon.env,
        preexec_fn=close_them,
    )
    try:
        daemon.wait_state("a", "RUNNING")
        targets = {fd: os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in (0, 1, 2)}
        assert set(targets.values()) == {os.devnull}, targets
        assert "started with pid" in daemon.log_tail()
        daemon.ctl_ok("shutdown")
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
