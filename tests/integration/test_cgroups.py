"""cgroup v2 tracking (cgroup_root): every process in a cgroup of its own, so stopping
it, or cleaning up after its main process exits, kills a double-forked, setsid'd
descendant too; status figures; missing controllers said and the fallback kept; the
cgroups removed at reload and shutdown. Contrast: process-group tracking leaves such
an escapee alive. Skipped where no cgroup v2 subtree can be created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from integration.harness import helper
from supervisord_lite.linux import cgroups

pytestmark = pytest.mark.timeout(40)


def _writable_v2() -> str | None:
    mount = cgroups.v2_mount()
    if mount is None:
        return None
    probe = os.path.join(mount, f"sdl-probe-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError:
        return None
    return mount


MOUNT = _writable_v2()
needs_cgroups = pytest.mark.skipif(MOUNT is None, reason="no writable cgroup v2 hierarchy")


def _kill_daemon_leaf(path: str) -> None:
    """The daemon first, so that it cannot respawn what the next step kills."""
    leaf = os.path.join(path, "supervisord-lite")
    try:
        with open(os.path.join(leaf, "cgroup.kill"), "w") as fh:
            fh.write("1")
    except OSError:
        return
    deadline = time.monotonic() + 5
    while "populated 1" in open(os.path.join(leaf, "cgroup.events")).read():
        assert time.monotonic() < deadline, "the daemon's leaf cgroup did not empty"
        time.sleep(0.02)


def _remove_tree(path: str) -> None:
    """Kill everything in the cgroups under path, then remove them, deepest first."""
    _kill_daemon_leaf(path)
    for dirpath, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        try:
            with open(os.path.join(dirpath, "cgroup.kill"), "w") as fh:
                fh.write("1")
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


@pytest.fixture
def cgroup_root():
    """A unique cgroup_root under the v2 mount (not created: the daemon creates it),
    removed with everything in it whatever the test did."""
    path = os.path.join(MOUNT, f"sdl-test-{uuid.uuid4().hex[:12]}")
    try:
        yield path
    finally:
        if os.path.isdir(path):
            _remove_tree(path)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def escapee(daemon, main_lifetime: float) -> dict:
    """A program whose orphan double-forked and called setsid: out of its process group
    and session, re-parented to the daemon; lives until it is killed (or 30 s)."""
    pidfile = daemon.path("orphan.pid")
    never = daemon.path("never")
    cmd = helper(
        "double_fork", "--pidfile", pidfile, "--exit-when", never, "--main-lifetime", main_lifetime
    )
    return {"command": cmd, "startsecs": 0, "autorestart": False, "stopwaitsecs": 2}


def orphan_pid(daemon) -> int:
    pidfile = daemon.path("orphan.pid")
    return daemon.wait_until(lambda: pidfile.exists() and int(pidfile.read_text()), 10)


@needs_cgroups
def test_stop_kills_a_setsid_escapee(daemon, cgroup_root):
    daemon.start({"tree": escapee(daemon, 60)}, cgroup_root=cgroup_root)
    obj = daemon.wait_state("tree", "RUNNING")
    orphan = orphan_pid(daemon)
    assert os.getsid(orphan) == orphan != obj["pid"]
    members = open(os.path.join(cgroup_root, "tree", "cgroup.procs")).read().split()
    assert {str(obj["pid"]), str(orphan)} <= set(members)
    # Figures are at most a second old: the escapee is counted by the next pass.
    obj = daemon.wait_until(
        lambda: (o := daemon.status("tree")["tree"])["tasks"] >= 2 and o, 5, message="2 tasks"
    )
    assert obj["tracking"] == "cgroup" and obj["memory_bytes"] > 0 and obj["cpu_seconds"] >= 0
    daemon.ctl_ok("stop", "tree")
    daemon.wait_until(lambda: not alive(orphan), 5, message="the escapee to die")
    events = open(os.path.join(cgroup_root, "tree", "cgroup.events")).read()
    assert "populated 0" in events


@needs_cgroups
def test_crash_cleanup_kills_a_setsid_escapee(daemon, cgroup_root):
    daemon.start({"tree": escapee(daemon, 1.0)}, cgroup_root=cgroup_root)
    orphan = orphan_pid(daemon)
    daemon.wait_state("tree", "EXITED")  # the main process exited on its own
    daemon.wait_until(lambda: not alive(orphan), 5, message="the escapee to die")


def test_process_groups_leave_a_setsid_escapee(daemon):
    """The contrast, and why cgroups: without them the escapee outlives a stop."""
    daemon.start({"tree": escapee(daemon, 60)})
    orphan = orphan_pid(daemon)
    assert daemon.status("tree")["tree"]["tracking"] == "pgroup"
    try:
        daemon.ctl_ok("stop", "tree")
        assert alive(orphan)
    finally:
        try:
            os.kill(orphan, signal.SIGKILL)
        except ProcessLookupError:
            pass


@needs_cgroups
def test_layout_missing_controllers_and_cleanup_at_shutdown(daemon, cgroup_root):
    daemon.start({"a": {"command": ["sleep", "60"], "startsecs": 0}}, cgroup_root=cgroup_root)
    pid = daemon.wait_state("a", "RUNNING")["pid"]
    leaf = os.path.join(cgroup_root, "supervisord-lite")
    assert open(os.path.join(leaf, "cgroup.procs")).read().split() == [str(daemon.pid)]
    assert open(os.path.join(cgroup_root, "a", "cgroup.procs")).read().split() == [str(pid)]
    available = open(os.path.join(MOUNT, "cgroup.controllers")).read().split()
    missing = [c for c in ("memory", "pids", "cpu") if c not in available]
    if missing:
        line = f"controllers not enabled there: {', '.join(missing)}"
        assert line in daemon.log_tail()
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not os.path.exists(cgroup_root), 10, message="cgroups removed")


@needs_cgroups
def test_reload_removes_a_removed_programs_cgroup(daemon, cgroup_root):
    keep = {"command": ["sleep", "60"], "startsecs": 0}
    daemon.start({"keep": keep, "gone": dict(keep)}, cgroup_root=cgroup_root)
    daemon.wait_state("gone", "RUNNING")
    assert os.path.isdir(os.path.join(cgroup_root, "gone"))
    daemon.write_config({"keep": keep}, {"cgroup_root": cgroup_root})
    daemon.ctl_ok("reload")
    gone = os.path.join(cgroup_root, "gone")
    daemon.wait_until(lambda: not os.path.exists(gone), 10, message="its cgroup removed")
    assert os.path.isdir(os.path.join(cgroup_root, "keep"))


@needs_cgroups
def test_memory_limit_without_the_memory_controller_is_sampled(daemon, cgroup_root):
    """No memory controller here: the limit still holds, by sampling the cgroup's members
    (setsid'd children included)."""
    program = {
        "command": helper("hog", "--mb", 80, "--in-child", 4),
        "startsecs": 0,
        "memory_limit": "40MB",
        "memory_check_interval": 0.2,
        "stopwaitsecs": 2,
    }
    daemon.start({"hog": program}, cgroup_root=cgroup_root)
    by = "memory.max" if "memory" in open(os.path.join(MOUNT, "cgroup.controllers")).read() else ""
    assert daemon.status("hog")["hog"]["memory_limit_by"] == (by or "sampling")
    daemon.wait_until(lambda: daemon.status("hog")["hog"]["restarts"] >= 1, 15, message="restart")
    assert "hog: memory " in daemon.log_tail()


def test_bad_cgroup_root_refuses_to_start(daemon):
    daemon.write_config({"a": {"command": ["sleep", "60"]}}, {"cgroup_root": "/tmp/not-a-cgroup"})
    res = daemon.launch()
    assert res.returncode != 0
    assert "cgroup_root /tmp/not-a-cgroup: must be a directory under the cgroup v2 mount" in (
        res.stderr + res.stdout
    ) or "no cgroup v2 mount" in (res.stderr + res.stdout), res


@needs_cgroups
def test_a_restarted_daemon_kills_a_dead_predecessors_escapee(daemon, cgroup_root):
    """Recovery stops the recorded main process; the setsid'd descendant is on no record
    but is in the cgroup the new instance reuses: it is killed before (issue 22.11)."""
    daemon.start({"tree": escapee(daemon, 60)}, cgroup_root=cgroup_root)
    orphan = orphan_pid(daemon)
    first = daemon.pid
    os.kill(first, signal.SIGKILL)
    daemon.wait_until(lambda: not alive(first), 5, message="the daemon dead")
    daemon.path("orphan.pid").unlink()
    daemon.start()
    obj = daemon.wait_state("tree", "RUNNING")
    new_orphan = orphan_pid(daemon)
    daemon.wait_until(lambda: not alive(orphan), 5, message="the old escapee to die")
    members = set(open(os.path.join(cgroup_root, "tree", "cgroup.procs")).read().split())
    assert str(orphan) not in members and {str(obj["pid"]), str(new_orphan)} <= members
    assert "cgroups: killed what a previous daemon left running in tree" in daemon.log_tail()


@needs_cgroups
def test_a_cgroup_removed_from_outside_is_made_again_at_spawn(daemon, cgroup_root):
    daemon.start({"a": {"command": ["sleep", "60"], "startsecs": 0}}, cgroup_root=cgroup_root)
    daemon.wait_state("a", "RUNNING")
    daemon.ctl_ok("stop", "a")
    path = os.path.join(cgroup_root, "a")
    daemon.wait_until(lambda: _rmdir(path), 5, message="an admin's rmdir of the empty cgroup")
    daemon.ctl_ok("start", "a")
    pid = daemon.wait_state("a", "RUNNING")["pid"]
    assert open(os.path.join(path, "cgroup.procs")).read().split() == [str(pid)]
    assert "was removed from outside; making it again" in daemon.log_tail()


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


@needs_cgroups
def test_reload_that_lowers_numprocs_removes_the_cgroups_of_slots_that_leave(daemon, cgroup_root):
    program = {"command": ["sleep", "60"], "startsecs": 0, "numprocs": 3}
    daemon.start({"w": program}, cgroup_root=cgroup_root)
    for n in range(3):
        daemon.wait_state(f"w:{n}", "RUNNING")
    daemon.write_config({"w": {**program, "numprocs": 1}}, {"cgroup_root": cgroup_root})
    daemon.ctl_ok("reload")
    daemon.wait_state("w", "RUNNING")
    left = lambda: sorted(e for e in os.listdir(cgroup_root) if e.startswith("w"))  # noqa: E731
    daemon.wait_until(lambda: left() == ["w"], 10, message=lambda: f"only w left: {left()}")


@needs_cgroups
def test_ready_from_a_sender_already_reaped_counts_under_cgroups(daemon, cgroup_root):
    """A short-lived helper sends READY=1 and is reaped by the program's shell before the
    daemon reads the datagram (forced here by pausing the daemon): its pid has left
    /proc, but the kernel still knows the cgroup it died in (issue 22.15)."""
    go, sent = daemon.path("go"), daemon.path("sent")
    notifier = " ".join(helper("notifier", "--exit-after-ready"))
    script = f"while [ ! -e {go} ]; do sleep 0.05; done; {notifier}; touch {sent}; exec sleep 300"
    daemon.start(
        {"svc": {"command": ["sh", "-c", script], "ready": {"notify": True, "timeout": 60}}},
        cgroup_root=cgroup_root,
    )
    daemon.wait_state("svc", "STARTING")
    dpid = daemon.pid
    os.kill(dpid, signal.SIGSTOP)
    try:
        go.touch()
        daemon.wait_until(sent.exists, 15, message="the helper sent, exited and was reaped")
    finally:
        os.kill(dpid, signal.SIGCONT)
    st = daemon.wait_state("svc", "RUNNING", timeout=10)
    assert "ready: READY=1 from pid" in daemon.log_tail(), st


STRANGER = """
import os, socket, struct, sys
path = sys.argv[1]
addr = "\\0" + path[1:]
creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
    for _ in range(5):  # the queue holds 10 while the daemon is paused
        rights = struct.pack("3i", *fds)
        sock.sendmsg([b"READY=1"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds),
                                    (socket.SOL_SOCKET, socket.SCM_RIGHTS, rights)], 0, addr)
"""


@needs_cgroups
def test_a_reaped_stranger_is_still_refused_and_its_descriptors_closed(daemon, cgroup_root):
    daemon.start(
        {"svc": {"command": helper("notifier", "--ready-after", -1), "ready": {"notify": True}}},
        cgroup_root=cgroup_root,
    )
    st = daemon.wait_state("svc", "STARTING")
    env = open(f"/proc/{st['pid']}/environ", "rb").read().split(b"\0")
    notify = [e for e in env if e.startswith(b"NOTIFY_SOCKET=")][0].split(b"=", 1)[1].decode()
    before = len(os.listdir(f"/proc/{daemon.pid}/fd"))
    os.kill(daemon.pid, signal.SIGSTOP)  # read only once the stranger is reaped
    try:
        subprocess.run([sys.executable, "-c", STRANGER, notify], check=True, timeout=10)
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    daemon.wait_until(lambda: "not a notify process: dropped" in daemon.log_tail(), 5)
    assert daemon.status()["svc"]["state"] == "STARTING"
    assert len(os.listdir(f"/proc/{daemon.pid}/fd")) == before


@needs_cgroups
def test_a_second_daemon_on_the_same_root_leaves_the_first_ones_programs(make_daemon, cgroup_root):
    """Clearing a dead predecessor's cgroups must not kill a live daemon's programs: a
    daemon already in the leaf means the cgroups under ROOT are not leftovers."""
    first, second = make_daemon(), make_daemon()
    first.start({"a": {"command": ["sleep", "60"], "startsecs": 0}}, cgroup_root=cgroup_root)
    pid = first.wait_state("a", "RUNNING")["pid"]
    second.start({"b": {"command": ["sleep", "60"], "startsecs": 0}}, cgroup_root=cgroup_root)
    second.wait_state("b", "RUNNING")
    assert alive(pid) and first.status("a")["a"]["pid"] == pid
    assert "its cgroups are left alone; give each daemon its own cgroup_root" in (second.log_tail())
