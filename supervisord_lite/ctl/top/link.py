"""`supervisorctl-lite top`: its connections to the daemons, read without blocking.

Per daemon, one connection (Link) carries the `events` stream, a `status` request every
`interval` seconds (never two at a time), and the start/stop/restart the keys send,
each reply routed by its id (the daemon answers them in any order: a stop may take
stopwaitsecs while events keep coming). The selected process's log is followed on a
second connection to the same socket (LogTail), because a `tail -f` ends only when its
connection closes: choosing another process closes it and opens another. With -H both
go through the host's one ssh tunnel (ctl/transport.py SshConnection's local socket).

Whoever runs the loop selects on fileno() and calls readable(); nothing here waits.
"""

from __future__ import annotations

import time

from supervisord_lite.base import protocol
from supervisord_lite.ctl.client import Connection, Unreachable

# Status polls: at most one a second (SPEC §14), never faster whatever is asked.
from supervisord_lite.ctl.top_args import DEFAULT_INTERVAL, MIN_INTERVAL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

LOG_LINES = 200  # the lines of a process's log kept for the pane


def read_replies(conn: Connection) -> list[dict] | None:
    """What one recv() brought, decoded; None when the daemon closed the connection.
    Only after select() said the socket is readable: then recv() does not block."""
    try:
        data = conn.sock.recv(1 << 20)
    except (ConnectionResetError, OSError):
        return None
    if not data:
        return None
    return [protocol.decode_reply(line) for line in conn.buf.feed(data)]


class Link:
    """One daemon: its events, its status every `interval` seconds, and commands."""

    def __init__(
        self,
        host: str,
        conn: Connection,
        on_status: Callable[[str, list], None],
        on_event: Callable[[str, dict], None],
        interval: float = DEFAULT_INTERVAL,
    ):
        self.host = host
        self.conn = conn
        self.on_status = on_status
        self.on_event = on_event
        self.interval = max(MIN_INTERVAL, interval)
        self.handlers: dict[int, Callable[[dict], None]] = {}
        self.status_sent_at: float | None = None  # the pending status request's
        # None: the first status is due at once. (0.0 made it wait until the monotonic
        # clock, which counts from boot, passed `interval`: on a machine up for less
        # than an hour, `top --interval 3600` showed nothing.)
        self.last_status_at: float | None = None
        self.answered_at = time.monotonic()
        self.error: str | None = None  # why it ended
        # Events first, then the first status: no change can fall between the two.
        self.events_id = self._send("events", None, self._event)

    def fileno(self) -> int:
        return self.conn.sock.fileno()

    @property
    def path(self) -> str:
        """The socket a second connection to the same daemon opens (with -H: the
        tunnel's local end)."""
        return self.conn.path

    def _send(self, cmd: str, args: dict | None, handler: Callable[[dict], None]) -> int:
        try:
            req_id = self.conn.send(cmd, args)
        except OSError as exc:
            self.error = self.error or f"cannot send to the daemon at {self.conn.path}: {exc}"
            return -1
        self.handlers[req_id] = handler
        return req_id

    def poll(self, now: float) -> None:
        """Ask for the status when it is due."""
        if self.error is None and self.status_sent_at is None:
            last = self.last_status_at
            if last is None or now - last >= self.interval:
                self.status_sent_at = self.last_status_at = now
                self._send("status", None, self._status)

    def stale_for(self, now: float) -> float:
        """Seconds a status answer is overdue (a stopped or wedged daemon)."""
        if self.status_sent_at is None:
            return 0.0
        return max(0.0, now - self.status_sent_at - self.interval)

    def command(self, cmd: str, names: list[str], done: Callable[[dict], None]) -> None:
        self._send(cmd, {"names": names}, done)

    def readable(self) -> bool:
        """Read what came; False once the connection has ended (self.error says why)."""
        replies = read_replies(self.conn)
        if replies is None:
            self.error = self.conn.closed_reason()
            return False
        for reply in replies:
            req_id = reply.get("id")
            handler = self.handlers.get(req_id) if isinstance(req_id, int) else None
            if handler is None:
                if not reply.get("ok"):  # refused before any request was read
                    self.error = _error_text(reply)
                    return False
                continue
            if req_id != self.events_id:
                del self.handlers[req_id]
            handler(reply)
        return self.error is None

    def _event(self, reply: dict) -> None:
        if not reply.get("ok"):
            self.error = f"the events stream ended: {_error_text(reply)}"
            return
        result = reply["result"]
        if "subscribed" not in result:
            self.on_event(self.host, result)

    def _status(self, reply: dict) -> None:
        self.status_sent_at = None
        self.answered_at = time.monotonic()
        if reply.get("ok"):
            self.on_status(self.host, reply["result"])

    def close(self) -> None:
        self.conn.close()


class LogTail:
    """`tail -f` of one process's log on a connection of its own."""

    def __init__(
        self,
        path: str,
        name: str,
        stream: str,
        on_data: Callable[[str], None],
        timeout: float | None = None,
    ):
        self.name = name
        self.stream = stream
        self.on_data = on_data
        self.error: str | None = None
        self.conn: Connection | None = None
        try:
            self.conn = Connection(path, timeout)
            args = {"name": name, "stream": stream, "lines": LOG_LINES, "follow": True}
            self.conn.send("tail", args)
        except (Unreachable, OSError) as exc:
            self.close()
            self.error = str(exc)

    def fileno(self) -> int:
        return -1 if self.conn is None else self.conn.sock.fileno()

    def readable(self) -> bool:
        """Read what came; False once the tail has ended (self.error says why)."""
        if self.conn is None:
            return False
        replies = read_replies(self.conn)
        if replies is None:
            self.error = self.error or "the log's connection closed"
            return False
        for reply in replies:
            if not reply.get("ok"):
                self.error = _error_text(reply)
                return False
            self.on_data(reply["result"].get("data", ""))
        return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _error_text(reply: dict) -> str:
    err = reply.get("error") or {}
    return f"{err.get('code', '?')}: {err.get('message', '')}"
