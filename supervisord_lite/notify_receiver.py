"""The daemon's sd_notify socket: READY=1, STATUS=, WATCHDOG=1 from its programs.

One AF_UNIX datagram socket, made only when a program has `ready.notify`. Its name is
abstract (`@supervisord-lite/<daemon pid>/<random>/notify`): no file to remove, no
mode to get right for a program running as another user; any local process can send,
so every datagram is judged by its SCM_CREDENTIALS (SO_PASSCRED: the kernel fills in
the sender's real pid, unix(7)) and only the process or one of its descendants counts.
Oversized (> 4096 bytes, as systemd) or malformed datagrams are dropped.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from typing import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.loop import EventLoop
    from supervisord_lite.process import Process

log = logging.getLogger("supervisord_lite")

MAX_MESSAGE = 4096
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_MAX_DEPTH = 64  # ancestors walked looking for a supervised process


class NotifyReceiver:
    def __init__(self, loop: EventLoop, on_message: Callable[[int, dict[str, str]], None]):
        self.loop = loop
        self.on_message = on_message
        self.name = f"supervisord-lite/{os.getpid()}/{os.urandom(6).hex()}/notify"
        self.address = "@" + self.name  # NOTIFY_SOCKET's spelling of an abstract name
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.bind("\0" + self.name)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        loop.add_reader(sock.fileno(), self.drain)

    def drain(self) -> None:
        """Handle every datagram queued now."""
        sock = self.sock
        if sock is None:
            return
        space = socket.CMSG_SPACE(_UCRED.size)
        while True:
            try:
                data, ancdata, flags, _ = sock.recvmsg(MAX_MESSAGE + 1, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("sd_notify socket: %s", exc.strerror or exc)
                return
            pid = _sender_pid(ancdata)
            if pid is None or len(data) > MAX_MESSAGE or flags & socket.MSG_TRUNC:
                log.debug("sd_notify: dropped a datagram without credentials or too long")
                continue
            fields = parse(data)
            if fields is None:
                log.debug("sd_notify: dropped a malformed datagram from pid %d", pid)
                continue
            self.on_message(pid, fields)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            self.loop.remove_reader(sock.fileno())
            sock.close()


def _sender_pid(ancdata) -> int | None:
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            if len(payload) >= _UCRED.size:
                pid = _UCRED.unpack_from(payload)[0]
                return pid if pid > 0 else None
    return None


def parse(data: bytes) -> dict[str, str] | None:
    """`KEY=VALUE` lines (sd_notify(3)); None for anything else: not UTF-8, a NUL, a line
    without "=". Empty lines are allowed (a trailing newline)."""
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            return None
        fields[key] = value
    return fields


def sender_process(pid: int, by_pid: dict[int, Process]) -> Process | None:
    """The supervised process that `pid` is, or descends from; None otherwise.

    A descendant shares its session (each program runs in a session of its own and a
    session is only ever inherited), which also covers an orphan re-parented to us; else
    the parent chain is walked (a descendant that called setsid). /proc still has a
    zombie sender (systemd-notify, not yet reaped by its parent)."""
    seen = 0
    while pid > 1 and seen < _MAX_DEPTH:
        process = by_pid.get(pid)
        if process is not None:
            return process
        stat = _stat(pid)
        if stat is None:
            return None
        ppid, session = stat
        process = by_pid.get(session)
        if process is not None:
            return process
        if ppid == os.getpid():
            return None
        pid, seen = ppid, seen + 1
    return None


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, session) from /proc/PID/stat; the command name may hold spaces and ")"."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[3])
    except (IndexError, ValueError):
        return None
