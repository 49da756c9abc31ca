"""Claiming what only one daemon may hold, and detaching: the pidfile lock, the control
socket (a stale one taken over, a live or foreign one refused), the double fork with a
readiness pipe, and stdio to /dev/null.

Each failure is a StartupError saying what to do: before detaching, the launching
command tells it to the user (a running daemon that re-creates its socket logs it).
It must not run the loop or touch programs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import sys
from typing import Callable

from supervisord_lite.base.log import log
from supervisord_lite.logs import daemon_log

EXIT_STARTUP = 1


class StartupError(Exception):
    """A reason the daemon cannot start, told to the user as it is. `running` marks the
    one fix that is to stop another daemon: the launcher, which knows the config file
    the ctl will need, adds the command that does it."""

    def __init__(self, message: str, running: bool = False):
        super().__init__(message)
        self.running = running


def make_parent(path: str) -> None:
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create directory {parent}: {exc.strerror}") from None


def lock_pidfile(path: str) -> int:
    """The pidfile's descriptor, locked: the lock lives as long as the descriptor."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StartupError(f"cannot open pidfile {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartupError(
            f"another supervisord-lite is already running (pid {other}, pidfile {path})",
            running=True,
        ) from None
    return fd


def bind_socket(path: str, mode: int) -> tuple[socket.socket, tuple[int, int]]:
    """The listening control socket at path, and its (st_dev, st_ino): cleanup removes
    the path only while it is still this socket."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise StartupError(f"{path} exists and is not a socket; remove it or pick another")
        if _socket_is_live(path):
            raise StartupError(f"another daemon is listening on {path}", running=True)
        log.info("removing stale socket %s", path)
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    # Created 0600 from the first instant: no window in which another user could
    # connect. A wider socket_mode is applied only afterwards, on purpose.
    old_umask = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind socket {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    if mode != 0o600:
        os.chmod(path, mode)
    # The kernel's most: a burst of clients waits in the queue, never fails connect().
    sock.listen(socket.SOMAXCONN)
    st = os.stat(path)
    return sock, (st.st_dev, st.st_ino)


def _socket_is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        return True  # e.g. a timeout: someone owns it and is busy; do not steal it
    finally:
        probe.close()
    return True


def detach_and_run(run: Callable[[int], int], logfile: str | None) -> int:
    """Double fork; the launcher returns only when the daemon says it is ready (or why not).

    run(ready_fd) is the daemon's life; it writes its readiness to ready_fd."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        message = _read_all(read_end)
        os.waitpid(pid, 0)
        if message == b"ok" or message.startswith(b"ok\n"):
            for warning in message.decode(errors="replace").splitlines()[1:]:
                print(f"supervisord-lite: warning: {warning}", file=sys.stderr)
            return 0
        reason = message.decode(errors="replace") or (
            f"the daemon exited during start-up; see {logfile or 'its log'}"
        )
        print(f"supervisord-lite: {reason}", file=sys.stderr)
        return EXIT_STARTUP
    os.close(read_end)
    os.setsid()  # a new session: no controlling terminal, no SIGHUP when it closes
    if os.fork() > 0:
        os._exit(0)  # the session leader leaves, so the daemon can never reacquire a tty
    os.chdir("/")
    _stdio_to_devnull()
    try:
        code = run(write_end)
    except BaseException:
        log.exception("fatal error")
        code = EXIT_STARTUP
    daemon_log.flush()
    os._exit(code)


def report_ready(ready_fd: int | None, message: str, warnings: list[str] = ()) -> None:
    """Tell the launcher (detach_and_run) "ok" or why not, and the warnings it prints
    (one line each, after "ok"); None: not detached."""
    if ready_fd is None:
        return
    lines = [message, *(" ".join(w.split()) for w in warnings)]
    try:
        os.write(ready_fd, "\n".join(lines).encode())
    finally:
        os.close(ready_fd)


def open_closed_stdio() -> None:
    """Put /dev/null on whichever of fds 0, 1 and 2 the daemon was started without
    (`supervisord-lite -n 2>&-`). Else the first file it opens lands there: the
    foreground's stderr writer could not start, and every last word written to fd 2
    would go into that file (a log, the control socket)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
    # Python starts with None for a stream whose descriptor was closed.
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)


def _stdio_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks)
