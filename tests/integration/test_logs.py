"""Child output capture (SPEC §1 "Every byte ... reaches its log file", §2 *_logfile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from integration.harness import CTL_CMD, helper, wait_until
from integration.invariants import Connection

pytestmark = pytest.mark.timeout(40)

N = 10_000


def expected(prefix: str, n: int = N) -> list[str]:
    return [f"{prefix} {i:06d}" for i in range(1, n + 1)]


def test_stdout_and_stderr_complete_in_auto_logs(daemon):
    daemon.start({"chatty": {"command": helper("lines", N), "startsecs": 0, "autorestart": False}})
    obj = daemon.wait_state("chatty", "EXITED", timeout=20)
    assert obj["exitstatus"] == 0
    out, err = daemon.log_path("chatty", "stdout"), daemon.log_path("chatty", "stderr")
    daemon.wait_until(
        lambda: (
            len(daemon.read_log("chatty", "stdout").splitlines()) >= N
            and len(daemon.read_log("chatty", "stderr").splitlines()) >= N
        ),
        10,
        message="all lines in the logs",
    )
    assert out.read_text().splitlines() == expected("out")
    assert err.read_text().splitlines() == expected("err")


def test_logs_of_a_running_process(daemon):
    """Output is written as it comes, not only when the child exits."""
    daemon.start({"chatty": {"command": helper("lines", 2000, "--stay"), "startsecs": 0}})
    daemon.wait_state("chatty", "RUNNING")
    daemon.wait_until(
        lambda: (
            daemon.read_log("chatty", "stdout").splitlines() == expected("out", 2000)
            and daemon.read_log("chatty", "stderr").splitlines() == expected("err", 2000)
        ),
        10,
        message="all 2000 lines while still running",
    )


def test_stdout_logfile_none(daemon):
    daemon.start(
        {
            "quiet": {
                "command": helper("lines", 100, "--stay"),
                "startsecs": 0,
                "stdout_logfile": "none",
            }
        }
    )
    daemon.wait_state("quiet", "RUNNING")
    daemon.wait_until(
        lambda: len(daemon.read_log("quiet", "stderr").splitlines()) == 100, 10, message="stderr"
    )
    assert not daemon.log_path("quiet", "stdout").exists()
    assert not any("out 000001" in p.read_text() for p in daemon.log_dir.rglob("*") if p.is_file())
    # The program still runs fine with its stdout going nowhere.
    assert daemon.state("quiet") == "RUNNING"


def test_custom_log_paths(daemon):
    (daemon.dir / "custom").mkdir()
    daemon.start(
        {
            "custom": {
                "command": helper("lines", 500, "--stay"),
                "startsecs": 0,
                "stdout_logfile": "custom/out.log",  # relative to the config file
                "stderr_logfile": str(daemon.dir / "custom" / "err.log"),
            }
        }
    )
    daemon.wait_state("custom", "RUNNING")
    out, err = daemon.dir / "custom" / "out.log", daemon.dir / "custom" / "err.log"
    daemon.wait_until(
        lambda: (
            out.exists()
            and err.exists()
            and out.read_text().splitlines() == expected("out", 500)
            and err.read_text().splitlines() == expected("err", 500)
        ),
        10,
        message="custom log files complete",
    )
    assert not daemon.log_path("custom", "stdout").exists()


def test_redirect_stderr(daemon):
    daemon.start(
        {
            "merged": {
                "command": helper("lines", 300, "--stay"),
                "startsecs": 0,
                "redirect_stderr": True,
            }
        }
    )
    daemon.wait_state("merged", "RUNNING")
    daemon.wait_until(
        lambda: len(daemon.read_log("merged", "stdout").splitlines()) == 600, 10, message="600"
    )
    lines = daemon.read_log("merged", "stdout").splitlines()
    assert [x for x in lines if x.startswith("out")] == expected("out", 300)
    assert [x for x in lines if x.startswith("err")] == expected("err", 300)


def test_numprocs_logs_separate(daemon):
    daemon.start({"w": {"command": helper("lines", 50, "--stay"), "startsecs": 0, "numprocs": 2}})
    for name in ("w:0", "w:1"):
        daemon.wait_state(name, "RUNNING")
        daemon.wait_until(
            lambda name=name: daemon.read_log(name).splitlines() == expected("out", 50),
            10,
            message=f"{name} stdout log",
        )


def test_rotation_keeps_every_byte(daemon):
    daemon.start(
        {
            "rot": {
                "command": helper("lines", 5000),
                "startsecs": 0,
                "autorestart": False,
                "stdout_logfile_maxbytes": "8KB",
                "stdout_logfile_backups": 20,
            }
        }
    )
    daemon.wait_state("rot", "EXITED", timeout=20)
    base = daemon.log_path("rot", "stdout")

    def all_lines():
        files = [base.with_name(f"{base.name}.{i}") for i in range(20, 0, -1)] + [base]
        text = "".join(p.read_text() for p in files if p.exists())
        return text.splitlines()

    # 5000 lines of 11 bytes = 55,000 bytes: 7 files of 8 KiB, all within 20 backups.
    daemon.wait_until(lambda: len(all_lines()) >= 5000, 10, message="all rotated lines")
    assert all_lines() == expected("out", 5000)
    assert base.with_name(base.name + ".1").exists()


def test_sigusr2_reopens_logs(daemon):
    """External logrotate: move the file away, SIGUSR2 the daemon, output goes to a new file."""
    dpid = daemon.start({"web": {"command": helper("sigwait"), "startsecs": 0}})
    daemon.wait_state("web", "RUNNING")
    log = daemon.log_path("web")
    daemon.wait_until(lambda: "ready" in daemon.read_log("web"), 5, message="ready logged")
    moved = log.with_name(log.name + ".moved")
    os.rename(log, moved)
    os.kill(dpid, signal.SIGUSR2)
    daemon.wait_until(log.exists, 5, message="log file re-created after SIGUSR2")
    daemon.ctl_ok("signal", "HUP", "web")
    daemon.wait_until(lambda: "got SIGHUP" in daemon.read_log("web"), 5, message="new output")
    assert "got SIGHUP" not in moved.read_text()


def test_logs_are_created_readable_by_owner_and_group_only(daemon):
    """Programs print tokens and personal data: no log is readable by every user."""
    (daemon.dir / "custom").mkdir()
    daemon.start(
        {
            "chatty": {
                "command": helper("lines", 10, "--stay"),
                "startsecs": 0,
                "stdout_logfile": "custom/out.log",
            }
        },
        umask=0o002,  # the create mode, not the umask, keeps others out
    )
    daemon.wait_until(lambda: daemon.read_log("chatty", "stderr").count("\n") == 10)
    for path in (daemon.dir / "custom" / "out.log", daemon.log_path("chatty", "stderr")):
        assert os.stat(path).st_mode & 0o777 == 0o640, path
    assert os.stat(daemon.logfile).st_mode & 0o777 == 0o640


def test_an_exited_process_has_its_last_output_in_the_log(daemon):
    """EXITED in a reply means the log already holds everything the child wrote, even
    when it died with a full pipe the daemon had not read yet (SIGSTOPped here). The
    pipe is as big as we may make it, and its short lines each take a prefix: moving
    them takes far longer than one wakeup's share (pipes.TIME_BUDGET)."""
    trigger, sizes = daemon.dir / "go", daemon.dir / "sizes"
    script = (
        "import fcntl, os, time\n"
        "try:\n"
        "    fcntl.fcntl(1, 1031, 16 << 20)\n"  # F_SETPIPE_SZ
        "except OSError:\n"
        "    fcntl.fcntl(1, 1031, 1 << 20)\n"
        "size = fcntl.fcntl(1, 1032)\n"  # F_GETPIPE_SZ
        f"with open({str(sizes)!r}, 'a') as f: f.write(str(size) + ' ')\n"
        f"while not os.path.exists({str(trigger)!r}): time.sleep(0.01)\n"
        "os.write(1, b'y\\n' * (size // 2))\n"
    )
    program = {"command": [sys.executable, "-c", script], "log_prefix": "{name} "}
    daemon.start({"blob": {**program, "startsecs": 0, "autorestart": False}})
    for attempt in range(3):
        if attempt:
            trigger.unlink()
            daemon.ctl_ok("start", "blob")
        child = psutil.Process(daemon.wait_state("blob", "RUNNING")["pid"])
        wait_until(lambda n=attempt: len(sizes.read_text().split()) > n, 10, message="pipe sized")
        os.kill(daemon.pid, signal.SIGSTOP)
        try:
            trigger.touch()
            wait_until(lambda c=child: c.status() == psutil.STATUS_ZOMBIE, 10, message="child dead")
            # Asked while the daemon is stopped: it reads the request in the same turn
            # as the SIGCHLD and the unread pipe.
            conn = Connection(daemon.socket, timeout=10)
            conn.send(1, "status", {"names": ["blob"]})
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while True:
            reply = conn.read_reply(deadline)
            assert reply.get("ok"), reply
            if reply["result"][0]["state"] == "EXITED":
                break
            conn.send(2, "status", {"names": ["blob"]})
        conn.close()
        written = sum(int(size) // 2 for size in sizes.read_text().split())
        logged = daemon.log_path("blob").read_bytes().count(b"blob y\n")
        assert logged == written, f"run {attempt + 1}: {logged} of {written} lines logged"


def test_tail_f_started_before_the_first_byte_sees_it(daemon):
    """A log is made at its pipe's first byte: a follower that came first (and so made
    it) is the one told of that byte, on stdout and on stderr."""
    trigger = daemon.dir / "go"
    script = f"until [ -e {trigger} ]; do sleep 0.02; done; echo first; echo second >&2; sleep 60"
    daemon.start({"late": {"command": ["sh", "-c", script], "startsecs": 0}})
    daemon.wait_state("late", "RUNNING")
    assert not daemon.log_path("late").exists()
    daemon_process = psutil.Process(daemon.pid)
    before = len(daemon_process.net_connections("unix"))
    followers = [
        subprocess.Popen(
            [*CTL_CMD, "-c", str(daemon.config), "tail", "-f", "late", *extra],
            stdout=subprocess.PIPE,
            env=daemon.env,
        )
        for extra in ([], ["stderr"])
    ]
    try:
        wait_until(lambda: len(daemon_process.net_connections("unix")) >= before + 2, 10)
        daemon.ctl_ok("status")  # a turn after both requests came: they are followers now
        trigger.touch()
        for follower, line in zip(followers, (b"first\n", b"second\n")):
            got, deadline = b"", time.monotonic() + 10
            while line not in got and time.monotonic() < deadline:
                got += follower.stdout.read1(65536)
            assert line in got, f"tail -f printed {got!r}"
    finally:
        for follower in followers:
            follower.kill()
            follower.wait()
