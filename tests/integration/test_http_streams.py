"""The regression class of issue 21.1: nothing a stream's client does can break
supervision. HEAD and aborted requests on every stream endpoint (the page's server-sent
events and the control socket's streams) while a program crash-loops; afterwards every
transition still completes (the crash loop goes on), restart, stop and shutdown work,
states settle, and the daemon logged no traceback.

To extend it, add a path to HTTP_STREAMS or a request to SOCKET_STREAMS."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys

import pytest

from integration.http_helpers import start_http
from integration.invariants import assert_consistent, assert_shutdown_leaves_nothing

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret-viewer-token-" + "x" * 24  # a read-only viewer's: enough to attack with
HTTP_STREAMS = [
    "/api/events",
    "/api/tail?name=crash&stream=stdout&follow=1",
    "/api/tail?name=crash&stream=stderr&follow=1",
    "/api/tail?name=crash",
]
SOCKET_STREAMS = [
    {"cmd": "events"},
    {"cmd": "tail", "args": {"name": "crash", "follow": True}},
    {"cmd": "tail", "args": {"name": "crash", "stream": "stderr", "follow": True}},
    {"cmd": "maintail", "args": {"follow": True}},
]
PROGRAMS = {
    # restarted at once, forever: a transition (and output) several times a second
    "crash": {
        "command": ["sh", "-c", "echo out; echo err >&2; sleep 0.2; exit 1"],
        "startsecs": 0,
        "autorestart": True,
        "backoff_max": 0,
    },
    "steady": {"command": ["sleep", "300"], "startsecs": 0},
}

# Run by the attacker (as nobody where the test runs as root): for each path, a HEAD
# left open, a HEAD pipelined before a GET, a GET closed unread, a GET reset (RST)
# unread, and a GET reset once the stream has begun. Prints "done", then holds the
# open connections until its stdin closes.
ATTACK = r"""
import socket, struct, sys
port, token, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def req(method, path):
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode()
def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
held = []
for path in paths:
    s = connect(); s.sendall(req("HEAD", path)); s.recv(65536); held.append(s)
    s = connect(); s.sendall(req("HEAD", path) + req("GET", path)); s.recv(65536); reset(s)
    s = connect(); s.sendall(req("GET", path)); s.close()
    s = connect(); s.sendall(req("GET", path)); reset(s)
    s = connect(); s.sendall(req("GET", path)); s.recv(65536); reset(s)
print("done", flush=True)
sys.stdin.read()
"""


def _attacker(port: int) -> subprocess.Popen:
    as_nobody = os.geteuid() == 0 and os.path.exists("/usr/bin/python3")
    python = "/usr/bin/python3" if as_nobody else sys.executable
    return subprocess.Popen(
        [python, "-I", "-c", ATTACK, str(port), TOKEN, *HTTP_STREAMS],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/",
        user=65534 if as_nobody else None,
    )  # fmt: skip


def _abort_socket_streams(daemon) -> None:
    """Each control-socket stream asked for, then the client gone: closed unread, and
    reset once the first reply is there."""
    for request in SOCKET_STREAMS:
        line = (json.dumps({"id": 1, **request}) + "\n").encode()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(daemon.socket))
            sock.sendall(line)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(daemon.socket))
            sock.sendall(line)
            assert sock.recv(65536)


def _head_then_get(port: int, path: str) -> None:
    """HEAD of a stream answers its head at once, and the connection serves the next
    request: no stream was opened on it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        conn.request("HEAD", path, headers=auth)
        res = conn.getresponse()
        assert res.status == 200 and res.read() == b"", path
        if "follow" in path or "events" in path:
            assert res.getheader("content-type") == "text/event-stream", path
        conn.request("GET", "/api/version", headers=auth)
        assert conn.getresponse().status == 200, path
    finally:
        conn.close()


def test_head_and_aborted_streams_never_break_supervision(daemon):
    token = daemon.path("token")
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    port = start_http(daemon, PROGRAMS, 'token_file = "token"\nread_only = true\n')
    daemon.wait_state("steady", "RUNNING")
    daemon.wait_until(lambda: daemon.status("crash")["crash"]["restarts"] >= 1)
    attacker = _attacker(port)
    try:
        assert attacker.stdout.readline() == "done\n"
        _abort_socket_streams(daemon)
        for path in HTTP_STREAMS:
            _head_then_get(port, path)
        # every transition completes: the crash loop goes on, through the listeners
        before = daemon.status("crash")["crash"]["restarts"]
        daemon.wait_until(lambda: daemon.status("crash")["crash"]["restarts"] >= before + 3)
        daemon.ctl_ok("restart", "steady", timeout=15)
        daemon.ctl_ok("stop", "crash", timeout=15)
        items = assert_consistent(daemon)
        assert {i["name"]: i["state"] for i in items} == {"crash": "STOPPED", "steady": "RUNNING"}
    finally:
        attacker.stdin.close()
        attacker.wait(10)
    assert "Traceback" not in daemon.logfile.read_text()
    assert_shutdown_leaves_nothing(daemon)
