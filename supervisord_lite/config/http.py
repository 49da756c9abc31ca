"""The [http] table: its model (HttpConfig) and the checks that span its keys.

Imported by the loader only when a config has an [http] table: a daemon without one
never loads this, the auth module or ssl. Listening beyond loopback without `users`
or `token_file` is refused here, so `--check`, launch and reload all refuse it alike.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from typing import Any, Callable

from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.base.ssh import Target, TargetError
from supervisord_lite.config import values as cv

Error = Callable[[tuple, str], None]  # (key path below [http], message)


class HttpConfig(Frozen):
    """One [http] table, converted and checked."""

    __slots__ = (
        "host",
        "port",
        "users",
        "token_sha256",
        "token_file",
        "read_only",
        "certfile",
        "keyfile",
        "max_clients",
        "idle_timeout",
        "request_timeout",
        "hosts",
    )

    def __init__(
        self,
        host: str,
        port: int,
        users: tuple[tuple[str, str], ...] = (),  # (name, password hash)
        token_sha256: bytes | None = None,  # of the token_file's token; never the token
        token_file: str | None = None,
        read_only: bool = False,
        certfile: str | None = None,
        keyfile: str | None = None,
        max_clients: int = 64,
        idle_timeout: float = 60.0,  # a keep-alive connection with no request under way
        request_timeout: float = 10.0,  # TLS handshake plus one whole request
        hosts: tuple[str, ...] = (),  # other daemons shown on the page, over ssh
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)

    @property
    def listen(self) -> str:
        return listen_text(self.host, self.port)

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address to listen on: `host`, and for 127.0.0.1 or ::1 the other one
        too. A client of `localhost` may try ::1 first (urllib, wget, browsers): were
        that port free, any local user could listen there and be sent its requests,
        Authorization header included."""
        twin = LOOPBACK_TWINS.get(self.host)
        return (self.host,) if twin is None else (self.host, twin)

    @property
    def urls(self) -> str:
        """Where it serves, for the log: "http://127.0.0.1:9001/ and http://[::1]:9001/"."""
        scheme = "https" if self.tls else "http"
        return " and ".join(f"{scheme}://{listen_text(a, self.port)}/" for a in self.addresses)

    @property
    def tls(self) -> bool:
        return self.certfile is not None


LOOPBACK_TWINS = {"127.0.0.1": "::1", "::1": "127.0.0.1"}


def listen_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def users(value: Any) -> tuple[tuple[str, str], ...]:
    # hashlib (OpenSSL), secrets...: loaded only for a config with users or a token
    from supervisord_lite.base.passwords import parse_hash

    if not isinstance(value, dict):
        raise cv.fail(f"expected a table of user = password hash, got {cv.show(value)}")
    problems = []
    for name, stored in value.items():
        if not name or ":" in name:
            problems.append(((name,), 'a user name must be non-empty and without ":"'))
            continue
        try:
            parse_hash(cv.string(stored))
        except ValueError as exc:
            problems.append(((name,), str(exc)))
    if problems:
        raise cv.Invalid(problems)
    return tuple(value.items())


def host_target(value: Any) -> str:
    """A daemon on another host, as -H takes it: [USER@]HOST[:/PATH/TO.sock]."""

    text = cv.string(value)
    try:
        Target(text)
    except TargetError as exc:
        raise cv.fail(str(exc)) from None
    return text


HTTP_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "listen": (cv.string, "127.0.0.1:9001"),
    "users": (users, ()),
    "token_file": (cv.path_string, None),
    "read_only": (cv.boolean, False),
    "certfile": (cv.path_string, None),
    "keyfile": (cv.path_string, None),
    "max_clients": (cv.integer(1, limit=100_000, why="each is a descriptor"), 64),
    "idle_timeout": (cv.number, 60.0),
    "request_timeout": (cv.number, 10.0),
    "hosts": (cv.list_of(host_target, '"[USER@]HOST[:/PATH]" strings'), ()),
}


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9001', '[::1]:9001', 'localhost:9001', ':9001' (every address)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(
            f'expected "HOST:PORT" with a port 1..65535 (like "127.0.0.1:9001" or '
            f'"[::1]:9001"), got {cv.show(text)}'
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(
            f'write an IPv6 address in brackets, like "[::1]:9001", got {cv.show(text)}'
        )
    if host == "localhost":
        host = "127.0.0.1"
    elif host in ("", "*"):
        host = "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"expected an IP address, localhost or nothing (every address) before the port, "
            f"got {cv.show(host)}: a name would need a DNS lookup"
        ) from None
    return host, int(port_text)


def build(values: dict[str, Any], resolve: Callable[[str], str], error: Error) -> HttpConfig | None:
    """The HttpConfig of converted `values` (bad keys already reported and left out),
    or None when something spanning keys is wrong (reported through `error`)."""
    settings = {key: values.get(key, default) for key, (_, default) in HTTP_KEYS.items()}
    ok = True
    try:
        host, port = parse_listen(settings.pop("listen"))
    except ValueError as exc:
        error(("listen",), str(exc))
        return None
    for key in ("token_file", "certfile", "keyfile"):
        if settings[key] is not None:
            settings[key] = resolve(settings[key])
    if settings["token_file"] is not None:
        try:
            settings["token_sha256"] = read_token(settings["token_file"])
        except ValueError as exc:
            error(("token_file",), str(exc))
            ok = False
    if (settings["certfile"] is None) != (settings["keyfile"] is None):
        missing = "keyfile" if settings["keyfile"] is None else "certfile"
        error((missing,), "TLS needs both certfile and keyfile")
        ok = False
    elif settings["certfile"] is not None:
        problem = tls_problem(settings["certfile"], settings["keyfile"])
        if problem:
            error(("certfile",), problem)
            ok = False
    authenticated = bool(settings["users"]) or settings["token_file"] is not None
    if not authenticated and not ipaddress.ip_address(host).is_loopback:
        error(
            ("listen",),
            f"{cv.show(values.get('listen'))} is reachable beyond this host: set users "
            "(see supervisord-lite hash-password) or token_file, or listen on 127.0.0.1",
        )
        ok = False
    return HttpConfig(host=host, port=port, **settings) if ok else None


def read_token(path: str) -> bytes:
    """The sha256 of the token in `path` (its first line); ValueError saying why not."""
    from supervisord_lite.base.passwords import MIN_TOKEN_LENGTH, token_digest  # as in users()

    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(4096)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(
            f"{path} is readable by others (mode 0o{stat.S_IMODE(mode):03o}); chmod 600 it"
        )
    lines = data.decode("utf-8", "replace").splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"{path}: the token on its first line has {len(token)} characters; it must have at "
            f"least {MIN_TOKEN_LENGTH} (make one with: openssl rand -hex 32)"
        )
    return token_digest(token)


def tls_problem(certfile: str, keyfile: str) -> str | None:
    import ssl  # only for a config that asks for TLS

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:  # an OSError too: first
        return f"cannot use {certfile} with {keyfile}: {exc.reason or exc}"
    except OSError as exc:
        return f"cannot read {exc.filename or certfile}: {exc.strerror}"
    return None


def server_context(config: HttpConfig):
    """The ssl context the server wraps connections with (TLS 1.2 at least)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.certfile, config.keyfile)
    return context
