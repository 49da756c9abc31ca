"""`[sockets.NAME]`: listening sockets the daemon holds for its programs (docs/zero-downtime.md).

A table becomes a `SocketConfig` (values only: binding is linux/held_sockets.py's). The
program keys `sockets` and `stdin_socket` name tables; `resolve_program_sockets` swaps
the names for the tables themselves, so that a program whose socket changes (its
`listen`, its mode) is a changed program for `reload` and is restarted onto the new one.
"""

from __future__ import annotations

import pwd
import socket
from typing import Any, Callable

from supervisord_lite.base import names
from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.config import values as cv

# Mode of a Unix socket's file by default: the program's group may connect too.
DEFAULT_UNIX_MODE = 0o660
MAX_UNIX_PATH = 107  # sockaddr_un.sun_path, less its NUL: unix(7)
MAX_BACKLOG = 65535
MAX_PER_PROGRAM = 64  # fds 3..66: linux/held_sockets.py keeps its own above them

Error = Callable[[tuple, str], None]  # (key path, message)


class SocketConfig(Frozen):
    """One [sockets.NAME] table: `family` is "tcp" or "unix"; `host`/`port` for tcp,
    `path`/`mode`/`owner` for unix."""

    __slots__ = ("name", "listen", "family", "host", "port", "path", "mode", "owner", "backlog")

    def __init__(
        self,
        name: str,
        listen: str,  # as written: "tcp://127.0.0.1:8000", "unix:///run/app.sock"
        family: str,
        host: str = "",
        port: int = 0,
        path: str = "",  # absolute
        mode: int = DEFAULT_UNIX_MODE,
        owner: str | None = None,  # "user" or "user:group"
        backlog: int = socket.SOMAXCONN,
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)

    def address(self) -> tuple:
        """What bind() and getsockname() speak: (host, port) or the path."""
        return (self.host, self.port) if self.family == "tcp" else self.path

    def same_bind(self, other: SocketConfig) -> bool:
        """Whether `other` binds the same address (so a held socket can be kept)."""
        return (self.family, self.host, self.port, self.path) == (
            other.family,
            other.host,
            other.port,
            other.path,
        )


SOCKET_KEYS = ("listen", "mode", "owner", "backlog")


def socket_tables(
    tables: Any, file: str, resolve: Callable[[str], str], error: Error
) -> dict[str, SocketConfig]:
    """Every valid [sockets.*] table of one file, by name (errors through `error`)."""
    if not isinstance(tables, dict):
        error(("sockets",), f"expected a table of sockets, got {cv.show(tables)}")
        return {}
    out = {}
    for name, table in tables.items():
        parts = ("sockets", name)
        if not isinstance(table, dict):
            error(parts, f"expected a table, got {cv.show(table)}")
            continue
        if not names.NAME.fullmatch(name):  # it goes into LISTEN_FDNAMES, ":"-separated
            error(parts, 'invalid socket name: use letters, digits, "_", "." and "-"')
            continue
        built = _one(name, table, resolve, lambda sub, msg, p=parts: error((*p, *sub), msg))
        if built is not None:
            out[name] = built
    return out


def _one(name: str, table: dict, resolve, error: Error) -> SocketConfig | None:
    ok = True
    for key in table:
        if key not in SOCKET_KEYS:
            error((key,), f"unknown key (known: {', '.join(SOCKET_KEYS)})")
            ok = False
    if "listen" not in table:
        error(("listen",), 'required key missing (like "tcp://127.0.0.1:8000")')
        return None
    try:
        fields = parse_listen(table["listen"], resolve)
    except cv.Invalid as exc:
        error(("listen",), str(exc))
        return None
    for key, convert in (("mode", cv.mode), ("owner", _owner), ("backlog", _backlog)):
        if key not in table:
            continue
        if key in ("mode", "owner") and fields["family"] != "unix":
            error((key,), "applies to a unix:// socket only")
            ok = False
            continue
        try:
            fields[key] = convert(table[key])
        except cv.Invalid as exc:
            error((key,), str(exc))
            ok = False
    return SocketConfig(name=name, listen=table["listen"], **fields) if ok else None


def parse_listen(value: Any, resolve: Callable[[str], str]) -> dict[str, Any]:
    """ "tcp://HOST:PORT" (IPv4, or IPv6 in brackets) or "unix:///path" -> fields."""
    if not isinstance(value, str):
        raise cv.fail(f'expected "tcp://HOST:PORT" or "unix:///path", got {cv.show(value)}')
    if value.startswith("unix://"):
        path = value[len("unix://") :]
        if not path or "\0" in path:
            raise cv.fail(f'expected "unix:///path", got {cv.show(value)}')
        path = resolve(path)
        if len(path.encode()) > MAX_UNIX_PATH:
            raise cv.fail(f"{cv.show(path)} is longer than {MAX_UNIX_PATH} bytes (AF_UNIX limit)")
        return {"family": "unix", "path": path}
    if not value.startswith("tcp://"):
        raise cv.fail(f'expected "tcp://HOST:PORT" or "unix:///path", got {cv.show(value)}')
    hostport = value[len("tcp://") :]
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise cv.fail(f"expected a port 1..65535 after the last colon, got {cv.show(value)}")
    bracketed = host.startswith("[") and host.endswith("]")
    literal = host[1:-1] if bracketed else host
    # Here, not at the top: ipaddress stays resident (~0.2 MiB) in every daemon that
    # loads this module, and only a tcp:// socket needs it.
    import ipaddress

    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        raise cv.fail(
            f"expected an IP address (IPv6 in brackets: tcp://[::1]:8000), got {cv.show(host)}"
        ) from None
    if address.version == 6 and not bracketed:
        raise cv.fail(f"write an IPv6 address in brackets: tcp://[{literal}]:{port_text}")
    return {"family": "tcp", "host": str(address), "port": int(port_text)}


def _owner(value: Any) -> str:
    if not isinstance(value, str) or not value or value.count(":") > 1:
        raise cv.fail(f'expected "user" or "user:group", got {cv.show(value)}')
    return value


def _backlog(value: Any) -> int:
    return cv.integer(1, limit=MAX_BACKLOG, why="the kernel caps it")(value)


def check_owner(owner: str | None, euid: int, error: Error) -> None:
    """The owner's user (and group) exist, and the daemon may give the file away."""
    if owner is None:
        return
    user, _, group = owner.partition(":")
    try:
        uid = pwd.getpwnam(user).pw_uid
    except (KeyError, ValueError):
        error(("owner",), f"unknown user {cv.show(user)}")
        return
    if group:
        import grp  # only for a socket with an owner group

        try:
            grp.getgrnam(group)
        except (KeyError, ValueError):
            error(("owner",), f"unknown group {cv.show(group)}")
            return
    if euid != 0 and uid != euid:
        error(("owner",), "only a daemon running as root can give a socket to another user")


def resolve_program_sockets(
    kwargs: dict[str, Any], sockets: dict[str, SocketConfig], error: Error
) -> bool:
    """Swap the names in a program's `sockets` / `stdin_socket` for their tables.
    False (errors told) when one is unknown or named twice."""
    ok = True
    held = []
    seen = set()
    for index, name in enumerate(kwargs["sockets"]):
        if name in seen:
            error(("sockets", index), f"socket {cv.show(name)} is named twice")
            ok = False
        elif name not in sockets:
            error(("sockets", index), _unknown(name, sockets))
            ok = False
        else:
            held.append(sockets[name])
        seen.add(name)
    if len(held) > MAX_PER_PROGRAM:
        error(("sockets",), f"at most {MAX_PER_PROGRAM} sockets per program")
        ok = False
    kwargs["sockets"] = tuple(held)
    name = kwargs["stdin_socket"]
    if name is not None:
        if name not in sockets:
            error(("stdin_socket",), _unknown(name, sockets))
            ok = False
        kwargs["stdin_socket"] = sockets.get(name)
    return ok


def _unknown(name: str, sockets: dict[str, SocketConfig]) -> str:
    known = ", ".join(sockets) or "none"
    return f"unknown socket {cv.show(name)}: add a [sockets.{name}] table (defined: {known})"


def check_addresses(sockets: dict[str, SocketConfig], error_at: Callable[[str, str], None]) -> None:
    """Two tables binding one address would fight over it: the second is an error."""
    first: dict[tuple, str] = {}
    for name, sock in sockets.items():
        key = (sock.family, sock.host, sock.port, sock.path)
        if key in first:
            error_at(name, f"listens on the same address as [sockets.{first[key]}]")
        else:
            first[key] = name


def held_socket_tables(
    docs: list[tuple[str, dict]], resolve, euid: int, error: Callable[[str, tuple, str], None]
) -> dict[str, SocketConfig]:
    """The [sockets.*] tables of the main file and its includes, checked across files
    (a name defined twice, two tables on one address, an owner this host lacks)."""
    found: dict[str, SocketConfig] = {}
    where: dict[str, str] = {}
    for file, doc in docs:
        if "sockets" not in doc:
            continue
        tables = socket_tables(doc["sockets"], file, resolve, lambda p, m, f=file: error(f, p, m))
        for name, sock in tables.items():
            if name in where:
                error(
                    file, ("sockets", name), f'socket "{name}" is already defined in {where[name]}'
                )
                continue
            where[name] = file
            found[name] = sock
            check_owner(
                sock.owner, euid, lambda p, m, f=file, n=name: error(f, ("sockets", n, *p), m)
            )
    check_addresses(found, lambda name, msg: error(where[name], ("sockets", name, "listen"), msg))
    return found


def used_sockets(programs) -> dict[str, SocketConfig]:
    """The tables some program names: the ones the daemon binds and holds."""
    used: dict[str, SocketConfig] = {}
    for program in programs:
        for sock in (*program.sockets, program.stdin_socket):
            if sock is not None:
                used[sock.name] = sock
    return used
