"""Child output's log targets: size-rotated log files or streams, written without blocking.

Nothing is dropped: what a stream cannot take yet is held back in order, and rotation
happens at an exact byte boundary (a write never crosses `maxbytes`). Write failures are
reported once and shown in `status`. It must not read pipes (pipes.py does) nor read
logs back (follow.py does); it only tells its listeners that the file changed.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import stat
import time
from typing import TYPE_CHECKING

from supervisord_lite.base.log import log
from supervisord_lite.base.paths import OWN_STREAMS
from supervisord_lite.logs import safe_open
from supervisord_lite.logs.safe_open import NoReader

if TYPE_CHECKING:
    from typing import Protocol

    class Listener(Protocol):
        """A reader of the file (log_follow.Follower), told after each change."""

        def poll(self) -> None: ...

        def retired(self) -> None: ...


# The shared read buffer's size (pipes.py): the most one read hands us at once, so
# room() when nothing limits it.
CHUNK = 1024 * 1024

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
        "fresh",
    )

    # How many logs have `error` set, over the whole daemon: `status` asks every
    # process for its log problems at every request, and nearly always there are none.
    failing = 0

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
        # Bytes a stream could not take yet, in order. The shared empty bytes until then:
        # a bytearray per log would cost a thousand quiet programs ~120 KiB for nothing.
        self.pending: bytes | bytearray = b""
        self.error: str | None = None  # why writing fails now, for `status`
        self.error_logged = False
        self.last_report: tuple[str, float] = ("", 0.0)
        # Followers told after each write/rotation (`tail -f`). A tuple, replaced on
        # change: the empty one is shared by every LogFile nobody follows.
        self.listeners: tuple[Listener, ...] = ()
        # Bytes written into the current file since the followers were last told: a
        # follower that finds the file shorter than what it read plus these knows it
        # was truncated meanwhile (copytruncate), however much was written after.
        self.fresh = 0

    # -- opening --------------------------------------------------------------------

    def open(self) -> None:
        """Open the target; raises NoReader for a FIFO nobody reads yet, OSError else."""
        own = OWN_STREAMS.get(self.path)
        if own is not None:
            self._open_own(own)
            return
        # O_APPEND: should anything else write to or truncate the file, our bytes
        # still land at its end. O_NONBLOCK: a FIFO must not block open or write.
        # log_open: a directory another user controls cannot lead us elsewhere.
        fd = safe_open.open_log(self.path, _WRITE_FLAGS | os.O_CREAT, make_dirs=self.make_dir)
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
        self.pending = b""
        self.close()
        for follower in self.listeners:
            follower.retired()
        return lost

    def truncate(self) -> str | None:
        """Empty the current file (ctl `clear`); rotated backups are left alone.

        Through our own descriptor when it is open, so `size` (the rotation arithmetic)
        stays true and the next write lands at the new end (O_APPEND) while the child
        keeps writing. Returns why nothing was emptied (a stream has nothing to empty,
        and truncating the daemon's own stdout would clobber the daemon's output), None
        when emptied or not there yet. Raises OSError."""
        if self.path in OWN_STREAMS or (self.fd >= 0 and self.stream):
            return f"{self.path} is not a regular file (a stream): left alone"
        if self.fd >= 0:
            os.ftruncate(self.fd, 0)
        else:
            why_not = safe_open.empty(self.path)
            if why_not is not None:
                return why_not
        self.size = 0
        self._notify()  # a follower reads the file again from its start
        return None

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
            data, self.pending = self.pending, b""
            self.write(data)
        return not self.pending

    def _write_file(self, view: memoryview) -> None:
        while view:
            if self.rotating and self.maxbytes > 0 and self.size >= self.maxbytes:
                self.rotate()
            part = view[: self.room()]
            written = os.write(self.fd, part)
            self.size += written
            self.fresh += written
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
                if self.path in OWN_STREAMS or not self.pipe:
                    raise
                # The FIFO's reader left: wait for the next one, nothing lost.
                self.close()
                self.pending += view
                raise NoReader(self.path) from None
            view = view[written:]

    def rotate(self) -> None:
        """x.log -> x.log.1 -> ... -> x.log.N (the oldest unlinked), then a new x.log.

        Every name is changed relative to the directory's descriptor that log_open
        found: a directory swapped for a link meanwhile cannot take the renames and the
        new file elsewhere."""
        try:
            place = safe_open.locate(self.path, follow_final=False)
        except safe_open.UnsafeLogPath as exc:
            # Keep the file we have (in that user's directory): nothing is lost.
            self._stop_rotating(f"{exc.filename}: {exc.strerror}")
            return
        # Any other OSError (the directory gone) is a write failure, reported as such.
        with place:
            blocker = _rotation_blocker(place, self.backups)
            if blocker is not None:
                # Renaming over or unlinking a directory, device or FIFO could destroy
                # something that is not ours (root's /dev/null): keep appending instead.
                self._stop_rotating(f"{blocker} is not a regular file")
                return
            if self.backups <= 0:
                # backups = 0: start again, empty. The descriptor, not the name: it is
                # the file we checked, whatever the name points to by now.
                os.ftruncate(self.fd, 0)
                self.size = 0
            else:
                self.close()
                name, at = place.name, place.dir_fd
                try:
                    os.unlink(f"{name}.{self.backups}", dir_fd=at)
                except FileNotFoundError:
                    pass
                for n in range(self.backups, 0, -1):
                    src = f"{name}.{n - 1}" if n > 1 else name
                    try:
                        os.rename(src, f"{name}.{n}", src_dir_fd=at, dst_dir_fd=at)
                    except FileNotFoundError:
                        pass  # a gap in the chain, or moved away by an external logrotate
                place.look()
                self._adopt(safe_open.open_at(place, _WRITE_FLAGS | os.O_CREAT), rotatable=True)
        self.fresh = 0
        self._notify()

    def _stop_rotating(self, why: str) -> None:
        self.rotating = False
        log.error(
            "cannot rotate log %s: %s; the log grows past its maxbytes until that is "
            "fixed and the logs are reopened (SIGUSR2)",
            self.path,
            why,
        )

    # -- reporting ------------------------------------------------------------------

    def _failed(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        if reason != self.error:
            if self.error is None:
                LogFile.failing += 1
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
            LogFile.failing -= 1

    def problem(self) -> str | None:
        """What `status` shows while this log cannot be written."""
        if self.error is None:
            return None
        return f"log {self.path}: {self.error}"

    def _notify(self) -> None:
        for follower in self.listeners:
            follower.poll()
        self.fresh = 0


def _atomic_piece(view: memoryview) -> int:
    """How much of view to write at once to a pipe: all of it up to PIPE_BUF, else up
    to the last line end within PIPE_BUF (a longer line goes in PIPE_BUF pieces)."""
    if len(view) <= select.PIPE_BUF:
        return len(view)
    end = bytes(view[: select.PIPE_BUF]).rfind(b"\n") + 1
    return end or select.PIPE_BUF


def _rotation_blocker(place: safe_open.Place, backups: int) -> str | None:
    """The first name in the chain that rotation would replace but is not a file."""
    for n in range(0, backups + 1):
        name = f"{place.name}.{n}" if n else place.name
        try:
            mode = os.stat(name, dir_fd=place.dir_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a symlink is just a name
            return os.path.join(place.dir_path, name)
    return None
