"""What a command handler needs of whoever asked: the `Replier` surface and `LATER`.

The handlers (commands.py) answer the socket's clients (control.Client) and the HTTP
API's callers (http/caller.py) alike; both satisfy `Replier`, so the handlers know
neither server. A handler returns its result, to be sent at once, or `LATER` once it
has arranged to reply itself (a parked `start`, a stream).
"""

from __future__ import annotations

from typing import Callable, Protocol

LATER = object()  # a handler's "I will reply myself"


class Replier(Protocol):
    """The client of one request, as a handler sees it."""

    closed: bool  # gone: replies are dropped
    out: bytearray  # what is queued for it and not sent yet (a slow reader's backlog)
    on_close: list[Callable[[], None]]  # run once when it goes: unsubscribe streams
    streaming: bool  # set by a stream handler (events, tail -f): quiet for hours is normal

    def reply(self, req_id, result) -> None: ...

    def fail(self, req_id, code: str, message: str) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def flush_blocking(client: Replier, timeout: float = 2.0) -> None:
    """Last words to a shutdown requester before the loop is gone. Both repliers (the
    control Client, the HTTP Caller) carry their socket, though Replier does not say so:
    only this last step needs it."""
    if client.closed or not client.out:
        return
    try:
        client.sock.settimeout(timeout)
        client.sock.sendall(client.out)
        client.out.clear()
    except OSError:
        pass
