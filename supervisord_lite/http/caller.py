"""The HTTP API's side of a command handler's client: a `Caller` is a control
`Replier` whose replies become one JSON response, or server-sent events.

The handlers (control/commands.py) are the socket's; through a Caller they answer an
HTTP request without knowing it is one.
"""

from __future__ import annotations

from typing import Callable

from supervisord_lite.base.log import log
from supervisord_lite.http.connection import Connection


class Caller:
    """What a command handler sees of its client (a replies.Replier, as control.Client
    is): one request's replies go to `deliver` and its failures to `refuse`."""

    def __init__(self, conn: Connection, deliver, refuse):
        self.conn = conn
        self.deliver = deliver
        self.refuse = refuse
        self.on_close: list[Callable[[], None]] = []
        self.streaming = False
        self.awaiting: dict = {}

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def out(self) -> bytearray:
        return self.conn.out

    @property
    def sock(self):
        return self.conn.sock

    def reply(self, req_id, result) -> None:
        if not self.conn.closed:
            self.deliver(result)

    def fail(self, req_id, code: str, message: str) -> None:
        if not self.conn.closed:
            self.refuse(code, message)

    def send(self, message: dict) -> None:
        if "error" in message:
            self.fail(None, message["error"]["code"], message["error"]["message"])

    def flush(self) -> None:
        self.conn.flush()

    def close(self) -> None:
        self.conn.close()

    def detach(self) -> None:
        """The response is over: unsubscribe whatever the handler subscribed. Each
        callback on its own, so one that fails cannot leave the others subscribed."""
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("http: a clean-up after a response failed: %r", callback)
