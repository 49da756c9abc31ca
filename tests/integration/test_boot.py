"""The boot path: sd_notify over a real datagram socket, --print-unit, the init script."""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from integration.harness import CTL_CMD, DAEMON_CMD, helper

pytestmark = pytest.mark.timeout(40)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_UNIT = ROOT / "configs" / "supervisord-lite.service"
INIT_SCRIPT = ROOT / "configs" / "supervisord-lite.init"


def programs(n: int = 2) -> dict:
    return {
        f"p{i}": {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 5} for i in range(n)
    }


class NotifyListener:
    """What systemd does: a bound AF_UNIX datagram socket; each datagram is one message."""

    def __init__(self, directory: Path):
        self.path = str(directory / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[dict[str, str]] = []
        self.arrivals: list[float] = []

    def _receive(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        self.messages.append(fields)
        self.arrivals.append(time.monotonic())
        return True

    def wait_for(self, key: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, str]]:
        """Receive until `count` messages carry `key`; return every message so far."""
        deadline = time.monotonic() + timeout
        while sum(key in m for m in self.messages) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not self._receive(left):
                if time.monotonic() >= deadline:
                    raise AssertionError(f"no {key} ({count}x) within {timeout}s: {self.messages}")
        return self.messages

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())

    def close(self) -> None:
        self.sock.close()


def kill_tree(proc: subprocess.Popen) -> None:
    try:
        procs = [psutil.Process(proc.pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        procs = []
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def foreground(daemon):
    """Start `supervisord-lite -n` with NOTIFY_SOCKET (and extra env); always killed after."""
    started: list[tuple[subprocess.Popen, NotifyListener]] = []

    def start(config_programs: dict, **env: str) -> tuple[subprocess.Popen, NotifyListener]:
        daemon.write_config(config_programs)
        listener = NotifyListener(daemon.dir)
        environ = dict(daemon.env, NOTIFY_SOCKET=listener.path, **env)
        with open(daemon.dir / "foreground.err", "wb") as err:
            proc = subprocess.Popen(
                [*DAEMON_CMD, "-n", "-c", str(daemon.config)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=environ,
            )
        daemon.known_pids.add(proc.pid)
        started.append((proc, listener))
        return proc, listener

    try:
        yield start
    finally:
        for proc, listener in started:
            kill_tree(proc)
            listener.close()


def test_ready_then_stopping_in_order(foreground, daemon):
    proc, listener = foreground(programs(2))
    listener.wait_for("READY")
    first = listener.messages[0]
    assert first.get("READY") == "1", listener.messages
    assert first.get("STATUS") == "2 running", first
    # Ready means ready: the socket answers and the pidfile names the daemon.
    assert daemon.pid == proc.pid
    assert daemon.ctl("status").returncode == 0

    proc.send_signal(signal.SIGTERM)
    listener.wait_for("STOPPING")
    assert proc.wait(timeout=20) == 0
    keys = [k for m in listener.messages for k in m if k in ("READY", "STOPPING")]
    assert keys == ["READY", "STOPPING"], listener.messages
    assert not daemon.socket.exists() and not daemon.pidfile.exists()


def test_reload_is_framed_by_reloading_and_ready(foreground, daemon):
    proc, listener = foreground(programs(1))
    listener.wait_for("READY")
    daemon.write_config(programs(2))
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    proc.send_signal(signal.SIGHUP)
    listener.wait_for("READY", count=2)
    reloading = [m for m in listener.messages if "RELOADING" in m]
    assert len(reloading) == 1 and reloading[0]["RELOADING"] == "1", listener.messages
    # systemd (Type=notify-reload) wants the CLOCK_MONOTONIC time of the reload with it.
    assert before <= int(reloading[0]["MONOTONIC_USEC"]) <= before + 10_000_000
    order = [k for m in listener.messages for k in m if k in ("READY", "RELOADING")]
    assert order == ["READY", "RELOADING", "READY"], listener.messages
    daemon.wait_state("p1", "RUNNING")


def counts(status: str) -> dict[str, int]:
    """`1 stopped, 1 running` -> {"stopped": 1, "running": 1}"""
    return {state: int(n) for n, state in (part.split() for part in status.split(", "))}


def test_status_follows_state_changes(foreground, daemon):
    proc, listener = foreground(programs(2))
    listener.wait_for("READY")

    def wait_status(expected: dict[str, int]) -> None:
        deadline = time.monotonic() + 10
        while counts(listener.messages[-1].get("STATUS", "0 none")) != expected:
            assert time.monotonic() < deadline, (expected, listener.messages)
            listener.drain(0.05)

    daemon.ctl_ok("stop", "p1")
    wait_status({"running": 1, "stopped": 1})
    daemon.ctl_ok("start", "p1")
    wait_status({"running": 2})
    # A STATUS= is sent only when the summary changes.
    statuses = [m["STATUS"] for m in listener.messages if "STATUS" in m]
    assert all(a != b for a, b in zip(statuses, statuses[1:])), statuses


def test_watchdog_pings_at_half_the_interval(foreground):
    proc, listener = foreground(programs(1), WATCHDOG_USEC="200000")
    listener.wait_for("READY")
    ready_at = listener.arrivals[0]
    listener.wait_for("WATCHDOG", timeout=5, count=5)
    pings = [t for m, t in zip(listener.messages, listener.arrivals) if "WATCHDOG" in m]
    assert all(m.get("WATCHDOG", "1") == "1" for m in listener.messages)
    gaps = [b - a for a, b in zip([ready_at, *pings], pings)]
    # Every 100 ms, half of the 200 ms interval (sd_watchdog_enabled(3)'s advice); a
    # loaded test machine may delay one wakeup, so judge the median.
    assert 0.07 < statistics.median(gaps) < 0.15, gaps
    assert min(gaps) > 0.05, gaps  # not a busy loop
    proc.send_signal(signal.SIGTERM)
    listener.wait_for("STOPPING")
    assert proc.wait(timeout=20) == 0


def test_no_watchdog_pings_for_another_pid(foreground):
    proc, listener = foreground(programs(1), WATCHDOG_USEC="100000", WATCHDOG_PID="1")
    listener.wait_for("READY")
    listener.drain(0.5)
    assert not any("WATCHDOG" in m for m in listener.messages), listener.messages


def _normalize(unit: str) -> str:
    """Blank out the two install-specific paths of ExecStart."""
    out = re.sub(r"^ExecStart=\S+ -n -c \S+$", "ExecStart=DAEMON -n -c CONFIG", unit, flags=re.M)
    assert out.count("ExecStart=DAEMON -n -c CONFIG") == 1, unit
    return out


def test_print_unit_is_the_shipped_unit_modulo_paths(tmp_path):
    # No config exists at either path: the unit is written before the config, often.
    env = dict(os.environ)
    env.pop("SUPERVISORD_LITE_CONFIG", None)
    res = subprocess.run(
        [*DAEMON_CMD, "--print-unit"], capture_output=True, text=True, env=env, timeout=20
    )
    assert res.returncode == 0, res.stderr
    assert _normalize(res.stdout) == _normalize(SHIPPED_UNIT.read_text())
    exec_start = re.search(r"^ExecStart=(\S+) -n -c (\S+)$", res.stdout, re.M)
    assert exec_start.group(2) == "/etc/supervisord_lite.toml"
    daemon_path = exec_start.group(1)
    assert os.path.isabs(daemon_path) and os.access(daemon_path, os.X_OK), daemon_path

    res = subprocess.run(
        [*DAEMON_CMD, "-c", "rel/sdl.toml", "--print-unit"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=20,
    )
    assert res.returncode == 0, res.stderr
    assert f" -n -c {tmp_path / 'rel' / 'sdl.toml'}\n" in res.stdout


# ---------------------------------------------------------------------------- init script


def _init(daemon, action: str) -> subprocess.CompletedProcess:
    env = dict(
        daemon.env,
        DAEMON=DAEMON_CMD[0],
        CTL=CTL_CMD[0],
        CONFIG=str(daemon.config),
        PIDFILE=str(daemon.pidfile),
        DEFAULTS="/dev/null",
        STOP_TIMEOUT="20",
    )
    res = subprocess.run(
        [str(INIT_SCRIPT), action],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    daemon._remember_daemon()
    return res


@pytest.mark.skipif(
    len(DAEMON_CMD) != 1 or len(CTL_CMD) != 1, reason="needs installed console scripts"
)
def test_init_script_start_status_stop(daemon):
    daemon.write_config(programs(2))
    res = _init(daemon, "status")
    assert res.returncode == 3, daemon.describe(res)  # LSB: not running

    res = _init(daemon, "start")
    assert res.returncode == 0, daemon.describe(res) + daemon.log_tail()
    dpid = daemon.pid
    assert str(dpid) in res.stdout
    assert daemon.status()["p0"]["state"] == "RUNNING"  # ready when start returned
    # Process objects (pid + start time): a pid recycled by the time we look is not ours.
    procs = [psutil.Process(daemon.status()[p]["pid"]) for p in ("p0", "p1")]
    procs.append(psutil.Process(dpid))

    res = _init(daemon, "start")  # idempotent: the running daemon is left alone
    assert res.returncode == 0 and "already running" in res.stdout, daemon.describe(res)
    assert daemon.pid == dpid

    res = _init(daemon, "status")
    assert res.returncode == 0, daemon.describe(res)
    assert f"pid {dpid}" in res.stdout and "p0" in res.stdout and "RUNNING" in res.stdout

    res = _init(daemon, "stop")
    assert res.returncode == 0, daemon.describe(res)
    # stop returns only once the daemon and every program are gone.
    for proc in procs:
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE, proc
    assert not daemon.pidfile.exists() and not daemon.socket.exists()

    res = _init(daemon, "status")
    assert res.returncode == 3, daemon.describe(res)
    res = _init(daemon, "stop")  # stopping a stopped service succeeds (LSB)
    assert res.returncode == 0, daemon.describe(res)


@pytest.mark.skipif(
    len(DAEMON_CMD) != 1 or len(CTL_CMD) != 1, reason="needs installed console scripts"
)
def test_init_script_status_of_a_killed_daemon(daemon):
    daemon.write_config(programs(1))
    assert _init(daemon, "start").returncode == 0
    dpid = daemon.pid
    os.kill(dpid, signal.SIGKILL)
    daemon.wait_until(lambda: not psutil.pid_exists(dpid), 5, message="daemon dead")
    res = _init(daemon, "status")
    assert res.returncode == 1, daemon.describe(res)  # LSB: dead, pidfile left behind
    assert "dead" in res.stdout
