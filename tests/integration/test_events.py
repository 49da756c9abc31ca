"""`events` streams every state change as JSON lines; a stalled subscriber is dropped."""

from __future__ import annotations

import json
import socket
import time

import pytest

from integration.harness import helper

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
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.settimeout(10)
    stream.connect(str(daemon.socket))
    try:
        lines = stream.makefile("r", encoding="utf-8")
        stream.sendall(b'{"id": 1, "cmd": "events"}\n')
        # The subscription's first reply: from here on every change is streamed.
        assert json.loads(lines.readline())["result"] == {"subscribed": True}
        daemon.ctl_ok("start", "w")
        daemon.wait_state("w", "EXITED", timeout=10)
        daemon.ctl_ok("start", "w")
        daemon.ctl_ok("stop", "w")
        events = []
        while len(events) < 7:
            line = lines.readline()
            assert line, "events stream ended early"
            reply = json.loads(line)
            assert reply["ok"] and reply["id"] == 1, reply
            events.append(reply["result"])
    finally:
        stream.close()
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
