"""The warnings of a [program:x]: every setting that has no equal here, or that
behaves otherwise (stopasgroup, syslog, relative paths, names a table cannot take).
"""

from __future__ import annotations

import os
from typing import Any

from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.conversion import Conversion, argv_of
from supervisord_lite.convert.names import valid


def program_warnings(c: Conversion, program: dict[str, Any], table: str) -> None:
    """Every warning of one [program:x], in the order they are found (the order of
    warnings on one line)."""
    _unknown_keys(c, program, table)
    _group_signals(c, program, table)
    _stream_options(c, program, table)
    _ignored_settings(c, program, table)
    _paths_and_command(c, program, table)
    if not valid(program["name"]):
        c.warn(
            program["section"],
            None,
            f"the name {program['name']!r} is not valid here (letters, digits, _ . -; "
            f"not all): written as {c.table_name(program['name'])!r}",
            table,
        )


def _unknown_keys(c: Conversion, program: dict[str, Any], table: str) -> None:
    """The keys supervisord ignores (an fcgi-program's socket options are known)."""
    section = program["section"]
    options = c.sections[section]["options"]
    known = set(ini.PROGRAM_OPTIONS)
    if program["kind"] == "fcgi-program":  # the socket: fcgi.py
        known |= set(ini.FCGI_OPTIONS)
    for key in sorted(set(options) - known):
        c.warn(section, key, "supervisord ignores this key; so does convert", table)


def _group_signals(c: Conversion, program: dict[str, Any], table: str) -> None:
    """stopasgroup and killasgroup: what differs from Supervisor either way."""
    section = program["section"]
    settings = program["settings"]
    if settings["killasgroup"] and not settings["stopasgroup"]:
        c.warn(
            section,
            "killasgroup",
            "no separate killasgroup here: stopasgroup = true signals the whole "
            "process group with stopsignal too (Supervisor: only SIGKILL goes to the group)",
            table,
        )
    elif settings["stopasgroup"]:
        c.warn(
            section,
            "stopasgroup",
            "also, when the main process exits on its own, what is left of its "
            "process group is killed here (Supervisor leaves it running)",
            table,
        )
    elif program["processes"] and forks_workers(program["processes"][0]["command"]):
        server = forks_workers(program["processes"][0]["command"])
        c.warn(section, "stopasgroup", f"stopasgroup = false is kept (Supervisor's "
               f"default): when {server}'s master dies, its workers keep running and "
               "holding its port, and each restart fails to bind; stopasgroup = true "
               "kills what is left of the group at that exit: set it unless the "
               "workers must outlive their master", table)  # fmt: skip


def _stream_options(c: Conversion, program: dict[str, Any], table: str) -> None:
    """Capture mode, log events and syslog: none of them here."""
    section = program["section"]
    options = c.sections[section]["options"]
    for stream in ("stdout", "stderr"):
        for key, why in (
            (f"{stream}_capture_maxbytes", "capture mode (PROCESS_COMMUNICATION events)"),
            (f"{stream}_events_enabled", "log events"),
            (f"{stream}_syslog", "syslog output"),
        ):
            if key in options and program["settings"].get(key, True):
                c.warn(section, key, f"not supported: no {why} here", table)
        if any(p.get(f"{stream}_syslog") for p in program["processes"]):
            if f"{stream}_syslog" not in options:
                c.warn(
                    section,
                    f"{stream}_logfile",
                    "syslog is not supported: logged to nothing here; use /dev/stdout "
                    "under systemd's journal",
                    table,
                )


def _ignored_settings(c: Conversion, program: dict[str, Any], table: str) -> None:
    """serverurl, and a stderr_logfile redirect_stderr makes moot."""
    section = program["section"]
    settings = program["settings"]
    options = c.sections[section]["options"]
    if settings["serverurl"] is not None:
        c.warn(section, "serverurl", "not supported: children get no SUPERVISOR_SERVER_URL", table)
    if settings["redirect_stderr"] and "stderr_logfile" in options:
        value = options["stderr_logfile"]["value"].lower()
        if value not in ("none", "off", "auto"):
            c.warn(
                section,
                "stderr_logfile",
                "ignored because redirect_stderr = true (as supervisord ignores it)",
                table,
            )


def _paths_and_command(c: Conversion, program: dict[str, Any], table: str) -> None:
    """Relative paths (resolved elsewhere here) and a command that reads otherwise."""
    section = program["section"]
    processes = program["processes"]
    if not processes:
        return
    first = processes[0]
    if first["directory"] is not None:
        c.warn_relative(section, "directory", first["directory"], table)
    for stream in ("stdout", "stderr"):
        path = first[f"{stream}_logfile"]
        if isinstance(path, str) and path != ini.AUTO:
            c.warn_relative(section, f"{stream}_logfile", path, table)
    argv = argv_of(first["command"])
    if any("\n" in arg for arg in argv):
        c.warn(
            section,
            "command",
            "an argument holds a line break (a backslash before the end of a line "
            "in the INI escapes the line break itself): supervisord passes it so, "
            "and so does the converted command",
            table,
        )
    if argv and os.sep in argv[0] and not os.path.isabs(argv[0]):
        c.warn(
            section,
            "command",
            f"relative command {argv[0]!r}: resolved against the program's "
            "directory, else the TOML file's (Supervisor: supervisord's working "
            "directory)",
            table,
        )


# Servers whose master forks workers that share its listening socket: with
# stopasgroup = false those workers outlive a crashed master and keep the port.
_FORKING_SERVERS = ("nginx", "apache2", "httpd", "php-fpm", "gunicorn", "uwsgi", "unicorn",
                    "puma", "hypercorn", "uvicorn")  # fmt: skip


def forks_workers(command: str) -> str:
    """The forking server a command runs (`nginx`, `gunicorn` ...), or ""."""
    try:
        words = argv_of(command)[:3]  # the program, or the one an interpreter runs
    except ValueError:
        return ""
    for word in words:
        base = os.path.basename(word)
        for server in _FORKING_SERVERS:
            if base.startswith(server):
                return server
    return ""
