"""Supervisor's `[unix_http_server]` and `[inet_http_server]` as one `[xmlrpc]` table, so
that Supervisor's clients (its supervisorctl, superlance, dashboards) find the daemon
where they found supervisord.

- `[unix_http_server] file` becomes `[xmlrpc] listen = "unix://FILE"`: the path its
  clients know. The daemon's own control socket (supervisorctl-lite's) moves beside
  it, `NAME.lite.sock` (a warning says so). `chmod` is the mode of both (the control
  socket's `socket_mode`); `username`/`password` are not carried: a Unix socket admits
  by the peer's uid.
- `[inet_http_server] port` becomes `listen = "HOST:PORT"` when there is no Unix one
  (one `listen` per table; with both, the Unix socket is served and the port warned).
  A plain `password` becomes a PBKDF2 hash in `users`; a `{SHA}` one cannot be: the
  warning says how to set it, and a port reachable beyond this host is narrowed to
  127.0.0.1 until it is (no open port without a password).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from supervisord_lite.base.passwords import hash_password
from supervisord_lite.convert.conversion import Conversion

Warn = Callable[[str, Optional[str], str, str], None]  # (section, key, message, table)
TABLE = "xmlrpc"


def lite_socket(path: str) -> str:
    """Where the control socket goes when Supervisor's socket path serves [xmlrpc]."""
    base, ext = os.path.splitext(path)
    return f"{base}.lite{ext or '.sock'}"


def unix_socket_file(c: Conversion) -> str | None:
    """[unix_http_server] file, resolved as supervisord resolves it; None without one."""
    options = c.sections.get("unix_http_server", {}).get("options", {})
    if "file" not in options:
        return None
    return os.path.expanduser(options["file"]["value"].replace("%(here)s", c.here).strip())


def xmlrpc_table(c: Conversion) -> dict | None:
    """The [xmlrpc] table ({"listen": ..., "users": {...}}), or None when neither
    server section is there."""
    warn: Warn = c.warn
    unix_file = unix_socket_file(c)
    inet = c.sections.get("inet_http_server")
    if unix_file is not None:
        if inet is not None and "port" in inet["options"]:
            warn("inet_http_server", "port", "not served: [xmlrpc] takes one listen, and "
                 f"the Unix socket {unix_file} is it (Supervisor's clients use -s "
                 f"unix://{unix_file})", TABLE)  # fmt: skip
        return {"listen": f"unix://{unix_file}"}
    if inet is None or "port" not in inet["options"]:
        return None
    options = inet["options"]
    listen = options["port"]["value"].strip()
    host = listen.rpartition(":")[0]
    if host in ("", "*"):
        listen = f"0.0.0.0:{listen.rpartition(':')[2]}"
    table: dict[str, Any] = {"listen": listen}
    user = options.get("username", {}).get("value")
    password = options.get("password", {}).get("value")
    if user and password and not password.startswith("{SHA}"):
        table["users"] = {user: hash_password(password)}
        warn("inet_http_server", "password", f"now a PBKDF2 hash in users.{user} (the "
             "plain password is not kept)", TABLE)  # fmt: skip
    elif user and password:
        loopback = host in ("127.0.0.1", "localhost", "[::1]")
        narrowed = "" if loopback else (
            f"; it listens on 127.0.0.1:{listen.rpartition(':')[2]} until you do, then "
            f"set listen = \"{listen}\" again")  # fmt: skip
        if not loopback:
            table["listen"] = f"127.0.0.1:{listen.rpartition(':')[2]}"
        warn("inet_http_server", "password", "a {SHA} digest cannot become a PBKDF2 hash: "
             f"set [xmlrpc] users = {{ {user} = \"HASH\" }} with the hash that "
             f"`supervisord-lite hash-password` prints{narrowed}", TABLE)  # fmt: skip
    elif not host.startswith(("127.", "localhost", "[::1]")):
        table["listen"] = f"127.0.0.1:{listen.rpartition(':')[2]}"
        warn("inet_http_server", "port", "no username/password: a port reachable beyond "
             "this host needs users here; it listens on 127.0.0.1 (set users with "
             "`supervisord-lite hash-password` to open it)", TABLE)  # fmt: skip
    for key in options:
        if key not in ("port", "username", "password"):
            warn("inet_http_server", key, "supervisord ignores this key; so does convert", TABLE)
    return table
