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

This module reads the file, its includes, [supervisord] and the HTTP server sections;
the program sections are ini_programs.py's, each option's expansion and conversion
ini_lookup.py's, the parsing ini_parser.py's, the value types supervisor_datatypes.py's.

Only the convert command uses this module; the daemon never imports it.
"""

from __future__ import annotations

import glob
import os
import platform
from typing import Any

from supervisord_lite.config.bounded_read import UnreadableFile
from supervisord_lite.convert.ini_lookup import Lookup
from supervisord_lite.convert.ini_parser import IniError, Located
from supervisord_lite.convert.ini_programs import (  # noqa: F401  (ini.PROGRAM_OPTIONS ...)
    EVENTLISTENER_OPTIONS,
    FCGI_OPTIONS,
    PROGRAM_KINDS,
    PROGRAM_OPTIONS,
    read_groups,
)
from supervisord_lite.convert.supervisor_datatypes import (  # noqa: F401  (ini.AUTO, ini.octal ...)
    AUTO,
    boolean,
    byte_size,
    integer,
    key_value_pairs,
    logging_level,
    octal,
)

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


# --- reading a whole config -------------------------------------------------------------


def read(path: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The config at `path` as supervisord would resolve it; IniError if it would refuse.

    Returns {"path", "files", "sections": {name: {"file", "line", "options":
    {key: Located}}}, "supervisord": {...}, "groups": [...], "programs": [...],
    "host_problems": [(file, line, section, key, message)],
    "environ_used": [(file, line, section, key, [names])]}.
    """
    return _Reader(path, dict(os.environ if environ is None else environ)).read()


class _Reader(Lookup):
    """The whole file: its includes, [supervisord], the programs (ini_programs.py) and
    the HTTP server sections."""

    # -- the file and its includes

    def read(self) -> dict[str, Any]:
        self.parser.read_path(self.path)
        if self.parser.has_section("include"):
            self.read_includes()
        if not self.parser.has_section("supervisord"):
            raise IniError(f"{self.path}: the file has no [supervisord] section")
        supervisord = self.read_supervisord()
        groups, programs = read_groups(self)
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
