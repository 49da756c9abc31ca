"""`events` streams every state change as JSON lines; a stalled subscriber is dropped."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from integration.harness import CTL_CMD, helper

pytestmark = pytest.mark.timeout(40)


def test_events_for_start_crash_restart_stop(daemon):
    daemon.start(
        {
            "w": {
                "command": helper("exiter", "--code", 1, "--delay", 0.5),
                "startsecs": 0.2,
                "autorestart": False,
            }
        }
    )
    daemon.wait_state("w", "EXITED", timeout=10)
    stream = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "events"],
        stdout=subprocess.PIPE,
        text=True,
        env=daemon.env,
    )
    try:
        time.sleep(0.3)  # let it subscribe; events before that are not expected
        daemon.ctl_ok("start", "w")
        daemon.wait_state("w", "EXITED", timeout=10)
        daemon.ctl_ok("start", "w")
        daemon.ctl_ok("stop", "w")
        events = []
        while len(events) < 7:
            line = stream.stdout.readline()
            assert line, "events stream ended early"
            events.append(json.loads(line))
    finally:
        stream.kill()
        stream.wait()
    edges = [(e["from"], e["to"]) for e in events]
    assert edges == [
        ("EXITED", "STARTING"),
        ("STARTING", "RUNNING"),
        ("RUNNING", "EXITED"),
        ("EXITED", "STARTING"),
        ("STARTING", "RUNNING"),
        ("RUNNING", "STOPPING"),
        ("STOPPING", "STOPPED"),
    ]
    assert events[2]["exitstatus"] == 1 and events[2]["process"] == "w"
    assert all(isinstance(e["time"], float) for e in events)


def test_stalled_subscriber_is_dropped_and_daemon_keeps_answering(daemon):
    crashers = {
        f"c{i}": {"command": ["false"], "startsecs": 0, "autorestart": True, "backoff_max": 0}
        for i in range(20)
    }
    daemon.start(crashers, loglevel="warning")
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(str(daemon.socket))
    try:
        stalled.sendall(b'{"id": 1, "cmd": "events"}\n')
        # It never reads; the daemon must keep serving others, and eventually drop it.
        deadline = time.monotonic() + 20
        dropped = False
        while time.monotonic() < deadline and not dropped:
            t0 = time.monotonic()
            assert daemon.ctl("status").returncode in (0, 3)
            assert time.monotonic() - t0 < 5, "status stalled behind a stalled subscriber"
            dropped = "too slow" in daemon.logfile.read_text()
        assert dropped, "the stalled subscriber was never dropped"
    finally:
        stalled.close()
