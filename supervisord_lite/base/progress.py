"""One updating line on stderr while a command waits (a slow start or stop, a readiness
probe, the launcher's --wait): what is awaited and for how long, as people expect of a
modern CLI. Only on a terminal: on a pipe or a file, where the line would be noise in a
log or a script's output, it writes nothing at all.

Stdlib only and tiny: the ctl imports it, and the ctl's start-up time is a feature.
"""

from __future__ import annotations

import os
import sys
import time

FRAMES = "|/-\\"
# A wait shorter than this shows nothing: a quick command must not flash a line.
SHOW_AFTER = 0.5


class Progress:
    """`update(text)` as often as is convenient; `tick()` redraws at most every
    `redraw` seconds; `clear()` (always, also after a failure) wipes the line."""

    def __init__(self, stream=None, redraw: float = 0.2):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream)
        self.started = time.monotonic()
        self.redraw = redraw
        self.text = ""
        self.drawn_at = 0.0
        self.frame = 0
        self.shown = False

    def update(self, text: str) -> None:
        self.text = text
        self.tick()

    def tick(self) -> None:
        if not self.enabled or not self.text:
            return
        now = time.monotonic()
        if now - self.started < SHOW_AFTER or now - self.drawn_at < self.redraw:
            return
        self.drawn_at = now
        self.frame = (self.frame + 1) % len(FRAMES)
        line = f"{FRAMES[self.frame]} {self.text} ({now - self.started:.0f}s)"
        self._write("\r\x1b[K" + line[: self._width() - 1])
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self._write("\r\x1b[K")
            self.shown = False

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            return 80

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing more to show
            self.enabled = False


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a file at all
        return False
