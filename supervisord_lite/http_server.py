"""The [http] server: HTTP/1.1 on the daemon's own loop, for /metrics, the web page and
a JSON API that mirrors the control protocol.

h11 does all the HTTP: it takes the bytes read and gives events, and frames what we
send. This module does what h11 leaves to its user, as control.py does for the socket:
accepting (bounded), the TLS handshake without blocking, bounded headers, bodies and
output, the idle and request timeouts (one lazy timer per connection), keep-alive and
pipelining one request at a time. The API calls the very handlers the socket does
(commands.py) through a Caller that looks to them like a control client, so a parked
start/stop reply and the events and tail -f streams work alike; streams go out as
server-sent events. Imported only when [http] is configured.
"""

from __future__ import annotations

import errno
import http
import ipaddress
import json
import logging
import socket
from importlib import resources
from typing import Callable
from urllib.parse import parse_qs

import h11

from supervisord_lite import protocol
from supervisord_lite.commands import LATER
from supervisord_lite.config_http import HttpConfig, listen_text, server_context
from supervisord_lite.http_auth import Authenticator
from supervisord_lite.http_csrf import CsrfTokens
from supervisord_lite.loop import EventLoop, Timer, now
from supervisord_lite.protocol import ProtocolError

log = logging.getLogger("supervisord_lite")

MAX_HEADERS = 16 * 1024  # request line and headers: a 431 past it
MAX_BODY = 1024 * 1024  # as a protocol line
MAX_OUTPUT = 8 * 1024 * 1024  # a reader that lets this much pile up is dropped
READ_SIZE = 65536
# Commands that change nothing: allowed with read_only and as GET /api/<command>.
READ_COMMANDS = frozenset(("status", "version", "pid", "tail", "metrics"))
STREAMS = frozenset(("events",))  # GET /api/events only (server-sent events)
STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
HTTP_STATUS = {
    protocol.NO_SUCH_PROCESS: 404,
    protocol.UNKNOWN_COMMAND: 404,
    protocol.BAD_ARGUMENT: 400,
    protocol.BAD_REQUEST: 400,
    protocol.FORBIDDEN: 403,
    protocol.SHUTTING_DOWN: 503,
    protocol.BUSY: 409,
    protocol.CONFIG_ERROR: 422,
    protocol.LOG_ERROR: 500,
    protocol.INTERNAL: 500,
}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def bind(config: HttpConfig) -> list[socket.socket]:
    """The listening sockets (before detaching, so the launcher can say why not): one
    per address of config.addresses (127.0.0.1 and ::1 both, for a loopback listen).
    OSError when one cannot be bound; a host without IPv6 serves 127.0.0.1 alone."""
    socks: list[socket.socket] = []
    try:
        for host in config.addresses:
            try:
                socks.append(_listen(host, config.port))
            except OSError as exc:
                if host == config.host:
                    raise
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    log.warning("http: cannot listen on %s too (%s): this host has no %s; "
                                "serving %s only", listen_text(host, config.port), exc.strerror,
                                host, config.listen)  # fmt: skip
                    continue
                where = listen_text(host, config.port)
                raise OSError(exc.errno, f"{exc.strerror} on {where} (a loopback listen takes "
                              "127.0.0.1 and ::1 both: a client of localhost may try either)"
                              ) from None  # fmt: skip
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "::" takes IPv4 too; any other IPv6 address only itself
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class Caller:
    """What a command handler sees of its client (control.Client's surface): one
    request's replies go to `deliver` and its failures to `refuse`."""

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
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback()


class Connection:
    """One client: h11's state, our output buffer and the timeouts."""

    def __init__(self, server: HttpServer, sock, tls: bool):
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
        self.caller: Caller | None = None
        self.last_active = now()
        self.partial_since: float | None = now() if tls else None  # the handshake is timed
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
            self.h11.receive_data(data)
            if import_ssl is None or not self.sock.pending():
                break
        if not self.responding:
            self.process()

    def peer_closed(self) -> None:
        if self.responding or self.h11.their_state is h11.IDLE:
            self.close()  # went away mid-stream, or between requests
            return
        self.h11.receive_data(b"")
        self.process()

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
                if _head_size(event) > MAX_HEADERS:
                    self.bad_request(431, f"request head over {MAX_HEADERS} bytes")
                    return
                length = _header(event, b"content-length")
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
                self.respond_json(status, {"ok": False, "error": {"code": protocol.BAD_REQUEST,
                                  "message": message}}, close=True)  # fmt: skip
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
        self.partial_since = None
        loop.remove_writer(self.fd)
        self.server.arm_timer(self)
        if self.sock.pending():
            self.on_readable()

    # -- writing ------------------------------------------------------------------

    def send(self, *events) -> None:
        for event in events:
            data = self.h11.send(event)
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
        if close:
            fields.append((b"connection", b"close"))
        head = self.request is not None and self.request.method == b"HEAD"
        events = [h11.Response(status_code=status, headers=fields, reason=_reason(status))]
        if body and not head:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        self.send(*events)
        self.response_done()

    def respond_json(self, status: int, value, headers=(), close: bool = False) -> None:
        body = protocol.to_json(value).encode()
        self.respond(status, b"application/json", body, headers, close)

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
        self.server.clients.discard(self)
        if self.caller is not None:
            caller, self.caller = self.caller, None
            caller.detach()


class HttpServer:
    def __init__(self, socks: list[socket.socket], config: HttpConfig, loop: EventLoop,
                 supervisor, handlers: dict, request_shutdown,
                 allowed_uids=lambda: {0}) -> None:  # fmt: skip
        self.socks = socks  # bind(): one per address
        # Who may use it with no users or token: the control socket's rule (peer_uid.py).
        self.allowed_uids = allowed_uids
        self.loop = loop
        self.supervisor = supervisor
        self.handlers = handlers
        self.request_shutdown = request_shutdown
        self.clients: set[Connection] = set()
        self.csrf = CsrfTokens()  # per session; renewed when who may come in changes
        self.assets: dict[str, bytes] = {}
        self.ssl = None
        self.context = None
        self.hosts = None  # http_hosts.RemoteHosts: [http] hosts, other daemons over ssh
        self.configure(config)
        if config.tls:
            import ssl

            self.ssl = ssl
            self.context = server_context(config)
        for sock in socks:
            loop.add_reader(sock.fileno(), lambda sock=sock: self.accept(sock))
        log.info("http: serving %s", config.urls)

    def configure(self, config: HttpConfig) -> None:
        """Take the settings a reload may change without re-binding."""
        self.config = config
        self.auth = Authenticator(config.users, config.token_sha256)
        admission = (frozenset(self.allowed_uids()), config.users, config.token_sha256)
        if self.csrf.admit(admission):
            log.info("http: who may come in changed: new CSRF tokens (open pages must reload)")
        if config.hosts and self.hosts is None:
            from supervisord_lite.http_hosts import RemoteHosts

            self.hosts = RemoteHosts(config.hosts, self.loop, self.supervisor.watch_exit)
        elif self.hosts is not None:
            self.hosts.configure(config.hosts)

    # -- connections --------------------------------------------------------------

    def accept(self, sock: socket.socket) -> None:
        for _ in range(64):  # bounded, so a connection flood cannot starve the loop
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("http: cannot accept a client: %s", exc.strerror)
                    self.loop.remove_reader(sock.fileno())
                    self.loop.call_later(0.5, lambda: self._resume_accepting(sock))
                return
            if len(self.clients) >= self.config.max_clients:
                log.warning("http: refused a client: %d clients already", len(self.clients))
                conn.close()
                continue
            uid = None
            if not self.auth.required:  # then only loopback is served: see who it is
                from supervisord_lite.peer_uid import loopback_peer_uid

                uid = loopback_peer_uid(conn)
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A peer that vanished is noticed by the kernel, not by a timer of ours.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True,
                                                do_handshake_on_connect=False)  # fmt: skip
            client = Connection(self, conn, self.context is not None)
            client.peer_uid = uid
            self.clients.add(client)
            self.loop.add_reader(client.fd, client.on_readable)
            self.arm_timer(client)
            if client.handshaking:
                client.handshake()

    def _resume_accepting(self, sock: socket.socket) -> None:
        if sock.fileno() >= 0:
            self.loop.add_reader(sock.fileno(), lambda: self.accept(sock))

    def close(self) -> None:
        for client in list(self.clients):
            client.flush()
            client.close()
        if self.hosts is not None:
            self.hosts.close()
        for sock in self.socks:
            self.loop.remove_reader(sock.fileno())
            sock.close()

    # -- timeouts -----------------------------------------------------------------

    def deadline(self, conn: Connection) -> float | None:
        if conn.responding:
            return None  # a parked reply or a stream: the daemon is the one to speak
        if conn.partial_since is not None:
            timeout = self.config.request_timeout
            return conn.partial_since + timeout if timeout > 0 else None
        timeout = self.config.idle_timeout
        return conn.last_active + timeout if timeout > 0 else None

    def arm_timer(self, conn: Connection) -> None:
        deadline = self.deadline(conn)
        if deadline is None or conn.closed:
            return
        if conn.timer is not None and not conn.timer.cancelled and conn.timer.when <= deadline:
            return
        if conn.timer is not None:
            conn.timer.cancel()
        conn.timer = self.loop.call_later(deadline - now(), lambda: self._timed_out(conn))

    def _timed_out(self, conn: Connection) -> None:
        conn.timer = None
        deadline = self.deadline(conn)
        if conn.closed or deadline is None:
            return
        if now() < deadline:
            self.arm_timer(conn)
        elif conn.partial_since is not None and not conn.handshaking:
            conn.bad_request(408, "request not finished in time")
        else:
            conn.close()

    # -- requests -----------------------------------------------------------------

    def dispatch(self, conn: Connection) -> None:
        try:
            self.route(conn)
        except Exception:
            log.exception("http: internal error")
            if not conn.closed and conn.h11.our_state is h11.SEND_RESPONSE:
                conn.respond_json(500, _error(protocol.INTERNAL, "internal error; see the log"))

    def route(self, conn: Connection) -> None:
        request = conn.request
        method = request.method
        target = request.target.decode("ascii", "replace")
        path, _, query = target.partition("?")
        if not self._host_allowed(request):
            conn.respond_json(403, _error(protocol.FORBIDDEN, "this Host is not served here"))
            return
        authorization = _header(request, b"authorization")
        verdict = self.auth.check(
            None if authorization is None else authorization.encode("latin-1")
        )
        if verdict != "ok":
            self._unauthorized(conn, verdict)
            return
        if not self.auth.required and conn.peer_uid not in self.allowed_uids():
            who = "an unknown user" if conn.peer_uid is None else f"uid {conn.peer_uid}"
            message = (
                f"{who} may not use this daemon: with no [http] users or token_file, only "
                "root, the daemon's own user and [supervisord] allowed_uids may, as on its "
                "socket"
            )
            conn.respond_json(403, _error(protocol.FORBIDDEN, message))
            return
        if method in (b"GET", b"HEAD"):
            self.get(conn, path, parse_qs(query))
        elif method == b"POST" and path.startswith("/api/"):
            self.post(conn, path[len("/api/") :])
        elif method == b"POST":
            conn.respond_json(405, _error(protocol.BAD_REQUEST, "POST goes to /api/COMMAND"),
                              [(b"allow", b"GET, HEAD")])  # fmt: skip
        else:
            conn.respond_json(405, _error(protocol.BAD_REQUEST, "method not allowed"),
                              [(b"allow", b"GET, HEAD, POST")])  # fmt: skip

    def _host_allowed(self, request: h11.Request) -> bool:
        """On loopback, only loopback names: a page on another site that a DNS
        rebinding points at 127.0.0.1 must not reach us as if same-origin."""
        if not ipaddress.ip_address(self.config.host).is_loopback:
            return True
        host = (_header(request, b"host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.startswith("[") and "]" in name:
            name = name[1 : name.index("]")]
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _unauthorized(self, conn: Connection, verdict: str) -> None:
        if verdict == "busy":
            message = "a wrong password was just tried; try again in a second"
            conn.respond_json(429, _error(protocol.BUSY, message), [(b"retry-after", b"1")])
            return
        challenges = []
        if self.config.users:
            challenges.append((b"www-authenticate",
                               b'Basic realm="supervisord-lite", charset="UTF-8"'))  # fmt: skip
        if self.config.token_sha256 is not None:
            challenges.append((b"www-authenticate", b'Bearer realm="supervisord-lite"'))
        message = "authentication required (a user's password, or the bearer token)"
        conn.respond_json(401, _error(protocol.FORBIDDEN, message), challenges)

    # -- GET: never a change ------------------------------------------------------

    def get(self, conn: Connection, path: str, query: dict) -> None:
        if path == "/" or path == "/index.html":
            token = self.csrf.token(_session(conn))
            page = self.asset("index.html").replace(b"{{csrf}}", token.encode())
            read_only = b"true" if self.config.read_only else b"false"
            page = page.replace(b"{{read_only}}", read_only)
            conn.respond(200, b"text/html; charset=utf-8", page,
                         [(b"content-security-policy", PAGE_POLICY)])  # fmt: skip
        elif path.startswith("/static/") and path[len("/static/") :] in STATIC:
            name = path[len("/static/") :]
            conn.respond(200, STATIC[name].encode(), self.asset(name))
        elif path == "/metrics":
            text = self.handlers["metrics"](None, protocol.Request(None, "metrics", {}))
            conn.respond(200, b"text/plain; version=0.0.4; charset=utf-8", text.encode())
        elif path == "/api/csrf":
            token = self.csrf.token(_session(conn))
            conn.respond_json(200, {"csrf": token, "read_only": self.config.read_only})
        elif path == "/api/stats":
            conn.respond_json(200, {"ok": True, "result": self.stats()})
        elif path == "/api/hosts":
            hosts = self.hosts.describe() if self.hosts is not None else []
            conn.respond_json(200, {"ok": True, "result": hosts})
        elif path == "/api/events":
            self.call_streaming(conn, "events", {})
        elif path == "/api/tail":
            lines = _one(query, "lines") or "100"
            args = {"name": _one(query, "name"), "stream": _one(query, "stream") or "stdout",
                    "lines": int(lines) if lines.isdigit() else lines, "follow": True}  # fmt: skip
            self.call_streaming(conn, "tail", args)
        elif path.startswith("/api/") and path[len("/api/") :] in READ_COMMANDS:
            cmd = path[len("/api/") :]
            args: dict = {"names": query["names"]} if "names" in query else {}
            args.update({k: v[-1] for k, v in query.items() if k != "names"})
            if "lines" in args and str(args["lines"]).isdigit():
                args["lines"] = int(args["lines"])
            self.call(conn, cmd, args)
        elif path.startswith("/api/") and path[len("/api/") :] in self.handlers:
            message = "a change is a POST with the X-CSRF-Token header (see GET /api/csrf)"
            conn.respond_json(405, _error(protocol.BAD_REQUEST, message), [(b"allow", b"POST")])
        else:
            conn.respond_json(404, _error(protocol.BAD_REQUEST, f"nothing at {path}"))

    def asset(self, name: str) -> bytes:
        data = self.assets.get(name)
        if data is None:
            data = self.assets[name] = (
                resources.files("supervisord_lite.web").joinpath(name).read_bytes()
            )
        return data

    def stats(self) -> dict:
        """CPU seconds and resident bytes of every running process's tree, for the page
        (the figures `status` shows)."""
        out = {}
        for process in self.supervisor.processes.values():
            if process.machine.pid is not None:
                figures = self.supervisor.figures(process)
                out[process.name] = [figures["cpu_seconds"], figures["memory_bytes"]]
        return out

    # -- POST: changes, each with the CSRF token ----------------------------------

    def post(self, conn: Connection, cmd: str) -> None:
        request = conn.request
        token = _header(request, b"x-csrf-token") or ""
        if not self.csrf.check(_session(conn), token):
            message = (
                "missing or wrong X-CSRF-Token header (the page has it; GET /api/csrf; "
                "it changes with who may come in: reload the page)"
            )
            conn.respond_json(403, _error(protocol.FORBIDDEN, message))
            return
        origin = _header(request, b"origin")
        if origin is not None and origin.split("://", 1)[-1] != (_header(request, b"host") or ""):
            conn.respond_json(403, _error(protocol.FORBIDDEN, "cross-origin request refused"))
            return
        if self.config.read_only and cmd not in READ_COMMANDS:
            message = "this page is read-only ([http] read_only = true)"
            conn.respond_json(403, _error(protocol.FORBIDDEN, message))
            return
        if cmd in STREAMS:
            conn.respond_json(405, _error(protocol.BAD_REQUEST, f"{cmd} is GET /api/{cmd}"),
                              [(b"allow", b"GET")])  # fmt: skip
            return
        try:
            args = json.loads(bytes(conn.body) or b"{}")
        except ValueError as exc:
            conn.respond_json(400, _error(protocol.BAD_REQUEST, f"the body is not JSON: {exc}"))
            return
        if not isinstance(args, dict):
            conn.respond_json(400, _error(protocol.BAD_REQUEST, "the body must be a JSON object"))
            return
        if cmd.startswith("hosts/"):
            self.call_remote(conn, cmd[len("hosts/") :], args)
            return
        if cmd == "tail" and args.get("follow"):
            message = "tail with follow is GET /api/tail?name=NAME (server-sent events)"
            conn.respond_json(400, _error(protocol.BAD_ARGUMENT, message))
            return
        self.call(conn, cmd, args)

    def _run(self, conn: Connection, caller: Caller, cmd: str, args: dict):
        """The handler's immediate result, or LATER; ProtocolError for a refusal."""
        if cmd not in self.handlers:
            raise ProtocolError(protocol.UNKNOWN_COMMAND, f"unknown command {cmd!r}")
        if self.supervisor.shutting_down and cmd not in ("status", "version", "pid"):
            if cmd == "shutdown":
                self.request_shutdown(caller, None)
                return LATER
            raise ProtocolError(protocol.SHUTTING_DOWN, "the daemon is shutting down")
        conn.caller = caller
        return self.handlers[cmd](caller, protocol.Request(None, cmd, args))

    def call(self, conn: Connection, cmd: str, args: dict) -> None:
        """One command, one JSON reply: {"ok": true, "result": ...} or the error."""
        answered = []

        def deliver(result) -> None:
            if answered:
                return
            answered.append(True)
            if isinstance(result, protocol.Raw):
                body = f'{{"ok":true,"result":{result.text}}}'.encode()
                conn.respond(200, b"application/json", body)
            else:
                conn.respond_json(200, {"ok": True, "result": result})

        def refuse(code: str, message: str) -> None:
            if not answered:
                answered.append(True)
                conn.respond_json(HTTP_STATUS.get(code, 400), _error(code, message))

        caller = Caller(conn, deliver, refuse)
        try:
            result = self._run(conn, caller, cmd, args)
        except ProtocolError as exc:
            refuse(exc.code, exc.message)
            return
        if result is not LATER:
            deliver(result)

    def call_remote(self, conn: Connection, cmd: str, args: dict) -> None:
        """POST /api/hosts/COMMAND {"host": HOST, ...}: the command on that [http] hosts
        daemon; its reply, or UNREACHABLE (502)."""
        host_text = args.pop("host", None)
        host = None if self.hosts is None else self.hosts.hosts.get(host_text)
        if host is None:
            message = f"no host {host_text!r} in [http] hosts"
            conn.respond_json(404, _error(protocol.NO_SUCH_PROCESS, message))
            return
        if cmd in STREAMS or (cmd == "tail" and args.get("follow")):
            message = "streams from other hosts are not served here; use supervisorctl-lite -H"
            conn.respond_json(400, _error(protocol.BAD_ARGUMENT, message))
            return

        def done(reply: dict) -> None:
            if conn.closed:
                return
            if reply.get("ok"):
                conn.respond_json(200, {"ok": True, "result": reply.get("result")})
                host.poll()  # the page sees the change without waiting for the next poll
                return
            error = reply.get("error") or {}
            code, message = error.get("code", protocol.INTERNAL), error.get("message", "")
            status = 502 if code == "UNREACHABLE" else HTTP_STATUS.get(code, 400)
            conn.respond_json(status, _error(code, message))

        host.request(cmd, args, done)

    def call_streaming(self, conn: Connection, cmd: str, args: dict) -> None:
        """A streaming command as server-sent events: each reply one `data:` line."""

        def deliver(result) -> None:
            conn.stream_event(protocol.to_json(result))

        def refuse(code: str, message: str) -> None:
            if conn.streaming:
                conn.stream_event(protocol.to_json(_error(code, message)), event="error")
                conn.end_stream()
            else:
                conn.respond_json(HTTP_STATUS.get(code, 400), _error(code, message))

        caller = Caller(conn, deliver, refuse)
        try:
            self._run(conn, caller, cmd, args)
        except ProtocolError as exc:
            refuse(exc.code, exc.message)


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def _session(conn: Connection) -> bytes:
    """What admitted this client, for its CSRF token: the Authorization header it
    sent, or its uid (loopback without auth)."""
    authorization = _header(conn.request, b"authorization")
    if authorization is not None and conn.server.auth.required:
        return b"auth:" + authorization.encode("latin-1")
    return f"uid:{conn.peer_uid}".encode()


def _head_size(request: h11.Request) -> int:
    return len(request.target) + sum(len(k) + len(v) + 4 for k, v in request.headers)


def _header(request: h11.Request, name: bytes) -> str | None:
    for key, value in request.headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _one(query: dict, key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None
