"""Faults the daemon must ride out (issue 6): a full log disk, no descriptors left."""

from __future__ import annotations

import os
import resource
import socket
import time

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(60)


def test_full_log_disk_is_reported_and_supervision_goes_on(daemon, tiny_disk):
    daemon.start(
        {
            "flood": {"command": helper("seqwriter", "--width", 200), "startsecs": 0},
            "other": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    daemon.wait_until(lambda: "cannot write log" in daemon.logfile.read_text(), 15)
    # The writer is not blocked on a full pipe: we keep draining (and discarding).
    flood_pid = daemon.status()["flood"]["pid"]
    before = psutil.Process(flood_pid).cpu_times().user
    daemon.wait_until(lambda: psutil.Process(flood_pid).cpu_times().user > before + 0.2, 15)
    # Other work goes on.
    daemon.ctl_ok("restart", "other")
    daemon.ctl_ok("stop", "flood")
    assert daemon.status()["other"]["state"] == "RUNNING"


def test_out_of_descriptors_on_spawn_is_a_state_not_a_crash(daemon):
    dpid = daemon.start(
        {
            "late": {
                "command": ["sleep", "300"],
                "startsecs": 0,
                "autostart": False,
                "startretries": 1,
            }
        }
    )
    soft, hard = resource.prlimit(dpid, resource.RLIMIT_NOFILE)
    used = len(os.listdir(f"/proc/{dpid}/fd"))
    resource.prlimit(dpid, resource.RLIMIT_NOFILE, (used, hard))
    try:
        res = daemon.ctl("start", "late")
        assert res.returncode == 1, daemon.describe(res)
        st = daemon.status()["late"]
        assert st["state"] == "FATAL" and "Too many open files" in (st["spawn_error"] or "")
    finally:
        resource.prlimit(dpid, resource.RLIMIT_NOFILE, (soft, hard))
    daemon.ctl_ok("start", "late")
    assert psutil.Process(dpid).is_running()


def test_no_descriptor_for_a_client_pauses_accepting_without_spinning(daemon):
    dpid = daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}})
    soft, hard = resource.prlimit(dpid, resource.RLIMIT_NOFILE)
    open_fds = {int(fd) for fd in os.listdir(f"/proc/{dpid}/fd")}
    lowest_free = min(set(range(len(open_fds) + 1)) - open_fds)
    resource.prlimit(dpid, resource.RLIMIT_NOFILE, (lowest_free, hard))  # accept() gets EMFILE
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(daemon.socket))  # queued by the kernel; the daemon cannot accept
        cpu0 = sum(psutil.Process(dpid).cpu_times()[:2])
        daemon.wait_until(lambda: "cannot accept a client" in daemon.logfile.read_text(), 10)
        time.sleep(1.0)  # measuring CPU over a fixed window is the point here
        spent = sum(psutil.Process(dpid).cpu_times()[:2]) - cpu0
        assert spent < 0.5, f"the daemon spun on EMFILE: {spent:.2f}s CPU in ~1 s"
    finally:
        resource.prlimit(dpid, resource.RLIMIT_NOFILE, (soft, hard))
    sock.sendall(b'{"id": 1, "cmd": "version"}\n')
    sock.settimeout(10)
    assert b'"ok":true' in sock.recv(4096)
    sock.close()
