"""Half-written request lines and idle control connections time out (issue 6)."""

from __future__ import annotations

import json
import select
import socket
import time

import pytest

pytestmark = pytest.mark.timeout(30)


def connect(daemon) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(daemon.socket))
    return sock


def read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_half_written_line_times_out_even_if_it_trickles(daemon):
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}}, line_timeout=1)
    sock = connect(daemon)
    try:
        t0 = time.monotonic()
        for ch in b'{"id": 1, "cmd"':  # a slow loris: one byte every 0.1 s, never a newline
            # Stop once the daemon has answered: a byte sent after its close would draw a
            # reset, which can discard the reply before we read it.
            if select.select([sock], [], [], 0.1)[0]:
                break
            try:
                sock.send(bytes([ch]))
            except OSError:
                break
        reply = json.loads(read_until_eof(sock).splitlines()[0])
        elapsed = time.monotonic() - t0
    finally:
        sock.close()
    assert reply["ok"] is False and reply["error"]["code"] == "TIMEOUT"
    assert 0.9 <= elapsed < 5


def test_idle_connection_closes_but_a_waiting_one_does_not(daemon):
    daemon.start(
        {"slow": {"command": ["sleep", "300"], "startsecs": 2.5, "autostart": False}},
        idle_timeout=1,
    )
    idle, waiting, events = connect(daemon), connect(daemon), connect(daemon)
    try:
        waiting.sendall(b'{"id": 5, "cmd": "start", "args": {"names": ["slow"]}}\n')
        events.sendall(b'{"id": 6, "cmd": "events"}\n')
        t0 = time.monotonic()
        reply = json.loads(read_until_eof(idle))
        assert reply["error"]["code"] == "TIMEOUT" and time.monotonic() - t0 < 4
        # start waits 2.5 s (startsecs), past the idle timeout: it must still get its reply.
        line = waiting.makefile("rb").readline()
        assert json.loads(line)["result"][0]["ok"] is True
        # The events subscriber is still connected and served.
        daemon.ctl_ok("stop", "slow")
        events.settimeout(5)
        seen = b""
        while b'"to":"STOPPED"' not in seen:
            seen += events.recv(65536)
    finally:
        for s in (idle, waiting, events):
            s.close()
