"""Child output capture: non-blocking pipe reads into size-rotated log files.

Nothing is dropped: the pipe is drained into the file, and rotation happens at an
exact byte boundary (a write never crosses `maxbytes`).

Why read/write and not os.splice: measured here (docs/benchmarks.md), splice from a pipe
into an ext4 file cost 0.18-1.23 s of CPU per 500 MB and swung between the two, while
readv into one reused buffer plus write cost a steady 0.25 s at 1.5 GB/s. It also keeps
one code path for every system.
"""

from __future__ import annotations

import codecs
import fcntl
import logging
import mmap
import os
from typing import Callable

log = logging.getLogger("supervisord_lite")

CHUNK = 1024 * 1024
# Per wakeup, move at most this much from one pipe, so that one chatty child cannot
# starve the rest of the loop; level-triggered epoll calls us again at once.
BUDGET_PER_WAKEUP = 4 * CHUNK
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_DEFAULT = 64 * 1024
_PIPE_LARGE = CHUNK
# One buffer for every pipe: the loop is single-threaded and writes each chunk out
# before reading the next, so a thousand readers cost no memory of their own.
# Anonymous memory, not a bytearray (which is zero-filled, so all resident at once):
# a page takes memory only once a read has reached it, so a daemon whose children
# write little never pays for the whole MiB.
_BUFFER = mmap.mmap(-1, CHUNK, flags=mmap.MAP_PRIVATE)
_VIEW = memoryview(_BUFFER)


class LogFile:
    """One log file with its rotation chain `x.log.1` … `x.log.N`.

    Opened at the first byte to write, not before: a program that never writes costs no
    descriptor and no file creation (1000 quiet programs spawn markedly faster).
    """

    __slots__ = ("path", "maxbytes", "backups", "fd", "size", "listeners")

    def __init__(self, path: str, maxbytes: int, backups: int):
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self.fd = -1
        self.size = 0
        # Told after each write/rotation (`tail -f`). A tuple, replaced on change: the
        # empty one is shared by every LogFile nobody follows.
        self.listeners: tuple[Callable[[], None], ...] = ()

    def open(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        # O_APPEND: should anything else write to or truncate the file, our bytes still
        # land at its end, never over or before someone else's.
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.size = os.lseek(self.fd, 0, os.SEEK_END)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def reopen(self) -> None:
        """Open the path again (after an external logrotate moved the file): at once if
        it was open, so the new file exists as it would under supervisord."""
        was_open = self.fd >= 0
        self.close()
        if was_open:
            self.open()
        self._notify()

    def _ensure_open(self) -> None:
        if self.fd < 0:
            self.open()

    def room(self) -> int:
        """Bytes that fit before rotation is due (CHUNK when never rotating)."""
        if self.maxbytes <= 0:
            return CHUNK
        return max(0, self.maxbytes - self.size)

    def write(self, data: bytes) -> None:
        self._ensure_open()
        view = memoryview(data)
        while view:
            if self.maxbytes > 0 and self.size >= self.maxbytes:
                self.rotate()
            part = view[: self.room()]
            written = os.write(self.fd, part)
            self.size += written
            view = view[written:]
        self._notify()

    def rotate(self) -> None:
        self.close()
        if self.backups <= 0:
            # backups = 0: start the same file again, empty.
            fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            os.close(fd)
        else:
            oldest = f"{self.path}.{self.backups}"
            if os.path.exists(oldest):
                os.unlink(oldest)
            for n in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{n}"
                if os.path.exists(src):
                    os.rename(src, f"{self.path}.{n + 1}")
            os.rename(self.path, f"{self.path}.1")
        self.open()
        self._notify()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()


class PipeReader:
    """Moves one child pipe's bytes into a LogFile (or discards them when log is None).

    A reader is itself the loop's callback for its fd: calling it calls
    on_readable(reader), and at EOF it calls on_eof(reader). `owner` is whatever its
    creator finds it by (the supervisor: the process). So the two callbacks can be
    shared by every pipe: a thousand pipes need no closures of their own.
    """

    __slots__ = ("fd", "logfile", "owner", "on_readable", "on_eof", "enlarged", "error_reported")

    def __init__(
        self,
        fd: int,
        logfile: LogFile | None,
        owner: object,
        on_readable: Callable[[PipeReader], None],
        on_eof: Callable[[PipeReader], None],
    ):
        self.fd = fd
        self.logfile = logfile
        self.owner = owner
        self.on_readable = on_readable
        self.on_eof = on_eof
        self.enlarged = False
        self.error_reported = False

    def __call__(self) -> None:
        self.on_readable(self)

    def __repr__(self) -> str:
        return f"<PipeReader fd={self.fd}>"

    def drain(self, budget: int = BUDGET_PER_WAKEUP) -> int:
        """Move what the pipe holds (up to budget bytes) into the log; close at EOF.

        Returns the bytes moved."""
        moved_total = 0
        while self.fd >= 0 and moved_total < budget:
            try:
                n = os.readv(self.fd, [_BUFFER])
            except BlockingIOError:
                return moved_total
            if n == 0:
                self.on_eof(self)  # first, so the loop can unregister the fd
                self.close()
                return moved_total
            moved_total += n
            if self.logfile is not None:
                try:
                    self.logfile.write(_VIEW[:n])
                except OSError as exc:
                    self._report(exc)
            # "Full" is less than 64 KiB when the writes are small: each fills its page
            # only as far as whole writes fit (100-byte lines: 4000 bytes a page).
            if n >= _PIPE_DEFAULT // 2 and not self.enlarged:
                self._enlarge_pipe()
            if n < CHUNK:
                # The pipe (at most CHUNK) held less than the buffer: it is empty now.
                # Not reading again saves a syscall and an exception per wakeup.
                return moved_total
        return moved_total

    def _enlarge_pipe(self) -> None:
        """A chatty child filled its pipe: give it room to write while we are busy.

        Only then, not at spawn: 1000 quiet programs with 1 MiB pipes each would pin
        pipe memory for nothing (and pass an unprivileged user's pipe-user-pages-soft).
        """
        self.enlarged = True
        try:
            fcntl.fcntl(self.fd, _F_SETPIPE_SZ, _PIPE_LARGE)
        except OSError:
            pass  # over /proc/sys/fs/pipe-max-size for an unprivileged daemon: keep it

    def _report(self, exc: OSError) -> None:
        # A full or broken disk must not stop supervision: report once, keep draining
        # the pipe (the bytes are lost) so the child never blocks on a full pipe.
        if not self.error_reported:
            path = self.logfile.path if self.logfile else "?"
            log.error("cannot write log %s: %s; output is being discarded", path, exc.strerror)
            self.error_reported = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_tail(path: str, lines: int, max_bytes: int = 1024 * 1024) -> bytes:
    """The last `lines` lines of a file (at most max_bytes), for `tail -n`."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return b""
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class Follower:
    """Reads what a LogFile gains, from disk, for `tail -f`; follows it across rotation.

    It keeps only a file offset, never a copy of the data: a reader that falls behind
    costs the daemon nothing but an open descriptor.
    """

    def __init__(self, logfile: LogFile, send: Callable[[str], bool]):
        self.logfile = logfile
        self.send = send  # returns False when the reader must be dropped
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.closed = False
        self.fd = -1
        self.offset = 0
        if self._open():
            self.offset = os.fstat(self.fd).st_size  # only what comes from now on
        logfile.listeners = (*logfile.listeners, self.poll)

    def _open(self) -> bool:
        try:
            self.fd = os.open(self.logfile.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # nothing written yet: the file appears with the first byte
        return True

    def poll(self) -> None:
        """Send what is new; after a rotation, finish the old file, then start the new one."""
        if self.closed or (self.fd < 0 and not self._open()):
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
            if self._open():
                self._send_new()

    def _send_new(self) -> None:
        while not self.closed:
            data = os.pread(self.fd, CHUNK, self.offset)
            if not data:
                return
            self.offset += len(data)
            if not self.send(self.decoder.decode(data)):
                self.close()

    def close(self) -> None:
        self.closed = True
        listeners = self.logfile.listeners
        if self.poll in listeners:
            i = listeners.index(self.poll)
            self.logfile.listeners = listeners[:i] + listeners[i + 1 :]
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
