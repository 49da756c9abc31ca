"""The control server: JSON lines on the Unix socket, in the daemon's one selector.

It owns the connections: accepting (peer uid checked, client count bounded), reading
and framing requests, buffering replies for clients that read slowly, the idle and
half-written-line timeouts, and closing. Each request goes to its handler in
commands.py; a reply parked there is counted here, so a client waiting on one is
never idle-closed. What a command does is not decided here (only which commands a
shutting-down daemon still takes), and nothing here blocks.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Callable

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.commands import Commands
from supervisord_lite.control.replies import LATER, Replier
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.accepting import accept_on
from supervisord_lite.linux.loop import EventLoop, Timer, now

# A client that stops reading may hold at most this much of our output; past it we
# drop the client rather than block the loop or grow without bound.
MAX_OUTPUT = 8 * 1024 * 1024
_UCRED = struct.Struct("3i")


class Client:
    def __init__(self, server: ControlServer, sock: socket.socket, uid: int):
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.uid = uid
        self.inbuf = protocol.LineBuffer()
        self.out = bytearray()
        self.closed = False
        self.on_close: list[Callable[[], None]] = []  # unsubscribe streams and waiters
        self.last_request = now()
        self.partial_since: float | None = None  # when the current half-written line began
        self.awaiting: dict = {}  # request id -> count of parked replies not yet sent
        self.streaming = False  # events / tail -f: quiet for hours is normal
        self.timer: Timer | None = None

    def reply(self, req_id, result) -> None:
        self._answered(req_id)
        if isinstance(result, protocol.Raw):
            self._queue(protocol.encode_ok_raw(req_id, result))
        else:
            self.send(protocol.ok(req_id, result))

    def fail(self, req_id, code: str, message: str) -> None:
        self._answered(req_id)
        self.send(protocol.error(req_id, code, message))

    def _answered(self, req_id) -> None:
        key = _key(req_id)
        count = self.awaiting.get(key)
        if count is not None:
            if count <= 1:
                del self.awaiting[key]
            else:
                self.awaiting[key] = count - 1

    def busy(self) -> bool:
        """Waiting on the daemon (a parked reply, a stream): never idle-closed."""
        return self.streaming or bool(self.awaiting)

    def send(self, message: dict) -> None:
        self._queue(protocol.encode(message))

    def _queue(self, line: bytes) -> None:
        if self.closed:
            return
        self.out += line
        if len(self.out) > MAX_OUTPUT:
            log.warning("control: dropping a client that does not read its replies (too slow)")
            self.close()
            return
        self.flush()

    def flush(self) -> None:
        while self.out and not self.closed:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                self.server.loop.add_writer(self.fd, self.flush)
                return
            except OSError:
                self.close()
                return
            del self.out[:sent]
        if not self.closed:
            self.server.loop.remove_writer(self.fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        self.server.loop.remove_reader(self.fd)
        self.server.loop.remove_writer(self.fd)
        self.sock.close()
        self.server.clients.discard(self)
        for callback in self.on_close:
            callback()
        self.on_close.clear()


class ControlServer:
    def __init__(
        self,
        sock: socket.socket,
        loop: EventLoop,
        supervisor: Supervisor,
        request_shutdown: Callable[[Replier | None, object], None],
        request_reload: Callable[[Callable[[dict | None, list[str]], None]], None],
        allowed_uids: tuple[int, ...] = (),
        max_clients: int = 1024,
        idle_timeout: float = 600.0,
        line_timeout: float = 10.0,
    ):
        self.sock = sock
        self.loop = loop
        self.supervisor = supervisor
        self.request_shutdown = request_shutdown
        self.allowed_uids = {0, os.geteuid(), *allowed_uids}
        self.max_clients = max_clients
        self.idle_timeout = idle_timeout
        self.line_timeout = line_timeout
        self.clients: set[Client] = set()
        sock.setblocking(False)
        accept_on(loop, sock, self._accepted, "control")
        self.commands = Commands(
            supervisor, loop, request_shutdown, request_reload, lambda: len(self.clients)
        )
        self.handlers = self.commands.handlers

    # -- connections --------------------------------------------------------------

    def _accepted(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        pid, uid, gid = _UCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
        client = Client(self, conn, uid)
        if uid not in self.allowed_uids:
            log.warning("control: refused a client with uid %d (pid %d)", uid, pid)
            _refuse(client, protocol.FORBIDDEN, f"uid {uid} may not control this daemon")
            return
        if len(self.clients) >= self.max_clients:
            log.warning("control: refused a client: %d clients already", len(self.clients))
            # Accepted, told why, closed: never left waiting in the backlog, whose
            # overflow would make connect() fail (EAGAIN) or hang.
            message = f"too many clients ({self.max_clients} at most; see max_clients)"
            _refuse(client, protocol.TOO_MANY_CLIENTS, message + "; try again later")
            return
        self.clients.add(client)
        self.loop.add_reader(client.fd, lambda c=client: self._read(c))
        self._arm_timer(client)

    def replace_socket(self, sock: socket.socket) -> None:
        """Listen on `sock` instead (the old socket file was deleted); the caller closes
        the old one."""
        self.loop.remove_reader(self.sock.fileno())
        sock.setblocking(False)
        self.sock = sock
        accept_on(self.loop, sock, self._accepted, "control")

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            client.close()
            return
        if not data:
            client.close()
            return
        try:
            lines = client.inbuf.feed(data)
        except ProtocolError as exc:
            client.fail(None, exc.code, exc.message)
            client.close()
            return
        if lines:
            client.last_request = now()
        if not client.inbuf.pending:
            client.partial_since = None
        elif lines or client.partial_since is None:
            client.partial_since = now()
            if self.line_timeout > 0:
                self._ensure_timer(client, client.partial_since + self.line_timeout)
        for line in lines:
            if client.closed:
                return
            self._handle_line(client, line)

    # -- timeouts: one lazy timer per client, re-armed only when it fires --------------

    def _arm_timer(self, client: Client) -> None:
        """Wake for this client only when a timeout could next be due."""
        deadlines = []
        if self.line_timeout > 0 and client.partial_since is not None:
            deadlines.append(client.partial_since + self.line_timeout)
        if self.idle_timeout > 0:
            base = now() if client.busy() else client.last_request
            deadlines.append(base + self.idle_timeout)
        if deadlines:
            self._ensure_timer(client, min(deadlines))

    def _ensure_timer(self, client: Client, deadline: float) -> None:
        if client.timer is not None and client.timer.when <= deadline:
            return
        if client.timer is not None:
            client.timer.cancel()
        client.timer = self.loop.call_later(deadline - now(), lambda: self._check_timeouts(client))

    def _check_timeouts(self, client: Client) -> None:
        client.timer = None
        if client.closed:
            return
        current = now()
        if (
            self.line_timeout > 0
            and client.partial_since is not None
            and current - client.partial_since >= self.line_timeout
        ):
            log.info("control: closing a client whose request line is unfinished")
            client.fail(None, protocol.TIMEOUT, "request line not finished in time")
            client.close()
            return
        if (
            self.idle_timeout > 0
            and not client.busy()
            and client.partial_since is None
            and current - client.last_request >= self.idle_timeout
        ):
            log.debug("control: closing an idle client")
            client.fail(None, protocol.TIMEOUT, "idle connection closed")
            client.close()
            return
        self._arm_timer(client)

    def _handle_line(self, client: Client, line: bytes) -> None:
        req_id = None
        try:
            request = protocol.decode_request(line)
            req_id = request.id
            if self.supervisor.shutting_down and request.cmd not in ("status", "version", "pid"):
                if request.cmd == "shutdown":
                    self.request_shutdown(client, req_id)
                    return
                raise ProtocolError(protocol.SHUTTING_DOWN, "the daemon is shutting down")
            result = self.handlers[request.cmd](client, request)
        except ProtocolError as exc:
            client.fail(req_id if req_id is not None else exc.req_id, exc.code, exc.message)
            return
        except Exception:
            log.exception("control: internal error handling %r", line[:200])
            client.fail(req_id, protocol.INTERNAL, "internal error; see the daemon's log")
            return
        if result is not LATER:
            client.reply(req_id, result)
        elif not client.closed and request.cmd not in ("events", "tail", "maintail"):
            key = _key(req_id)
            client.awaiting[key] = client.awaiting.get(key, 0) + 1

    def close(self) -> None:
        for client in list(self.clients):
            client.flush()
            client.close()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _refuse(client: Client, code: str, message: str) -> None:
    """One error reply, then close."""
    client.fail(None, code, message)
    # Read what it sent already: closing a Unix socket with unread input resets the
    # peer, which could then lose the reply above.
    try:
        client.sock.recv(65536)
    except OSError:
        pass
    client.close()


def _key(req_id):
    """A dict key for any JSON id (lists and objects are unhashable)."""
    try:
        hash(req_id)
        return req_id
    except TypeError:
        return repr(req_id)
