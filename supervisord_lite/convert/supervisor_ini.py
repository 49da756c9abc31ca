"""Read a Supervisor 4.x INI config the way supervisord reads it, into plain dicts.

The parsing is configparser's own RawConfigParser with the options supervisor's
UnhosedConfigParser sets (inline `;`/`#` comments after whitespace, strict=False: the
last of duplicate keys wins and a section given twice is merged), so comments,
continuation lines and [DEFAULT] behave exactly as in supervisord. The resolving
mirrors supervisor/options.py (read_config, process_groups_from_parser,
_processes_from_section): which options are %-expanded, with which names, in which
order, and which values are refused. Every option keeps the file and line it came
from, so a caller can say FILE:LINE.

What supervisord checks against the host (does the user exist, does a log directory
exist) is reported in `host_problems` instead of refusing: a config is usually
converted on another machine than the one it runs on.

The parsing itself is ini_parser.py's, the value types
supervisor_datatypes.py's.

Only converter.py uses this module; the daemon never imports it.
"""

from __future__ import annotations

import configparser
import glob
import os
import platform
import re
import shlex
from typing import Any

from supervisord_lite.config.bounded_read import UnreadableFile
from supervisord_lite.convert.ini_parser import (  # noqa: F401
    IniError,
    Located,
    Parser,
    inline_comment_cut,
)
from supervisord_lite.convert.supervisor_datatypes import (  # noqa: F401  (ini.AUTO, ini.octal ...)
    AUTO,
    LOGLEVELS,
    SYSLOG,
    auto_restart,
    boolean,
    byte_size,
    exitcodes,
    expand,
    integer,
    key_value_pairs,
    list_of_strings,
    logfile_name,
    logging_level,
    name_check,
    octal,
    referenced_names,
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
SUPERVISORD_OPTIONS = (
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "umask",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "nocleanup",
    "childlogdir",
    "user",
    "directory",
    "strip_ansi",
    "environment",
    "identifier",
)

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
# `%s` with no (name): `text % mapping` puts the repr of the whole mapping there.
_UNNAMED = re.compile(r"%(?:%|\([^)]*\))|(%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")


# --- reading a whole config -------------------------------------------------------------


def read(path: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The config at `path` as supervisord would resolve it; IniError if it would refuse.

    Returns {"path", "files", "sections": {name: {"file", "line", "options":
    {key: Located}}}, "supervisord": {...}, "groups": [...], "programs": [...],
    "host_problems": [(file, line, section, key, message)],
    "environ_used": [(file, line, section, key, [names])]}.
    """
    return _Reader(path, dict(os.environ if environ is None else environ)).read()


class _Reader:
    def __init__(self, path: str, environ: dict[str, str]) -> None:
        self.path = path  # as given: messages name it so
        self.here = os.path.dirname(os.path.abspath(path))
        self.os_environ = environ
        self.environ_expansions = {f"ENV_{k}": v for k, v in environ.items()}
        self.config_env_names: set[str] = set()
        self.parser = Parser()
        self.host_problems: list[tuple[str, int, str, str, str]] = []
        self.environ_used: dict[tuple[str, str], list[str]] = {}
        self.unnamed: set[tuple[str, str]] = set()
        self.files = [self.path]

    # -- errors and bookkeeping

    def fail(self, section: str, key: str | None, message: str) -> IniError:
        file, line = (
            self.parser.locate(section, key) if key else self.parser.locate_section(section)
        )
        where = f"{file}:{line}" if line else (file or self.path)
        what = f"[{section}] {key}" if key else f"[{section}]"
        return IniError(f"{where}: {what}: {message}")

    def host_problem(self, section: str, key: str, message: str) -> None:
        file, line = self.parser.locate(section, key)
        self.host_problems.append((file, line, section, key, message))

    def note_environ(self, section: str, key: str, text: str, local: set[str]) -> None:
        names = [
            n[4:]
            for n in referenced_names(text)
            if n.startswith("ENV_")
            and n[4:] not in local
            and n[4:] not in self.config_env_names
            and n[4:] in self.os_environ
        ]
        if names:
            self.environ_used.setdefault((section, key), [])
            for name in names:
                if name not in self.environ_used[(section, key)]:
                    self.environ_used[(section, key)].append(name)

    def get(
        self,
        section: str,
        key: str,
        default: Any = None,
        expansions: dict[str, Any] | None = None,
        expand_it: bool = True,
        local_env: set[str] = frozenset(),
    ) -> Any:
        """UnhosedConfigParser.saneget: the raw value or `default`, %-expanded with the
        environment's ENV_* names plus `expansions`."""
        try:
            value = self.parser.get(section, key)
        except configparser.NoOptionError:
            value = default
        if expand_it and isinstance(value, str):
            if any(m.group(1) for m in _UNNAMED.finditer(value)):
                self.unnamed.add((section, key))
            combined = dict(self.environ_expansions)
            combined.update(expansions or {})
            self.note_environ(section, key, value, local_env)
            try:
                value = expand(value, combined, f"{section}.{key}")
            except ValueError as exc:
                raise self.fail(section, key, str(exc)) from None
        return value

    def convert(self, section: str, key: str, converter, value: Any) -> Any:
        try:
            return converter(value)
        except (TypeError, ValueError) as exc:
            raise self.fail(section, key, str(exc)) from None

    # -- the file and its includes

    def read(self) -> dict[str, Any]:
        self.parser.read_path(self.path)
        if self.parser.has_section("include"):
            self.read_includes()
        if not self.parser.has_section("supervisord"):
            raise IniError(f"{self.path}: the file has no [supervisord] section")
        supervisord = self.read_supervisord()
        groups, programs = self.read_groups()
        self.check_servers()
        return {
            "path": self.path,
            "files": self.files,
            "sections": self.sections(),
            "supervisord": supervisord,
            "groups": groups,
            "programs": programs,
            "host_problems": self.host_problems,
            "unnamed_fields": [(*self.parser.locate(s, k), s, k) for s, k in sorted(self.unnamed)],
            "environ_used": [
                (*self.parser.locate(s, k), s, k, names)
                for (s, k), names in self.environ_used.items()
            ],
        }

    def read_includes(self) -> None:
        parser = self.parser
        parser.expand_here(self.here)
        if not parser.has_option("include", "files"):
            raise self.fail("include", None, 'the section has no "files" setting')
        expansions = {"here": self.here, "host_node_name": platform.node()}
        files = self.get("include", "files", expansions=expansions).split()
        for pattern in files:
            pattern = os.path.join(self.here, pattern)
            matches = sorted(glob.glob(pattern))
            for filename in matches:
                try:
                    parser.read_path(filename)
                except IniError as exc:
                    cause = exc.__cause__
                    if not isinstance(cause, UnreadableFile) or cause.refused:
                        raise self.fail("include", "files", str(exc)) from None
                    # configparser.read, which supervisord uses, skips what it cannot open
                    self.host_problem("include", "files", f"cannot read {filename}: skipped")
                    continue
                self.files.append(os.path.abspath(filename))
                parser.expand_here(os.path.abspath(os.path.dirname(filename)))

    def sections(self) -> dict[str, Any]:
        out = {}
        for section in self.parser.sections():
            file, line = self.parser.locate_section(section)
            options = {}
            for key in self.parser.options(section):
                opt_file, opt_line = self.parser.locate(section, key)
                options[key] = Located(
                    value=self.parser.get(section, key), file=opt_file, line=opt_line
                )
            out[section] = {"file": file, "line": line, "options": options}
        return out

    # -- [supervisord]

    def read_supervisord(self) -> dict[str, Any]:
        section = "supervisord"
        common = {"here": self.here}

        def get(key: str, default: Any) -> Any:
            return self.get(section, key, default, expansions=common)

        out: dict[str, Any] = {}
        out["minfds"] = self.convert(section, "minfds", integer, get("minfds", "1024"))
        out["minprocs"] = self.convert(section, "minprocs", integer, get("minprocs", "200"))
        directory = get("directory", None)
        out["directory"] = None if directory is None else os.path.expanduser(directory)
        if directory is not None and not os.path.isdir(out["directory"]):
            self.host_problem(section, "directory", f"{directory} is not an existing directory")
        out["user"] = get("user", None)
        out["umask"] = self.convert(section, "umask", octal, get("umask", "022"))
        for key, default in (("logfile", "supervisord.log"), ("pidfile", "supervisord.pid")):
            value = os.path.expanduser(get(key, default))
            out[key] = value
            self.check_dirpath(section, key, value)
        out["logfile_maxbytes"] = self.convert(
            section, "logfile_maxbytes", byte_size, get("logfile_maxbytes", "50MB")
        )
        out["logfile_backups"] = self.convert(
            section, "logfile_backups", integer, get("logfile_backups", "10")
        )
        out["loglevel"] = self.convert(section, "loglevel", logging_level, get("loglevel", "info"))
        out["identifier"] = get("identifier", "supervisor")
        for key in ("nodaemon", "silent", "nocleanup", "strip_ansi"):
            out[key] = self.convert(section, key, boolean, get(key, "false"))
        childlogdir = get("childlogdir", None)
        out["childlogdir"] = None if childlogdir is None else os.path.expanduser(childlogdir)
        if childlogdir is not None and not os.path.isdir(out["childlogdir"]):
            self.host_problem(section, "childlogdir", f"{childlogdir} is not an existing directory")
        expansions = {"here": self.here, "host_node_name": platform.node()}
        environ_text = get("environment", "")
        environ_text = self.expand_again(section, "environment", environ_text, expansions)
        out["environment"] = self.convert(section, "environment", key_value_pairs, environ_text)
        for key, value in out["environment"].items():
            self.environ_expansions[f"ENV_{key}"] = value
            self.config_env_names.add(key)
        return out

    def expand_again(self, section: str, key: str, text: str, expansions: dict) -> str:
        """supervisord %-expands some values a second time (logfiles, environments)."""
        combined = dict(self.environ_expansions)
        combined.update(expansions)
        try:
            return expand(text, combined, key)
        except ValueError as exc:
            raise self.fail(section, key, str(exc)) from None

    def check_dirpath(self, section: str, key: str, path: str) -> None:
        """supervisor.datatypes.existing_dirpath, as a host problem."""
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            self.host_problem(
                section, key, f"the directory named as part of the path {path} does not exist"
            )

    # -- groups and programs

    def read_groups(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """process_groups_from_parser: heterogeneous [group:x] first, then the [program:x]
        no group took, then [eventlistener:x] and [fcgi-program:x]."""
        sections = self.parser.sections()
        groups: list[dict[str, Any]] = []
        programs: list[dict[str, Any]] = []
        grouped: set[str] = set()
        common = {"here": self.here}
        for section in sections:
            if not section.startswith("group:"):
                continue
            name = self.convert(section, None, name_check, section.split(":", 1)[1])
            members = list_of_strings(self.get(section, "programs", None, expansions=common))
            priority = self.convert(
                section, "priority", integer, self.get(section, "priority", "999", common)
            )
            file, line = self.parser.locate_section(section)
            group = {"name": name, "priority": priority, "programs": [], "file": file}
            group["line"] = line
            for member in members:
                program_section = f"program:{member}"
                fcgi_section = f"fcgi-program:{member}"
                has_program = program_section in sections
                has_fcgi = fcgi_section in sections
                if not has_program and not has_fcgi:
                    raise self.fail(
                        section, "programs", f"names unknown program or fcgi-program {member}"
                    )
                if has_program and has_fcgi:
                    raise self.fail(
                        section,
                        "programs",
                        f"name {member} is ambiguous (exists as program and fcgi-program)",
                    )
                member_section = program_section if has_program else fcgi_section
                grouped.add(member_section)
                group["programs"].append(member_section)
                programs.append(self.read_program(member_section, name))
            groups.append(group)
        for section in sections:
            if section.startswith("program:") and section not in grouped:
                name = self.convert(section, None, name_check, section.split(":", 1)[1])
                programs.append(self.read_program(section, name))
        for section in sections:
            if section.startswith("eventlistener:"):
                programs.append(self.read_eventlistener(section))
        for section in sections:
            if section.startswith("fcgi-program:") and section not in grouped:
                programs.append(self.read_fcgi(section))
        return groups, programs

    def read_eventlistener(self, section: str) -> dict[str, Any]:
        common = {"here": self.here}
        name = section.split(":", 1)[1]
        self.convert(section, "priority", integer, self.get(section, "priority", "-1", common))
        buffer_size = self.convert(
            section, "buffer_size", integer, self.get(section, "buffer_size", "10", common)
        )
        if buffer_size < 1:
            raise self.fail(section, "buffer_size", f"invalid buffer_size ({buffer_size})")
        events = {x.upper() for x in list_of_strings(self.get(section, "events", "", common))}
        if not events:
            raise self.fail(section, None, 'the section requires an "events" line')
        for event in sorted(events):
            if event not in EVENT_TYPES:
                raise self.fail(section, "events", f"unknown event type {event}")
        redirect = self.get(section, "redirect_stderr", "false", common)
        if self.convert(section, "redirect_stderr", boolean, redirect):
            raise self.fail(
                section,
                "redirect_stderr",
                "redirect_stderr=true is not allowed: it would interfere with the "
                "eventlistener protocol",
            )
        program = self.read_program(section, name)
        program["events"] = sorted(events)
        program["buffer_size"] = buffer_size
        return program

    def read_fcgi(self, section: str) -> dict[str, Any]:
        common = {"here": self.here}
        name = self.convert(section, None, name_check, section.split(":", 1)[1])
        self.convert(section, "priority", integer, self.get(section, "priority", "999", common))
        socket = self.get(section, "socket", None, {"here": self.here, "program_name": name})
        if not socket:
            raise self.fail(section, None, 'the section requires a "socket" line')
        if not (socket.startswith("unix://") and os.path.isabs(socket[7:])) and not re.match(
            r"tcp://([^\s:]+):(\d+)$", socket
        ):
            raise self.fail(section, "socket", f"bad socket format {socket}")
        program = self.read_program(section, name)
        program["socket"] = socket
        return program

    def read_program(self, section: str, group_name: str) -> dict[str, Any]:
        kind, _, raw_name = section.partition(":")
        name = self.convert(section, None, name_check, raw_name)
        common: dict[str, Any] = {
            "here": self.here,
            "program_name": name,
            "host_node_name": platform.node(),
            "group_name": group_name,
        }

        def get(key: str, default: Any, **kw: Any) -> Any:
            return self.get(section, key, default, expansions=common, **kw)

        def conv(key: str, converter, default: str) -> Any:
            return self.convert(section, key, converter, get(key, default))

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
        settings["killasgroup"] = self.convert(
            section, "killasgroup", boolean, get("killasgroup", str(settings["stopasgroup"]))
        )
        settings["exitcodes"] = conv("exitcodes", exitcodes, "0")
        settings["redirect_stderr"] = conv("redirect_stderr", boolean, "false")
        settings["numprocs"] = conv("numprocs", integer, "1")
        settings["numprocs_start"] = conv("numprocs_start", integer, "0")
        environment_text = get("environment", "", expand_it=False)
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
            self.check_user(section, settings["user"])
        umask = get("umask", None)
        settings["umask"] = None if umask is None else self.convert(section, "umask", octal, umask)
        process_name = self.convert(
            section,
            "process_name",
            name_check,
            get("process_name", "%(program_name)s", expand_it=False),
        )
        if settings["numprocs"] > 1 and "%(process_num)" not in process_name:
            raise self.fail(
                section,
                "process_name",
                "%(process_num) must be present within process_name when numprocs > 1",
            )
        if settings["stopasgroup"] and not settings["killasgroup"]:
            raise self.fail(
                section, "killasgroup", "cannot set stopasgroup=true and killasgroup=false"
            )
        file, line = self.parser.locate_section(section)
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
                self.read_process(
                    section, settings, common, process_name, environment_text, process_num
                )
            )
        return program

    def read_process(
        self,
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
        expansions.update(self.environ_expansions)
        self.note_environ(section, "environment", environment_text, set())
        environment = self.convert(
            section,
            "environment",
            key_value_pairs,
            self.expand_again(section, "environment", environment_text, expansions),
        )
        for key, value in environment.items():
            expansions[f"ENV_{key}"] = value
        local = set(environment)

        def get(key: str, default: Any) -> Any:
            return self.get(section, key, default, expansions=expansions, local_env=local)

        process: dict[str, Any] = {"process_num": process_num, "environment": environment}
        directory = get("directory", None)
        process["directory"] = directory
        for stream in ("stdout", "stderr"):
            key = f"{stream}_logfile"
            value = get(key, _UNSET)
            if value is _UNSET:
                value = AUTO
            else:
                value = logfile_name(self.expand_again(section, key, value, expansions))
            if value not in (None, AUTO, SYSLOG):
                self.check_dirpath(section, key, value)
            process[key] = value
            key = f"{stream}_logfile_backups"
            process[key] = self.convert(section, key, integer, get(key, "10"))
            key = f"{stream}_logfile_maxbytes"
            process[key] = self.convert(section, key, byte_size, get(key, "50MB"))
            key = f"{stream}_syslog"
            process[key] = self.convert(section, key, boolean, get(key, "false"))
            if process[f"{stream}_logfile"] is SYSLOG:
                process[f"{stream}_logfile"] = None
                process[key] = True
        process["redirect_stderr"] = settings["redirect_stderr"]
        if settings["redirect_stderr"]:
            process["stderr_logfile"] = None
        command = get("command", None)
        if command is None:
            raise self.fail(section, None, "the section does not specify a command")
        self.check_command(section, command)
        process["command"] = command
        process["name"] = self.expand_again(section, "process_name", process_name, expansions)
        return process

    def check_command(self, section: str, command: str) -> None:
        """supervisord splits the command with shlex at every start, and fails each one
        (BadCommand) when it cannot: refused here, with the likely cause."""
        try:
            shlex.split(command)
        except ValueError as exc:
            message = f"cannot split it into arguments ({exc}): supervisord would fail every start"
            file, line = self.parser.locate(section, "command")
            if inline_comment_cut(file, line):
                message += (
                    "; Supervisor ends the value at ' ;' or ' #' (an inline comment), which "
                    "cut this one: write the command without a space before ; or #, or put "
                    "it in a script"
                )
            raise self.fail(section, "command", message) from None

    def check_user(self, section: str, user: str) -> None:
        import pwd

        try:
            if user.isdigit():
                pwd.getpwuid(int(user))
            else:
                pwd.getpwnam(user)
        except KeyError:
            self.host_problem(section, "user", f"no user {user} on this host")

    def check_servers(self) -> None:
        """server_configs_from_parser: what it refuses in the HTTP server sections."""
        for section in self.parser.sections():
            kind = section.split(":", 1)[0]
            if kind not in ("inet_http_server", "unix_http_server"):
                continue
            username = self.get(section, "username", None)
            password = self.get(section, "password", None)
            if (username is None) != (password is None):
                raise self.fail(
                    section,
                    None,
                    "incomplete authentication: give both username and password, or neither",
                )
            if kind == "inet_http_server":
                port = self.get(section, "port", None)
                if port is None:
                    raise self.fail(section, None, "the section has no port value")
                self.convert(section, "port", _inet_port, port)
            else:
                if self.get(section, "file", None, {"here": self.here}) is None:
                    raise self.fail(section, None, "the section has no file value")
                chmod = self.get(section, "chmod", None)
                if chmod is not None:
                    self.convert(section, "chmod", octal, chmod)


def _inet_port(value: str) -> int:
    port = value.rsplit(":", 1)[-1] if ":" in value else value
    if not port:
        raise ValueError(f"no port number specified in {value!r}")
    number = integer(port)
    if not 1 <= number <= 0xFFFF:
        raise ValueError(f"not a valid port number: {value!r}")
    return number
