"""Reading logs back: `tail -n` (read_tail) and `tail -f` followers (Follower) of a
program's LogFile or of the daemon's own log.

They read only the file the daemon itself writes: through the daemon's own descriptor
while the log is open (/proc/self/fd/N: the same file, however its name was changed or
replaced since), else by name through log_open, which never follows a link that
another user could have planted. They read regular files only, never a stream (that
would steal its real reader's bytes), never block, and never write a log.
"""

from __future__ import annotations

import codecs
import errno
import os
from typing import TYPE_CHECKING, Callable

from supervisord_lite.base.log import log
from supervisord_lite.logs import safe_open
from supervisord_lite.logs.logfile import CHUNK
from supervisord_lite.logs.safe_open import NotAFile

if TYPE_CHECKING:
    from typing import Protocol

    class Followed(Protocol):
        """A log the daemon writes (logs.LogFile, daemon_log.Watched)."""

        path: str
        fd: int  # the daemon's own descriptor of it; -1 while it has none open
        stream: bool
        fresh: int  # bytes written since its followers were last told
        listeners: tuple


_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_current(target: Followed) -> int:
    """A read descriptor of the file the daemon writes for `target`; -1 when there is
    none yet. Raises OSError with a reason a user can act on (NotAFile for a stream)."""
    if target.fd < 0:
        return safe_open.open_read(target.path)
    if target.stream:
        raise NotAFile(target.path)
    try:
        return os.open(f"/proc/self/fd/{target.fd}", _READ_FLAGS)
    except FileNotFoundError:
        pass  # no /proc here: by name, and only if that is the file we write
    fd = safe_open.open_read(target.path)
    if fd >= 0 and not _same_file(fd, target.fd):
        os.close(fd)
        fd = -1
    if fd < 0:
        raise OSError(
            errno.ESTALE,
            "the file at this path is not the one the daemon writes (moved by an "
            "external logrotate? send the daemon SIGUSR2)",
            target.path,
        )
    return fd


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def read_tail(target: Followed, lines: int, max_bytes: int = 1024 * 1024) -> bytes:
    """The last `lines` lines of a log (at most max_bytes), for `tail -n`.

    Raises OSError (see open_current) when the log cannot be read."""
    fd = open_current(target)
    if fd < 0:
        return b""
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - max_bytes)
        data = os.pread(fd, size - start, start)
    finally:
        os.close(fd)
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


def read_range(target: Followed, offset: int, length: int) -> tuple[bytes, int, int]:
    """(bytes, where they start, the file's size): `length` bytes from `offset`, or for
    a negative offset from that far before the end (Supervisor's log reads by byte).

    Raises OSError (see open_current) when the log cannot be read."""
    fd = open_current(target)
    if fd < 0:
        return b"", 0, 0
    try:
        size = os.fstat(fd).st_size
        start = max(0, size + offset) if offset < 0 else offset
        return os.pread(fd, max(0, length), start), start, size
    finally:
        os.close(fd)


class Follower:
    """Reads what a LogFile gains, from disk, for `tail -f`; follows it across rotation,
    and across a reload that re-creates its process (attach()).

    It keeps only a file offset, never a copy of the data: a reader that falls behind
    costs the daemon nothing but an open descriptor.
    """

    def __init__(
        self,
        logfile: Followed,
        send: Callable[[str], bool],
        on_retired: Callable[[Follower], None],
        on_error: Callable[[str], None],
    ):
        self.logfile = logfile
        self.send = send  # returns False when the reader must be dropped
        self.on_retired = on_retired  # the LogFile was retired: attach() or close()
        self.on_error = on_error  # the log cannot be read any more: the stream ends
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.closed = False
        self.fd = open_current(logfile)  # raises before we are registered
        self.offset = os.fstat(self.fd).st_size if self.fd >= 0 else 0  # only what comes
        logfile.listeners = (*logfile.listeners, self)

    def poll(self) -> None:
        """Send what is new; after a rotation, finish the old file, then start the new one.

        Called by the log's writer after each write: nothing may escape from here into
        it. A log that cannot be read ends the stream with the reason; any other
        failure (a bug in the reader's side) drops this follower, logged once."""
        try:
            self._poll()
        except OSError as exc:
            self.close()
            self._guarded(
                self.on_error, f"cannot read log {self.logfile.path}: {exc.strerror or exc}"
            )
        except Exception:
            self.close()
            _log_dropped(self)

    def _poll(self) -> None:
        if self.closed:
            return
        if self.fd < 0:
            self.fd = open_current(self.logfile)  # appeared since: read it from its start
            if self.fd < 0:
                return
        current = self.logfile.fd
        if current >= 0 and not _same_file(self.fd, current):
            # The daemon writes another file now: its own rotation, or SIGUSR2 after an
            # external logrotate moved ours away (in `create` mode a new file appears
            # at the name before that: the name alone says nothing). Everything written
            # to ours came before the switch: finish it, then the new one from its start.
            self._send_new()
            if self.closed:
                return
            os.close(self.fd)
            self.fd, self.offset = -1, 0
            self.fd = open_current(self.logfile)
        elif os.fstat(self.fd).st_size < self.offset + self.logfile.fresh:
            # Shorter than what we read plus what the daemon added since: emptied in
            # place meanwhile (clear, backups = 0, copytruncate), so all of it is new.
            self.offset = 0
        self._send_new()

    def _send_new(self) -> None:
        while not self.closed:
            data = os.pread(self.fd, CHUNK, self.offset)
            if not data:
                return
            self.offset += len(data)
            if not self.send(self.decoder.decode(data)):
                self.close()

    def retired(self) -> None:
        """Our LogFile is closed for good: finish what it wrote, then let the owner
        attach us to its successor or end the stream."""
        self.poll()
        self._unregister()
        if not self.closed:
            self._guarded(self.on_retired, self)

    def _guarded(self, callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:
            self.close()
            _log_dropped(self)

    def attach(self, logfile: Followed) -> None:
        """Follow `logfile` from now on (the same process's log after a reload). Raises
        OSError when it cannot be read."""
        if logfile.path != self.logfile.path:
            fd = open_current(logfile)
            if self.fd >= 0:
                os.close(self.fd)
            self.fd = fd
            self.offset = os.fstat(fd).st_size if fd >= 0 else 0
        self.logfile = logfile
        logfile.listeners = (*logfile.listeners, self)

    def _unregister(self) -> None:
        listeners = self.logfile.listeners
        if self in listeners:
            i = listeners.index(self)
            self.logfile.listeners = listeners[:i] + listeners[i + 1 :]

    def close(self) -> None:
        self.closed = True
        self._unregister()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _log_dropped(follower: Follower) -> None:
    try:
        log.exception("a tail -f follower of %s failed and was dropped", follower.logfile.path)
    except Exception:
        pass  # the daemon's own log may be what is being followed, and failing
