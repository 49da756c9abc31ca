"""The daemon's own log: lines buffered and written once per loop turn, and a short path
for the routine lines every spawn and exit writes.

Through `logging`, one line costs a LogRecord, a handler lock, a filter pass and a
Formatter call: in a crash storm, three lines per restart were a quarter of the daemon's
own CPU (docs/benchmarks.md). `info()` writes the same text straight into the same
buffered streams, in order with everything else, whenever the handlers are the ones set
up here; otherwise (a Supervisor used without the daemon, as in tests) it is log.info.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("supervisord_lite")

# The handlers info() may write to directly; empty until setup() installs them.
_direct: list[logging.StreamHandler] = []


def setup(loglevel: str, logfile: str | None, foreground: bool) -> None:
    """Log to `logfile` (None: nowhere) and, in the foreground, to stderr as well.
    Raises OSError when the log file cannot be opened."""
    # The Logging HOWTO's "Optimization" section: our format uses none of the caller's
    # file, line, thread or process, so skip collecting them for every record (walking
    # the stack for the caller was the dearest part of a log line in the crash storm).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    formatter = _Formatter("%(asctime)s %(levelname)s %(message)s")
    log.setLevel(getattr(logging, loglevel.upper()))
    log.handlers.clear()
    log.propagate = False
    _direct.clear()
    if logfile:
        handler: logging.StreamHandler = _DeferredFileHandler(logfile)
        handler.setFormatter(formatter)
        log.addHandler(handler)
    if foreground:
        # Our own buffered stream on fd 2: sys.stderr would write every line at once.
        handler = _DeferredStreamHandler(open(2, "w", buffering=65536, closefd=False))
        handler.setFormatter(formatter)
        log.addHandler(handler)
    _direct.extend(log.handlers)


def info(msg: str, *args: object) -> None:
    """log.info(msg, *args), the same line in the same place, without logging's machinery."""
    if not _direct or log.handlers != _direct:
        log.info(msg, *args)  # not (or no longer) our handlers: the general path
        return
    if not log.isEnabledFor(logging.INFO):
        return
    now = time.time()
    line = f"{timestamp(now)} INFO {msg % args if args else msg}\n"
    for handler in _direct:
        try:
            handler.stream.write(line)
        except (OSError, ValueError, AttributeError):  # AttributeError: a closed handler
            pass  # a full disk or a closed stderr must not stop the daemon


_second = -1
_second_text = ""


def timestamp(created: float) -> str:
    """`2026-11-27 10:19:42,173`, as logging's default asctime; the date and time are
    formatted once per second, not once per line."""
    global _second, _second_text
    second = int(created)
    if second != _second:
        _second, _second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return f"{_second_text},{int((created - second) * 1000):03d}"


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return timestamp(record.created)


class _DeferredFlush:
    """Records go to the stream's buffer; flush() writes them out, once per loop turn
    before the loop sleeps: one write(2) per turn, not one per line (a 1000-program
    start logs 2000 lines)."""

    def flush(self) -> None:
        pass  # called by emit() after every record

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.flush_now()  # problems are seen at once; routine lines wait for the turn

    def flush_now(self) -> None:
        super().flush()


class _DeferredFileHandler(_DeferredFlush, logging.FileHandler):
    pass


class _DeferredStreamHandler(_DeferredFlush, logging.StreamHandler):
    pass


def flush() -> None:
    """Write out what the handlers hold (each loop turn, before readiness, at exit)."""
    for handler in log.handlers:
        if isinstance(handler, _DeferredFlush):
            try:
                handler.flush_now()
            except (OSError, ValueError):
                pass  # a full disk or a closed stderr must not stop the daemon


def reopen() -> None:
    """Open the log file again by its name (SIGUSR2, after logrotate moved it)."""
    for handler in log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()
