"""GET /logtail/NAME/CHANNEL and /mainlogtail: a log followed as one plain chunked HTTP
response, as supervisord serves supervisorctl's `tail -f` and `maintail -f`.

The `tail` and `maintail` handlers do the following (control/commands.py, logs/
follow.py: the file the daemon writes, across rotation and reload); this is only
their `Replier`, writing each piece as a chunk until the client goes away.
"""

from __future__ import annotations

from typing import Callable

import h11

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.replies import LATER
from supervisord_lite.http.connection import SECURITY_HEADERS, Connection
from supervisord_lite.http.xmlrpc_calls import split_namespec

FIRST_LINES = 10  # what the stream starts with (supervisord: its last 1024 bytes)


class LogStream:
    """A `Replier` whose replies are chunks of one streamed response."""

    def __init__(self, conn: Connection, handlers: dict):
        self.conn = conn
        self.handlers = handlers
        self.on_close: list[Callable[[], None]] = []
        self.streaming = False
        self.started = False
        conn.caller = self  # closed: detach() stops following

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def out(self) -> bytearray:
        return self.conn.out

    def process(self, name: str, stream: str) -> None:
        group, process = split_namespec(name)
        full = group if process is None or process == group else f"{group}:{process}"
        if stream not in ("stdout", "stderr"):
            self.conn.respond(404, b"text/plain", b"no such channel\n")
            return
        args = {"name": full, "stream": stream, "lines": FIRST_LINES, "follow": True}
        self._run("tail", args)

    def daemon(self) -> None:
        self._run("maintail", {"lines": FIRST_LINES, "follow": True})

    def _run(self, cmd: str, args: dict) -> None:
        try:
            result = self.handlers[cmd](self, protocol.Request(None, cmd, args))
        except ProtocolError as exc:
            self.fail(None, exc.code, exc.message)
            return
        if result is not LATER:
            self.reply(None, result)

    def reply(self, req_id, result) -> None:
        if self.conn.closed:
            return
        if not self.started:
            self.started = True
            fields = [(b"content-type", b"text/plain;charset=utf-8"),
                      (b"x-accel-buffering", b"no"), *SECURITY_HEADERS]  # fmt: skip
            self.conn.streaming = True
            self.conn.send(h11.Response(status_code=200, headers=fields, reason=b"OK"))
        data = result.get("data", "") if isinstance(result, dict) else ""
        if data:
            self.conn.send(h11.Data(data=data.encode("utf-8")))

    def fail(self, req_id, code: str, message: str) -> None:
        if self.conn.closed:
            return
        if not self.started:
            # supervisord answers 404 for a process or log it does not know
            self.conn.respond(404, b"text/plain", (message + "\n").encode())
        else:
            self.conn.end_stream()

    def flush(self) -> None:
        self.conn.flush()

    def close(self) -> None:
        self.conn.close()

    def detach(self) -> None:
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("xmlrpc: a clean-up after a stream failed: %r", callback)
