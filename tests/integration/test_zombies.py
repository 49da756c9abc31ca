"""No zombies, ever (SPEC §1): crash loops and orphans re-parented to the daemon are reaped.

These tests are shown to fail when the daemon does not reap:
    PYTHONPATH=tests/helpers/noreap .venv/bin/pytest tests/integration/test_zombies.py
"""

from __future__ import annotations

import os
import shutil
import time

import psutil
import pytest

from integration.harness import helper


def zombie_children(ppid: int) -> set[tuple[int, str]]:
    """{(pid, starttime)} of zombies whose parent is `ppid`, straight from /proc/*/stat."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm (field 2) may hold spaces and parens: split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        state, parent, starttime = fields[0], int(fields[1]), fields[19]
        if state == "Z" and parent == ppid:
            out.add((int(entry), starttime))
    return out


def persistent_zombies(ppid: int, duration: float, gap: float = 0.1) -> tuple[dict, int]:
    """Sample every `gap` s for `duration` s.

    Returns ({zombie: seconds between the first and last sample that saw it} for every
    zombie seen by two consecutive samples, number of samples).
    """
    first_seen: dict = {}
    persisted: dict = {}
    prev = zombie_children(ppid)
    t_prev = time.monotonic()
    for z in prev:
        first_seen[z] = t_prev
    samples = 1
    deadline = t_prev + duration
    while time.monotonic() < deadline:
        time.sleep(gap)
        cur = zombie_children(ppid)
        t = time.monotonic()
        samples += 1
        for z in cur:
            first_seen.setdefault(z, t)
        for z in prev & cur:
            persisted[z] = round(t - first_seen[z], 3)
        prev = cur
    return persisted, samples


@pytest.mark.timeout(10)
def test_scanner_sees_a_real_zombie():
    """The detector works: a child we do not reap shows up in two samples."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while not any(z[0] == pid for z in zombie_children(os.getpid())):
            assert time.monotonic() < deadline, "our own zombie never appeared"
            time.sleep(0.01)
        persisted, _ = persistent_zombies(os.getpid(), 0.25)
        assert pid in {z[0] for z in persisted}, persisted
    finally:
        os.waitpid(pid, 0)


@pytest.mark.timeout(50)
def test_crash_loop_leaves_no_zombies(daemon):
    false = shutil.which("false") or "/bin/false"
    programs = {
        f"crash{i:02d}": {
            "command": [false],
            "startsecs": 0,
            "autorestart": True,
            "backoff_max": 0,
            "stdout_logfile": "none",
            "stderr_logfile": "none",
        }
        for i in range(30)
    }
    dpid = daemon.start(programs, launch_timeout=15, loglevel="warning")
    persisted, samples = persistent_zombies(dpid, 10.0)
    assert samples >= 10  # a sample scans /proc: fewer on a loaded machine
    assert not persisted, (
        f"zombies of the daemon seen in two samples >= 100 ms apart, with how long each was "
        f"seen ({samples} samples): {sorted(persisted.items())}"
    )
    # It really was crash-looping flat out.
    st = daemon.status()
    assert len(st) == 30
    total = sum(o["restarts"] for o in st.values())
    assert total >= 60, f"only {total} restarts in 10 s with backoff_max = 0"
    assert psutil.Process(dpid).status() != psutil.STATUS_ZOMBIE
    assert daemon.ctl("stop", "all", timeout=30).returncode == 0
    assert not zombie_children(dpid) or not persistent_zombies(dpid, 0.3)[0]


@pytest.mark.timeout(30)
def test_double_forked_orphan_is_reaped(daemon):
    opid_file = daemon.path("orphan.pid")
    go = daemon.path("orphan.go")
    cmd = helper("double_fork", "--pidfile", opid_file, "--exit-when", go)
    dpid = daemon.start({"forker": {"command": cmd, "startsecs": 0, "autorestart": False}})
    opid = daemon.wait_until(
        lambda: opid_file.exists() and int(opid_file.read_text()), 10, message="orphan pid"
    )
    daemon.wait_state("forker", "EXITED", timeout=10)
    # The orphan lives until told to exit: re-parented to the daemon, a child
    # subreaper, not to init.
    orphan = psutil.Process(opid)
    assert orphan.ppid() == dpid, f"orphan's parent is {orphan.ppid()}, daemon is {dpid}"
    go.touch()
    # Once it exits, it must not stay a zombie.
    daemon.wait_until(lambda: not psutil.pid_exists(opid), 5, message=f"orphan {opid} reaped")
    persisted, _ = persistent_zombies(dpid, 0.5)
    assert not persisted
