"""linux/held_sockets.py's SocketRegistry on real sockets: kept by address across a
rename, adopted across an exec (reexec's interface), nothing changed by a failed bind."""

from __future__ import annotations

import os
import socket

import pytest

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.config.sockets import SocketConfig
from supervisord_lite.linux.held_sockets import FD_FLOOR, BindError, SocketRegistry


def tcp(name: str, port: int) -> SocketConfig:
    return SocketConfig(name, f"tcp://127.0.0.1:{port}", "tcp", host="127.0.0.1", port=port)


def program(*sockets: SocketConfig) -> ProgramConfig:
    return ProgramConfig(name="p", command=("true",), sockets=sockets)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry():
    held = SocketRegistry()
    yield held
    held.close_all()


def test_a_renamed_table_keeps_the_socket_and_a_dropped_one_is_closed(registry):
    port, other = free_port(), free_port()
    registry.apply([program(tcp("a", port), tcp("b", other))])
    fd = registry.held()["a"]
    assert fd >= FD_FLOOR and not os.get_inheritable(fd)
    registry.apply([program(tcp("renamed", port))])
    assert registry.held() == {"renamed": fd}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", other), timeout=5).close()
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # queued: held


def test_a_failed_bind_changes_nothing(registry):
    port = free_port()
    registry.apply([program(tcp("a", port))])
    before = registry.held()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(BindError) as info:
            registry.prepare([program(tcp("b", free_port()), tcp("c", busy))])
    assert info.value.errors == [
        f"[sockets.c]: cannot listen on tcp://127.0.0.1:{busy}: Address already in use"
    ]
    assert registry.held() == before


def test_adopted_fds_are_kept_and_the_unwanted_closed(registry):
    """What reexec does: the old image's fds, passed on, taken back by name."""
    port, other = free_port(), free_port()
    registry.apply([program(tcp("a", port), tcp("b", other))])
    passed = {name: os.dup(fd) for name, fd in registry.held().items()}  # as across execve
    registry.close_all()  # what the old image had is gone; the dups stay open
    fresh = SocketRegistry()
    try:
        fresh.adopt(passed)
        fresh.apply([program(tcp("a", port))])  # no EADDRINUSE: kept, not bound again
        fd = fresh.held()["a"]
        assert socket.socket(fileno=os.dup(fd)).getsockname() == ("127.0.0.1", port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", other), timeout=5).close()
    finally:
        fresh.close_all()


def test_handover_gives_fds_in_order_and_the_listen_variables(registry):
    a, b = tcp("a", free_port()), tcp("b", free_port())
    registry.apply([program(a, b)])
    fds, stdin, env = registry.handover(program(b, a))
    assert fds == [registry.held()["b"], registry.held()["a"]] and stdin is None
    assert env[b"LISTEN_FDS"] == b"2" and env[b"LISTEN_FDNAMES"] == b"b:a"
    assert b"LISTEN_PID" in env
