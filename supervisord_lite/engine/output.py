"""Children's output: their pipes read on the loop into their log files.

Owns the wiring between a process's pipes and its LogFiles: opening the logs, reading
the pipes as they become readable (gathering small reads), writing out an unfinished
line after a moment, and holding a pipe back while its log cannot take more bytes.
It never blocks the loop and knows nothing of states: the supervisor tells it when
a child starts (watch_pipe) and when a slot is done with its logs (close_logs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Callable

from supervisord_lite.base.log import log
from supervisord_lite.core.process import Process
from supervisord_lite.linux.loop import EventLoop, Timer
from supervisord_lite.logs.lines import LinePrefixer
from supervisord_lite.logs.logfile import LogFile
from supervisord_lite.logs.pipes import PipeReader

# Pipe reads smaller than this pause the pipe for up to GATHER_DELAY seconds (see
# _pipe_readable): until the round of pauses the first paused pipe started ends.
SMALL_READ = 16 * 1024
GATHER_DELAY = 0.005
# log_prefix / log_timestamps give out whole lines; an unfinished one waits this long.
HELD_LINE_WAIT = 0.2
# A FIFO log nobody reads yet is tried again this often (nothing to wait on in epoll).
REOPEN_DELAY = 0.5


class Output:
    """The pipes of every child and the logs they go to, read on one loop."""

    def __init__(self, loop: EventLoop, log_dir: Callable[[], str]):
        self.loop = loop
        self._log_dir = log_dir  # the config's, asked afresh: a reload may change it
        self._held_line_timers: set[PipeReader] = set()
        # Bound once, shared by every pipe (a bound method is a new object per access).
        self._on_pipe = (self._pipe_readable, self._pipe_eof)
        self._first_byte = self._log_at_first_byte
        # Pipes paused after a small read (_pipe_readable), all resumed when the
        # GATHER_DELAY round the first of them started ends: one timer, not a timer
        # and a closure per pause. A thousand programs printing their first line at
        # once left a thousand closures behind, and the holes they left cost 0.3 MiB.
        self._gathering: list[PipeReader] = []
        # Logs holding bytes back (a slow stream, a FIFO without reader): the pipes
        # not read meanwhile, and what we wait on (a writable fd, or a retry timer).
        self._held: dict[LogFile, list[PipeReader]] = {}
        self._log_waits: dict[LogFile, tuple[int, Timer | None]] = {}
        # Told when a live child's pipe reaches its end: the child is most likely
        # exiting (the kernel closes its descriptors just before it reports the exit).
        self.on_child_eof: Callable[[], None] | None = None

    def open_log(self, process: Process, stream: str) -> LogFile | None:
        """The process's LogFile for stream (made now if there is none yet), or None."""
        if stream not in process.logs:
            program = process.program
            log_dir = self._log_dir()
            path = program.logfile_path(stream, process.num, log_dir)
            if path is None:
                process.logs[stream] = None
            else:
                process.logs[stream] = LogFile(
                    path,
                    getattr(program, f"{stream}_logfile_maxbytes"),
                    getattr(program, f"{stream}_logfile_backups"),
                    # log_dir is the daemon's to create; any other directory must exist
                    make_dir=os.path.dirname(path) == log_dir,
                )
        return process.logs[stream]

    def logged(self, process: Process, stream: str) -> bool:
        """Whether what process writes on stream goes to a log file."""
        if stream in process.logs:
            return process.logs[stream] is not None
        return process.program.logged(stream)

    def watch_pipe(self, process: Process, fd: int, stream: str, logged: bool) -> None:
        """Read process's pipe fd on the loop: into stream's log when logged, else
        nowhere. A log not made yet is made at the pipe's first byte, not now: a
        thousand programs that never write cost no LogFiles (0.6 MiB measured)."""
        marker = None
        program = process.program
        logfile = process.logs.get(stream) if logged else None
        if logged and (program.log_prefix or program.log_timestamps):
            # With redirect_stderr both streams share the stdout pipe: {stream} is stdout.
            fields = {"name": process.name, "group": program.group, "stream": stream}
            prefix = program.log_prefix.format(**fields)
            marker = LinePrefixer(prefix, program.log_timestamps)
        reader = PipeReader(fd, logfile, process, *self._on_pipe, marker, stream)
        if logged and logfile is None:
            reader.opener = self._first_byte
        process.readers.append(reader)
        if logfile is not None and logfile.blocked:
            self._hold_back(reader)  # behind the bytes a previous child left waiting
        else:
            self.loop.add_reader(fd, reader, bulk=True)  # calls self._pipe_readable(reader)

    def _log_at_first_byte(self, reader: PipeReader) -> LogFile | None:
        return self.open_log(reader.owner, reader.stream)  # type: ignore[arg-type]

    def _pipe_readable(self, reader: PipeReader) -> None:
        moved = reader.drain()
        if reader.marker is not None and reader.marker.held:
            self._flush_held_line_later(reader)
        if reader.logfile is not None and reader.logfile.blocked and reader.fd >= 0:
            self._hold_back(reader)
        elif 0 < moved < SMALL_READ and reader.fd >= 0:
            # A child writing in small pieces (a line at a time) would wake us once per
            # line. Let its output gather for a moment: one read instead of hundreds.
            # The pipe holds 64 KiB or more, so the writer is not held up meanwhile.
            self.loop.remove_reader(reader.fd)
            self._gathering.append(reader)
            if len(self._gathering) == 1:
                self.loop.call_later(GATHER_DELAY, self._end_gathering)

    def _flush_held_line_later(self, reader: PipeReader) -> None:
        """An unfinished line (a prompt, a progress bar) is written out after a moment
        even if its end never comes; whole lines are never held up by this."""

        def flush() -> None:
            self._held_line_timers.discard(reader)
            marker = reader.marker
            if marker is None or not marker.held:
                return
            waited = time.time() - marker.held_since
            if not 0 <= waited < HELD_LINE_WAIT:  # waited enough, or the clock went back
                reader.flush_held_line()
            else:  # another unfinished line since: give that one its own wait
                self._held_line_timers.add(reader)
                self.loop.call_later(HELD_LINE_WAIT - waited, flush)

        if reader not in self._held_line_timers:
            self._held_line_timers.add(reader)
            self.loop.call_later(HELD_LINE_WAIT, flush)

    def _end_gathering(self) -> None:
        readers, self._gathering = self._gathering, []
        for reader in readers:
            if reader.fd >= 0 and not self._is_held(reader):  # not closed meanwhile
                self.loop.add_reader(reader.fd, reader, bulk=True)

    # -- backpressure: a log target that cannot take more now ---------------------

    def _hold_back(self, reader: PipeReader) -> None:
        """Stop reading the child's pipe until its log can take bytes again.

        The child blocks once its pipe is full, as it would writing to the target
        itself: nothing is lost and the loop never waits on a slow reader."""
        logfile = reader.logfile
        assert logfile is not None
        self.loop.remove_reader(reader.fd)
        held = self._held.setdefault(logfile, [])
        if reader not in held:
            held.append(reader)
        if logfile not in self._log_waits:
            self._wait_for_log(logfile)

    def _is_held(self, reader: PipeReader) -> bool:
        return reader.logfile is not None and reader in self._held.get(reader.logfile, ())

    def _wait_for_log(self, logfile: LogFile) -> None:
        if logfile.fd >= 0:
            try:
                self.loop.add_writer(logfile.fd, lambda: self._log_ready(logfile))
                self._log_waits[logfile] = (logfile.fd, None)
                return
            except OSError:
                pass  # a device epoll cannot watch (EPERM): poll it on the timer instead
        # A FIFO with no reader has no descriptor to watch: try again in a while.
        timer = self.loop.call_later(REOPEN_DELAY, lambda: self._log_ready(logfile))
        self._log_waits[logfile] = (-1, timer)

    def _stop_waiting_for_log(self, logfile: LogFile) -> None:
        fd, timer = self._log_waits.pop(logfile, (-1, None))
        if fd >= 0:
            self.loop.remove_writer(fd)
        if timer is not None:
            timer.cancel()

    def _log_ready(self, logfile: LogFile) -> None:
        self._stop_waiting_for_log(logfile)
        if not logfile.flush():
            self._wait_for_log(logfile)
            return
        for reader in self._held.pop(logfile, []):
            if reader.fd >= 0:
                self.loop.add_reader(reader.fd, reader, bulk=True)

    def _pipe_eof(self, reader: PipeReader) -> None:
        self._pipe_closed(reader.owner, reader)
        if reader.owner.child is not None and self.on_child_eof is not None:
            self.on_child_eof()

    def _pipe_closed(self, process: Process, reader: PipeReader) -> None:
        self.loop.remove_reader(reader.fd)
        process.readers.remove(reader)
        if reader.bytes_read:
            process.count_log_bytes(reader.stream, reader.bytes_read)
        held = self._held.get(reader.logfile) if reader.logfile is not None else None
        if held and reader in held:
            held.remove(reader)

    def reopen_logs(self, processes: Iterable[Process]) -> None:
        for process in processes:
            for logfile in process.logs.values():
                if logfile is not None:
                    waiting = logfile in self._log_waits
                    self._stop_waiting_for_log(logfile)  # its fd is about to change
                    logfile.reopen()  # reports its own failure; the next write retries
                    if waiting:
                        self._wait_for_log(logfile)

    def close_logs(self, process: Process) -> None:
        for reader in list(process.readers):
            reader.drain_all()  # whatever is still in the pipe goes to the log first
            if reader.fd >= 0:
                self._pipe_closed(process, reader)
                reader.close()
        for logfile in process.logs.values():
            if logfile is not None:
                self._stop_waiting_for_log(logfile)
                self._held.pop(logfile, None)
                lost = logfile.retire()
                if lost:
                    log.warning(
                        "%s: %d bytes of output held back for %s were dropped: the log "
                        "still could not take them when the process was retired",
                        process.name,
                        lost,
                        logfile.path,
                    )
        process.logs.clear()
