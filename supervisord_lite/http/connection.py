"""One HTTP client connection on the loop: h11's state, our output buffer and the
timeouts' bookkeeping.

h11 does all the HTTP: it takes the bytes read and gives events, and frames what we
send. This module does what h11 leaves to its user for one connection: the TLS
handshake without blocking, bounded headers, bodies and output, keep-alive and
pipelining one request at a time. What a request means is routes.py's; accepting,
timing and counting connections is server.py's.
"""

from __future__ import annotations

import http
import socket
from typing import Protocol

import h11

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.linux.loop import EventLoop, Timer, now

MAX_HEADERS = 16 * 1024  # request line and headers: a 431 past it
MAX_BODY = 1024 * 1024  # as a protocol line
MAX_OUTPUT = 8 * 1024 * 1024  # a reader that lets this much pile up is dropped
READ_SIZE = 65536
# A refused request closes its connection: a client that only ever gets these must
# not keep a slot alive with keep-alive.
REFUSALS = frozenset((401, 403, 429))
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class Answering(Protocol):
    """Whoever answers the request under way: told when the response is over or the
    connection gone, to unsubscribe what it subscribed (a stream's listener)."""

    def detach(self) -> None: ...


class Owner(Protocol):
    """What a Connection needs of the server that accepted it."""

    loop: EventLoop
    ssl: object  # the ssl module with TLS, else None

    def arm_timer(self, conn: Connection) -> None: ...

    def dispatch(self, conn: Connection) -> None: ...

    def forget(self, conn: Connection) -> None: ...


class Connection:
    """One client: h11's state, our output buffer and the timeouts."""

    def __init__(self, server: Owner, sock, tls: bool):
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        self.out = bytearray()
        self.closed = False
        self.handshaking = tls
        self.request: h11.Request | None = None
        self.body = bytearray()
        self.responding = False  # a response under way: parked reply or a stream
        self.streaming = False
        self.close_when_flushed = False
        self.caller: Answering | None = None  # the request under way's (http/caller.py)
        self.last_active = now()
        # A new connection has request_timeout (the TLS handshake included) for its first
        # request: one that sends nothing must not hold a slot for idle_timeout.
        self.partial_since: float | None = now()
        self.key = ""  # which client it counts for (slots.py)
        self.received = 0  # bytes of the current request, to bound what h11 buffers
        self.timer: Timer | None = None
        self.peer_uid: int | None = None  # the local user at the other end, when looked up

    # -- reading ------------------------------------------------------------------

    def on_readable(self) -> None:
        if self.handshaking:
            self.handshake()
            return
        import_ssl = self.server.ssl
        while True:
            try:
                data = self.sock.recv(READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if import_ssl is not None and isinstance(exc, import_ssl.SSLWantReadError):
                    break
                self.close()
                return
            if not data:
                self.peer_closed()
                return
            self.received += len(data)
            if self.responding:
                # Pipelined requests wait in h11's buffer until this response ends.
                if self.received > MAX_HEADERS + MAX_BODY:
                    self.close()
                    return
            elif self.partial_since is None:
                self.partial_since = now()
                self.server.arm_timer(self)
            if not self.feed(data):
                return
            if import_ssl is None or not self.sock.pending():
                break
        if not self.responding:
            self.process()

    def peer_closed(self) -> None:
        if self.responding or self.h11.their_state is h11.IDLE:
            self.close()  # went away mid-stream, or between requests
            return
        if self.feed(b""):
            self.process()

    def feed(self, data: bytes) -> bool:
        """Hand bytes read to h11; False (and the connection closed) if it will take
        none: after the peer's end, or once its state has failed."""
        try:
            self.h11.receive_data(data)
        except (RuntimeError, h11.ProtocolError) as exc:
            self.protocol_failed(exc)
            return False
        return True

    def protocol_failed(self, exc: Exception) -> None:
        """h11 refused an event: this connection can say nothing valid any more. It is
        closed, which detaches every stream it had (no retry, no traceback)."""
        log.info("http: closing a connection whose HTTP state failed: %s", exc)
        self.close()

    def process(self) -> None:
        while not self.closed and not self.responding:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self.bad_request(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request, self.body = event, bytearray()
                # h11 bounds only a head still arriving: one read can bring a whole big one
                if head_size(event) > MAX_HEADERS:
                    self.bad_request(431, f"request head over {MAX_HEADERS} bytes")
                    return
                length = header(event, b"content-length")
                if length is not None and length.isdigit() and int(length) > MAX_BODY:
                    self.bad_request(413, f"request body over {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.Data):
                self.body += event.data
                if len(self.body) > MAX_BODY:
                    self.bad_request(413, f"request body over {MAX_BODY} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self.partial_since = None
                self.responding = True
                self.server.dispatch(self)
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                return

    def bad_request(self, status: int, message: str) -> None:
        log.info("http: refusing a malformed request (%d): %s", status, message)
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                self.respond_json(status, error(protocol.BAD_REQUEST, message), close=True)
                return
            except h11.LocalProtocolError:
                pass
        self.close()

    # -- TLS ----------------------------------------------------------------------

    def handshake(self) -> None:
        ssl = self.server.ssl
        loop = self.server.loop
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            loop.remove_writer(self.fd)
            return
        except ssl.SSLWantWriteError:
            loop.add_writer(self.fd, self.handshake)
            return
        except OSError as exc:  # ssl.SSLError included: a client speaking plain HTTP
            log.info("http: TLS handshake failed: %s", exc)
            self.close()
            return
        self.handshaking = False
        self.partial_since = now()  # the first request's own request_timeout
        loop.remove_writer(self.fd)
        self.server.arm_timer(self)
        if self.sock.pending():
            self.on_readable()

    # -- writing ------------------------------------------------------------------

    def send(self, *events) -> None:
        if self.closed:
            return
        for event in events:
            try:
                data = self.h11.send(event)
            except h11.ProtocolError as exc:
                self.protocol_failed(exc)
                return
            if data:
                self.out += data
        if len(self.out) > MAX_OUTPUT:
            log.warning("http: dropping a client that does not read (too slow)")
            self.close()
            return
        self.flush()

    def respond(self, status: int, content_type: bytes, body: bytes, headers=(),
                close: bool = False) -> None:  # fmt: skip
        fields = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                  *SECURITY_HEADERS, *headers]  # fmt: skip
        if close or status in REFUSALS:
            fields.append((b"connection", b"close"))
        head = self.request is not None and self.request.method == b"HEAD"
        events = [h11.Response(status_code=status, headers=fields, reason=reason(status))]
        if body and not head:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        self.send(*events)
        self.response_done()

    def respond_json(self, status: int, value, headers=(), close: bool = False) -> None:
        body = protocol.to_json(value).encode()
        self.respond(status, b"application/json", body, headers, close)

    def respond_stream_head(self) -> None:
        """HEAD of a stream: the head a GET would get, and no stream opened (nothing to
        subscribe, nothing ever written after it)."""
        fields = [(b"content-type", b"text/event-stream"), *SECURITY_HEADERS]
        self.send(h11.Response(status_code=200, headers=fields, reason=b"OK"), h11.EndOfMessage())
        self.response_done()

    def start_stream(self) -> None:
        fields = [(b"content-type", b"text/event-stream"), *SECURITY_HEADERS]
        self.streaming = True
        response = h11.Response(status_code=200, headers=fields, reason=b"OK")
        self.send(response, h11.Data(data=b"retry: 2000\n\n"))

    def stream_event(self, text: str, event: str | None = None) -> None:
        if self.closed:
            return
        if not self.streaming:
            self.start_stream()
        lines = "".join(f"data: {line}\n" for line in text.split("\n"))
        prefix = f"event: {event}\n" if event else ""
        self.send(h11.Data(data=(prefix + lines + "\n").encode()))

    def end_stream(self) -> None:
        if not self.closed:
            self.send(h11.EndOfMessage())
            self.close_when_flushed = True
            self.flush()

    def response_done(self) -> None:
        if self.closed:
            return
        self.responding = False
        self.last_active = now()
        self.received = 0
        caller, self.caller = self.caller, None
        if caller is not None:
            caller.detach()
        if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is not h11.DONE:
            self.close_when_flushed = True
            self.flush()
            return
        self.h11.start_next_cycle()
        self.request = None
        self.server.arm_timer(self)
        # The next pipelined request, if any, on the next turn: no recursion per request.
        self.server.loop.call_soon(self.process)

    def flush(self) -> None:
        ssl = self.server.ssl
        while self.out and not self.closed:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                self.server.loop.add_writer(self.fd, self.flush)
                return
            except OSError as exc:
                if ssl is not None and isinstance(exc, (ssl.SSLWantWriteError,
                                                        ssl.SSLWantReadError)):  # fmt: skip
                    self.server.loop.add_writer(self.fd, self.flush)
                    return
                self.close()
                return
            del self.out[:sent]
        if self.closed:
            return
        self.server.loop.remove_writer(self.fd)
        if self.close_when_flushed:
            self.close(linger=True)

    def close(self, linger: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        loop = self.server.loop
        loop.remove_reader(self.fd)
        loop.remove_writer(self.fd)
        if linger:
            # Unread input at close() resets the connection, and the peer may lose the
            # response it has not read yet: say we are done writing, drop what it sent.
            try:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.recv(READ_SIZE)
            except OSError:
                pass
        self.sock.close()
        self.server.forget(self)
        if self.caller is not None:
            caller, self.caller = self.caller, None
            caller.detach()


def reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def head_size(request: h11.Request) -> int:
    return len(request.target) + sum(len(k) + len(v) + 4 for k, v in request.headers)


def header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None
