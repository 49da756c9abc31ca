"""Past ~3000 descriptors the daemon spawns through a short-lived helper process
(linux/spawner.py): its children must come out exactly as the daemon's own spawns do
(environment, umask, stdio, session, errors) and be the daemon's own children once the
burst is over, their exits seen and no zombie left."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from integration.test_cgroups import cgroup_root, needs_cgroups  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(180)

MANY = 1600  # two pipes each: the table passes 3000 before the last ones start


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def _helper_pids(log: str) -> list[int]:
    return [
        int(line.split("(pid ")[1].split(")")[0])
        for line in log.splitlines()
        if "spawning through a helper (pid " in line
    ]


def test_a_burst_past_the_table_threshold_spawns_through_a_helper_whose_children_are_ours(
    daemon, tmp_path
):
    sleeper = {"command": ["sleep", "600"], "startsecs": 0, "priority": 1}
    daemon.start(
        {
            "many": {**sleeper, "numprocs": MANY, "process_name": "{program_name}_{process_num}"},
            # Started last (priority), so through the helper:
            "marks": {
                "command": [
                    "sh",
                    "-c",
                    'umask; echo "$SUPERVISOR_PROCESS_NAME $GREETING"; '
                    "echo to-stderr >&2; exec sleep 600",
                ],  # fmt: skip
                "environment": {"GREETING": "hello"},
                "umask": 0o027,
                "startsecs": 0,
                "priority": 900,
            },
            "quits": {
                "command": ["sh", "-c", "exit 3"],
                "numprocs": 20,
                "process_name": "{program_name}_{process_num}",
                "startsecs": 0,
                "autorestart": False,
                "exitcodes": [0],
                "priority": 900,
            },
            "missing": {"command": ["/nonexistent/binary"], "priority": 900, "startretries": 0},
        },
        launch_timeout=120,
    )
    log = daemon.logfile.read_text()
    helpers = _helper_pids(log)
    assert helpers, "no spawn went through a helper:\n" + daemon.log_tail()

    status = daemon.status()
    running = [name for name, entry in status.items() if entry["state"] == "RUNNING"]
    assert len(running) == MANY + 1, daemon.log_tail()
    # The helper is gone and every child is the daemon's own.
    daemon.wait_until(lambda: not any(psutil.pid_exists(p) for p in helpers), timeout=10)
    assert {_ppid(status[name]["pid"]) for name in running} == {daemon.pid}

    # Its children's exits were seen (as zombies of the helper until it died).
    for n in range(20):
        entry = daemon.wait_state(f"quits:quits_{n}", "EXITED")
        assert entry["exitstatus"] == 3
    # The same error text as a spawn in the daemon.
    missing = daemon.wait_state("missing", "FATAL")
    assert "/nonexistent/binary: No such file or directory" in str(missing), missing

    # What the helper's child got: environment, umask, stdout and stderr as piped.
    daemon.wait_until(lambda: "hello" in daemon.read_log("marks"))
    assert daemon.read_log("marks").split() == ["0027", "marks", "hello"]
    assert daemon.read_log("marks", "stderr").strip() == "to-stderr"
    assert _session_leader(status["marks"]["pid"])

    # A second burst (restart), then the daemon execs itself: the children it started
    # through a helper stay its own, same pids.
    daemon.ctl_ok("restart", "many:*", timeout=120)
    before = {name: entry["pid"] for name, entry in daemon.status().items() if entry["pid"]}
    assert len(_helper_pids(daemon.logfile.read_text())) > len(helpers)
    daemon.ctl_ok("reexec", timeout=90)
    after = {name: entry["pid"] for name, entry in daemon.status().items() if entry["pid"]}
    assert after == before
    assert {_ppid(pid) for pid in after.values()} == {daemon.pid}

    daemon.ctl_ok("stop", "all", timeout=120)
    assert not [p for p in daemon.processes() if p.pid != daemon.pid and p.status() != "zombie"]


def _session_leader(pid: int) -> bool:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[3]) == pid  # session id: setsid, as posix_spawn's in the daemon


@needs_cgroups
def test_under_cgroup_tracking_every_child_is_born_in_its_own_cgroup(daemon, cgroup_root):  # noqa: F811
    """The daemon joins a program's cgroup to spawn it there: no helper may stand in."""
    sleeper = {"command": ["sleep", "600"], "startsecs": 0}
    daemon.start(
        {
            "many": {**sleeper, "numprocs": MANY, "process_name": "{program_name}_{process_num}"},
            "last": {**sleeper, "priority": 900},
        },
        launch_timeout=120,
        cgroup_root=cgroup_root,
    )
    assert not _helper_pids(daemon.logfile.read_text())
    pid = daemon.wait_state("last", "RUNNING")["pid"]
    members = Path(cgroup_root, "last", "cgroup.procs").read_text().split()
    assert members == [str(pid)]
    daemon.ctl_ok("stop", "all", timeout=120)
