"""[programs.X.limits] applied in the child before exec: rlimits (soft and hard apart),
nice, oom_score_adj, with a user switch, and a limit that cannot be applied."""

from __future__ import annotations

import os
import pwd

import pytest

pytestmark = pytest.mark.timeout(40)

# The program reports what it was given, as a shell user would check it.
REPORT = ["sh", "-c", 'echo "nofile $(ulimit -Sn) $(ulimit -Hn)"; exec sleep 60']


def proc_limit(pid: int, title: str) -> tuple[str, str]:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith(title):
                soft, hard = line[len(title) :].split()[:2]
                return soft, hard
    raise AssertionError(f"no {title!r} in /proc/{pid}/limits")


def nice_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


def test_rlimits_nice_and_oom_score_adj_reach_the_program(daemon):
    limits = {
        "nofile": [123, 456],
        "core": "unlimited",
        "fsize": ["1MB", "2MB"],
        "nice": 7,
        "oom_score_adj": 321,
    }
    daemon.start({"web": {"command": REPORT, "startsecs": 0, "limits": limits}})
    pid = daemon.wait_state("web", "RUNNING")["pid"]
    daemon.wait_until(lambda: "nofile" in daemon.read_log("web"), 5, message="report")
    assert daemon.read_log("web").split() == ["nofile", "123", "456"]
    # `exec sleep` keeps the pid: what the shell was given, sleep still has.
    assert proc_limit(pid, "Max core file size") == ("unlimited", "unlimited")
    assert proc_limit(pid, "Max file size") == (str(1024**2), str(2 * 1024**2))
    assert nice_of(pid) == 7
    with open(f"/proc/{pid}/oom_score_adj") as fh:
        assert fh.read().strip() == "321"


def test_programs_without_limits_keep_the_daemons(daemon):
    daemon.start({"plain": {"command": ["sleep", "60"], "startsecs": 0}})
    pid = daemon.wait_state("plain", "RUNNING")["pid"]
    assert nice_of(pid) == nice_of(daemon.pid)
    assert proc_limit(pid, "Max open files") == proc_limit(daemon.pid, "Max open files")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_limits_needing_root_apply_before_the_user_switch(daemon):
    nobody = pwd.getpwnam("nobody")
    daemon.start(
        {
            "web": {
                "command": REPORT,
                "startsecs": 0,
                "user": "nobody",
                # Only root can set nice < 0: it must be applied before the switch to
                # nobody, who could not.
                "limits": {"nofile": [50, 60], "nice": -3, "oom_score_adj": 100},
            }
        }
    )
    pid = daemon.wait_state("web", "RUNNING")["pid"]
    daemon.wait_until(lambda: "nofile" in daemon.read_log("web"), 5, message="report")
    assert daemon.read_log("web").split() == ["nofile", "50", "60"]
    assert os.stat(f"/proc/{pid}").st_uid == nobody.pw_uid
    assert nice_of(pid) == -3
    with open(f"/proc/{pid}/oom_score_adj") as fh:
        assert fh.read().strip() == "100"


def test_a_limit_that_cannot_be_applied_is_a_spawn_error(daemon):
    with open("/proc/sys/fs/nr_open") as fh:
        too_many = int(fh.read()) + 1  # above the kernel's ceiling: EPERM even for root
    daemon.start(
        {
            "web": {
                "command": ["sleep", "60"],
                "startsecs": 0,
                "startretries": 0,
                "limits": {"nofile": too_many},
            }
        }
    )
    obj = daemon.wait_state("web", "FATAL")
    assert obj["pid"] is None
    assert obj["spawn_error"].startswith(f"cannot set limit nofile = {too_many}: "), obj
    assert obj["description"] == f"spawn error: {obj['spawn_error']}"
    assert "Operation not permitted" in obj["spawn_error"] or "not allowed" in obj["spawn_error"]
    assert f"spawnerr: web: cannot set limit nofile = {too_many}" in daemon.log_tail()
