"""The pipe side of child output: non-blocking reads of each child's pipe into one
shared buffer, handed to its LogFile; pipes enlarged only for chatty children.

It must not open, rotate or report on log targets (logfile.py does), nor block: a read
moves at most a budget per wakeup and stops while the log holds bytes back.

Why read/write and not os.splice: splice from a pipe into an ext4 file was measured in
an earlier round and its CPU cost swung widely from run to run, while readv into one
reused buffer plus write stayed steady (docs/architecture.md). It also keeps one code
path for every system.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import time
from typing import TYPE_CHECKING, Callable

from supervisord_lite.logs.logfile import CHUNK

if TYPE_CHECKING:
    from supervisord_lite.logs.lines import LinePrefixer
    from supervisord_lite.logs.logfile import LogFile

# Per wakeup, move at most this much from one pipe, in reads of at most SLICE, and stop
# once TIME_BUDGET has passed: one chatty child must not starve the rest of the loop.
# A 1 MiB write into the page cache took ~3 ms here (more under memory pressure), so
# four of them in a row held a `status` reply for 10-20 ms while a child flooded its
# log. Measured side by side (benchmarks/, flood and logs): 256 KiB reads with 0.5 ms
# per turn brought the status round trip during a flood from ~2.5-3.3 ms median (max
# 10-19 ms) to ~1.2-1.3 ms (max ~3 ms) for the same copying CPU per GiB; 128 KiB reads
# cost more CPU for no better round trip. Level-triggered epoll calls us again at once.
BUDGET_PER_WAKEUP = 4 * CHUNK
SLICE = 256 * 1024
TIME_BUDGET = 0.0005
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_PIPE_DEFAULT = 64 * 1024
_PIPE_LARGE = CHUNK
# One buffer for every pipe: the loop is single-threaded and writes each chunk out
# before reading the next, so a thousand readers cost no memory of their own.
# Anonymous memory, not a bytearray (which is zero-filled, so all resident at once):
# a page takes memory only once a read has reached it, so a daemon whose children
# write little never pays for the whole MiB.
_BUFFER = mmap.mmap(-1, CHUNK, flags=mmap.MAP_PRIVATE)
_VIEW = memoryview(_BUFFER)
_SLICE_VIEW = _VIEW[:SLICE]


class PipeReader:
    """Moves one child pipe's bytes into a LogFile (or discards them when log is None).

    A reader is itself the loop's callback for its fd: calling it calls
    on_readable(reader), and at EOF it calls on_eof(reader). `owner` is whatever its
    creator finds it by (the supervisor: the process). So the two callbacks can be
    shared by every pipe: a thousand pipes need no closures of their own.
    """

    __slots__ = (
        "fd",
        "logfile",
        "owner",
        "on_readable",
        "on_eof",
        "enlarged",
        "marker",
        "stream",
        "bytes_read",
        "tap",
        "opener",
    )

    def __init__(
        self,
        fd: int,
        logfile: LogFile | None,
        owner: object,
        on_readable: Callable[[PipeReader], None],
        on_eof: Callable[[PipeReader], None],
        marker: LinePrefixer | None = None,
        stream: str = "stdout",
    ):
        self.fd = fd
        self.logfile = logfile
        self.owner = owner
        self.on_readable = on_readable
        self.on_eof = on_eof
        self.enlarged = False
        self.marker = marker  # log_prefix / log_timestamps; None: bytes pass untouched
        self.stream = stream  # "stdout" or "stderr" (with redirect_stderr: both, stdout)
        self.bytes_read = 0  # for metrics
        self.tap: Callable[[bytes], None] | None = None  # sees every read: a `log` probe
        # Makes the LogFile at the first byte, when logfile is None only for now.
        self.opener: Callable[[PipeReader], LogFile | None] | None = None

    def __call__(self) -> None:
        self.on_readable(self)

    def __repr__(self) -> str:
        return f"<PipeReader fd={self.fd}>"

    def drain(self) -> int:
        """One wakeup's share: move what the pipe holds into the log, up to
        BUDGET_PER_WAKEUP bytes and TIME_BUDGET seconds; close at EOF. Returns the bytes
        moved."""
        return self._move(BUDGET_PER_WAKEUP, time.monotonic() + TIME_BUDGET)

    def drain_all(self) -> int:
        """Move everything the pipe holds now, however long it takes: its writer died
        (or its slot is going), so this is its last output, and it must be in the log
        before the exit is reported or the pipe closed. A grandchild that still writes
        cannot keep us here: past one slice we take at most the pipe's size more."""
        moved = self._move(SLICE, math.inf)
        if moved >= SLICE and self.fd >= 0:
            try:
                capacity = fcntl.fcntl(self.fd, _F_GETPIPE_SZ)
            except OSError:
                capacity = BUDGET_PER_WAKEUP
            moved += self._move(capacity, math.inf)
        return moved

    def _move(self, budget: int, deadline: float) -> int:
        """Read slices into the log until the pipe is empty, budget bytes are moved or
        the deadline has passed. Stops early when the log holds bytes back (a slow
        stream): what is still in the pipe stays there."""
        moved_total = 0
        logfile = self.logfile
        while self.fd >= 0 and moved_total < budget:
            if logfile is not None and logfile.pending:
                return moved_total
            try:
                n = os.readv(self.fd, [_SLICE_VIEW])
            except BlockingIOError:
                return moved_total
            if n == 0:
                self.on_eof(self)  # first, so the loop can unregister the fd
                self.close()
                return moved_total
            moved_total += n
            self.bytes_read += n
            if self.tap is not None:
                self.tap(bytes(_VIEW[:n]))
            if logfile is None and self.opener is not None:
                logfile = self.logfile = self.opener(self)
                self.opener = None
            if logfile is not None:  # it reports its own failures
                if self.marker is None:
                    logfile.write(_VIEW[:n])
                else:
                    logfile.write(self.marker.feed(bytes(_VIEW[:n]), time.time()))
            # "Full" is less than 64 KiB when the writes are small: each fills its page
            # only as far as whole writes fit (100-byte lines: 4000 bytes a page).
            if n >= _PIPE_DEFAULT // 2 and not self.enlarged:
                self._enlarge_pipe()
            if n < SLICE or time.monotonic() >= deadline:
                # Less than a slice: the pipe is empty now (not reading again saves a
                # syscall and an exception per wakeup). Or our time is up this turn.
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
