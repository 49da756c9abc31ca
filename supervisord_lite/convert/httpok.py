"""superlance's httpok as [programs.X.health]: the URL it fetches becomes an `http`
health check of the processes it restarts (`-p`), every TICK it listens to, with its
timeout, restarting at the first failure as httpok does. What the built-in does not do
(a status other than 2xx/3xx, a body match, gcore, mail) comes back as notes."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from supervisord_lite.convert.superlance_args import options

TICKS = {"TICK_5": 5.0, "TICK_60": 60.0, "TICK_3600": 3600.0}
_TAKES_VALUE = {"-p", "--programs", "-g", "--gcore", "-t", "--timeout", "-c", "--code",
                "-b", "--body", "-m", "--email", "-s", "--sendmail_program",
                "-o", "--optionalheader"}  # fmt: skip


class HttpOk:
    """What one httpok command line asks for."""

    def __init__(self) -> None:
        self.processes: list[str] = []  # -p: process specs (NAME or GROUP:NAME)
        self.url: str | None = None
        self.timeout = 10.0  # httpok's default
        self.interval = 60.0
        self.notes: list[str] = []


def read_httpok(argv: list[str], events: list[str]) -> HttpOk:
    spec = HttpOk()
    ticks = [TICKS[e] for e in events if e in TICKS]
    if ticks:
        spec.interval = min(ticks)
    for option, value in options(argv, _TAKES_VALUE):
        if option in ("-p", "--programs"):
            spec.processes.append(value)
        elif option in ("-t", "--timeout"):
            try:
                spec.timeout = float(value)
            except ValueError:
                spec.notes.append(f"{option} {value!r} is not a number of seconds: 10 used")
        elif option in ("-c", "--code"):
            spec.notes.append(f"{option} {value}: the health check passes on any 2xx or 3xx")
        elif option in ("-b", "--body"):
            spec.notes.append(f"{option} {value!r}: the body is not checked")
        elif option in ("-g", "--gcore"):
            spec.notes.append(f"{option}: no core dump is taken before the restart")
        elif option in ("-m", "--email", "-s", "--sendmail_program", "-o", "--optionalheader"):
            spec.notes.append(f"{option}: not mailed; [alerts] on 'unhealthy' can tell someone")
        elif option in ("-a", "--any"):
            spec.notes.append(f"{option}: give each program to check with -p (not converted)")
        elif option in ("-e", "--eager"):
            pass  # checks whether or not the process runs: a health check runs while RUNNING
        elif not option and spec.url is None:
            spec.url = value
    return spec


def health_table(spec: HttpOk) -> tuple[dict | None, str | None]:
    """The health table, or None with why it cannot be one."""
    if spec.url is None:
        return None, "no URL on its command line"
    parts = urlsplit(spec.url)
    if parts.scheme != "http":
        return None, f"{spec.url}: a health check fetches http:// URLs only"
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":  # a probe never looks a name up: that would block the loop
            return None, f"{spec.url}: a health check needs an IP address or localhost"
    table = {"http": spec.url, "interval": spec.interval, "timeout": spec.timeout, "failures": 1}
    return table, None
