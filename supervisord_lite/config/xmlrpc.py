"""The [xmlrpc] table: Supervisor's XML-RPC API, on a Unix socket or a TCP port.

Imported by the loader only when a config has an [xmlrpc] table. A Unix socket is
admitted as the control socket is (SO_PEERCRED: root, the daemon's user,
allowed_uids; the control socket's `socket_mode`); a TCP port follows the [http]
rules (loopback users by their uid, or Basic auth with `users`; beyond loopback
`users` are required), so `--check`, launch and reload all refuse an open port alike.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any, Callable

from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.config import values as cv
from supervisord_lite.config.http import LOOPBACK_TWINS, listen_text, parse_listen, users

Error = Callable[[tuple, str], None]  # (key path below [xmlrpc], message)


class XmlRpcConfig(Frozen):
    """One [xmlrpc] table, converted and checked: `path` for a Unix socket, else
    `host` and `port`."""

    __slots__ = (
        "path",
        "host",
        "port",
        "users",
        "max_clients",
        "idle_timeout",
        "request_timeout",
    )

    def __init__(
        self,
        path: str | None = None,  # absolute: a Unix socket
        host: str | None = None,  # else an IP address and port
        port: int = 0,
        users: tuple[tuple[str, str], ...] = (),  # (name, password hash): TCP only
        max_clients: int = 64,
        idle_timeout: float = 60.0,  # a keep-alive connection with no request under way
        request_timeout: float = 10.0,  # one whole request
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)

    @property
    def listen(self) -> str:
        return f"unix://{self.path}" if self.path else listen_text(self.host, self.port)

    @property
    def server_url(self) -> str:
        """SUPERVISOR_SERVER_URL as supervisord tells it to its children: unix:///path
        or http://HOST:PORT (what supervisorctl -s and childutils take)."""
        if self.path:
            return f"unix://{self.path}"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{listen_text(host, self.port)}"

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address to listen on, as [http]'s (127.0.0.1 and ::1 both)."""
        twin = LOOPBACK_TWINS.get(self.host)
        return (self.host,) if twin is None else (self.host, twin)

    @property
    def loopback(self) -> bool:
        return self.path is not None or ipaddress.ip_address(self.host).is_loopback


XMLRPC_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "listen": (cv.string, None),
    "users": (users, ()),
    "max_clients": (cv.integer(1, limit=100_000, why="each is a descriptor"), 64),
    "idle_timeout": (cv.number, 60.0),
    "request_timeout": (cv.positive_number, 10.0),
}

UNIX_PREFIX = "unix://"
MAX_SOCKET_PATH = 107  # AF_UNIX's sun_path, as for [supervisord] socket


def build(values: dict[str, Any], resolve: Callable[[str], str], error: Error):
    """The XmlRpcConfig of converted `values`, or None (problems told to `error`)."""
    settings = {key: values.get(key, default) for key, (_, default) in XMLRPC_KEYS.items()}
    listen = settings.pop("listen")
    if listen is None:
        error(("listen",), 'required: "unix:///path/to/xmlrpc.sock" or "127.0.0.1:9001"')
        return None
    if listen.startswith(UNIX_PREFIX):
        path = listen[len(UNIX_PREFIX) :]
        if not path or "\0" in path or len(os.fsencode(resolve(path))) > MAX_SOCKET_PATH:
            error(("listen",), f'expected "unix:///path/to/xmlrpc.sock" (a path of at most '
                  f"{MAX_SOCKET_PATH} bytes once absolute), got {cv.show(listen)}")  # fmt: skip
            return None
        if settings["users"]:
            error(("users",), "a Unix socket admits by uid (root, the daemon's user and "
                  "[supervisord] allowed_uids): users are for a TCP listen")  # fmt: skip
            return None
        return XmlRpcConfig(path=resolve(path), **settings)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        error(("listen",), f'{exc}; or "unix:///path" for a Unix socket')
        return None
    if not settings["users"] and not ipaddress.ip_address(host).is_loopback:
        error(("listen",), f"{cv.show(listen)} is reachable beyond this host: set users "
              "(see supervisord-lite hash-password) or listen on 127.0.0.1 or a "
              "unix:// socket")  # fmt: skip
        return None
    return XmlRpcConfig(host=host, port=port, **settings)
