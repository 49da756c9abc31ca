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
import errno
import fcntl
import logging
import mmap
import os
import select
import socket
import stat
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from supervisord_lite.log_lines import LinePrefixer

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

# These names mean the daemon's own descriptors, not whatever /dev/stdout resolves to
# when opened (a socket under systemd cannot be opened at all). A detached daemon's
# stdio is /dev/null, so there they discard.
OWN_STREAMS = {
    "/dev/stdout": 1,
    "/dev/fd/1": 1,
    "/proc/self/fd/1": 1,
    "/dev/stderr": 2,
    "/dev/fd/2": 2,
    "/proc/self/fd/2": 2,
}
_WRITE_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
REPORT_INTERVAL = 1.0  # the same failure, come back, is logged at most this often


class LogFile:
    """One log target: a regular file with its rotation chain `x.log.1` … `x.log.N`, or a
    stream (FIFO, pipe, terminal, device, socket, the daemon's own stdout/stderr).

    Opened at the first byte to write, not before: a program that never writes costs no
    descriptor and no file creation (1000 quiet programs spawn markedly faster).

    Nothing here blocks: targets are opened O_NONBLOCK. A stream that cannot take a
    chunk now keeps the rest in `pending`; the supervisor then stops reading the
    child's pipe until the target is writable (backpressure: the child blocks, nothing
    is lost). Only a regular file is ever rotated; a stream is never sought, renamed,
    truncated or unlinked. A failure that loses bytes (disk full, directory gone) is
    reported once, shown in `error`, and reported again when writing works again.
    """

    __slots__ = (
        "path",
        "maxbytes",
        "backups",
        "make_dir",
        "fd",
        "sock",
        "size",
        "stream",
        "pipe",
        "rotating",
        "pending",
        "error",
        "error_logged",
        "last_report",
        "listeners",
    )

    def __init__(self, path: str, maxbytes: int, backups: int, make_dir: bool = False):
        self.path = path
        self.maxbytes = maxbytes
        self.backups = backups
        self.make_dir = make_dir  # only an "auto" log's log_dir is ours to create
        self.fd = -1
        self.sock: socket.socket | None = None  # the daemon's stdout/stderr when a socket
        self.size = 0
        self.stream = False
        self.pipe = False  # a pipe or FIFO: writes of PIPE_BUF bytes or less are atomic
        self.rotating = True  # False once rotation was found unsafe (until reopened)
        self.pending = bytearray()  # bytes a stream could not take yet, in order
        self.error: str | None = None  # why writing fails now, for `status`
        self.error_logged = False
        self.last_report: tuple[str, float] = ("", 0.0)
        # Followers told after each write/rotation (`tail -f`). A tuple, replaced on
        # change: the empty one is shared by every LogFile nobody follows.
        self.listeners: tuple[Follower, ...] = ()

    # -- opening --------------------------------------------------------------------

    def open(self) -> None:
        """Open the target; raises NoReader for a FIFO nobody reads yet, OSError else."""
        own = OWN_STREAMS.get(self.path)
        if own is not None:
            self._open_own(own)
            return
        if self.make_dir:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            # O_APPEND: should anything else write to or truncate the file, our bytes
            # still land at its end. O_NONBLOCK: a FIFO must not block open or write.
            fd = os.open(self.path, _WRITE_FLAGS | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno == errno.ENXIO and _is_fifo(self.path):
                raise NoReader(self.path) from None
            raise
        if stat.S_ISBLK(os.fstat(fd).st_mode):
            # Refused by the config check too; this is a path swapped for one since.
            os.close(fd)
            raise OSError(errno.EINVAL, "a block device (a disk) is not a log", self.path)
        self._adopt(fd, rotatable=True)

    def _open_own(self, fd: int) -> None:
        """/dev/stdout and friends: the daemon's own descriptor, never reopened by name
        (under systemd stdout is a socket, which open() refuses with ENXIO)."""
        mode = os.fstat(fd).st_mode
        if stat.S_ISSOCK(mode):
            # A socket's O_NONBLOCK belongs to the description we share with whoever
            # gave it to us: leave it alone and ask for MSG_DONTWAIT per send instead.
            self.sock = socket.socket(fileno=os.dup(fd))
            self._adopt(self.sock.fileno(), rotatable=False)
        elif stat.S_ISREG(mode):
            # A file never blocks; sharing the description keeps our bytes in order
            # with the daemon's own writes to it.
            self._adopt(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3), rotatable=False)
        else:
            # A pipe, terminal or device: a new description of the same object, so
            # O_NONBLOCK is ours alone.
            self._adopt(os.open(f"/proc/self/fd/{fd}", _WRITE_FLAGS), rotatable=False)

    def _adopt(self, fd: int, rotatable: bool) -> None:
        self.fd = fd
        mode = os.fstat(fd).st_mode
        regular = stat.S_ISREG(mode)
        self.stream = not regular
        self.pipe = stat.S_ISFIFO(mode)
        self.rotating = regular and rotatable
        self.size = os.lseek(fd, 0, os.SEEK_END) if self.rotating else 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()  # closes self.fd too
            self.sock = None
        elif self.fd >= 0:
            os.close(self.fd)
        self.fd = -1

    def reopen(self) -> None:
        """Open the path again (after an external logrotate moved the file): at once if
        it was open, so the new file exists as it would under supervisord."""
        was_open = self.fd >= 0
        self.close()
        if was_open:
            try:
                self.open()
            except OSError as exc:  # NoReader included: the next write tries again
                self._failed(exc)
        self._notify()

    def retire(self) -> int:
        """Close for good (the process was removed or changed): try the held-back
        bytes once more; return how many could not be written. Followers are told."""
        self.flush()
        lost = len(self.pending)
        self.pending = bytearray()
        self.close()
        for follower in self.listeners:
            follower.retired()
        return lost

    # -- writing --------------------------------------------------------------------

    @property
    def blocked(self) -> bool:
        """Bytes are held back: the caller must stop feeding us until flush() empties."""
        return bool(self.pending)

    def room(self) -> int:
        """Bytes that fit before rotation is due (CHUNK when never rotating)."""
        if self.maxbytes <= 0 or not self.rotating:
            return CHUNK
        return max(0, self.maxbytes - self.size)

    def write(self, data) -> None:
        """Write data without blocking; never raises. What a stream cannot take now is
        held in `pending` (in order); what a failure loses is reported."""
        if self.pending:
            self.pending += data  # never overtake bytes held back
            return
        try:
            if self.fd < 0:
                self.open()
        except NoReader as exc:
            self.pending += data
            self._failed(exc)
            return
        except OSError as exc:
            self._failed(exc)
            return
        try:
            if self.stream:
                self._write_stream(memoryview(data))
            else:
                self._write_file(memoryview(data))
        except OSError as exc:  # NoReader too: _write_stream kept the rest
            self._failed(exc)
            return
        if not self.pending:
            self._writing()

    def flush(self) -> bool:
        """Write what is held back; True when nothing is left."""
        if self.pending:
            data, self.pending = self.pending, bytearray()
            self.write(data)
        return not self.pending

    def _write_file(self, view: memoryview) -> None:
        while view:
            if self.rotating and self.maxbytes > 0 and self.size >= self.maxbytes:
                self.rotate()
            part = view[: self.room()]
            written = os.write(self.fd, part)
            self.size += written
            view = view[written:]
        self._notify()

    def _write_stream(self, view: memoryview) -> None:
        while view:
            try:
                if self.sock is not None:
                    written = self.sock.send(view, socket.MSG_DONTWAIT)
                elif self.pipe:
                    # Whole lines of at most PIPE_BUF bytes per write: pipe(7) makes
                    # each all or nothing, so what a full pipe leaves pending starts a
                    # line, and programs sharing the pipe (the daemon's stdout in a
                    # container) never interleave mid-line.
                    written = os.write(self.fd, view[: _atomic_piece(view)])
                else:
                    written = os.write(self.fd, view)
            except BlockingIOError:
                self.pending += view  # a slow reader: wait until it is writable
                return
            except BrokenPipeError:
                if self.path in OWN_STREAMS or not _is_fifo(self.path):
                    raise
                # The FIFO's reader left: wait for the next one, nothing lost.
                self.close()
                self.pending += view
                raise NoReader(self.path) from None
            view = view[written:]

    def rotate(self) -> None:
        blocker = self._rotation_blocker()
        if blocker is not None:
            # Renaming over or unlinking a directory, device or FIFO could destroy
            # something that is not ours (root's /dev/null): keep appending instead.
            self.rotating = False
            log.error(
                "cannot rotate log %s: %s is not a regular file; the log grows past its "
                "maxbytes until that is fixed and the logs are reopened (SIGUSR2)",
                self.path,
                blocker,
            )
            return
        if self.backups <= 0:
            # backups = 0: start again, empty. The descriptor, not the name: it is the
            # file we checked, whatever the name points to by now.
            os.ftruncate(self.fd, 0)
            self.size = 0
        else:
            self.close()
            oldest = f"{self.path}.{self.backups}"
            if os.path.lexists(oldest):
                os.unlink(oldest)
            for n in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{n}"
                if os.path.lexists(src):
                    os.rename(src, f"{self.path}.{n + 1}")
            os.rename(self.path, f"{self.path}.1")
            self.open()
        self._notify()

    def _rotation_blocker(self) -> str | None:
        """The first name in the chain that rotation would replace but is not a file."""
        for n in range(0, self.backups + 1):
            name = f"{self.path}.{n}" if n else self.path
            try:
                mode = os.lstat(name).st_mode
            except FileNotFoundError:
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a symlink is just a name
                return name
        return None

    # -- reporting ------------------------------------------------------------------

    def _failed(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if reason != self.error:
            self.error, self.error_logged = reason, False
        if self.error_logged:
            return  # still the same failure: said already
        last_reason, last_time = self.last_report
        current = time.monotonic()
        if reason == last_reason and current - last_time < REPORT_INTERVAL:
            return  # it comes and goes with every chunk: say it again a little later
        self.error_logged = True
        self.last_report = (reason, current)
        if isinstance(exc, NoReader):
            log.warning("log %s: %s; the output is held back meanwhile", self.path, reason)
        else:
            log.error("cannot write log %s: %s; output is being discarded", self.path, reason)

    def _writing(self) -> None:
        if self.error is not None:
            if self.error_logged:
                log.warning("log %s: writing again", self.path)
            self.error = None

    def problem(self) -> str | None:
        """What `status` shows while this log cannot be written."""
        if self.error is None:
            return None
        return f"log {self.path}: {self.error}"

    def _notify(self) -> None:
        for follower in self.listeners:
            follower.poll()


def _atomic_piece(view: memoryview) -> int:
    """How much of view to write at once to a pipe: all of it up to PIPE_BUF, else up
    to the last line end within PIPE_BUF (a longer line goes in PIPE_BUF pieces)."""
    if len(view) <= select.PIPE_BUF:
        return len(view)
    end = bytes(view[: select.PIPE_BUF]).rfind(b"\n") + 1
    return end or select.PIPE_BUF


class NoReader(OSError):
    """A FIFO nobody has open for reading (ENXIO): hold the output back, try later."""

    def __init__(self, path: str):
        super().__init__(
            errno.ENXIO, "waiting for a reader: no process has this FIFO open for reading", path
        )


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


class PipeReader:
    """Moves one child pipe's bytes into a LogFile (or discards them when log is None).

    A reader is itself the loop's callback for its fd: calling it calls
    on_readable(reader), and at EOF it calls on_eof(reader). `owner` is whatever its
    creator finds it by (the supervisor: the process). So the two callbacks can be
    shared by every pipe: a thousand pipes need no closures of their own.
    """

    __slots__ = ("fd", "logfile", "owner", "on_readable", "on_eof", "enlarged", "marker")

    def __init__(
        self,
        fd: int,
        logfile: LogFile | None,
        owner: object,
        on_readable: Callable[[PipeReader], None],
        on_eof: Callable[[PipeReader], None],
        marker: LinePrefixer | None = None,
    ):
        self.fd = fd
        self.logfile = logfile
        self.owner = owner
        self.on_readable = on_readable
        self.on_eof = on_eof
        self.enlarged = False
        self.marker = marker  # log_prefix / log_timestamps; None: bytes pass untouched

    def __call__(self) -> None:
        self.on_readable(self)

    def __repr__(self) -> str:
        return f"<PipeReader fd={self.fd}>"

    def drain(self, budget: int = BUDGET_PER_WAKEUP) -> int:
        """Move what the pipe holds (up to budget bytes) into the log; close at EOF.

        Stops early when the log holds bytes back (a slow stream): what is still in
        the pipe stays there. Returns the bytes moved."""
        moved_total = 0
        logfile = self.logfile
        while self.fd >= 0 and moved_total < budget:
            if logfile is not None and logfile.pending:
                return moved_total
            try:
                n = os.readv(self.fd, [_BUFFER])
            except BlockingIOError:
                return moved_total
            if n == 0:
                self.on_eof(self)  # first, so the loop can unregister the fd
                self.close()
                return moved_total
            moved_total += n
            if logfile is not None:  # it reports its own failures
                if self.marker is None:
                    logfile.write(_VIEW[:n])
                else:
                    logfile.write(self.marker.feed(bytes(_VIEW[:n]), time.time()))
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

    def flush_held_line(self) -> None:
        """Write out an unfinished line the marker holds back (log_prefix)."""
        if self.marker is not None and self.marker.held and self.logfile is not None:
            self.logfile.write(self.marker.flush())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.flush_held_line()  # the pipe is done: no end of that line will come


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
        """Send what is new; after a rotation, finish the old file, then start the new one."""
        try:
            self._poll()
        except OSError as exc:
            self.close()
            self.on_error(f"cannot read log {self.logfile.path}: {exc.strerror or exc}")

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
            self.on_retired(self)

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
