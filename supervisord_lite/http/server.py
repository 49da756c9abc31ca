"""The [http] server: HTTP/1.1 on the daemon's own loop, for /metrics, the web page and
a JSON API that mirrors the control protocol.

This module listens and accepts (bounded), and times each connection (one lazy timer
per connection: the idle and request timeouts); a connection's bytes are
connection.py's, what a request means is routes.py's. Imported only when
[http] is configured.
"""

from __future__ import annotations

import errno
import socket

import h11

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.config.http import HttpConfig, listen_text, server_context
from supervisord_lite.http.connection import Connection, error
from supervisord_lite.http.csrf import CsrfTokens
from supervisord_lite.http.login import Login
from supervisord_lite.http.routes import Routes
from supervisord_lite.http.served import ServedConnections
from supervisord_lite.http.slots import peer_key
from supervisord_lite.linux.accepting import accept_on
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.linux.peer_uid import loopback_peer_uid


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


class HttpServer(ServedConnections, Routes):
    served_name = "http"

    def __init__(self, socks: list[socket.socket], config: HttpConfig, loop: EventLoop,
                 supervisor, handlers: dict, request_shutdown,
                 allowed_uids=lambda: {0}) -> None:  # fmt: skip
        self.socks = socks  # bind(): one per address
        # Who may use it with no users or token: the control socket's rule (linux/peer_uid.py).
        self.allowed_uids = allowed_uids
        self.loop = loop
        self.supervisor = supervisor
        self.handlers = handlers
        self.request_shutdown = request_shutdown
        ServedConnections.__init__(self)
        self.csrf = CsrfTokens()  # per session; renewed when who may come in changes
        self.assets: dict[str, bytes] = {}
        self.ssl = None  # the ssl module, once TLS is on
        self.context = None
        self.hosts = None  # http_hosts.RemoteHosts: [http] hosts, other daemons over ssh
        self.auth = Login(loop, supervisor.watch_exit)  # kept across reloads: its brakes too
        self.configure(config)
        for sock in socks:
            accept_on(loop, sock, self._accepted, "http")
        log.info("http: serving %s", config.urls)

    def configure(self, config: HttpConfig) -> None:
        """Take the settings a reload may change without re-binding: all but `listen`.
        TLS files are read again (a renewed certificate at the same path counts) and
        serve the connections accepted from now on."""
        self.config = config
        self.auth.configure(config.users, config.token_sha256)
        admission = (frozenset(self.allowed_uids()), config.users, config.token_sha256)
        if self.csrf.admit(admission):
            log.info("http: who may come in changed: new CSRF tokens (open pages must reload)")
        if not config.tls:
            self.context = None
        else:
            if self.ssl is None:
                import ssl  # only for a config that asks for TLS

                self.ssl = ssl
            try:
                self.context = server_context(config)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                if self.context is None:
                    raise
                log.error("http: keeping the TLS certificate in use: %s", exc)
        if config.hosts and self.hosts is None:
            from supervisord_lite.http.hosts import RemoteHosts  # only with [http] hosts

            self.hosts = RemoteHosts(config.hosts, self.loop, self.supervisor.watch_exit)
        elif self.hosts is not None:
            self.hosts.configure(config.hosts)

    # -- connections --------------------------------------------------------------

    def _accepted(self, conn: socket.socket) -> None:
        if self.full():
            conn.close()
            return
        # Without users or token only loopback is served, to root, the daemon's
        # user and allowed_uids: see who it is (refused, and logged, if unknown).
        looked_up = not self.auth.required
        uid = loopback_peer_uid(conn) if looked_up else None
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A peer that vanished is noticed by the kernel, not by a timer of ours.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if self.context is not None:
            conn = self._wrap_tls(conn)
            if conn is None:
                return
        client = Connection(self, conn, self.context is not None)
        client.peer_uid = uid
        if not self.admit(client, peer_key(conn, uid, looked_up)):
            return
        self.loop.add_reader(client.fd, client.on_readable)
        self.arm_timer(client)
        if client.handshaking:
            client.handshake()

    def _wrap_tls(self, conn: socket.socket):
        """The TLS side of an accepted connection, or None (closed) when the client is
        gone already: a client that resets before its handshake is a client fault, worth
        one short line, never a traceback."""
        try:
            return self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # ConnectionResetError, ssl.SSLError (data, then the close)
            log.info("http: a client left before the TLS handshake: %s", exc)
            conn.close()
            return None

    def trust(self, conn: Connection) -> None:
        """A request on `conn` passed every check: it is never closed for a newcomer."""
        self.slots.trust(conn)

    def close(self) -> None:
        self.close_clients()
        if self.hosts is not None:
            self.hosts.close()
        self.auth.close()
        for sock in self.socks:
            self.loop.remove_reader(sock.fileno())
            sock.close()

    # -- requests -----------------------------------------------------------------

    def dispatch(self, conn: Connection) -> None:
        self.guarded(conn, self.route)

    def guarded(self, conn: Connection, step, *args) -> None:
        """Run step(conn, *args), a step of answering a request: a bug in it is a 500
        for this request, never more."""
        try:
            step(conn, *args)
        except Exception:
            log.exception("http: internal error")
            if not conn.closed and conn.h11.our_state is h11.SEND_RESPONSE:
                conn.respond_json(500, error(protocol.INTERNAL, "internal error; see the log"))
