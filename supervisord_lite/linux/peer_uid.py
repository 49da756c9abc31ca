"""Which local user is at the other end of a loopback TCP connection.

The control socket admits only root, the daemon's own uid and `allowed_uids`
(SO_PEERCRED). A TCP socket has no SO_PEERCRED, but on loopback both ends are sockets
of this host, and the kernel can name the owner of the client's socket: we ask it for
that one socket by its exact 4-tuple (sock_diag.py), so `[http]` without users or
token holds to the same rule as the socket instead of opening the daemon to every
local user.

What we never do is infer an identity from a socket that no process owns. A client
that sends its request and closes before the daemon accepts leaves an orphan socket,
which the kernel reports with uid 0 (root) and inode 0: taking that uid would serve
any local user as root. An orphan, a socket not found, one in a state no live client
is in, or a kernel we cannot ask: no identity, and the server refuses (403).
"""

from __future__ import annotations

import ipaddress
import socket
import time

from supervisord_lite.base.log import log
from supervisord_lite.linux import sock_diag

# A client that connected and is still there: it may have half-closed (shutdown(WR)
# after its request, FIN_WAIT*), never anything earlier or later.
LIVE_STATES = frozenset((sock_diag.TCP_ESTABLISHED, sock_diag.TCP_FIN_WAIT1,
                         sock_diag.TCP_FIN_WAIT2))  # fmt: skip
LOG_EVERY = 10.0  # seconds: a refusal is logged, a flood of them once in a while


def loopback_peer_uid(conn: socket.socket, refusing: bool = True) -> int | None:
    """The uid owning the client end of `conn`, an accepted loopback connection; None
    when no live process owns it or the kernel cannot be asked. Logged as a refusal
    unless `refusing` is False: with [http] users or token_file the uid only tells
    clients apart (http/slots.py) and the password decides who comes in."""
    uid, why_not = _lookup(conn)
    if why_not is not None and refusing:
        _refused(why_not)
    return uid


def _lookup(conn: socket.socket) -> tuple[int | None, str | None]:
    """(uid, None), or (None, why there is none)."""
    try:
        ours, theirs = conn.getsockname(), conn.getpeername()
    except OSError:
        return None, "the client was gone before it was accepted"
    family, client_host, server_host = _plain(conn.family, theirs[0], ours[0])
    try:
        found = sock_diag.find_tcp_socket(family, client_host, theirs[1], server_host, ours[1])
    except OSError as exc:
        return None, (
            f"the kernel cannot say who the client is (sock_diag: {exc.strerror or exc}); "
            "set [http] users or token_file to serve without that"
        )
    if found is None or found.inode == 0:
        # An orphan (closed before accept) is listed with uid 0: never its uid.
        return None, "the client's socket is owned by no process (it closed before accept)"
    if found.state not in LIVE_STATES:
        return None, f"the client's socket is in TCP state {found.state}, not a live client's"
    return found.uid, None


def _plain(family: int, client: str, server: str) -> tuple[int, str, str]:
    """An IPv4 client of an IPv6 socket shows as ::ffff:a.b.c.d; the kernel files both
    its socket and an IPv6 socket connected to a mapped address under IPv4."""
    if family == socket.AF_INET6:
        c, s = ipaddress.IPv6Address(client.split("%")[0]), ipaddress.IPv6Address(server)
        if c.ipv4_mapped is not None and s.ipv4_mapped is not None:
            return socket.AF_INET, str(c.ipv4_mapped), str(s.ipv4_mapped)
    return family, client, server


_last_logged = -LOG_EVERY
_unlogged = 0


def _refused(reason: str) -> None:
    """Log a refusal, at most once per LOG_EVERY seconds: any local user can cause one."""
    global _last_logged, _unlogged
    if time.monotonic() - _last_logged < LOG_EVERY:
        _unlogged += 1
        return
    more = f" ({_unlogged} more refusals since the last such line)" if _unlogged else ""
    log.warning("http: refusing a loopback client: %s%s", reason, more)
    _last_logged, _unlogged = time.monotonic(), 0
