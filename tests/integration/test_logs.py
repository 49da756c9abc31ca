"""Child output capture (SPEC §1 "Every byte ... reaches its log file", §2 *_logfile)."""

from __future__ import annotations

import os
import signal

import pytest

from integration.harness import helper

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
