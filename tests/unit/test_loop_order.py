"""The loop serves a child's output pipes (bulk readers) after the other fds that woke
with them: a control request never waits behind a log copy in its own turn."""

from __future__ import annotations

import os

import pytest

from supervisord_lite.linux.loop import EventLoop

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def loop():
    loop = EventLoop()
    opened: list[int] = []
    loop.opened = opened  # type: ignore[attr-defined]
    try:
        yield loop
    finally:
        loop.close()
        for fd in opened:
            os.close(fd)


def ready_pipe(loop) -> int:
    """A pipe with a byte waiting: its read end."""
    r, w = os.pipe()
    loop.opened += [r, w]
    os.write(w, b"x")
    return r


def served_order(loop, readers: list[tuple[str, bool]]) -> list[str]:
    served: list[str] = []
    for name, bulk in readers:
        fd = ready_pipe(loop)

        def serve(fd=fd, name=name) -> None:
            os.read(fd, 1)
            loop.remove_reader(fd)
            served.append(name)

        loop.add_reader(fd, serve, bulk=bulk)
    while len(served) < len(readers):
        loop.run_once()
    return served


def test_bulk_readers_are_served_after_the_others_that_woke_with_them(loop):
    # Registered first, so an epoll that answers in registration order puts them first.
    order = served_order(loop, [("pipe1", True), ("pipe2", True), ("control", False)])
    assert order.index("control") == 0
    assert sorted(order[1:]) == ["pipe1", "pipe2"]


def test_a_reused_fd_registered_without_bulk_is_not_bulk(loop):
    fd = ready_pipe(loop)
    loop.add_reader(fd, lambda: None, bulk=True)
    loop.add_reader(fd, lambda: None)  # the same number, now a client's
    assert fd not in loop._bulk
    loop.add_reader(fd, lambda: None, bulk=True)
    loop.remove_reader(fd)
    assert fd not in loop._bulk
