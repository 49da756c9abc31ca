"""The daemon's sd_notify socket: READY=1, STATUS=, WATCHDOG=1 from its programs.

One AF_UNIX datagram socket, made only when a program has `ready.notify`. Its name is
abstract (`@supervisord-lite/<daemon pid>/<random>/notify`): no file to remove, no
mode to get right for a program running as another user; any local process can send,
so every datagram is judged by its SCM_CREDENTIALS (SO_PASSCRED: the kernel fills in
the sender's real pid, unix(7)) and only the process or one of its descendants counts.
Oversized (> 4096 bytes, as systemd) or malformed datagrams are dropped.

A sender already reaped by its own parent (`systemd-notify --no-block` in a shell, a
short-lived helper) has left /proc, so its pid leads nowhere. Where the kernel can say
more (SO_PASSPIDFD, Linux 6.5; a pidfd even for a reaped sender and its cgroup kept at
exit, 6.16), a datagram also carries a pidfd, from which the sender's cgroup is read:
under cgroup tracking that names the process exactly. Asked for only then.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Callable, Optional

from supervisord_lite.base.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.core.process import Process
    from supervisord_lite.linux.loop import EventLoop


MAX_MESSAGE = 4096
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_MAX_DEPTH = 64  # ancestors walked looking for a supervised process
# Not in Python's socket module (yet): <asm-generic/socket.h>, <linux/socket.h>.
SO_PASSPIDFD = 76
SCM_PIDFD = 0x04
# <linux/pidfd.h>: PIDFD_GET_INFO = _IOWR(0xFF, 11, struct pidfd_info), whose first
# version is 64 bytes: mask, cgroupid, then pid ... exit_code.
_PIDFD_INFO = struct.Struct("QQ48x")
PIDFD_GET_INFO = (3 << 30) | (_PIDFD_INFO.size << 16) | (0xFF << 8) | 11
PIDFD_INFO_CGROUPID = 1 << 2
PIDFD_INFO_EXIT = 1 << 3  # with it, a reaped task still answers (its cgroup at exit)

# (sender pid, fields, the sender's pidfd or -1 while the datagram is handled)
OnMessage = Callable[[int, "dict[str, str]", int], None]


class NotifyReceiver:
    def __init__(
        self,
        loop: EventLoop,
        on_message: OnMessage,
        want_pidfd: bool = False,
        adopted: socket.socket | None = None,
    ):
        """`adopted`: the socket a previous image of the daemon bound (reexec): its
        children's NOTIFY_SOCKET names it, so it is kept, never bound afresh."""
        self.loop = loop
        self.on_message = on_message
        if adopted is not None:
            sock = adopted
            self.name = sock.getsockname()[1:].decode(errors="replace")
        else:
            self.name = f"supervisord-lite/{os.getpid()}/{os.urandom(6).hex()}/notify"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.address = "@" + self.name  # NOTIFY_SOCKET's spelling of an abstract name
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            if adopted is None:
                sock.bind("\0" + self.name)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.pidfds = want_pidfd and _pass_pidfd(sock)
        self.sock = sock
        loop.add_reader(sock.fileno(), self.drain)

    def drain(self) -> None:
        """Handle every datagram queued now."""
        sock = self.sock
        if sock is None:
            return
        # Room for the credentials and a pidfd only. Descriptors a sender passes
        # (SCM_RIGHTS: sd_notify_barrier's BARRIER=1) are closed as soon as their datagram
        # is read, after the ones before it were handled, as a barrier asks: the kernel
        # closes those that find no room, and we close those that do (they come before
        # the pidfd and take its room: such a datagram is judged by its pid alone).
        space = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(4) * self.pidfds
        while True:
            try:
                data, ancdata, flags, _ = sock.recvmsg(MAX_MESSAGE + 1, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("sd_notify socket: %s", exc.strerror or exc)
                return
            pid, pidfd, fds = _sender(ancdata)
            try:
                self._handle(data, flags, pid, pidfd)
            finally:
                for fd in fds:
                    os.close(fd)

    def _handle(self, data: bytes, flags: int, pid: int | None, pidfd: int) -> None:
        if pid is None or len(data) > MAX_MESSAGE or flags & socket.MSG_TRUNC:
            log.debug("sd_notify: dropped a datagram without credentials or too long")
            return
        fields = parse(data)
        if fields is None:
            log.debug("sd_notify: dropped a malformed datagram from pid %d", pid)
            return
        self.on_message(pid, fields, pidfd)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            self.loop.remove_reader(sock.fileno())
            sock.close()


def _pass_pidfd(sock: socket.socket) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_PASSPIDFD, 1)
    except OSError:  # before Linux 6.5
        return False
    return True


def _sender(ancdata) -> tuple[int | None, int, list[int]]:
    """The sender's pid from SCM_CREDENTIALS, its pidfd (-1: none), and every descriptor
    that came along (the pidfd too), all for the caller to close."""
    pid, pidfds, others = None, [], []
    for level, kind, payload in ancdata:
        if level != socket.SOL_SOCKET:
            continue
        if kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            found = _UCRED.unpack_from(payload)[0]
            pid = found if found > 0 else None
        elif kind in (SCM_PIDFD, socket.SCM_RIGHTS):
            count = len(payload) // 4
            fds = list(struct.unpack(f"{count}i", payload[: count * 4]))
            (pidfds if kind == SCM_PIDFD else others).extend(fds)
    return pid, pidfds[0] if len(pidfds) == 1 else -1, pidfds + others


def pidfd_cgroup_id(pidfd: int) -> Optional[int]:
    """The cgroup (its directory's inode number) the process of `pidfd` is in, or was in
    when it exited: the kernel keeps it after the process is reaped (Linux 6.16). None
    where the kernel cannot say."""
    if pidfd < 0:
        return None
    buf = bytearray(_PIDFD_INFO.size)
    _PIDFD_INFO.pack_into(buf, 0, PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT, 0)
    try:
        fcntl.ioctl(pidfd, PIDFD_GET_INFO, buf)
    except OSError:
        return None
    mask, cgroup_id = _PIDFD_INFO.unpack_from(buf)
    return cgroup_id if mask & PIDFD_INFO_CGROUPID else None


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
