"""The daemon's own log: lines buffered and written once per loop turn, a short path
for the routine lines every spawn and exit writes, and repeated lines collapsed.

The daemon's modules log through base/log.py's `log`; this module gives it its writers
(the log file, and stderr in the foreground). `info()` writes a routine line straight
into the same buffered streams, in order with everything else, without a Record or a
filter pass: in a crash storm, three lines per restart were a quarter of the daemon's own
CPU (docs/benchmarks.md). Where the writers are not the ones set up here (a Supervisor
used without the daemon, as in tests) it is log.info.

Lines through `log` pass log_repeats' limit: any local user can make the daemon log
a refused connection as often as they like. The routine lines of `info()` do not: a
program's spawns and exits are bounded by its backoff, and each one matters.
"""

from __future__ import annotations

import io
import os
import time
from typing import Callable

from supervisord_lite.base.log import INFO, LEVELS, WARNING, Handler, Record, log
from supervisord_lite.logs import repeats, safe_open

# The writers info() may write to directly; empty until setup() installs them.
_direct: list[_Output] = []


class Watched:
    """The daemon's log file as log_follow.Follower sees a process's LogFile (for
    `maintail` and `maintail -f`): its path, the descriptor the daemon writes it
    through, and the followers told after each flush that wrote lines and after a
    reopen (they move to the file that descriptor is then)."""

    __slots__ = ("path", "listeners", "handler")
    stream = False  # a file, not a stream

    def __init__(self, handler: _FileOutput):
        self.path = handler.path
        self.handler = handler
        self.listeners: tuple = ()

    @property
    def fd(self) -> int:
        stream = self.handler.stream
        if stream is None or stream.closed:
            return -1
        return stream.fileno()

    @property
    def fresh(self) -> int:
        """Bytes written since the followers were last told (see LogFile.fresh)."""
        raw = getattr(getattr(self.handler.stream, "buffer", None), "raw", None)
        return getattr(raw, "written", 0)

    def told(self) -> None:
        raw = getattr(getattr(self.handler.stream, "buffer", None), "raw", None)
        if isinstance(raw, _CountingFile):
            raw.written = 0


class _CountingFile(io.FileIO):
    """The daemon log's file, counting what is written: a maintail -f follower tells a
    file emptied in place (copytruncate) by it, as it does a program's."""

    written = 0

    def write(self, data) -> int:
        n = super().write(data)
        self.written += n or 0
        return n


_watched: Watched | None = None
_wrote = False  # lines were written since the followers were last told


def watched() -> Watched | None:
    """The daemon's log file for followers; None when it logs to no file."""
    global _watched
    for handler in log.handlers:
        if isinstance(handler, _FileOutput):
            if _watched is None or _watched.handler is not handler:
                _watched = Watched(handler)
            return _watched
    return None


def _tell_followers() -> None:
    global _wrote
    _wrote = False  # lines a follower's own sending logs are told next time
    if _watched is not None:
        for follower in _watched.listeners:
            follower.poll()


def setup(loglevel: str, logfile: str | None, foreground: bool) -> None:
    """Log to `logfile` (None: nowhere) and, in the foreground, to stderr as well.
    Raises OSError when the log file cannot be opened."""
    log.setLevel(LEVELS[loglevel])  # the config gives it lower-case
    log.handlers.clear()
    _direct.clear()
    if logfile:
        log.handlers.append(_FileOutput(logfile))
    if foreground:
        # Our own buffered stream on fd 2: sys.stderr would write every line at once.
        log.handlers.append(_Output(open(2, "w", buffering=65536, closefd=False)))
    _direct.extend(log.handlers)
    log.filters[:] = [f for f in log.filters if f is not _admit]
    global _limiter, _due
    _limiter, _due = repeats.RepeatLimiter(), None
    log.filters.append(_admit)


# -- repeated lines (log_repeats) -----------------------------------------------------

_limiter = repeats.RepeatLimiter()
_due: float | None = None  # when the first held lines' window ends (time.monotonic())
_call_later: Callable[[float, Callable[[], None]], object] | None = None
_timer_pending = False


def use_timer(call_later: Callable[[float, Callable[[], None]], object]) -> None:
    """Have the summary of held lines written when their window ends, by the loop's
    timer (idle daemons included); without one, at the first flush after it."""
    global _call_later
    _call_later = call_later


def _admit(record: Record) -> bool:
    """Whether `record` is written now (log_repeats' limit; the filter of `log`)."""
    # A traceback's kind is where it was logged and what was raised, whatever the
    # arguments (a client's request line, say: its own kind for every request).
    args = record.exc_info[0] if record.exc_info else record.args
    kind = repeats.kind_of(record.levelno, record.msg, args)
    now = time.monotonic()
    if _limiter.admit(kind, record, now):
        return True
    if _due is None:
        _schedule(now)
    return False


def _schedule(now: float) -> None:
    global _due, _timer_pending
    _due = _limiter.due()
    if _due is not None and _call_later is not None and not _timer_pending:
        _timer_pending = True
        _call_later(_due - now + 0.01, _on_timer)  # a little after: the window has ended


def _on_timer() -> None:
    global _timer_pending
    _timer_pending = False
    write_held(final=False)


def write_held(final: bool = True) -> None:
    """Write the summaries of held lines: of the windows that have ended, or (final, at
    shutdown) of all."""
    now = time.monotonic()
    for summary in _limiter.summaries(now, final):
        text = summary.text(_message(summary.last))
        log.handle(Record(summary.level, "%s", (text,)))  # past the filter, never held
    _schedule(now)


def _message(record: object) -> str:
    try:
        return record.getMessage()  # type: ignore[attr-defined]
    except Exception:
        return str(getattr(record, "msg", record))


def info(msg: str, *args: object) -> None:
    """log.info(msg, *args), the same line in the same place, without logging's machinery."""
    if not _direct or log.handlers != _direct:
        log.info(msg, *args)  # not (or no longer) our handlers: the general path
        return
    if log.level > INFO:
        return
    global _wrote
    _wrote = True
    now = time.time()
    line = f"{timestamp(now)} INFO {msg % args if args else msg}\n"
    for handler in _direct:
        try:
            handler.stream.write(line)
        except (OSError, ValueError, AttributeError) as exc:  # AttributeError: closed
            handler.failed(exc)  # a full disk or a closed stderr must not stop the daemon


_second = -1
_second_text = ""


def timestamp(created: float) -> str:
    """`2026-11-27 10:19:42,173`, as logging's default asctime; the date and time are
    formatted once per second, not once per line."""
    global _second, _second_text
    second = int(created)
    if second != _second:
        _second, _second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return f"{_second_text},{_MILLIS[int((created - second) * 1000)]}"


# "000" ... "999": three lines a restart, and a format spec cost more than the rest of it.
_MILLIS = [f"{ms:03d}" for ms in range(1000)]


def format_line(record: Record) -> str:
    """`2026-11-27 10:19:42,173 WARNING text`, and the traceback's lines after it."""
    line = f"{timestamp(record.created)} {record.levelname} {record.getMessage()}\n"
    trace = record.traceback()
    return f"{line}{trace}\n" if trace else line


class _Output(Handler):
    """One place the daemon's lines go. Records go to the stream's buffer; flush_now()
    writes them out, once per loop turn before the loop sleeps: one write(2) per turn,
    not one per line (a 1000-program start logs 2000 lines).

    Nothing here raises: the daemon's own log failing (a full disk, a closed stderr)
    must never stop it supervising. A failure is told on stderr when it starts or
    changes, and in the log itself once writing works again."""

    failure: str | None = None  # what is failing now; None while writing works
    path: str | None = None  # the log file's; None for stderr

    def __init__(self, stream) -> None:
        self.stream = stream

    def handle(self, record: Record) -> None:
        global _wrote
        _wrote = True
        try:
            self.stream.write(format_line(record))
        except Exception as exc:  # a full disk, a closed stream, a line it cannot encode
            self.failed(exc)
            return
        if record.levelno >= WARNING:
            self.flush_now()  # problems are seen at once; routine lines wait for the turn

    def flush_now(self) -> None:
        try:
            self.stream.flush()
        except Exception as exc:
            self.failed(exc)
            return
        if self.failure is not None:
            self._recovered()

    def close(self) -> None:
        try:
            self.stream.close()  # writes out what it held
        except Exception:
            pass

    def failed(self, exc: BaseException | None) -> None:
        reason = getattr(exc, "strerror", None) or str(exc)
        if reason == self.failure:
            return  # told already; a different failure is told again
        self.failure = reason
        _to_stderr(
            f"cannot write the log to {self.name_for_messages()}: {reason}; "
            "lines are lost until it works again"
        )

    def _recovered(self) -> None:
        reason, self.failure = self.failure, None
        line = f"{timestamp(time.time())} WARNING log writing works again; "
        line += f"lines were lost while it failed ({reason})\n"
        try:
            self.stream.write(line)
            self.stream.flush()
        except Exception as exc:
            self.failed(exc)

    def name_for_messages(self) -> str:
        return self.path or "stderr"


class _FileOutput(_Output):
    """The daemon's log file. Raises OSError when it cannot be opened."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        super().__init__(self.open())

    def open(self) -> io.TextIOWrapper:
        # As program logs: created 0640, and a directory another user can write never
        # leads the daemon elsewhere (log_open). O_NONBLOCK only so that opening a
        # FIFO found there cannot hang the loop (SIGUSR2); writes block as ever.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
        fd = safe_open.open_log(self.path, flags)
        os.set_blocking(fd, True)
        raw = _CountingFile(fd, "a")
        # UTF-8 whatever the locale; text it cannot encode (a lone surrogate from a name) is
        # escaped, not a failure of the whole log.
        return io.TextIOWrapper(io.BufferedWriter(raw), "utf-8", "backslashreplace")


def flush() -> None:
    """Write out what the handlers hold (each loop turn, before readiness, at exit)."""
    if _due is not None and time.monotonic() >= _due:
        write_held(final=False)  # no timer (yet), or the loop too busy to sleep
    for handler in log.handlers:
        if isinstance(handler, _Output):
            handler.flush_now()
    if _watched is not None:
        if _wrote and _watched.listeners:
            _tell_followers()
        _watched.told()


def reopen() -> None:
    """Open the log file again by its name (SIGUSR2, after logrotate moved it).

    The new file is opened before the old one is let go: if it cannot be (its
    directory is gone), the daemon goes on writing to the file it has, and says so."""
    for handler in log.handlers:
        if isinstance(handler, _FileOutput):
            _reopen(handler)
    flush()
    _tell_followers()  # they move to the new file (log_follow.Follower)
    if _watched is not None:
        _watched.told()


def _reopen(handler: _FileOutput) -> None:
    try:
        stream = handler.open()
    except OSError as exc:
        message = (
            f"cannot reopen the log file {handler.path}: {exc.strerror}; "
            "still writing to the file it had open"
        )
        _to_stderr(message)
        log.error("%s", message)
        return
    old, handler.stream = handler.stream, stream
    try:
        old.close()  # writes out what it held, into the file it was meant for
    except Exception:
        pass
    log.info("reopened the log file %s", handler.path)


def _to_stderr(message: str) -> None:
    """A last word on stderr (a foreground daemon's terminal; /dev/null detached)."""
    try:
        os.write(2, f"supervisord-lite: {message}\n".encode(errors="replace"))
    except Exception:
        pass
