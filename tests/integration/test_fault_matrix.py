"""Faults x invariants: each row of FAULTS sets up a hostile situation; every row must keep
the same invariants (tests/integration/invariants.py):

- the daemon answers `status` within 1 s, during the fault and after it;
- status and the daemon's real children agree: no ghost, no untracked child, no zombie;
- status lists exactly the configured processes;
- `shutdown` replies within a deadline and leaves no process, socket or pidfile.

To add a fault, append a Fault: how to prepare the ground (before the daemon starts), the
programs and [supervisord] keys, and what to do to the running daemon. The invariants come
for free. Each case has its own timeout so that a hang fails fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from integration.harness import CTL_CMD, Daemon, helper, mount_tmpfs
from integration.invariants import (
    assert_consistent,
    assert_shutdown_leaves_nothing,
    status_now,
)

Cleanup = Callable[[], None]


@dataclass
class Fault:
    name: str
    programs: Callable[[Daemon], dict[str, dict[str, Any]]]
    inject: Callable[[Daemon], None]
    supervisord: dict[str, Any] = field(default_factory=dict)
    # Runs before the daemon starts; returns what undoes it (always run, pass or fail).
    prepare: Optional[Callable[[Daemon], Optional[Cleanup]]] = None
    expected: Optional[Callable[[Daemon], set[str]]] = None


def sleeper(**extra: Any) -> dict[str, Any]:
    return {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2, **extra}


def writer(**extra: Any) -> dict[str, Any]:
    return {"command": helper("seqwriter", "--interval", 0.01), "startsecs": 0, **extra}


def ctl_in_background(daemon: Daemon, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=daemon.env,
    )


def finish(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """Wait for background ctl commands; kill (and fail on) any still hanging."""
    hung = []
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            hung.append(" ".join(map(str, proc.args[-2:])))
    assert not hung, f"ctl commands never returned: {hung}"


def wait_ready(daemon: Daemon, *names: str) -> None:
    daemon.wait_until(lambda: all("ready" in daemon.read_log(n) for n in names), 10)


# -- full disk ------------------------------------------------------------------------


def mount_tiny_disk(daemon: Daemon) -> Cleanup:
    return mount_tmpfs(daemon, "logs")[1]


def fill_the_disk(daemon: Daemon) -> None:
    daemon.wait_until(lambda: "cannot write log" in daemon.logfile.read_text(), 15)
    daemon.ctl_ok("restart", "calm", timeout=10)
    status_now(daemon)


# -- a missing directory ----------------------------------------------------------------


def spawn_into_missing_directories(daemon: Daemon) -> None:
    res = daemon.ctl("start", "nowhere", timeout=10)
    assert res.returncode == 1, daemon.describe(res)
    # The log directory vanishes under a running program that writes.
    shutil.rmtree(daemon.log_dir, ignore_errors=True)
    daemon.ctl_ok("restart", "talker", timeout=10)
    daemon.wait_state("talker", "RUNNING")


# -- a FIFO as a log file ---------------------------------------------------------------


def make_fifo(daemon: Daemon) -> None:
    os.mkfifo(daemon.path("out.fifo"))


def fifo_with_stalled_reader(daemon: Daemon) -> Cleanup:
    make_fifo(daemon)
    # A reader that never reads: the pipe fills up after 64 KiB.
    fd = os.open(daemon.path("out.fifo"), os.O_RDONLY | os.O_NONBLOCK)
    return lambda: os.close(fd)


def let_the_fifo_writer_run(daemon: Daemon) -> None:
    for _ in range(5):
        status_now(daemon)  # within 1 s each, while the writer floods a stuck FIFO
        daemon.ctl_ok("restart", "calm", timeout=10)


# -- huge timeouts ------------------------------------------------------------------------


def stop_with_a_huge_stopwaitsecs(daemon: Daemon) -> None:
    wait_ready(daemon, "stubborn")
    pid = daemon.status()["stubborn"]["pid"]
    stop = ctl_in_background(daemon, "stop", "stubborn")
    try:
        daemon.wait_state("stubborn", "STOPPING", timeout=5)
        status_now(daemon)
        os.kill(pid, signal.SIGKILL)  # what the daemon would do in 31 years
        daemon.wait_state("stubborn", "STOPPED", timeout=5)
    finally:
        finish([stop])


def idle_client_with_a_huge_idle_timeout(daemon: Daemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.connect(str(daemon.socket))
        idle.sendall(b'{"id": 1, "cmd": "version"}\n')
        idle.settimeout(5)
        assert b'"ok":true' in idle.recv(4096)
        status_now(daemon)
        daemon.ctl_ok("restart", "calm", timeout=10)


# -- concurrent commands on one program ---------------------------------------------------


def reload_restart_stop_at_once(daemon: Daemon) -> None:
    wait_ready(daemon, "web:0", "web:1")
    daemon.write_config({"web": sleeper(numprocs=2, startsecs=0.2), "calm": sleeper()})
    procs = [
        ctl_in_background(daemon, "reload"),
        ctl_in_background(daemon, "restart", "web"),
        ctl_in_background(daemon, "stop", "web"),
    ]
    finish(procs)


def reload_removing_it_during_restart(daemon: Daemon) -> None:
    wait_ready(daemon, "web:0", "web:1")
    daemon.write_config({"calm": sleeper()})
    finish([ctl_in_background(daemon, "reload"), ctl_in_background(daemon, "restart", "web")])


# -- dependencies ---------------------------------------------------------------------------


def dependent_exits_on_its_own(daemon: Daemon) -> None:
    wait_ready(daemon, "db", "web")
    daemon.ctl_ok("signal", "TERM", "web")
    daemon.wait_state("web", "EXITED")


FAULTS = [
    Fault(
        "full_disk",
        prepare=mount_tiny_disk,
        programs=lambda d: {
            "flood": {"command": helper("seqwriter", "--width", 200), "startsecs": 0},
            "calm": sleeper(),
        },
        inject=fill_the_disk,
    ),
    Fault(
        "missing_directory",
        programs=lambda d: {
            "nowhere": sleeper(
                directory=str(d.path("no/such/dir")), autostart=False, startretries=0
            ),
            "talker": writer(),
            # A log in a directory that does not exist is refused up front, by --check,
            # launch and reload (test_log_faults.py); here the log directory goes away
            # under a running program instead.
        },
        inject=spawn_into_missing_directories,
    ),
    Fault(
        "fifo_log_without_reader",
        prepare=make_fifo,
        programs=lambda d: {"piped": writer(stdout_logfile="out.fifo"), "calm": sleeper()},
        inject=let_the_fifo_writer_run,
    ),
    Fault(
        "fifo_log_with_stalled_reader",
        prepare=fifo_with_stalled_reader,
        programs=lambda d: {"piped": writer(stdout_logfile="out.fifo"), "calm": sleeper()},
        inject=let_the_fifo_writer_run,
    ),
    Fault(
        "huge_stopwaitsecs",
        programs=lambda d: {
            "stubborn": {"command": helper("ignore_term"), "startsecs": 0, "stopwaitsecs": 1e9}
        },
        inject=stop_with_a_huge_stopwaitsecs,
    ),
    Fault(
        "huge_idle_timeout",
        supervisord={"idle_timeout": 1e9, "line_timeout": 1e9},
        programs=lambda d: {"calm": sleeper()},
        inject=idle_client_with_a_huge_idle_timeout,
    ),
    Fault(
        "concurrent_reload_restart_stop",
        programs=lambda d: {"web": sleeper(numprocs=2), "calm": sleeper()},
        inject=reload_restart_stop_at_once,
    ),
    Fault(
        "reload_removes_program_during_restart",
        programs=lambda d: {"web": sleeper(numprocs=2), "calm": sleeper()},
        inject=reload_removing_it_during_restart,
        expected=lambda d: {"calm"},
    ),
    Fault(
        "dependent_at_rest",
        programs=lambda d: {"db": sleeper(), "web": sleeper(depends_on=["db"])},
        inject=dependent_exits_on_its_own,
    ),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
class TestFaultMatrix:
    def test_daemon_stays_responsive_and_consistent(self, daemon: Daemon, fault: Fault) -> None:
        with prepared(daemon, fault):
            daemon.start(fault.programs(daemon), **fault.supervisord)
            fault.inject(daemon)
            assert_consistent(daemon, expected_names(daemon, fault))

    def test_shutdown_completes_and_leaves_nothing(self, daemon: Daemon, fault: Fault) -> None:
        with prepared(daemon, fault):
            daemon.start(fault.programs(daemon), **fault.supervisord)
            fault.inject(daemon)
            assert_shutdown_leaves_nothing(daemon, deadline=10)


class prepared:
    """Runs a fault's prepare step, and its cleanup whatever happens."""

    def __init__(self, daemon: Daemon, fault: Fault):
        self.daemon, self.fault, self.cleanup = daemon, fault, None

    def __enter__(self) -> None:
        if self.fault.prepare:
            self.cleanup = self.fault.prepare(self.daemon)

    def __exit__(self, *exc: Any) -> None:
        if self.cleanup:
            self.cleanup()


def expected_names(daemon: Daemon, fault: Fault) -> set[str]:
    if fault.expected:
        return fault.expected(daemon)
    names = set()
    for prog, keys in fault.programs(daemon).items():
        n = keys.get("numprocs", 1)
        names.update([prog] if n == 1 else [f"{prog}:{i}" for i in range(n)])
    return names
