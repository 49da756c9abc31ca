"""Who holds the [http] server's connection slots, so that no client can hold them all.

`max_clients` connections at once; each client (a local user on loopback, else an
address, an IPv6 /64 counting as one, since whoever has one address of a /64 usually has
them all) holds at most half of them. A connection on which no request has been let in
yet (none passed the Host, auth and uid checks) is *untrusted*: it has `request_timeout`
to send a whole request, and a newcomer who finds no slot free takes the oldest idle
untrusted one's (of its own client first). So a stranger who only ever gets 401/403
(and each refusal closes its connection) cannot keep anyone out, however many
connections it opens.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Generic, TypeVar

from supervisord_lite.linux.peer_uid import loopback_peer_uid

C = TypeVar("C")


def peer_key(sock: socket.socket, uid: int | None, looked_up: bool) -> str:
    """Which client a connection counts for: its local user when known (`uid`, or
    found here on loopback unless `looked_up` already, in vain), else its address (an
    IPv6 /64 as one)."""
    try:
        host = sock.getpeername()[0]
    except OSError:
        return "gone"  # reset already: closed at its first read
    address = ipaddress.ip_address(host)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if uid is None and address.is_loopback and not looked_up:
        uid = loopback_peer_uid(sock, refusing=False)  # every local user shares 127.0.0.1
    if uid is not None:
        return f"uid {uid}"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Slots(Generic[C]):
    """The connections held, by client, in the order they came; the untrusted apart."""

    def __init__(self, idle: Callable[[C], bool]):
        self.idle = idle  # no request under way on it: it may be closed for a newcomer
        self.count = 0
        self._by_key: dict[str, dict[C, None]] = {}
        self._untrusted: dict[C, str] = {}  # connection -> its key, oldest first

    def per_client(self, max_clients: int) -> int:
        return max(1, max_clients // 2)

    def victim(self, key: str | None = None) -> C | None:
        """The oldest idle untrusted connection (of client `key` if given), to close for
        a newcomer; None when there is none."""
        for conn, conn_key in self._untrusted.items():
            if (key is None or conn_key == key) and self.idle(conn):
                return conn
        return None

    def held(self, key: str) -> int:
        return len(self._by_key.get(key, ()))

    def add(self, conn: C, key: str) -> None:
        self._by_key.setdefault(key, {})[conn] = None
        self._untrusted[conn] = key
        self.count += 1

    def trust(self, conn: C) -> None:
        """A request on it was let in: it is never closed for a newcomer."""
        self._untrusted.pop(conn, None)

    def trusted(self, conn: C) -> bool:
        return conn not in self._untrusted

    def remove(self, conn: C, key: str) -> None:
        held = self._by_key.get(key)
        if held is None or conn not in held:
            return
        del held[conn]
        if not held:
            del self._by_key[key]
        self._untrusted.pop(conn, None)
        self.count -= 1
