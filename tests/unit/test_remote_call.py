"""A request through an [http] hosts tunnel that the tunnel closes: whether our write or
our read is the first to find the connection gone, the host's error reads the same
(a poll whose write met the close said "Broken pipe", so the host was logged down
again with a new text; CI saw it on a loaded machine)."""

from __future__ import annotations

import socket

import pytest

from supervisord_lite.base.ssh import Target
from supervisord_lite.http.hosts import RemoteCall
from supervisord_lite.linux.loop import EventLoop, now

pytestmark = pytest.mark.timeout(30)

SSH_SAID = "channel 7: open failed: connect failed: open failed\n"


class TunnelEnd:
    """What RemoteCall needs of its host: the tunnel's local socket and ssh's stderr
    file, here a listener this test accepts on and a file it writes ssh's words to."""

    def __init__(self, tmp_path, loop):
        self.loop = loop
        self.target = Target("hostz:/run/remote.sock")
        self.local = str(tmp_path / "fwd.sock")
        self.stderr_path = str(tmp_path / "ssh.err")
        open(self.stderr_path, "w").close()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.local)
        self.listener.listen(4)

    def refuse_next(self) -> None:
        """ssh's answer to a forward the remote end refused: accept, close, say why."""
        conn, _ = self.listener.accept()
        conn.close()
        with open(self.stderr_path, "a") as f:
            f.write(SSH_SAID)


def run_until(loop, done: list, seconds: float = 5.0) -> None:
    deadline = now() + seconds
    while not done and now() < deadline:
        loop.run_once()
    assert done, "the call never finished"


@pytest.fixture
def tunnel(tmp_path):
    loop = EventLoop()
    end = TunnelEnd(tmp_path, loop)
    try:
        yield end
    finally:
        end.listener.close()
        loop.close()


def refused_call(tunnel, first: str) -> str:
    replies: list[dict] = []
    call = RemoteCall(tunnel, "status", {}, replies.append)
    call.start()
    tunnel.refuse_next()
    if first == "write":
        call._writable()  # the loop saw it writable just before ssh closed it
    else:
        call._readable()
    run_until(tunnel.loop, replies)
    (reply,) = replies
    assert reply["ok"] is False and reply["error"]["code"] == "UNREACHABLE"
    return reply["error"]["message"]


def test_a_closed_tunnel_connection_reads_the_same_found_by_a_write_or_a_read(tunnel):
    by_write = refused_call(tunnel, "write")
    by_read = refused_call(tunnel, "read")
    assert by_write == by_read
    assert by_write == (
        "the daemon at hostz:/run/remote.sock closed the connection "
        "(open failed: connect failed: open failed)"
    )
