"""The one event loop: an epoll set, signals through a wakeup fd, and a heap of timers.

It sleeps in a single `epoll_wait` whose timeout is the nearest timer deadline, or no
timeout at all: an idle daemon makes no system calls (never wake up unless notified,
as s6 does).

epoll directly, not the selectors module: a selector keeps a SelectorKey and a data
tuple per fd (two pipes per process); here an fd costs one dict entry per callback.
Linux only, as the daemon is (SO_PEERCRED, the child subreaper).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import select
import signal
import socket
import time
from typing import Callable

from supervisord_lite.base.log import log

now = time.monotonic

_READ = select.EPOLLIN
_WRITE = select.EPOLLOUT
# epoll_wait takes its timeout as a C int of milliseconds: past 24.8 days Python raises
# OverflowError. A longer timer (stopwaitsecs of a year) is waited for a day at a time,
# its deadline recomputed on each waking, so it still fires exactly when due.
MAX_SLEEP = 86400.0


class Timer:
    """A handle on a scheduled callback; cancel() makes it a no-op."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]):
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        # fd -> callback, per interest; the epoll mask of an fd follows from these.
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._soon: list[Callable[[], None]] = []
        self._signal_handlers: dict[int, Callable[[], None]] = {}
        self._bulk: set[int] = set()  # readers served last in a turn (add_reader)
        self._running = False
        self.before_sleep: list[Callable[[], None]] = []  # e.g. flush buffered log lines
        self._last_housekeeping = now()
        # Signals reach the loop as bytes on this socketpair: the C-level handler
        # writes the signal number, so Python-level handlers do nothing at all
        # (logging inside a handler deadlocked gunicorn, its issue #3198).
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._previous_wakeup = signal.set_wakeup_fd(
            self._wake_w.fileno(), warn_on_full_buffer=False
        )
        self.add_reader(self._wake_r.fileno(), self._read_signals)

    # -- file descriptors ---------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[], None], bulk: bool = False) -> None:
        """Call callback when fd is readable. A bulk reader (a child's output pipe) is
        served after the others that woke with it: a request on the control socket
        then waits for no log copying in its turn (a flooding child's pipe is ready at
        every turn, and one drain takes up to pipes.TIME_BUDGET)."""
        self._set_interest(fd, self._readers, callback)
        if bulk:
            self._bulk.add(fd)
        else:
            self._bulk.discard(fd)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self._set_interest(fd, self._writers, callback)

    def remove_reader(self, fd: int) -> None:
        self._bulk.discard(fd)
        self._clear_interest(fd, self._readers)

    def remove_writer(self, fd: int) -> None:
        self._clear_interest(fd, self._writers)

    def _mask(self, fd: int) -> int:
        return (_READ if fd in self._readers else 0) | (_WRITE if fd in self._writers else 0)

    def _set_interest(self, fd: int, table: dict, callback: Callable[[], None]) -> None:
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        old = self._mask(fd)
        table[fd] = callback
        new = self._mask(fd)
        if new == old:
            return  # only the callback changed
        try:
            if old:
                self._epoll.modify(fd, new)
            else:
                self._epoll.register(fd, new)
        except BaseException:
            if old:  # as selectors did: a failed modify forgets the fd
                self._readers.pop(fd, None)
                self._writers.pop(fd, None)
            else:
                del table[fd]
            raise

    def _clear_interest(self, fd: int, table: dict) -> None:
        if fd not in table:
            return
        del table[fd]
        mask = self._mask(fd)
        try:
            if mask:
                self._epoll.modify(fd, mask)
            else:
                self._epoll.unregister(fd)
        except OSError:
            if mask:
                self._readers.pop(fd, None)
                self._writers.pop(fd, None)
                raise
            # Unregistering an fd already closed: epoll dropped it by itself.

    # -- timers -------------------------------------------------------------------

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(now() + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run callback on the next turn of the loop, after the current handler returns."""
        self._soon.append(callback)

    # -- signals ------------------------------------------------------------------

    def on_signal(self, signum: int, callback: Callable[[], None]) -> None:
        self._signal_handlers[signum] = callback
        # A Python handler must be installed for the C handler to write the wakeup
        # byte. Never SIG_IGN for SIGCHLD: the kernel would then reap children itself
        # and waitpid would see nothing.
        signal.signal(signum, _ignore_in_handler)

    def _read_signals(self) -> None:
        try:
            data = self._wake_r.recv(4096)
        except BlockingIOError:
            return
        # Signals of one kind coalesce; dispatch each number once per wakeup.
        for signum in dict.fromkeys(data):
            handler = self._signal_handlers.get(signum)
            if handler is not None:
                self._guarded(handler)

    # -- running ------------------------------------------------------------------

    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        self._running = True
        while self._running:
            self.run_once()

    def run_once(self) -> None:
        timeout = self._next_timeout()
        # Before sleeping; and at least twice a second in a loop too busy to sleep.
        if timeout != 0 or now() - self._last_housekeeping >= 0.5:
            self._last_housekeeping = now()
            for callback in self.before_sleep:
                self._guarded(callback)
        if timeout is None:
            wait = -1.0  # until something happens
        elif timeout <= 0:
            wait = 0.0
        else:
            # Whole ms, rounded up: never wake early.
            wait = math.ceil(min(timeout, MAX_SLEEP) * 1e3) * 1e-3
        readers, writers = self._readers, self._writers
        try:
            ready = self._epoll.poll(wait, max(len(readers) + len(writers), 1))
        except InterruptedError:
            ready = []
        # Each fd's callbacks as they were when epoll answered: an earlier callback of
        # this same batch may unregister (and close) an fd, even reuse its number.
        batch = [(fd, events, readers.get(fd), writers.get(fd)) for fd, events in ready]
        if len(batch) > 1 and self._bulk:
            bulk = self._bulk
            batch.sort(key=lambda item: item[0] in bulk)  # stable: bulk ones last
        for fd, events, reader, writer in batch:
            # A hangup or an error wakes both sides, as the selectors module did.
            if events & ~_WRITE and reader is not None and readers.get(fd) is reader:
                self._guarded(reader)
            if events & ~_READ and writer is not None and writers.get(fd) is writer:
                self._guarded(writer)
        self._fire_timers()
        self._run_soon()

    def _next_timeout(self) -> float | None:
        if self._soon:
            return 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - now())

    def _fire_timers(self) -> None:
        current = now()
        while self._timers and self._timers[0][0] <= current:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                self._guarded(timer.callback)

    def _run_soon(self) -> None:
        while self._soon:
            batch, self._soon = self._soon, []
            for callback in batch:
                self._guarded(callback)

    def _guarded(self, callback: Callable[[], None]) -> None:
        # A bug in one handler must not take every supervised service down with it;
        # nor may reporting it: the log itself can be what fails (a full disk).
        try:
            callback()
        except Exception:
            try:
                log.exception("internal error in %r; carrying on", callback)
            except Exception:
                _last_resort(f"internal error in {callback!r}; carrying on (the log failed too)")

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        self._epoll.close()
        self._wake_r.close()
        self._wake_w.close()


def _last_resort(message: str) -> None:
    """Tell stderr, if anyone is there; never raise."""
    try:
        os.write(2, f"supervisord-lite: {message}\n".encode(errors="replace"))
    except Exception:
        pass


def _ignore_in_handler(signum, frame) -> None:
    """The real work happens in the loop, woken by the wakeup fd."""


def set_nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)
