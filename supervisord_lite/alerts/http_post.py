"""One HTTP/1.1 POST on the daemon's loop, never blocking it (alert webhooks).

h11 does the HTTP (it takes bytes and gives events; we only move bytes). Every step
waits on the loop: the connect (non-blocking, EINPROGRESS), the TLS handshake for
https (ssl with do_handshake_on_connect off), the request and the response. A host
name is looked up by a child, `getent ahosts NAME` (glibc's resolver with the host's
nsswitch and /etc/hosts, as any program would), whose output is read from a pipe:
getaddrinfo in the daemon would block the loop for as long as DNS takes. One timer
bounds the whole exchange.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import Callable, Optional
from urllib.parse import urlsplit

import h11

from supervisord_lite.base.log import log
from supervisord_lite.linux.spawn import spawn_helper_reading

MAX_RESPONSE_HEAD = 64 * 1024
# (status, None), or (None, why it failed). Optional: this runs on Python 3.9 too.
Done = Callable[[Optional[int], Optional[str]], None]


class Post:
    """POST `body` to `url`; done(status, error) exactly once, within `timeout`."""

    def __init__(self, loop, watch_exit, url: str, body: bytes, headers: list, timeout: float,
                 done: Done):  # fmt: skip
        self.loop = loop
        self.watch_exit = watch_exit  # supervisor.watch_exit: the lookup's exit
        self.url = urlsplit(url)
        self.body = body
        self.headers = headers
        self.done_cb = done
        self.sock: socket.socket | None = None
        self.lookup_fd = -1
        self.lookup_out = b""
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
        self.finished = False
        self.timer = loop.call_later(timeout, lambda: self.fail(f"no answer in {timeout:g} s"))

    def start(self) -> None:
        host = self.url.hostname
        try:
            ipaddress.ip_address(host)
        except ValueError:
            self.look_up(host)
        else:
            self.connect(host)

    # -- name lookup --------------------------------------------------------------

    def look_up(self, host: str) -> None:
        try:
            pid, r = spawn_helper_reading(["getent", "ahosts", host])
        except OSError as exc:
            self.fail(f"cannot look up {host}: getent: {exc.strerror}")
            return
        self.lookup_fd = r
        self.watch_exit(pid, lambda code: None)  # its output tells; EOF ends it
        self.loop.add_reader(r, self.lookup_readable)

    def lookup_readable(self) -> None:
        try:
            data = os.read(self.lookup_fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            data = b""
            log.debug("alerts: reading the name lookup: %s", exc)
        if data and len(self.lookup_out) < 1 << 20:
            self.lookup_out += data
            return
        self.close_lookup()
        lines = self.lookup_out.decode("ascii", "replace").split("\n")
        # `getent ahosts` lists each address per socket type; the first is the one
        # getaddrinfo puts first (RFC 6724 order), as a client library would use it.
        addresses = [line.split()[0] for line in lines if line.strip()]
        if not addresses:
            self.fail(f"cannot resolve host {self.url.hostname!r}")
        else:
            self.connect(addresses[0])

    def close_lookup(self) -> None:
        if self.lookup_fd >= 0:
            self.loop.remove_reader(self.lookup_fd)
            os.close(self.lookup_fd)
            self.lookup_fd = -1

    # -- connecting ---------------------------------------------------------------

    def connect(self, address: str) -> None:
        https = self.url.scheme == "https"
        port = self.url.port or (443 if https else 80)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            self.fail(f"socket: {exc.strerror}")
            return
        sock.setblocking(False)
        if https:
            import ssl  # only for an https webhook

            context = ssl.create_default_context()
            sock = context.wrap_socket(
                sock, server_hostname=self.url.hostname, do_handshake_on_connect=False
            )
        self.sock = sock
        err = sock.connect_ex((address, port))
        if err not in (0, errno.EINPROGRESS):
            self.fail(f"connect to {address}:{port}: {os.strerror(err)}")
            return
        self.loop.add_writer(sock.fileno(), self.connected)

    def connected(self) -> None:
        sock = self.sock
        self.loop.remove_writer(sock.fileno())
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.fail(f"connect: {os.strerror(err)}")
            return
        if self.url.scheme == "https":
            self.handshake()
        else:
            self.send_request()

    def handshake(self) -> None:
        import ssl

        sock = self.sock
        self.loop.remove_reader(sock.fileno())
        self.loop.remove_writer(sock.fileno())
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.loop.add_reader(sock.fileno(), self.handshake)
            return
        except ssl.SSLWantWriteError:
            self.loop.add_writer(sock.fileno(), self.handshake)
            return
        except (ssl.SSLError, OSError) as exc:
            self.fail(f"TLS: {exc}")
            return
        self.send_request()

    # -- the exchange -------------------------------------------------------------

    def send_request(self) -> None:
        target = self.url.path or "/"
        if self.url.query:
            target += "?" + self.url.query
        host = self.url.netloc.rpartition("@")[2]
        headers = [("Host", host), ("Content-Length", str(len(self.body))),
                   ("Connection", "close"), *self.headers]  # fmt: skip
        request = h11.Request(method="POST", target=target, headers=headers)
        self.outgoing = (
            self.conn.send(request) + self.conn.send(h11.Data(data=self.body))
            + self.conn.send(h11.EndOfMessage())
        )  # fmt: skip
        self.loop.add_writer(self.sock.fileno(), self.writable)

    def writable(self) -> None:
        try:
            sent = self.sock.send(self.outgoing)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.fail(f"send: {exc}")
            return
        self.outgoing = self.outgoing[sent:]
        if not self.outgoing:
            self.loop.remove_writer(self.sock.fileno())
            self.loop.add_reader(self.sock.fileno(), self.readable)

    def readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # ssl.SSLWantReadError is one: wait for more
            if exc.__class__.__name__ == "SSLWantReadError":
                return
            self.fail(f"receive: {exc}")
            return
        self.conn.receive_data(data)
        try:
            event = self.conn.next_event()
        except h11.RemoteProtocolError as exc:
            self.fail(f"a malformed answer: {exc}")
            return
        if isinstance(event, h11.Response):
            self.finish(event.status_code, None)
        elif event is h11.NEED_DATA and not data:
            self.fail("the server closed the connection without answering")

    # -- ending -------------------------------------------------------------------

    def fail(self, why: str) -> None:
        self.finish(None, why)

    def finish(self, status: int | None, error: str | None) -> None:
        if self.finished:
            return
        self.finished = True
        self.timer.cancel()
        self.close_lookup()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.loop.remove_writer(self.sock.fileno())
            self.sock.close()
        self.done_cb(status, error)
