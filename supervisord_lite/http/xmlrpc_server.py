"""The [xmlrpc] listener: Supervisor's HTTP endpoint on the daemon's loop, on a Unix
socket or a TCP port. Imported only when [xmlrpc] is configured.

One HTTP/1.1 connection is http/connection.py's (h11, bounded head and body, output
bounded, keep-alive), as for [http]; this module accepts (bounded), admits and times
connections, and routes: POST /RPC2 to the methods (xmlrpc_dispatch.py), GET
/logtail/NAME[/CHANNEL] and /mainlogtail as the plain chunked streams supervisorctl's
`tail -f` and `maintail -f` read.

Who comes in: on a Unix socket, the peer's uid (SO_PEERCRED) must be root, the
daemon's or one of allowed_uids, as on the control socket; on TCP, the [http] rules:
with `users`, Basic auth (http/login.py: PBKDF2 in a helper, brakes per client and
per name); without, only loopback, by the local user at the other end.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from urllib.parse import unquote

import h11

from supervisord_lite.base.log import log
from supervisord_lite.http.connection import Connection, header
from supervisord_lite.http.login import BUSY, OK, PENDING, Login, retry_after
from supervisord_lite.http.served import ServedConnections
from supervisord_lite.http.slots import peer_key
from supervisord_lite.http.xmlrpc_calls import Calls
from supervisord_lite.http.xmlrpc_dispatch import XmlRpc
from supervisord_lite.http.xmlrpc_stream import LogStream
from supervisord_lite.linux.accepting import accept_on
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.linux.peer_uid import loopback_peer_uid

_UCRED = struct.Struct("3i")
TEXT = b"text/plain; charset=utf-8"


class XmlRpcServer(ServedConnections):
    """Serving [xmlrpc] on its listening sockets (a Unix socket, or TCP ones)."""

    served_name = "xmlrpc"

    def __init__(self, socks: list[socket.socket], config, loop: EventLoop, supervisor,
                 handlers: dict, allowed_uids) -> None:  # fmt: skip
        self.socks = socks
        self.config = config
        self.unix = config.path is not None
        self.loop = loop
        self.supervisor = supervisor
        self.handlers = handlers
        self.allowed_uids = allowed_uids  # () -> the control socket's uids, now
        self.ssl = None  # no TLS here (connection.py asks)
        self.rpc = XmlRpc(supervisor, handlers)
        self.auth = Login(loop, supervisor.watch_exit)
        self.auth.configure(config.users, None)
        ServedConnections.__init__(self)
        for sock in socks:
            sock.setblocking(False)
            accept_on(loop, sock, self._accepted, "xmlrpc")
        log.info("xmlrpc: serving %s", config.server_url)

    def configure(self, config) -> None:
        """A reload's settings that need no new socket: users, limits, timeouts."""
        self.config = config
        self.auth.configure(config.users, None)

    # -- connections ----------------------------------------------------------------------

    def _accepted(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        uid, key = self._who(conn)
        if self.full():
            conn.close()
            return
        client = Connection(self, conn, False)
        client.peer_uid = uid
        if not self.admit(client, key):
            return
        self.loop.add_reader(client.fd, client.on_readable)
        self.arm_timer(client)

    def _who(self, conn: socket.socket) -> tuple[int | None, str]:
        """(the local user at the other end or None, the client it counts as)."""
        if self.unix:
            _pid, uid, _gid = _UCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            return uid, f"uid {uid}"
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        looked_up = not self.auth.required
        uid = loopback_peer_uid(conn) if looked_up else None
        return uid, peer_key(conn, uid, looked_up)

    def close(self) -> None:
        self.close_clients()
        self.auth.close()
        for sock in self.socks:
            self.loop.remove_reader(sock.fileno())
            sock.close()

    # -- requests -------------------------------------------------------------------------

    def dispatch(self, conn: Connection) -> None:
        try:
            self.route(conn)
        except Exception:
            log.exception("xmlrpc: internal error")
            if not conn.closed and conn.h11.our_state is h11.SEND_RESPONSE:
                conn.respond(500, TEXT, b"internal error; see the daemon's log\n")

    def route(self, conn: Connection) -> None:
        if not self.unix and not self._from_a_client(conn):
            return
        if self.unix or not self.auth.required:
            self._let_in(conn, (OK, 0))
            return
        authorization = header(conn.request, b"authorization")
        credentials = None if authorization is None else authorization.encode("latin-1")
        verdict = self.auth.check(credentials, conn.key, lambda later: self._later(conn, later))
        if verdict is not PENDING:
            self._let_in(conn, verdict)

    def _from_a_client(self, conn: Connection) -> bool:
        """On TCP, no browser: a web page may send a "simple" cross-site POST to a
        loopback port (text/plain needs no preflight), and the browser's user is one
        the uid rule admits. Browsers say where a POST comes from (Origin); XML-RPC
        clients never do. And on loopback, only loopback names in Host: a DNS rebinding
        makes a page same-origin with 127.0.0.1, not with "localhost"."""
        if header(conn.request, b"origin") is not None:
            log.warning("xmlrpc: refused a request from a web page (Origin header)")
            conn.respond(403, TEXT, b"XML-RPC takes no requests from web pages\n")
            return False
        if self.config.loopback and not _loopback_host(header(conn.request, b"host") or ""):
            conn.respond(403, TEXT, b"this Host is not served here\n")
            return False
        return True

    def _later(self, conn: Connection, verdict) -> None:
        try:
            self._let_in(conn, verdict)
        except Exception:
            log.exception("xmlrpc: internal error")
            conn.close()

    def _let_in(self, conn: Connection, verdict) -> None:
        if conn.closed:
            return
        kind, wait = verdict
        if kind == BUSY:
            conn.respond(429, TEXT, b"wrong credentials were just tried; try again later\n",
                         [(b"retry-after", retry_after(wait))])  # fmt: skip
            return
        if kind != OK:
            conn.respond(401, TEXT, b"authentication required\n",
                         [(b"www-authenticate", b'Basic realm="supervisord-lite"')])  # fmt: skip
            return
        if not self.auth.required and conn.peer_uid not in self.allowed_uids():
            who = "an unknown user" if conn.peer_uid is None else f"uid {conn.peer_uid}"
            log.warning("xmlrpc: refused %s", who)
            conn.respond(403, TEXT, f"{who} may not use this daemon\n".encode())
            return
        self.slots.trust(conn)
        method = conn.request.method
        path = conn.request.target.decode("ascii", "replace").partition("?")[0]
        if method == b"POST" and path.startswith("/RPC2"):
            calls = conn.caller = Calls(conn)
            self.rpc.handle(calls, bytes(conn.body), lambda body: _respond_xml(conn, body))
        elif method == b"GET" and path.startswith("/logtail/"):
            name, _, stream = unquote(path[len("/logtail/") :]).partition("/")
            LogStream(conn, self.handlers).process(name, stream or "stdout")
        elif method == b"GET" and path.startswith("/mainlogtail"):
            LogStream(conn, self.handlers).daemon()
        elif method in (b"GET", b"POST"):
            conn.respond(404, TEXT, b"XML-RPC is POST /RPC2\n")
        else:
            conn.respond(405, TEXT, b"method not allowed\n", [(b"allow", b"GET, POST")])


def _loopback_host(host: str) -> bool:
    """A Host header naming this host: localhost or a loopback address (port or not)."""
    host = host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name[1 : name.index("]")] if name.startswith("[") and "]" in name else name
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _respond_xml(conn: Connection, body: bytes) -> None:
    if not conn.closed:
        conn.respond(200, b"text/xml", body)
