"""`[fcgi-program:x]`'s shared socket as a held socket (SPEC §6, §11): its `socket=`
becomes `[sockets.x]` (keeping `socket_owner`, `socket_mode`, `socket_backlog`) and
every table of the program gets `stdin_socket = "x"`, the socket on fd 0 as
Supervisor gives it.

Supervisor's `socket_mode` defaults to 0700 (ours to 0660), so the mode is always
written; a `tcp://` host that is a name, not an address, is resolved the way
supervisord binds it only for `localhost` (127.0.0.1); any other name is kept and
flagged (our `listen` takes an IP address).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from supervisord_lite.convert.conversion import Conversion

SUPERVISOR_SOCKET_MODE = "0700"
_TCP = re.compile(r"tcp://([^\s:]+|\[[0-9A-Fa-f:.]+\]):(\d+)$")

Warn = Callable[[str, str, str], None]  # (section, key, message)


def fcgi_sockets(c: Conversion, tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every [fcgi-program:x]'s [sockets.x] table by name; each of its program tables
    gets `stdin_socket = "x"`."""
    sockets = {}
    for program in c.parsed["programs"]:
        if program["kind"] != "fcgi-program" or "tables" not in program:
            continue
        options = c.sections[program["section"]]["options"]
        table = f"programs.{program['name']}"
        sockets[program["name"]] = socket_table(
            program, options, lambda s, k, m, t=table: c.warn(s, k, m, t)
        )
        for name in program["tables"]:
            tables[name]["stdin_socket"] = program["name"]
    return sockets


def socket_table(program: dict[str, Any], options: dict[str, Any], warn: Warn) -> dict[str, Any]:
    """The [sockets.NAME] table for one [fcgi-program:x] (`program` as supervisor_ini
    read it, `options` its section's raw options)."""
    section = program["section"]
    socket = program["socket"]
    table: dict[str, Any] = {"listen": socket}
    match = _TCP.match(socket)
    if match:
        host, port = match.groups()
        table["listen"] = f"tcp://{_address(host, section, warn)}:{port}"
    else:
        table["mode"] = _value(options, "socket_mode") or SUPERVISOR_SOCKET_MODE
        owner = _value(options, "socket_owner")
        if owner:
            table["owner"] = owner
    for key in ("socket_owner", "socket_mode"):
        if match and _value(options, key):
            warn(section, key, "applies to a unix:// socket only; dropped (so does supervisord)")
    backlog = _value(options, "socket_backlog")
    if backlog:
        try:
            table["backlog"] = int(backlog)
        except ValueError:
            warn(section, "socket_backlog", f"not a number: {backlog!r}; the default is kept")
    return table


def _address(host: str, section: str, warn: Warn) -> str:
    if host.startswith("["):
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return "127.0.0.1"
        warn(
            section,
            "socket",
            f"{host} is a name: [sockets] listen takes an IP address; write the address "
            "supervisord would bind",
        )
        return host
    return f"[{address}]" if address.version == 6 else str(address)


def _value(options: dict[str, Any], key: str) -> str | None:
    option = options.get(key)
    return option["value"] if option else None
