"""One listener process's protocol pipes on the loop (docs/listeners.md).

Its stdin is a pipe the daemon writes envelopes into; its stdout is the protocol
channel, read by supervisor_wire/events.py's ListenerReader (READY, RESULT N). Never
blocking: an envelope the pipe cannot take yet waits here (one at most: a listener has
one event in flight) and goes out as the pipe drains; a listener that stops reading
holds only its own event, while its pool buffers the rest. Its stderr is not here: it
goes to its log like any program's.
"""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional

from supervisord_lite.base.log import log
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.supervisor_wire.events import READY, UNKNOWN, ListenerReader

READ_SIZE = 65536


class ListenerPipes:
    """The protocol with one listener process: whether it may be sent an event, the
    event in flight, its results. core/process.py's ListenerView (protocol_error)."""

    def __init__(
        self,
        loop: EventLoop,
        name: str,
        stdin_fd: int,
        stdout_fd: int,
        on_result: Callable[[ListenerPipes, object, bytes], None],
        on_ready: Callable[[ListenerPipes], None],
    ):
        self.loop = loop
        self.name = name  # the process's full name, for the log
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.reader = ListenerReader()
        self.event: Optional[object] = None  # sent, its result not read yet
        self._out = b""  # the part of the envelope its stdin has not taken yet
        self._on_result = on_result
        self._on_ready = on_ready
        loop.add_reader(stdout_fd, self._readable)

    @property
    def protocol_error(self) -> str:
        return self.reader.protocol_error

    def is_ready(self) -> bool:
        """READY for an event (and still able to take one)."""
        return self.reader.state == READY and self.stdin_fd >= 0

    def send(self, event: object, envelope: bytes) -> None:
        """Write an event's envelope (READY -> BUSY); what the pipe cannot take now
        goes out as it drains."""
        self.reader.event_sent()
        self.event = event
        self._out = envelope
        self._write()

    def _write(self) -> None:
        try:
            written = os.write(self.stdin_fd, self._out)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            # EPIPE: it closed its stdin (it is exiting, most likely). The event stays in
            # flight: it goes back to the pool when the process is gone (close()).
            if exc.errno != errno.EPIPE:
                log.warning("%s: cannot write an event to the listener: %s", self.name, exc)
            self._out = b""
            self._close_stdin()
            return
        self._out = self._out[written:]
        if self._out:
            self.loop.add_writer(self.stdin_fd, self._writable)

    def _writable(self) -> None:
        self.loop.remove_writer(self.stdin_fd)
        if self._out and self.stdin_fd >= 0:
            self._write()

    def _readable(self) -> None:
        try:
            data = os.read(self.stdout_fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # it closed its stdout: nothing more will come from it
            self._close_stdout()
            return
        self.feed(data)

    def feed(self, data: bytes) -> None:
        was_unknown = self.reader.state == UNKNOWN
        for result in self.reader.feed(data):
            event, self.event = self.event, None
            self._on_result(self, event, result)
        if self.reader.state == UNKNOWN and not was_unknown:
            # Read no more: what a broken listener writes would only be thrown away,
            # and one that floods its stdout then blocks on it instead of costing us.
            if self.stdout_fd >= 0:
                self.loop.remove_reader(self.stdout_fd)
            log.warning(
                "%s: listener protocol error: %s; it gets no events until it restarts",
                self.name,
                self.reader.protocol_error,
            )
        elif self.reader.state == READY:
            self._on_ready(self)

    def drain(self) -> None:
        """Read what its stdout still holds (a result written just before it exited)."""
        while self.stdout_fd >= 0 and self.reader.state != UNKNOWN:
            try:
                data = os.read(self.stdout_fd, READ_SIZE)
            except OSError:
                data = b""
            if not data:
                self._close_stdout()
                return
            self.feed(data)

    def close(self) -> Optional[object]:
        """The process is gone: close both pipes; the event it never answered, if any
        (for its pool to send again)."""
        self.drain()
        self._close_stdin()
        self._close_stdout()
        event, self.event = self.event, None
        return event

    def _close_stdin(self) -> None:
        if self.stdin_fd >= 0:
            self.loop.remove_writer(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1

    def _close_stdout(self) -> None:
        if self.stdout_fd >= 0:
            self.loop.remove_reader(self.stdout_fd)
            os.close(self.stdout_fd)
            self.stdout_fd = -1
