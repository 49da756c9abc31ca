"""Reading logs back: `tail -n` from a log file and `tail -f` followers of a LogFile.

It reads regular files only and never a stream (that would steal its real reader's
bytes), never blocks, and never writes a log: what a follower sends is read from disk.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import stat
from typing import TYPE_CHECKING, Callable

from supervisord_lite.logs import CHUNK

if TYPE_CHECKING:
    from supervisord_lite.logs import LogFile

log = logging.getLogger("supervisord_lite")


def open_for_reading(path: str) -> int:
    """A read descriptor of a regular log file; -1 if it does not exist yet.

    Raises OSError with a reason a user can act on. Never blocks and never reads a
    stream: opening a FIFO for reading blocks without O_NONBLOCK, and reading one (or
    the daemon's own stdout pipe) would steal the bytes from its real reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1  # nothing written yet: the file appears with the first byte
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise NotAFile(path) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        raise NotAFile(path)
    return fd


class NotAFile(OSError):
    def __init__(self, path: str):
        super().__init__(
            errno.EINVAL,
            "not a regular file (a stream: FIFO, device, terminal or socket), so it has "
            "no lines to tail",
            path,
        )


def read_tail(path: str, lines: int, max_bytes: int = 1024 * 1024) -> bytes:
    """The last `lines` lines of a log file (at most max_bytes), for `tail -n`.

    Raises OSError (see open_for_reading) when the log cannot be read."""
    fd = open_for_reading(path)
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


class Follower:
    """Reads what a LogFile gains, from disk, for `tail -f`; follows it across rotation,
    and across a reload that re-creates its process (attach()).

    It keeps only a file offset, never a copy of the data: a reader that falls behind
    costs the daemon nothing but an open descriptor.
    """

    def __init__(
        self,
        logfile: LogFile,
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
        self.fd = open_for_reading(logfile.path)  # raises before we are registered
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
            self.fd = open_for_reading(self.logfile.path)
            if self.fd < 0:
                return
        self._send_new()
        if self.closed:
            return
        try:
            rotated = os.stat(self.logfile.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return  # renamed away and not yet re-created: wait for the next write
        if not rotated and os.fstat(self.fd).st_size < self.offset:
            self.offset = 0  # truncated in place (backups = 0): read it from the start
            self._send_new()
        elif rotated:
            os.close(self.fd)
            self.fd, self.offset = -1, 0
            self.fd = open_for_reading(self.logfile.path)
            if self.fd >= 0:
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

    def attach(self, logfile: LogFile) -> None:
        """Follow `logfile` from now on (the same process's log after a reload). Raises
        OSError when it cannot be read."""
        if logfile.path != self.logfile.path:
            fd = open_for_reading(logfile.path)
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
