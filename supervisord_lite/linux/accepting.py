"""Accepting on a listening socket on the loop: the control socket's and [http]'s.

Each readable event accepts at most 64 connections, so a connection flood cannot
starve the loop. When the process or the kernel is out of descriptors or memory, the
pending connection stays queued and the socket readable: accepting pauses for half a
second instead of spinning on the error.
"""

from __future__ import annotations

import errno
import socket
from typing import Callable

from supervisord_lite.base.log import log
from supervisord_lite.linux.loop import EventLoop

_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def accept_on(
    loop: EventLoop, sock: socket.socket, handle: Callable[[socket.socket], None], name: str
) -> None:
    """Accept on `sock` from now on, calling handle(conn) for each connection; `name`
    ("control", "http") begins the log line when accepting must pause."""
    loop.add_reader(sock.fileno(), lambda: _accept(loop, sock, handle, name))


def _accept(
    loop: EventLoop, sock: socket.socket, handle: Callable[[socket.socket], None], name: str
) -> None:
    for _ in range(64):
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                log.error("%s: cannot accept a client: %s", name, exc.strerror)
                loop.remove_reader(sock.fileno())
                loop.call_later(0.5, lambda: _resume(loop, sock, handle, name))
            return
        handle(conn)


def _resume(
    loop: EventLoop, sock: socket.socket, handle: Callable[[socket.socket], None], name: str
) -> None:
    if sock.fileno() >= 0:  # not closed meanwhile (a replaced socket, a shutdown)
        accept_on(loop, sock, handle, name)
