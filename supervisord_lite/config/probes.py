"""The `[programs.NAME.ready]` and `[programs.NAME.health]` tables: their frozen value
classes and converters (TOML table in, ProbeConfig out, or `Invalid` naming the key).

Pure: no I/O. Hosts must be IP addresses (or `localhost`): a name lookup
(getaddrinfo) blocks, and the daemon's loop must never block (docs/health.md).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.config import values as cv

READY_KINDS = ("notify", "tcp", "http", "exec", "log")
HEALTH_KINDS = ("tcp", "http", "exec")


class Address(Frozen):
    """Where a tcp or http probe connects: an IP literal, a port, and for http a path."""

    __slots__ = ("host", "port", "path", "text")

    def __init__(self, host: str, port: int, path: str = "", text: str = ""):
        _set(self, "host", host)  # an IP literal: never looked up
        _set(self, "port", port)
        _set(self, "path", path)  # http only: what follows GET
        _set(self, "text", text)  # as the user wrote it, for status and events

    @property
    def family(self) -> int:
        import socket

        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


class ProbeConfig(Frozen):
    """One probe: `kind` with its `target`, and its timing.

    target: True (notify), an Address (tcp, http), an argv tuple (exec), a regex text
    (log). For `ready`, `timeout` is the whole wait for readiness; for `health`, the
    limit on one probe. `failures` is for health only.
    """

    __slots__ = ("kind", "target", "interval", "timeout", "failures")

    def __init__(self, kind: str, target: Any, interval: float, timeout: float, failures: int = 1):
        _set(self, "kind", kind)
        _set(self, "target", target)
        _set(self, "interval", interval)
        _set(self, "timeout", timeout)
        _set(self, "failures", failures)

    def describe(self) -> str:
        """`tcp 127.0.0.1:6379`, `log "Ready to accept"`: what status says it waits for."""
        target = self.target
        if self.kind == "notify":
            return "READY=1 (sd_notify)"
        if self.kind in ("tcp", "http"):
            return f"{self.kind} {target.text}"
        if self.kind == "exec":
            return "exec " + " ".join(target)
        return f"log {cv.show(target)}"


def _positive(value: Any) -> float:
    seconds = cv.number(value)
    if seconds <= 0:
        raise cv.fail(f"expected a number > 0, got {cv.show(value)}")
    return seconds


def host_port(value: Any) -> Address:
    """ "127.0.0.1:6379", "[::1]:80", "localhost:80" -> Address."""
    text = cv.string(value)
    host, port = _split_host_port(text)
    return Address(host, port, "", text)


def _split_host_port(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", text)
    if not match:
        raise cv.fail(f'expected "HOST:PORT" (IPv6 as "[::1]:80"), got {cv.show(text)}')
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise cv.fail(f"port must be 1..65535, got {port} in {cv.show(text)}")
    if host == "localhost":
        return "127.0.0.1", port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise cv.fail(
            f"{cv.show(host)} is not an IP address: give one (or localhost); "
            "looking a name up would block the daemon"
        ) from None
    if match.group(3) and address.version == 6:
        raise cv.fail(f'write an IPv6 address in brackets, as "[{host}]:{port}"')
    return str(address), port


def http_url(value: Any) -> Address:
    """ "http://127.0.0.1:8000/health" -> Address (port 80 by default, path "/")."""
    text = cv.string(value)
    if text.lower().startswith("https://"):
        raise cv.fail(f"https is not supported (probe over plain http), got {cv.show(text)}")
    match = re.fullmatch(r"http://([^/?#]+)([/?][^#\s]*)?", text, re.IGNORECASE)
    if not match:
        raise cv.fail(f'expected a URL like "http://127.0.0.1:8000/health", got {cv.show(text)}')
    authority, path = match.group(1), match.group(2) or "/"
    if "@" in authority:
        raise cv.fail(f"a user or password in the URL is not supported, got {cv.show(text)}")
    if not re.search(r"(\]|^[^:]*):\d+$", authority) or authority.endswith("]"):
        authority += ":80"
    host, port = _split_host_port(authority)
    if path.startswith("?"):
        path = "/" + path
    return Address(host, port, path, text)


def regex(value: Any) -> str:
    text = cv.string(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise cv.fail(f"bad regular expression {cv.show(text)}: {exc}") from None
    if not text:
        raise cv.fail("an empty regular expression matches any line; give a pattern")
    return text


def _notify(value: Any) -> bool:
    if value is not True:
        raise cv.fail(
            f"expected true (notify = false is the same as no notify), got {cv.show(value)}"
        )
    return True


_TARGETS: dict[str, Callable[[Any], Any]] = {
    "notify": _notify,
    "tcp": host_port,
    "http": http_url,
    "exec": cv.command,
    "log": regex,
}


def _probe_table(
    value: Any,
    kinds: tuple[str, ...],
    timing: dict[str, tuple[Callable[[Any], Any], Any]],
) -> ProbeConfig:
    if not isinstance(value, dict):
        raise cv.fail(f"expected a table, got {cv.show(value)}")
    problems: list[tuple[tuple[str | int, ...], str]] = []
    given = [k for k in kinds if k in value]
    if len(given) != 1:
        problems.append(((), f"give exactly one of {', '.join(kinds)}"))
    settings = {key: default for key, (_, default) in timing.items()}
    target = None
    for key, raw in value.items():
        convert = _TARGETS.get(key) if key in kinds else timing.get(key, (None,))[0]
        if convert is None and key in READY_KINDS:
            problems.append(
                ((key,), f"{key} only proves readiness; health takes {', '.join(kinds)}")
            )
            continue
        if convert is None:
            known = [*kinds, *timing]
            import difflib

            close = difflib.get_close_matches(key, known, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            problems.append(((key,), f"unknown key{hint}; known: {', '.join(known)}"))
            continue
        try:
            converted = convert(raw)
        except cv.Invalid as exc:
            problems += [((key, *sub), msg) for sub, msg in exc.problems]
            continue
        if key in kinds:
            target = converted
        else:
            settings[key] = converted
    if problems:
        raise cv.Invalid(problems)
    return ProbeConfig(given[0], target, **settings)


def ready_table(value: Any) -> ProbeConfig:
    """[programs.NAME.ready]: one of notify, tcp, http, exec, log; timeout, interval."""
    return _probe_table(
        value,
        READY_KINDS,
        {"timeout": (_positive, 60.0), "interval": (_positive, 0.5)},
    )


def health_table(value: Any) -> ProbeConfig:
    """[programs.NAME.health]: one of tcp, http, exec; interval, timeout, failures."""
    return _probe_table(
        value,
        HEALTH_KINDS,
        {
            "interval": (_positive, 10.0),
            "timeout": (_positive, 1.0),
            "failures": (cv.integer(1, limit=1_000_000, why="failures in a row"), 3),
        },
    )


def watchdog_seconds(value: Any) -> float:
    """watchdog_sec: seconds > 0 (systemd's WatchdogSec=); needs ready.notify."""
    return _positive(value)
