"""The program sections of a Supervisor INI, read as supervisord reads them
(process_groups_from_parser, _processes_from_section): [group:x], [program:x],
[eventlistener:x] and [fcgi-program:x], each program with its processes.

Every option goes through ini_lookup.py's Lookup (expansion, conversion, FILE:LINE);
supervisor_ini.py reads the rest of the file and calls read_groups.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
from typing import Any, Callable

from supervisord_lite.convert.ini_lookup import Lookup
from supervisord_lite.convert.ini_parser import inline_comment_cut
from supervisord_lite.convert.supervisor_datatypes import (
    AUTO,
    SYSLOG,
    auto_restart,
    boolean,
    byte_size,
    exitcodes,
    integer,
    key_value_pairs,
    list_of_strings,
    logfile_name,
    name_check,
    octal,
    signal_name,
)

PROGRAM_KINDS = ("program", "eventlistener", "fcgi-program")

# Every key supervisord reads in a [program:x] section (others it silently ignores).
PROGRAM_OPTIONS = (
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
)
EVENTLISTENER_OPTIONS = ("buffer_size", "events", "result_handler")
FCGI_OPTIONS = ("socket", "socket_backlog", "socket_owner", "socket_mode")

# supervisor.events.EventTypes: the names an [eventlistener:x] `events` line may hold.
EVENT_TYPES = frozenset(
    """EVENT PROCESS_STATE PROCESS_STATE_STOPPED PROCESS_STATE_EXITED
    PROCESS_STATE_STARTING PROCESS_STATE_STOPPING PROCESS_STATE_BACKOFF
    PROCESS_STATE_FATAL PROCESS_STATE_RUNNING PROCESS_STATE_UNKNOWN
    PROCESS_COMMUNICATION PROCESS_COMMUNICATION_STDOUT PROCESS_COMMUNICATION_STDERR
    PROCESS_LOG PROCESS_LOG_STDOUT PROCESS_LOG_STDERR REMOTE_COMMUNICATION
    SUPERVISOR_STATE_CHANGE SUPERVISOR_STATE_CHANGE_RUNNING SUPERVISOR_STATE_CHANGE_STOPPING
    TICK TICK_5 TICK_60 TICK_3600 PROCESS_GROUP PROCESS_GROUP_ADDED
    PROCESS_GROUP_REMOVED""".split()
)


_UNSET = object()  # an option not given, where supervisord's default is no string


def read_groups(ini: Lookup) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """process_groups_from_parser: heterogeneous [group:x] first, then the [program:x]
    no group took, then [eventlistener:x] and [fcgi-program:x]."""
    sections = ini.parser.sections()
    groups: list[dict[str, Any]] = []
    programs: list[dict[str, Any]] = []
    grouped: set[str] = set()
    common = {"here": ini.here}
    for section in sections:
        if not section.startswith("group:"):
            continue
        name = ini.convert(section, None, name_check, section.split(":", 1)[1])
        members = list_of_strings(ini.get(section, "programs", None, expansions=common))
        priority = ini.convert(
            section, "priority", integer, ini.get(section, "priority", "999", common)
        )
        file, line = ini.parser.locate_section(section)
        group = {"name": name, "priority": priority, "programs": [], "file": file}
        group["line"] = line
        for member in members:
            program_section = f"program:{member}"
            fcgi_section = f"fcgi-program:{member}"
            has_program = program_section in sections
            has_fcgi = fcgi_section in sections
            if not has_program and not has_fcgi:
                raise ini.fail(
                    section, "programs", f"names unknown program or fcgi-program {member}"
                )
            if has_program and has_fcgi:
                raise ini.fail(
                    section,
                    "programs",
                    f"name {member} is ambiguous (exists as program and fcgi-program)",
                )
            member_section = program_section if has_program else fcgi_section
            grouped.add(member_section)
            group["programs"].append(member_section)
            programs.append(read_program(ini, member_section, name))
        groups.append(group)
    for section in sections:
        if section.startswith("program:") and section not in grouped:
            name = ini.convert(section, None, name_check, section.split(":", 1)[1])
            programs.append(read_program(ini, section, name))
    for section in sections:
        if section.startswith("eventlistener:"):
            programs.append(read_eventlistener(ini, section))
    for section in sections:
        if section.startswith("fcgi-program:") and section not in grouped:
            programs.append(read_fcgi(ini, section))
    return groups, programs


def read_eventlistener(ini: Lookup, section: str) -> dict[str, Any]:
    common = {"here": ini.here}
    name = section.split(":", 1)[1]
    ini.convert(section, "priority", integer, ini.get(section, "priority", "-1", common))
    buffer_size = ini.convert(
        section, "buffer_size", integer, ini.get(section, "buffer_size", "10", common)
    )
    if buffer_size < 1:
        raise ini.fail(section, "buffer_size", f"invalid buffer_size ({buffer_size})")
    events = {x.upper() for x in list_of_strings(ini.get(section, "events", "", common))}
    if not events:
        raise ini.fail(section, None, 'the section requires an "events" line')
    for event in sorted(events):
        if event not in EVENT_TYPES:
            raise ini.fail(section, "events", f"unknown event type {event}")
    redirect = ini.get(section, "redirect_stderr", "false", common)
    if ini.convert(section, "redirect_stderr", boolean, redirect):
        raise ini.fail(
            section,
            "redirect_stderr",
            "redirect_stderr=true is not allowed: it would interfere with the "
            "eventlistener protocol",
        )
    program = read_program(ini, section, name)
    program["events"] = sorted(events)
    program["buffer_size"] = buffer_size
    return program


def read_fcgi(ini: Lookup, section: str) -> dict[str, Any]:
    common = {"here": ini.here}
    name = ini.convert(section, None, name_check, section.split(":", 1)[1])
    ini.convert(section, "priority", integer, ini.get(section, "priority", "999", common))
    socket = ini.get(section, "socket", None, {"here": ini.here, "program_name": name})
    if not socket:
        raise ini.fail(section, None, 'the section requires a "socket" line')
    if not (socket.startswith("unix://") and os.path.isabs(socket[7:])) and not re.match(
        r"tcp://([^\s:]+):(\d+)$", socket
    ):
        raise ini.fail(section, "socket", f"bad socket format {socket}")
    program = read_program(ini, section, name)
    program["socket"] = socket
    return program


def read_program(ini: Lookup, section: str, group_name: str) -> dict[str, Any]:
    kind, _, raw_name = section.partition(":")
    name = ini.convert(section, None, name_check, raw_name)
    common: dict[str, Any] = {
        "here": ini.here,
        "program_name": name,
        "host_node_name": platform.node(),
        "group_name": group_name,
    }
    settings = _program_settings(ini, section, common)
    environment_text = ini.get(section, "environment", "", expansions=common, expand_it=False)
    process_name = ini.convert(
        section,
        "process_name",
        name_check,
        ini.get(section, "process_name", "%(program_name)s", expansions=common, expand_it=False),
    )
    if settings["numprocs"] > 1 and "%(process_num)" not in process_name:
        raise ini.fail(
            section,
            "process_name",
            "%(process_num) must be present within process_name when numprocs > 1",
        )
    if settings["stopasgroup"] and not settings["killasgroup"]:
        raise ini.fail(section, "killasgroup", "cannot set stopasgroup=true and killasgroup=false")
    file, line = ini.parser.locate_section(section)
    program = {
        "section": section,
        "kind": kind,
        "name": name,
        "group": group_name,
        "file": file,
        "line": line,
        "process_name": process_name,
        "environment_text": environment_text,
        "settings": settings,
        "processes": [],
    }
    start = settings["numprocs_start"]
    for process_num in range(start, start + settings["numprocs"]):
        program["processes"].append(
            read_process(
                ini, section, settings, common, process_name, environment_text, process_num
            )  # fmt: skip
        )
    return program


def _program_settings(ini: Lookup, section: str, common: dict[str, Any]) -> dict[str, Any]:
    """The options every process of the program shares, in supervisord's order (which
    decides the error a file with several bad values gets)."""

    def get(key: str, default: Any) -> Any:
        return ini.get(section, key, default, expansions=common)

    def conv(key: str, converter, default: str) -> Any:
        return ini.convert(section, key, converter, get(key, default))

    settings: dict[str, Any] = {
        "priority": conv("priority", integer, "999"),
        "autostart": conv("autostart", boolean, "true"),
        "autorestart": conv("autorestart", auto_restart, "unexpected"),
        "startsecs": conv("startsecs", integer, "1"),
        "startretries": conv("startretries", integer, "3"),
        "stopsignal": conv("stopsignal", signal_name, "TERM"),
        "stopwaitsecs": conv("stopwaitsecs", integer, "10"),
        "stopasgroup": conv("stopasgroup", boolean, "false"),
    }
    settings["killasgroup"] = conv("killasgroup", boolean, str(settings["stopasgroup"]))
    settings["exitcodes"] = conv("exitcodes", exitcodes, "0")
    settings["redirect_stderr"] = conv("redirect_stderr", boolean, "false")
    settings["numprocs"] = conv("numprocs", integer, "1")
    settings["numprocs_start"] = conv("numprocs_start", integer, "0")
    for stream in ("stdout", "stderr"):
        key = f"{stream}_capture_maxbytes"
        settings[key] = conv(key, byte_size, "0")
        key = f"{stream}_events_enabled"
        settings[key] = conv(key, boolean, "false")
    serverurl = get("serverurl", None)
    settings["serverurl"] = (
        None if serverurl is not None and serverurl.strip().upper() == "AUTO" else serverurl
    )
    settings["user"] = get("user", None)
    if settings["user"] is not None:
        check_user(ini, section, settings["user"])
    umask = get("umask", None)
    settings["umask"] = None if umask is None else ini.convert(section, "umask", octal, umask)
    return settings


def read_process(
    ini: Lookup,
    section: str,
    settings: dict[str, Any],
    common: dict[str, Any],
    process_name: str,
    environment_text: str,
    process_num: int,
) -> dict[str, Any]:
    # supervisord mutates its common expansions here, so every later get() of this
    # section sees process_num, numprocs, the ENV_* names and the program's own
    # environment as ENV_* too.
    expansions = common
    expansions.update({"process_num": process_num, "numprocs": settings["numprocs"]})
    expansions.update(ini.environ_expansions)
    ini.note_environ(section, "environment", environment_text, set())
    environment = ini.convert(
        section,
        "environment",
        key_value_pairs,
        ini.expand_again(section, "environment", environment_text, expansions),
    )
    for key, value in environment.items():
        expansions[f"ENV_{key}"] = value
    local = set(environment)

    def get(key: str, default: Any) -> Any:
        return ini.get(section, key, default, expansions=expansions, local_env=local)

    process: dict[str, Any] = {"process_num": process_num, "environment": environment}
    process["directory"] = get("directory", None)
    for stream in ("stdout", "stderr"):
        _read_log_options(ini, section, stream, get, expansions, process)
    process["redirect_stderr"] = settings["redirect_stderr"]
    if settings["redirect_stderr"]:
        process["stderr_logfile"] = None
    command = get("command", None)
    if command is None:
        raise ini.fail(section, None, "the section does not specify a command")
    check_command(ini, section, command)
    process["command"] = command
    process["name"] = ini.expand_again(section, "process_name", process_name, expansions)
    return process


def _read_log_options(
    ini: Lookup,
    section: str,
    stream: str,
    get: Callable[[str, Any], Any],
    expansions: dict[str, Any],
    process: dict[str, Any],
) -> None:
    """One stream's logfile, backups, maxbytes and syslog into `process`; a logfile of
    `syslog` becomes no file with syslog on, as supervisord reads it."""
    key = f"{stream}_logfile"
    value = get(key, _UNSET)
    if value is _UNSET:
        value = AUTO
    else:
        value = logfile_name(ini.expand_again(section, key, value, expansions))
    if value not in (None, AUTO, SYSLOG):
        ini.check_dirpath(section, key, value)
    process[key] = value
    key = f"{stream}_logfile_backups"
    process[key] = ini.convert(section, key, integer, get(key, "10"))
    key = f"{stream}_logfile_maxbytes"
    process[key] = ini.convert(section, key, byte_size, get(key, "50MB"))
    key = f"{stream}_syslog"
    process[key] = ini.convert(section, key, boolean, get(key, "false"))
    if process[f"{stream}_logfile"] is SYSLOG:
        process[f"{stream}_logfile"] = None
        process[key] = True


def check_command(ini: Lookup, section: str, command: str) -> None:
    """supervisord splits the command with shlex at every start, and fails each one
    (BadCommand) when it cannot: refused here, with the likely cause."""
    try:
        shlex.split(command)
    except ValueError as exc:
        message = f"cannot split it into arguments ({exc}): supervisord would fail every start"
        file, line = ini.parser.locate(section, "command")
        if inline_comment_cut(file, line):
            message += (
                "; Supervisor ends the value at ' ;' or ' #' (an inline comment), which "
                "cut this one: write the command without a space before ; or #, or put "
                "it in a script"
            )
        raise ini.fail(section, "command", message) from None


def check_user(ini: Lookup, section: str, user: str) -> None:
    import pwd

    try:
        if user.isdigit():
            pwd.getpwuid(int(user))
        else:
            pwd.getpwnam(user)
    except KeyError:
        ini.host_problem(section, "user", f"no user {user} on this host")
