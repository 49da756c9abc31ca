"""The daemon's logger: the one object every module writes its log lines through.

Not the standard library's `logging`: importing it brings `threading`, `traceback`,
`weakref`, `string` and more: 0.8 MiB of a 1000-program daemon's resident memory, for its
whole life (docs/benchmarks.md), for machinery it does not use (one logger,
one format, writers of its own). The calls are logging's: `log.info(msg, *args)`
formats `msg % args` only when the line is kept; `log.exception` adds the traceback.

logs/daemon_log.py puts the daemon's writers in `log.handlers`. Until it does (a
Supervisor used in process: tests, tools), lines of WARNING and worse go to stderr,
as logging's last resort sends them.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR, "critical": CRITICAL}
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}


class Record:
    """One line to log: its level, format and arguments, and the exception being
    handled (log.exception), if any."""

    __slots__ = ("levelno", "msg", "args", "exc_info", "created")

    def __init__(self, levelno: int, msg: object, args: tuple, exc_info=None, created=None):
        self.levelno = levelno
        self.msg = msg
        self.args = args
        self.exc_info = exc_info
        self.created = time.time() if created is None else created

    @property
    def levelname(self) -> str:
        return _NAMES.get(self.levelno, f"Level {self.levelno}")

    def getMessage(self) -> str:
        msg = str(self.msg)
        if not self.args:
            return msg
        try:
            return msg % self.args
        except (TypeError, ValueError, KeyError):
            # A line whose arguments do not fit its format is still worth seeing.
            return f"{msg} {self.args!r}"

    def traceback(self) -> str:
        """The exception's traceback without its last newline; "" for none."""
        if not self.exc_info or self.exc_info[0] is None:
            return ""
        import traceback  # only when an exception is logged: a daemon's bug, rare

        return "".join(traceback.format_exception(*self.exc_info)).rstrip("\n")


class Handler:
    """Where lines go: `handle(record)` writes one (it must not raise)."""

    def handle(self, record: Record) -> None:  # pragma: no cover - an interface
        raise NotImplementedError


class Logger:
    """The daemon's one logger (see the module's text)."""

    def __init__(self) -> None:
        self.level = WARNING
        self.handlers: list[Handler] = []
        # Each filter may drop a line: it returns False (logs/repeats.py's limit).
        self.filters: list[Callable[[Record], bool]] = []

    def setLevel(self, level: int) -> None:
        self.level = level

    def debug(self, msg: object, *args: object) -> None:
        if self.level <= DEBUG:
            self._log(DEBUG, msg, args, None)

    def info(self, msg: object, *args: object) -> None:
        if self.level <= INFO:
            self._log(INFO, msg, args, None)

    def warning(self, msg: object, *args: object) -> None:
        if self.level <= WARNING:
            self._log(WARNING, msg, args, None)

    def error(self, msg: object, *args: object) -> None:
        if self.level <= ERROR:
            self._log(ERROR, msg, args, None)

    def exception(self, msg: object, *args: object) -> None:
        """An ERROR line with the traceback of the exception being handled."""
        if self.level <= ERROR:
            self._log(ERROR, msg, args, sys.exc_info())

    def _log(self, level: int, msg: object, args: tuple, exc_info) -> None:
        record = Record(level, msg, args, exc_info)
        for keep in self.filters:
            if not keep(record):
                return
        self.handle(record)

    def handle(self, record: Record) -> None:
        """Write `record` past the level and the filters (a summary of held lines)."""
        if not self.handlers:
            if record.levelno >= WARNING:
                _last_resort(record)
            return
        for handler in self.handlers:
            handler.handle(record)


def _last_resort(record: Record) -> None:
    text = record.getMessage()
    trace = record.traceback()
    try:
        sys.stderr.write(f"{text}\n{trace}\n" if trace else f"{text}\n")
    except Exception:
        pass  # no stderr to tell: nothing else to do


class Collected(Handler):
    """A handler that keeps the records it is given (tests, tools): `with
    collected() as lines`, then `lines.records`."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.records: list[Record] = []

    def handle(self, record: Record) -> None:
        if record.levelno >= self.level:
            self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


class collected:
    """Collect what is logged at `level` or worse while the block runs."""

    def __init__(self, level: int = DEBUG) -> None:
        self.handler = Collected(level)

    def __enter__(self) -> Collected:
        self._saved_level = log.level
        log.level = min(log.level, self.handler.level)
        log.handlers.append(self.handler)
        return self.handler

    def __exit__(self, *exc: object) -> None:
        log.handlers.remove(self.handler)
        log.level = self._saved_level


log = Logger()
