"""Readiness and health probes (docs/health.md): a pure core, and thin shells on the loop.

The core (HealthTracker, next_delay) takes results and `now` and says what they mean;
it reads no clock and touches no socket, and is tested by histories like core/states.py.
The shells are one attempt each: a non-blocking TCP connect, a minimal HTTP/1.0 GET
(only the status line is read), or an `exec` child reaped by the daemon's reaper.
Every wait is a timer on the loop's heap and every socket sits in its epoll set:
nothing here blocks. A process with no probes has no Checks, no timer, no socket.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
from typing import Callable, Optional

from supervisord_lite.config.probes import ProbeConfig
from supervisord_lite.core.states import describe_exit
from supervisord_lite.linux.spawn import SpawnError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.linux.loop import EventLoop

# The most of a reply we read looking for the status line: a server that sends more
# before a newline is not speaking HTTP/1.x.
MAX_STATUS_LINE = 1024
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})(?: |\r?$)")
# A readiness attempt may take at least this long, whatever its interval.
MIN_READY_ATTEMPT = 1.0

Done = Callable[[bool, str], None]


# --- the pure core ---------------------------------------------------------------------


def next_delay(started: float, interval: float, now: float) -> float:
    """Seconds until the next probe: `interval` after the last one started, never
    before the last one finished (a slow probe is not run back to back)."""
    return max(0.0, started + interval - now)


class HealthTracker:
    """Failures in a row -> what they mean. Verdicts: "healthy" (recovered), "unhealthy"
    (the first failure after success), "restart" (`failures` in a row)."""

    __slots__ = ("failures", "streak", "health", "reason")

    def __init__(self, failures: int):
        self.failures = failures
        self.streak = 0
        self.health: str | None = None  # None until the first result
        self.reason: str | None = None  # the last failure's, while unhealthy

    def record(self, ok: bool, reason: str) -> list[str]:
        if ok:
            was = self.health
            self.streak, self.health, self.reason = 0, "healthy", None
            return ["healthy"] if was == "unhealthy" else []
        self.streak += 1
        verdicts = [] if self.health == "unhealthy" else ["unhealthy"]
        self.health = "unhealthy"
        self.reason = f"{reason} ({self.streak} of {self.failures} in a row)"
        if self.streak >= self.failures:
            self.streak = 0  # the restart starts a new count
            verdicts.append("restart")
        return verdicts


# --- one attempt: the shells --------------------------------------------------------------


class TcpAttempt:
    """A non-blocking connect; done(True) once it is accepted. Subclassed for http."""

    def __init__(self, loop: EventLoop, probe: ProbeConfig, done: Done):
        self.loop = loop
        self.address = probe.target
        self.done = done
        self.sock: socket.socket | None = None

    def start(self) -> None:
        address = self.address
        try:
            sock = socket.socket(address.family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)
        except OSError as exc:
            self._finish(False, f"socket: {exc.strerror or exc}")
            return
        self.sock = sock
        err = sock.connect_ex((address.host, address.port))
        if err in (errno.EINPROGRESS, errno.EAGAIN, 0):
            self.loop.add_writer(sock.fileno(), self._connected)
        else:
            self._finish(False, f"connect {address.host}:{address.port}: {os.strerror(err)}")

    def _connected(self) -> None:
        assert self.sock is not None
        self.loop.remove_writer(self.sock.fileno())
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            where = f"{self.address.host}:{self.address.port}"
            self._finish(False, f"connect {where}: {os.strerror(err)}")
        else:
            self.on_connect()

    def on_connect(self) -> None:
        self._finish(True, f"tcp {self.address.text} accepts connections")

    def cancel(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            self.loop.remove_writer(sock.fileno())
            self.loop.remove_reader(sock.fileno())
            sock.close()

    def _finish(self, ok: bool, reason: str) -> None:
        self.cancel()
        done, self.done = self.done, _ignore
        self.loop.call_soon(lambda: done(ok, reason))  # never re-enter the caller


class HttpAttempt(TcpAttempt):
    """GET path HTTP/1.0; only the status line `HTTP/1.x NNN` of the reply is read.

    Not an HTTP client: no redirects followed (a 3xx counts as an answer), no body, no
    headers read. Enough to know the server answers, with nothing to parse wrongly."""

    def on_connect(self) -> None:
        address = self.address
        host = f"[{address.host}]" if ":" in address.host else address.host
        self.out = (
            f"GET {address.path} HTTP/1.0\r\nHost: {host}:{address.port}\r\n"
            "User-Agent: supervisord-lite\r\nConnection: close\r\n\r\n"
        ).encode("latin-1", "replace")
        self.got = b""
        self._send()

    def _send(self) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._finish(False, f"send: {exc.strerror or exc}")
            return
        self.out = self.out[sent:]
        fd = self.sock.fileno()
        if self.out:
            self.loop.add_writer(fd, self._send_more)
        else:
            self.loop.add_reader(fd, self._read)

    def _send_more(self) -> None:
        assert self.sock is not None
        self.loop.remove_writer(self.sock.fileno())
        self._send()

    def _read(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(MAX_STATUS_LINE)
        except BlockingIOError:
            return
        except OSError as exc:
            self._finish(False, f"recv: {exc.strerror or exc}")
            return
        self.got += data
        line, newline, _ = self.got.partition(b"\n")
        if not newline and data and len(self.got) < MAX_STATUS_LINE:
            return  # the status line is not complete yet
        match = _STATUS_LINE.match(line.rstrip(b"\r"))
        if match is None:
            shown = line[:80].decode("latin-1") if line else "nothing"
            self._finish(False, f"GET {self.address.text}: not an HTTP reply: {shown!r}")
            return
        code = int(match.group(1))
        ok = 200 <= code < 400
        self._finish(ok, f"GET {self.address.text}: {code}")


class ExecAttempt:
    """Runs argv as a child of the daemon (the program's user, directory, environment);
    exit 0 passes. Reaped by the reaper like every child; killed (its whole group) at
    its timeout."""

    def __init__(self, spawn_child: Callable[[], int], watch_exit, done: Done, argv):
        self.spawn_child = spawn_child
        self.watch_exit = watch_exit  # (pid, callback(exitstatus)) -> None
        self.done = done
        self.argv = argv
        self.pid: int | None = None
        self.cannot_run: str | None = None  # why the command could not even start

    def start(self) -> None:
        try:
            self.pid = self.spawn_child()
        except (SpawnError, OSError) as exc:
            why = str(exc)  # "/x/check: No such file or directory" names the file
            self.cannot_run = why if why.startswith(self.argv[0]) else f"{self.argv[0]}: {why}"
            self.done(False, f"exec {self.cannot_run}")
            return
        self.watch_exit(self.pid, self._exited)

    def _exited(self, exitstatus: int) -> None:
        self.pid = None
        done, self.done = self.done, _ignore
        done(exitstatus == 0, f"exec {self.argv[0]}: {describe_exit(exitstatus)}")

    def cancel(self) -> None:
        self.done = _ignore
        if self.pid is not None:
            # Still unreaped (our child), so its pid, also its group id, is not reused.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _ignore(ok: bool, reason: str) -> None:
    pass


class LogMatcher:
    """Finds a regex in a child's output lines, fed the bytes read from its pipes."""

    MAX_LINE = 64 * 1024  # a longer unfinished line is searched in pieces

    def __init__(self, pattern: str, on_match: Callable[[str], None]):
        self.regex = re.compile(pattern)
        self.on_match: Optional[Callable[[str], None]] = on_match
        self.partial = b""

    def feed(self, data: bytes) -> None:
        if self.on_match is None:
            return
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > self.MAX_LINE:
            lines.append(self.partial)
            self.partial = b""
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r")
            if self.regex.search(text):
                on_match, self.on_match = self.on_match, None
                on_match(text)
                return
