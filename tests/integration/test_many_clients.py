"""Many clients at once: every connect() succeeds and every client gets a well-formed
reply; one over max_clients is told TOO_MANY_CLIENTS, never left hanging."""

from __future__ import annotations

import json
import resource
import selectors
import socket
import time

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def many_fds():
    """Room in this test process for a thousand sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 4096) if hard != resource.RLIM_INFINITY else 4096
    if wanted < 1100:
        pytest.skip(f"the open-file limit ({hard}) leaves no room for 1000 clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def all_at_once(path: str, count: int, timeout: float = 30.0) -> list[dict]:
    """`count` clients connect together (non-blocking: a full backlog would fail them
    with EAGAIN at once), each sends `version`; the first reply line of each."""
    socks = []
    sel = selectors.DefaultSelector()
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.connect(path)  # raises BlockingIOError if the daemon stopped accepting
        for i, sock in enumerate(socks):
            try:
                sock.send(json.dumps({"id": i, "cmd": "version"}).encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused already: its reply is there to read
            sel.register(sock, selectors.EVENT_READ, [i, b""])
        replies: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < count and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                i, buf = key.data
                try:
                    data = key.fileobj.recv(65536)
                except ConnectionResetError:
                    data = b""
                buf += data
                key.data[1] = buf
                if b"\n" in buf:
                    replies[i] = json.loads(buf.split(b"\n", 1)[0])
                    sel.unregister(key.fileobj)
                elif not data:
                    replies[i] = {"closed without a reply": True}
                    sel.unregister(key.fileobj)
        missing = count - len(replies)
        assert not missing, f"{missing} clients got no reply within {timeout}s"
        return [replies[i] for i in range(count)]
    finally:
        sel.close()
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("count", [200, 1000])
def test_hundreds_of_clients_at_once_all_get_served(daemon, many_fds, count):
    dpid = daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}})
    replies = all_at_once(str(daemon.socket), count)
    bad = [(i, r) for i, r in enumerate(replies) if not (r.get("ok") and r.get("id") == i)]
    assert not bad, f"{len(bad)} of {count} clients were not served, e.g. {bad[:3]}"
    assert all(r["result"]["pid"] == dpid for r in replies)
    daemon.ctl_ok("status")


def test_a_client_over_max_clients_is_told_and_closed(daemon):
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}}, max_clients=2)
    held = []
    try:
        for _ in range(2):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            held.append(sock)
            sock.settimeout(10)
            sock.connect(str(daemon.socket))
            sock.sendall(b'{"id": 1, "cmd": "version"}\n')
            assert json.loads(sock.recv(65536).split(b"\n")[0])["ok"] is True
        res = daemon.ctl("--json", "status")
        assert res.returncode == 3, daemon.describe(res)
        assert "TOO_MANY_CLIENTS" in res.stderr, daemon.describe(res)
        assert json.loads(res.stdout)["code"] == "TOO_MANY_CLIENTS", daemon.describe(res)
        replies = all_at_once(str(daemon.socket), 50)
        assert all(r["error"]["code"] == "TOO_MANY_CLIENTS" for r in replies), replies[:3]
        assert all(r["id"] is None for r in replies)
    finally:
        for sock in held:
            sock.close()
    daemon.wait_until(lambda: daemon.ctl("status").returncode == 0, 5)
