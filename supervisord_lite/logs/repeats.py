"""Collapsing repeated lines of the daemon's own log: any local user can make the daemon
log a line (a refused connection, a malformed request) as often as they like, and must
not be able to grow the log without bound.

A line's kind is its level, its format string and its arguments with every number
blanked: a refused client's uid and pid differ each time, a program's name does not.
The first BURST lines of a kind within WINDOW seconds are written at once (the first
one is never held up); the rest are counted, and one line at the window's end says how
many and shows the last. While a kind keeps coming, each later window gives that one
line only, until a window passes without it. At most MAX_KINDS kinds are kept; past
that, lines of new kinds are counted together.

Pure: no clock, no I/O. The caller passes `now` and writes the summaries returned.
"""

from __future__ import annotations

import re

WINDOW = 10.0
BURST = 10
MAX_KINDS = 256

_NUMBER = re.compile(r"\d+")


def kind_of(level: int, msg: object, args: object) -> tuple:
    """The kind of a log record: its level, format and arguments, numbers blanked."""
    if isinstance(args, tuple):
        blanked: object = tuple(_blank(a) for a in args)
    else:
        blanked = _blank(args)
    return (level, msg if isinstance(msg, str) else type(msg), blanked)


def _blank(value: object) -> object:
    if isinstance(value, (int, float)):
        return None
    if isinstance(value, str):
        return value
    return _NUMBER.sub("#", str(value))  # an exception's text holds ports, addresses


class _Kind:
    __slots__ = ("start", "logged", "held", "last", "flooding")

    def __init__(self, start: float):
        self.start = start
        self.logged = 0  # lines written in this window
        self.held = 0  # lines not written in this window
        self.last: object = None  # the last line held: shown in the summary
        self.flooding = False  # held some in the previous window: write none


class Summary:
    """What to log for lines held back: `count` lines like `last` in `seconds`."""

    __slots__ = ("level", "count", "last", "seconds", "other_kinds")

    def __init__(self, level: int, count: int, last: object, seconds: float, other_kinds=False):
        self.level = level
        self.count = count
        self.last = last
        self.seconds = seconds
        self.other_kinds = other_kinds

    def text(self, last_text: str) -> str:
        what = "lines of other kinds" if self.other_kinds else "similar lines"
        why = (
            f"more than {MAX_KINDS} kinds of lines at once"
            if self.other_kinds
            else f"at most {BURST} are logged per {WINDOW:g} s"
        )
        span = _span(self.seconds)
        return f"{self.count} {what} not logged in {span} ({why}); the last: {last_text}"


def _span(seconds: float) -> str:
    return "under a second" if seconds < 1 else f"{seconds:.0f} s"


class RepeatLimiter:
    def __init__(self) -> None:
        self._kinds: dict[tuple, _Kind] = {}
        self._other: _Kind | None = None  # lines of new kinds while the table is full
        self._other_level = 0
        self._ready: list[Summary] = []

    def admit(self, kind: tuple, line: object, now: float) -> bool:
        """True: write this line now. False: it is counted (`line` kept as the last)."""
        state = self._kinds.get(kind)
        if state is not None and now - state.start >= WINDOW:
            self._end_window(kind, state, now)
            state = self._kinds.get(kind)
        if state is None:
            if len(self._kinds) >= MAX_KINDS:
                self._expire(now)
            if len(self._kinds) >= MAX_KINDS:
                return self._hold_other(kind[0], line, now)
            state = self._kinds[kind] = _Kind(now)
        if not state.flooding and state.logged < BURST:
            state.logged += 1
            return True
        state.held += 1
        state.last = line
        return False

    def _hold_other(self, level: int, line: object, now: float) -> bool:
        other = self._other
        if other is None or now - other.start >= WINDOW:
            self._flush_other(now)
            other = self._other = _Kind(now)
        other.held += 1
        other.last = line
        self._other_level = max(self._other_level, level)
        return False

    def _flush_other(self, now: float) -> None:
        other = self._other
        if other is not None and other.held:
            seconds = min(now - other.start, WINDOW)
            self._ready.append(Summary(self._other_level, other.held, other.last, seconds, True))
        self._other = None
        self._other_level = 0

    def _end_window(self, kind: tuple, state: _Kind, now: float) -> None:
        end = state.start + WINDOW
        if state.held:
            seconds = min(now, end) - state.start
            self._ready.append(Summary(kind[0], state.held, state.last, seconds))
        if state.held and now - end < WINDOW:
            # It may still be coming: the window that began then writes a summary only.
            fresh = self._kinds[kind] = _Kind(end)
            fresh.flooding = True
        else:
            del self._kinds[kind]  # a whole window without it: its next line is a first

    def _expire(self, now: float) -> None:
        for kind, state in list(self._kinds.items()):
            if now - state.start >= WINDOW:
                self._end_window(kind, state, now)

    def due(self) -> float | None:
        """When the earliest window holding lines ends (None: nothing is held)."""
        ends = [s.start + WINDOW for s in self._kinds.values() if s.held]
        if self._other is not None and self._other.held:
            ends.append(self._other.start + WINDOW)
        return min(ends) if ends else None

    def summaries(self, now: float, final: bool = False) -> list[Summary]:
        """The summaries of every window that has ended (of all, when final), in the
        order the windows ended."""
        if final:
            for kind, state in list(self._kinds.items()):
                if state.held:
                    self._end_window(kind, state, now)
            self._flush_other(now)
        else:
            self._expire(now)
            if self._other is not None and now - self._other.start >= WINDOW:
                self._flush_other(now)
        ready, self._ready = self._ready, []
        return ready
