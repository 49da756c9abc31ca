"""The connections one server holds: their share of the slots and their timeouts.

The page's server (server.py) and the XML-RPC one (xmlrpc_server.py) keep their clients
alike: a client holds at most its share of `max_clients` (slots.py), a newcomer may push
out the oldest idle connection no request was let in on, and each connection has one
lazy timer for its idle and request timeouts. What differs is how a connection is let in
and what a request is answered with, which stay with each server.
"""

from __future__ import annotations

from supervisord_lite.base.log import log
from supervisord_lite.http.connection import Connection
from supervisord_lite.http.slots import Slots
from supervisord_lite.linux.loop import EventLoop, now


class ServedConnections:
    """Mixed into a server that has `config` (max_clients, idle_timeout, request_timeout)
    and `loop`, and names itself in its log lines with `served_name`."""

    config: object
    loop: EventLoop
    served_name = "http"

    def __init__(self) -> None:
        self.clients: set[Connection] = set()
        self.slots: Slots[Connection] = Slots(lambda conn: not conn.responding)

    # -- slots ----------------------------------------------------------------------

    def make_room(self, key: str | None = None) -> bool:
        """Close the oldest idle connection no request was let in on (of client `key`,
        if given) for a newcomer; False when there is none (all are in use)."""
        victim = self.slots.victim(key)
        if victim is None:
            return False
        log.info("%s: closing an idle connection no request was let in on, for a newcomer",
                 self.served_name)  # fmt: skip
        victim.close()
        return True

    def admit(self, client: Connection, key: str) -> bool:
        """Count a new connection against its client's share of the slots; False (the
        socket closed, registered nowhere) when the client holds its share already."""
        client.key = key
        held = self.slots.held(key)
        if held >= self.slots.per_client(self.config.max_clients) and not self.make_room(key):
            log.warning("%s: refused a client (%s): it holds %d connections already",
                        self.served_name, key, held)  # fmt: skip
            client.sock.close()
            return False
        self.slots.add(client, key)
        self.clients.add(client)
        return True

    def full(self) -> bool:
        """No room for one more connection, even after closing an idle one."""
        if len(self.clients) < self.config.max_clients or self.make_room():
            return False
        log.warning("%s: refused a client: %d clients already", self.served_name,
                    len(self.clients))  # fmt: skip
        return True

    def forget(self, conn: Connection) -> None:
        """A connection closed: its slot is free."""
        self.clients.discard(conn)
        self.slots.remove(conn, conn.key)

    def close_clients(self) -> None:
        for client in list(self.clients):
            client.flush()
            client.close()

    # -- timeouts: one lazy timer per connection ------------------------------------

    def deadline(self, conn: Connection) -> float | None:
        if conn.responding:
            return None  # a parked answer or a stream: the daemon is the one to speak
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
            return  # the timer in place fires first and looks again then
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
        elif conn.partial_since is not None and conn.received and not conn.handshaking:
            conn.bad_request(408, "request not finished in time")
        else:
            conn.close()
