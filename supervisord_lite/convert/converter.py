"""`supervisord-lite convert SUPERVISORD.CONF [-o OUT.toml]`: a Supervisor INI config
(read by supervisor_ini.py exactly as supervisord reads it) written as this project's
TOML, with a warning for every setting not carried over exactly.

Each warning reads `FILE:LINE: [section] key: message`; it goes to stderr and, as a
`# ` comment, above the table it concerns in the output. Values are written wherever
Supervisor's resolved value differs from this project's default, so the converted
file behaves as the old one did (stopasgroup = false, backoff_max = 0, ...).

A numprocs > 1 program whose command, directory or environment differs between its
processes (e.g. `--name=%(process_num)d`) cannot be one table here (those keys take no
templates): it becomes one program per process, all in a [groups.NAME] of the original
name, each with its process_name fixed, so every full name stays supervisorctl's.
Log paths and process names become `{process_num:02d}`-style templates instead when
the template renders exactly Supervisor's names.

The TOML text is toml_writer.py's, the templates templates.py's, the names
names.py's.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from typing import Any

from supervisord_lite.config.keys import PROGRAM_KEYS
from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.httpok import HttpOk, health_table, read_httpok
from supervisord_lite.convert.listener_tables import listener_table
from supervisord_lite.convert.mailers import KINDS, Mailer, alerts_table, read_mailer
from supervisord_lite.convert.memmon import MemMon, limit_for, read_memmon
from supervisord_lite.convert.names import Renamer, fixed_template, replacement, valid
from supervisord_lite.convert.templates import escape_braces, template_for
from supervisord_lite.convert.toml_writer import (
    Octal,
    comment,
    size,
    toml_key,
    toml_setting,
    toml_value,
)

EXIT_OK = 0
EXIT_REFUSED = 2

MEMMON = "memmon"
HTTPOK = "httpok"
MAILERS = ("crashmail", "crashmailbatch", "fatalmailbatch", "crashsms")


# The order keys are written in, as docs/configuration.md lists them.
PROGRAM_ORDER = (
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "directory",
    "environment",
    "user",
    "umask",
    "priority",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "backoff_max",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stdout_events_enabled",
    "stderr_events_enabled",
)


class Warning_:
    """One setting not carried over exactly: where it is and what happens instead."""

    __slots__ = ("file", "line", "section", "key", "message")

    def __init__(self, file: str, line: int, section: str, key: str | None, message: str):
        self.file, self.line, self.section, self.key, self.message = (
            file,
            line,
            section,
            key,
            message,
        )

    def __str__(self) -> str:
        where = f"{_shown_path(self.file)}:{self.line}" if self.line else _shown_path(self.file)
        what = f"[{self.section}] {self.key}" if self.key else f"[{self.section}]"
        return f"{where}: {what}: {self.message}"


def _shown_path(path: str) -> str:
    relative = os.path.relpath(path) if path else path
    return path if not path or relative.startswith("..") else relative


# --- the conversion ---------------------------------------------------------------------


def convert(
    path: str, environ: dict[str, str] | None = None, keep_listeners: bool = False
) -> tuple[str, list[Warning_]]:
    """The TOML text for the Supervisor config at `path`, and the warnings.
    Raises ini.IniError for input supervisord itself would refuse. keep_listeners:
    superlance's listeners become [listeners.x] too, not built-ins."""
    environ = dict(os.environ if environ is None else environ)
    parsed = ini.read(path, environ)
    return _Converter(parsed, environ, keep_listeners).run()


class _Converter:
    def __init__(self, parsed: dict[str, Any], environ: dict[str, str], keep_listeners=False):
        self.keep_listeners = keep_listeners
        # [listeners.x] tables: name here -> (the INI's name, keys)
        self.listener_tables: dict[str, tuple[str, dict[str, Any]]] = {}
        self.parsed = parsed
        self.sections = parsed["sections"]
        self.warnings: list[Warning_] = []
        self.environ = environ
        self.here = os.path.dirname(os.path.abspath(parsed["path"]))
        self.literals = {f"ENV_{k}": v for k, v in environ.items()}
        self.literals.update(
            {f"ENV_{k}": v for k, v in parsed["supervisord"]["environment"].items()}
        )
        self.literals["here"] = self.here
        self.table_warnings: dict[str, list[Warning_]] = {}
        names = [p["name"] for p in parsed["programs"]] + [g["name"] for g in parsed["groups"]]
        self.renamer = Renamer(names)
        self.renamed_groups: set[str] = set()
        self.mailers: list[tuple[str, Mailer]] = []  # (section, what it asked for)
        self.httpoks: list[tuple[str, HttpOk]] = []
        self.memmons: list[tuple[str, MemMon]] = []

    # -- warnings

    def warn(self, section: str, key: str | None, message: str, table: str = "") -> None:
        info = self.sections.get(section, {})
        option = info.get("options", {}).get(key) if key else None
        if option is not None:
            file, line = option["file"], option["line"]
        else:
            file, line = info.get("file", self.parsed["path"]), info.get("line", 0)
        warning = Warning_(file, line, section, key, message)
        self.warnings.append(warning)
        self.table_warnings.setdefault(table, []).append(warning)

    def given(self, section: str, key: str) -> bool:
        return key in self.sections.get(section, {}).get("options", {})

    # -- the whole file

    def run(self) -> tuple[str, list[Warning_]]:
        for file, line, section, key, message in self.parsed["host_problems"]:
            self.warnings.append(
                Warning_(
                    file, line, section, key, f"{message} (supervisord would refuse this here)"
                )
            )
            self.table_warnings.setdefault(self.table_of(section), []).append(self.warnings[-1])
        for file, line, section, key, names in self.parsed["environ_used"]:
            shown = ", ".join(f"%(ENV_{n})s" for n in names)
            warning = Warning_(
                file,
                line,
                section,
                key,
                f"{shown} resolved from the environment convert ran in; the value is "
                "written into the TOML",
            )
            self.warnings.append(warning)
            self.table_warnings.setdefault(self.table_of(section), []).append(warning)
        for file, line, section, key in self.parsed["unnamed_fields"]:
            warning = Warning_(
                file,
                line,
                section,
                key,
                "a % field without a (name), e.g. %s: supervisord puts the text of its whole "
                "table of expansions (every environment variable) there, and so does this "
                "conversion; write %% for a literal %",
            )
            self.warnings.append(warning)
            self.table_warnings.setdefault(self.table_of(section), []).append(warning)
        self.warn_sections()
        supervisord = self.supervisord()
        programs, groups = self.programs()
        alerts = self.alerts()
        order = {path: n for n, path in enumerate(self.parsed["files"])}

        def position(warning: Warning_) -> tuple[int, int]:
            return order.get(warning.file, len(order)), warning.line

        self.warnings.sort(key=position)
        for warnings in self.table_warnings.values():
            warnings.sort(key=position)
        return self.render(supervisord, alerts, groups, programs), self.warnings

    def alerts(self) -> dict[str, Any] | None:
        """superlance's mail listeners as one [alerts] table (mailers.py)."""
        table, notes = alerts_table([mailer for _, mailer in self.mailers])
        for section, mailer in self.mailers:
            for note in notes[mailer.name]:
                self.warn(section, None, f"superlance {mailer.name}: {note}", "alerts")
        return table

    def table_of(self, section: str) -> str:
        kind, _, name = section.partition(":")
        if kind == "eventlistener":
            return f"listeners.{name}"
        if kind in ini.PROGRAM_KINDS:
            return f"programs.{name}"
        if kind == "group":
            return f"groups.{name}"
        return "supervisord"

    def warn_sections(self) -> None:
        known_servers = ("unix_http_server", "inet_http_server", "supervisorctl")
        for section, info in self.sections.items():
            kind = section.split(":", 1)[0]
            keys = list(info["options"])
            if kind == "inet_http_server":
                for key in keys:
                    self.warn(
                        section,
                        key,
                        "not converted: there is no HTTP/XML-RPC server yet ([http] is a "
                        "later feature); supervisorctl-lite talks over the Unix socket",
                        "supervisord",
                    )
            elif kind == "supervisorctl":
                self.warn(
                    section,
                    None,
                    f"not converted ({', '.join(keys) or 'empty'}): supervisorctl-lite "
                    "finds the socket in this file's [supervisord] socket",
                    "supervisord",
                )
            elif kind == "rpcinterface":
                self.warn(
                    section,
                    None,
                    "not converted: there is no XML-RPC interface; the control protocol "
                    "is JSON lines over the Unix socket",
                    "supervisord",
                )
            elif kind in ("include", "supervisord", "group", "unix_http_server", *known_servers):
                continue
            elif kind in ini.PROGRAM_KINDS and ":" in section:
                continue
            else:
                self.warn(section, None, "supervisord ignores this section; so does convert")

    # -- [supervisord] and the socket

    def supervisord(self) -> dict[str, Any]:
        section = "supervisord"
        sup = self.parsed["supervisord"]
        out: dict[str, Any] = {}
        unknown = set(self.sections[section]["options"]) - set(ini.SUPERVISORD_OPTIONS)
        for key in sorted(unknown):
            self.warn(section, key, "supervisord ignores this key; so does convert", "supervisord")
        if self.given(section, "logfile"):
            if sup["logfile"].lower() == "syslog":
                self.warn(
                    section,
                    "logfile",
                    "syslog is not supported: the daemon log goes to a file "
                    "(or run it with -n under systemd)",
                    "supervisord",
                )
            else:
                out["logfile"] = sup["logfile"]
                self.warn_relative(section, "logfile", sup["logfile"], "supervisord")
        if self.given(section, "pidfile"):
            out["pidfile"] = sup["pidfile"]
            self.warn_relative(section, "pidfile", sup["pidfile"], "supervisord")
        if self.given(section, "loglevel"):
            out["loglevel"] = self.loglevel(sup["loglevel"])
        if sup["umask"] != 0o022:
            out["umask"] = Octal(sup["umask"])
        if sup["childlogdir"] is not None:
            out["log_dir"] = sup["childlogdir"]
            self.warn_relative(section, "childlogdir", sup["childlogdir"], "supervisord")
        if self.any_auto_log():
            self.warn(
                section,
                "childlogdir" if self.given(section, "childlogdir") else None,
                "AUTO program logs are written to log_dir as NAME.stdout.log / "
                "NAME.stderr.log and kept across restarts (Supervisor: temporary files "
                "in childlogdir, removed at its start)",
                "supervisord",
            )
        if sup["environment"]:
            out["environment"] = dict(sup["environment"])
        self.supervisord_warnings()
        socket = self.socket()
        if socket:
            out = {**socket, **out}
        return out

    def loglevel(self, level: str) -> str:
        mapped = {"critical": "error", "warn": "warning", "trace": "debug", "blather": "debug"}
        if level in mapped:
            self.warn(
                "supervisord",
                "loglevel",
                f"{level} becomes {mapped[level]} (levels here: debug, info, warning, error)",
                "supervisord",
            )
        return mapped.get(level, level)

    def supervisord_warnings(self) -> None:
        why = {
            "nodaemon": "not a config key here: run `supervisord-lite -n` to stay in the "
            "foreground",
            "silent": "not supported: with -n the daemon log also goes to stderr",
            "minfds": "not applied: raise the open-file limit where the daemon starts "
            "(systemd LimitNOFILE=, ulimit -n)",
            "minprocs": "not applied: raise the process limit where the daemon starts "
            "(systemd LimitNPROC=, ulimit -u)",
            "nocleanup": "not needed: AUTO logs are never removed at start here",
            "strip_ansi": "not supported: output is logged byte for byte",
            "identifier": "not used: there is no XML-RPC interface",
            "user": "not a config key here: start the daemon as that user "
            "(systemd User=, su, gosu)",
            "directory": "not a config key here: the daemon runs in /; relative paths "
            "resolve against the config file's directory",
            "logfile_maxbytes": "not supported: the daemon log is not rotated by size; "
            "use logrotate and SIGUSR2 (reopen)",
            "logfile_backups": "not supported: the daemon log is not rotated by size; "
            "use logrotate and SIGUSR2 (reopen)",
        }
        if self.parsed["supervisord"]["logfile_maxbytes"] == 0:  # never rotated: as here
            why.pop("logfile_maxbytes")
            why.pop("logfile_backups")  # nothing to keep without a rotation
        for key, message in why.items():
            if self.given("supervisord", key):
                self.warn("supervisord", key, message, "supervisord")

    def socket(self) -> dict[str, Any]:
        sections = [s for s in self.sections if s.split(":", 1)[0] == "unix_http_server"]
        out: dict[str, Any] = {}
        for section in sections:
            options = self.sections[section]["options"]
            if "file" in options and not out:
                path = options["file"]["value"].replace("%(here)s", self.here).strip()
                out["socket"] = os.path.expanduser(path)
                self.warn_relative(section, "file", out["socket"], "supervisord")
                if "chmod" in options:
                    out["socket_mode"] = Octal(ini.octal(options["chmod"]["value"]))
            elif "file" in options:
                self.warn(
                    section, "file", "only one control socket here: not converted", "supervisord"
                )
            for key in options:
                if key in ("username", "password"):
                    self.warn(
                        section,
                        key,
                        "not converted: the socket is guarded by the peer's uid "
                        "(SO_PEERCRED: root, the daemon's uid and allowed_uids), not a password",
                        "supervisord",
                    )
                elif key == "chown":
                    self.warn(
                        section,
                        key,
                        "not converted: to let other users in, list their uids in "
                        "allowed_uids and open socket_mode",
                        "supervisord",
                    )
                elif key not in ("file", "chmod"):
                    self.warn(
                        section, key, "supervisord ignores this key; so does convert", "supervisord"
                    )
        return out

    def warn_relative(self, section: str, key: str, path: str, table: str) -> None:
        if path and not os.path.isabs(path) and path.lower() not in ("auto", "none"):
            self.warn(
                section,
                key,
                f"relative path {path!r}: resolved against the TOML file's directory here "
                "(Supervisor: against supervisord's working directory)",
                table,
            )

    def any_auto_log(self) -> bool:
        for program in self.parsed["programs"]:
            if program["kind"] == "eventlistener":
                continue
            for process in program["processes"]:
                if ini.AUTO in (process["stdout_logfile"], process["stderr_logfile"]):
                    return True
        return False

    # -- programs and groups

    def programs(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        tables: dict[str, dict[str, Any]] = {}
        groups: dict[str, dict[str, Any]] = {}
        seen: dict[str, str] = {}
        heterogeneous = {g["name"]: g for g in self.parsed["groups"]}
        for group in self.parsed["groups"]:
            groups[self.group_name(group["name"])] = {
                "programs": [],
                "priority": group["priority"],
            }
        for program in self.parsed["programs"]:
            section = program["section"]
            if program["kind"] == "eventlistener":
                self.listener(program)
                continue
            if section in seen:
                self.warn(
                    section,
                    None,
                    f"also named by [group:{program['group']}]: here a program is in one "
                    f"group only, it stays in {seen[section]}",
                    f"groups.{program['group']}",
                )
                continue
            seen[section] = program["group"]
            converted = self.program(program)
            program["tables"] = [name for name, _ in converted]
            in_group = program["group"] in heterogeneous
            if len(converted) > 1 and not in_group:
                groups[self.group_name(program["group"])] = {
                    "programs": [],
                    "priority": program["settings"]["priority"],
                }
                in_group = True
            for name, table in converted:
                tables[name] = table
                if in_group:
                    groups[self.group_name(program["group"])]["programs"].append(name)
        self.apply_httpoks(tables)
        self.apply_memmons(tables)
        return tables, groups

    def apply_memmons(self, tables: dict[str, dict[str, Any]]) -> None:
        """Each memmon as the memory_limit of the programs it watches."""
        for section, spec in self.memmons:
            done = []
            for program in self.parsed["programs"]:
                names = program.get("tables", [])
                if program["kind"] == "eventlistener" or not names:
                    continue
                processes = [p["name"] for p in program["processes"]]
                limit = limit_for(spec, program["name"], program["group"], processes)
                if limit is None:
                    continue
                for name in names:
                    tables[name]["memory_limit"] = limit
                    tables[name]["memory_check_interval"] = spec.interval
                done.append(f"programs.{program['name']}")
            if not done:
                message = "superlance memmon is not converted: it names no program here"
                self.warn(section, None, message, "supervisord")
                continue
            for where in done:
                every = f"sampled every {spec.interval:g} s"
                self.warn(section, None, f"superlance memmon: now {where}.memory_limit, {every}",
                          where)  # fmt: skip
                for note in spec.notes:
                    self.warn(section, None, f"superlance memmon: {note}", where)

    def apply_httpoks(self, tables: dict[str, dict[str, Any]]) -> None:
        """Each httpok as the health table of the processes it restarts (-p)."""
        for section, spec in self.httpoks:
            table, why = health_table(spec)
            targets: dict[str, str] = {}  # table -> its program's name
            for program in self.parsed["programs"]:
                names = program.get("tables", [])
                for n, process in enumerate(program["processes"] if names else []):
                    group = program["group"]
                    known = {process["name"], f"{group}:{process['name']}", f"{group}:*", group}
                    if known & set(spec.processes):
                        targets[names[n] if len(names) > 1 else names[0]] = program["name"]
            if table is None or not targets:
                why = why or f"-p {' '.join(spec.processes) or '(none)'} names no program here"
                message = f"superlance httpok is not converted: {why}"
                self.warn(section, None, message, "supervisord")
                continue
            for name, program_name in targets.items():
                where = f"programs.{program_name}"
                if "health" in tables[name]:  # one health table a program here
                    kept = tables[name]["health"]["http"]
                    message = (f"superlance httpok: not converted for {name}: it has a "
                               f"health check already, from an earlier httpok ({kept}); "
                               "here a program has one [health] table")  # fmt: skip
                    self.warn(section, None, message, where)
                    continue
                tables[name]["health"] = dict(table)
                every = f"every {table['interval']:g} s, restart at the first failure"
                message = f"superlance httpok: now [{where}.health] http {spec.url}, {every}"
                self.warn(section, None, message, where)
                for note in spec.notes:
                    self.warn(section, None, f"superlance httpok: {note}", where)

    def listener(self, program: dict[str, Any]) -> None:
        section = program["section"]
        argv0 = _listener_name(program["processes"][0]["command"]) if program["processes"] else ""
        if self.keep_listeners or argv0 not in (MEMMON, HTTPOK, *KINDS):
            self.listener_as_table(program)
            return
        if argv0 == MEMMON:
            argv = _argv(program["processes"][0]["command"])
            words = argv[next(i for i, w in enumerate(argv) if MEMMON in w) + 1 :]
            self.memmons.append((section, read_memmon(words, program.get("events", []))))
            return
        if argv0 == HTTPOK:
            argv = _argv(program["processes"][0]["command"])
            words = argv[next(i for i, w in enumerate(argv) if HTTPOK in w) + 1 :]
            self.httpoks.append((section, read_httpok(words, program.get("events", []))))
            return
        argv = _argv(program["processes"][0]["command"])
        words = argv[next(i for i, w in enumerate(argv) if argv0 in w) + 1 :]
        self.mailers.append((section, read_mailer(argv0, words)))

    def listener_as_table(self, program: dict[str, Any]) -> None:
        """An [eventlistener:x] as [listeners.x]: its program keys, then the listener's
        (listener_tables.py)."""
        section, name = program["section"], program["name"]
        table = f"listeners.{name}"
        converted = self.program(program)
        # program() warns under programs.NAME: this one is written as listeners.NAME
        moved = self.table_warnings.pop(f"programs.{name}", [])
        self.table_warnings.setdefault(table, []).extend(moved)
        if len(converted) != 1:
            if converted:  # not numprocs = 0, warned already
                message = ("not converted: its processes differ in a way one [listeners] "
                           "table cannot say (one table is one pool)")  # fmt: skip
                self.warn(section, None, message, table)
            return
        here, keys = converted[0]
        self.listener_tables[here] = (name, listener_table(
            program, keys, lambda key: self.given(section, key),
            lambda key, message: self.warn(section, key, message, table),
        ))  # fmt: skip

    def program(self, program: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """One table, or one per process when a literal key differs between processes."""
        section = program["section"]
        table = f"programs.{program['name']}"
        processes = program["processes"]
        settings = program["settings"]
        self.program_warnings(program, table)
        if not processes:
            self.warn(section, "numprocs", "numprocs = 0: no process, not converted", table)
            return []
        common = self.common_keys(program, table)
        literal = ("command", "directory", "environment")
        varying = [k for k in literal if any(p[k] != processes[0][k] for p in processes)]
        logs = self.log_keys(program, table)
        name_template = self.process_name_template(program)
        if settings["numprocs"] == 1 or (not varying and logs is not None and name_template):
            keys = dict(common)
            keys.update(self.literal_keys(processes[0]))
            if settings["numprocs_start"]:  # the process_num of the first process
                keys["numprocs_start"] = settings["numprocs_start"]
            if settings["numprocs"] > 1:
                keys["numprocs"] = settings["numprocs"]
                name_template = self.valid_process_names(program, name_template, table)
                if name_template != "{process_num}":
                    keys["process_name"] = name_template
            elif processes[0]["name"] != program["name"]:  # else it follows a renamed program
                name = self.valid_process_names(program, processes[0]["name"], table)
                keys["process_name"] = escape_braces(name)
                if "%(host_node_name)" in program["process_name"] and valid(name):
                    keys["process_name"] = name_template or keys["process_name"]
            keys.update(logs if logs is not None else self.log_keys_of(processes[0]))
            return [(self.table_name(program["name"]), self.ordered(keys))]
        reasons = varying + ([] if logs is not None else ["log paths"])
        reasons += [] if name_template else ["process_name"]
        self.warn(
            section,
            None,
            f"{', '.join(reasons)}: not the same for its {len(processes)} processes, in a "
            "way no template here can say: written as one program per process, in "
            f"[groups.{self.group_name(program['group'])}], so the process names stay "
            "supervisorctl's",
            table,
        )
        out = []
        for process in processes:
            keys = dict(common)
            keys.update(self.literal_keys(process))
            name = self.valid_process_names(program, process["name"], table, [process])
            keys["process_name"] = escape_braces(name)
            if process["process_num"]:  # its SUPERVISOR_PROCESS_NUM, as in the pool
                keys["numprocs_start"] = process["process_num"]
            keys.update(self.log_keys_of(process))
            name = self.split_name(program["name"], process)
            out.append((name, self.ordered(keys)))
        return out

    def table_name(self, name: str) -> str:
        """The program's name here: its own, or a replacement nothing else has."""
        return self.renamer.name(name)

    def group_name(self, name: str) -> str:
        """A [group:x]'s name here, warned once when it has to change."""
        new = self.renamer.name(name)
        if new != name and f"group:{name}" not in self.renamed_groups:
            self.renamed_groups.add(f"group:{name}")
            section = f"group:{name}" if f"group:{name}" in self.sections else None
            where = section or next(p["section"] for p in self.parsed["programs"]
                                    if p["group"] == name)  # fmt: skip
            self.warn(where, None, f"the group name {name!r} is not valid here (letters, "
                      f"digits, _ . -; not all): written as {new!r}, so its processes are "
                      f"{new}:NAME", f"groups.{new}")  # fmt: skip
        return new

    def split_name(self, program_name: str, process: dict[str, Any]) -> str:
        base = (
            process["name"]
            if process["name"].startswith(program_name)
            else (f"{program_name}_{process['name']}")
        )
        return self.renamer.unused(replacement(base))

    def valid_process_names(
        self, program: dict[str, Any], name: str, table: str, processes: list | None = None
    ) -> str:
        """`name` (a process name, or the template giving them) with what a name cannot
        hold as `_`, warned; supervisorctl's names change with it."""
        processes = program["processes"] if processes is None else processes
        shown = [p["name"] for p in processes]
        if all(valid(n) for n in shown):
            return name
        fixed = fixed_template(name) if "{" in name else replacement(name)
        self.warn(program["section"], "process_name", f"the process name {shown[0]!r} is "
                  f"not valid here (letters, digits, _ . -): written as {fixed!r}, so "
                  "supervisorctl-lite names it differently", table)  # fmt: skip
        return fixed

    def ordered(self, keys: dict[str, Any]) -> dict[str, Any]:
        return {k: keys[k] for k in PROGRAM_ORDER if k in keys}

    def template(self, raw: str | None, program: dict[str, Any], values: list[Any]) -> str | None:
        literals = dict(self.literals)
        literals.update({f"ENV_{k}": v for k, v in program["processes"][0]["environment"].items()})
        return template_for(raw, program, values, literals)

    def process_name_template(self, program: dict[str, Any]) -> str | None:
        names = [p["name"] for p in program["processes"]]
        return self.template(program["process_name"], program, names)

    def literal_keys(self, process: dict[str, Any]) -> dict[str, Any]:
        keys: dict[str, Any] = {"command": _argv(process["command"])}
        if process["directory"] is not None:
            keys["directory"] = os.path.expanduser(process["directory"])
        if process["environment"]:
            keys["environment"] = dict(process["environment"])
        return keys

    def common_keys(self, program: dict[str, Any], table: str) -> dict[str, Any]:
        """The keys every process of the program shares, where they differ from ours."""
        settings = program["settings"]
        sup = self.parsed["supervisord"]
        wanted: dict[str, Any] = {
            "user": settings["user"],
            "umask": settings["umask"] if settings["umask"] is not None else sup["umask"],
            "priority": settings["priority"],
            "autostart": settings["autostart"],
            "autorestart": settings["autorestart"],
            "exitcodes": settings["exitcodes"],
            "startsecs": settings["startsecs"],
            "startretries": settings["startretries"],
            "stopsignal": settings["stopsignal"],
            "stopwaitsecs": settings["stopwaitsecs"],
            "stopasgroup": settings["stopasgroup"] or settings["killasgroup"],
            "redirect_stderr": settings["redirect_stderr"],
            "stdout_events_enabled": settings["stdout_events_enabled"],
            "stderr_events_enabled": settings["stderr_events_enabled"],
        }
        if settings["autorestart"] is not False:
            # Supervisor restarts a crashing program at once, every time.
            wanted["backoff_max"] = 0
        keys = {}
        for key, value in wanted.items():
            if not _same(value, _our_default(key)):
                keys[key] = Octal(value) if key == "umask" else value
        return keys

    def log_keys_of(self, process: dict[str, Any]) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        # with redirect_stderr, supervisord has no stderr log and neither do we
        streams = ("stdout",) if process["redirect_stderr"] else ("stdout", "stderr")
        for stream in streams:
            path = process[f"{stream}_logfile"]
            value = "none" if path is None else ("auto" if path == ini.AUTO else path)
            if value not in ("auto", "none"):
                value = escape_braces(value)
            keys[f"{stream}_logfile"] = value
            keys[f"{stream}_logfile_maxbytes"] = process[f"{stream}_logfile_maxbytes"]
            keys[f"{stream}_logfile_backups"] = process[f"{stream}_logfile_backups"]
        return {
            k: (size(v) if k.endswith("maxbytes") else v)
            for k, v in keys.items()
            if not _same(v, _our_default(k))
        }

    def log_keys(self, program: dict[str, Any], table: str) -> dict[str, Any] | None:
        """The log keys of all processes as one set (templates where paths differ), or
        None when a path differs in a way no template renders, or when numprocs > 1
        processes would share one file (an error here)."""
        processes = program["processes"]
        first = self.log_keys_of(processes[0])
        numprocs = program["settings"]["numprocs"]
        for process in processes[1:]:
            other = self.log_keys_of(process)
            for key in set(first) | set(other):
                if key.endswith("_logfile"):
                    continue
                if first.get(key) != other.get(key):
                    return None
        for stream in ("stdout", "stderr"):
            key = f"{stream}_logfile"
            if key not in first:
                continue
            paths = [p[key] for p in processes]
            raw = self.sections[program["section"]]["options"].get(key)
            if paths[0] in (None, ini.AUTO) or numprocs == 1:
                if len(set(map(str, paths))) != 1:
                    return None
                if raw and "%(host_node_name)" in raw["value"]:  # resolved where it runs
                    first[key] = self.template(raw["value"], program, paths) or first[key]
                continue
            if len(set(paths)) == 1:
                if paths[0] in ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"):
                    continue
                self.warn(
                    program["section"],
                    key,
                    f"its {numprocs} processes share the file {paths[0]}; one program "
                    "with numprocs > 1 cannot share a path here, so each process "
                    "becomes a program appending to that same file (as in Supervisor, "
                    "their rotations are not coordinated: give each its own file with "
                    "{process_num} or set maxbytes = 0)",
                    table,
                )
                return None
            template = self.template(raw["value"] if raw else None, program, paths)
            if template is None:
                return None
            first[key] = template
        return first

    def program_warnings(self, program: dict[str, Any], table: str) -> None:
        section = program["section"]
        settings = program["settings"]
        options = self.sections[section]["options"]
        known = set(ini.PROGRAM_OPTIONS)
        if program["kind"] == "eventlistener":
            known |= set(ini.EVENTLISTENER_OPTIONS)  # listener_tables.py converts them
        if program["kind"] == "fcgi-program":
            known |= set(ini.FCGI_OPTIONS)
            self.warn(
                section,
                "socket",
                "the shared FastCGI socket is not created: the program runs as a plain "
                "program and must open its own socket (e.g. php-fpm's listen =)",
                table,
            )
        for key in sorted(set(options) - known):
            self.warn(section, key, "supervisord ignores this key; so does convert", table)
        if settings["killasgroup"] and not settings["stopasgroup"]:
            self.warn(
                section,
                "killasgroup",
                "no separate killasgroup here: stopasgroup = true signals the whole "
                "process group with stopsignal too (Supervisor: only SIGKILL goes to the group)",
                table,
            )
        elif settings["stopasgroup"]:
            self.warn(
                section,
                "stopasgroup",
                "also, when the main process exits on its own, what is left of its "
                "process group is killed here (Supervisor leaves it running)",
                table,
            )
        elif program["processes"] and forks_workers(program["processes"][0]["command"]):
            server = forks_workers(program["processes"][0]["command"])
            self.warn(section, "stopasgroup", f"stopasgroup = false is kept (Supervisor's "
                      f"default): when {server}'s master dies, its workers keep running and "
                      "holding its port, and each restart fails to bind; stopasgroup = true "
                      "kills what is left of the group at that exit: set it unless the "
                      "workers must outlive their master", table)  # fmt: skip
        for stream in ("stdout", "stderr"):
            for key, why in (
                (f"{stream}_capture_maxbytes", "capture mode (PROCESS_COMMUNICATION events)"),
                (f"{stream}_syslog", "syslog output"),
            ):
                if key in options and program["settings"].get(key, True):
                    self.warn(section, key, f"not supported: no {why} here", table)
            if any(p.get(f"{stream}_syslog") for p in program["processes"]):
                if f"{stream}_syslog" not in options:
                    self.warn(
                        section,
                        f"{stream}_logfile",
                        "syslog is not supported: logged to nothing here; use /dev/stdout "
                        "under systemd's journal",
                        table,
                    )
        if settings["serverurl"] is not None:
            self.warn(
                section, "serverurl", "not supported: children get no SUPERVISOR_SERVER_URL", table
            )
        if settings["redirect_stderr"] and "stderr_logfile" in options:
            value = options["stderr_logfile"]["value"].lower()
            if value not in ("none", "off", "auto"):
                self.warn(
                    section,
                    "stderr_logfile",
                    "ignored because redirect_stderr = true (as supervisord ignores it)",
                    table,
                )
        processes = program["processes"]
        if processes:
            first = processes[0]
            if first["directory"] is not None:
                self.warn_relative(section, "directory", first["directory"], table)
            for stream in ("stdout", "stderr"):
                path = first[f"{stream}_logfile"]
                if isinstance(path, str) and path != ini.AUTO:
                    self.warn_relative(section, f"{stream}_logfile", path, table)
            argv = _argv(first["command"])
            if any("\n" in arg for arg in argv):
                self.warn(
                    section,
                    "command",
                    "an argument holds a line break (a backslash before the end of a line "
                    "in the INI escapes the line break itself): supervisord passes it so, "
                    "and so does the converted command",
                    table,
                )
            if argv and os.sep in argv[0] and not os.path.isabs(argv[0]):
                self.warn(
                    section,
                    "command",
                    f"relative command {argv[0]!r}: resolved against the program's "
                    "directory, else the TOML file's (Supervisor: supervisord's working "
                    "directory)",
                    table,
                )
        if not valid(program["name"]):
            self.warn(
                section,
                None,
                f"the name {program['name']!r} is not valid here (letters, digits, _ . -; "
                f"not all): written as {self.table_name(program['name'])!r}",
                table,
            )

    # -- the text

    def render(
        self,
        supervisord: dict[str, Any],
        alerts: dict[str, Any] | None,
        groups: dict[str, dict[str, Any]],
        programs: dict[str, dict[str, Any]],
    ) -> str:
        files = self.parsed["files"]
        lines = [f"# Converted by `supervisord-lite convert` from {files[0]}"]
        for extra in files[1:]:
            lines.append(f"# and its [include] {extra}")
        lines.append("# Each setting not carried over exactly is a comment above its table.")
        lines.append("")
        lines.extend(comment(str(w)) for w in self.table_warnings.get("supervisord", []))
        lines.append("[supervisord]")
        lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in supervisord.items())
        lines.append("")
        if alerts is not None or self.table_warnings.get("alerts"):
            lines.extend(comment(str(w)) for w in self.table_warnings.get("alerts", []))
        if alerts is not None:
            lines.append("[alerts]")
            lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in alerts.items())
            lines.append("")
        for name, group in groups.items():
            lines.extend(comment(str(w)) for w in self.table_warnings.get(f"groups.{name}", []))
            lines.append(f"[groups.{toml_key(name)}]")
            lines.append(f"programs = {toml_value(group['programs'])}")
            if group["priority"] != 999:
                lines.append(f"priority = {group['priority']}")
            lines.append("")
        done: set[str] = set()
        for program in self.parsed["programs"]:
            table = f"programs.{program['name']}"
            if table in done:
                continue
            done.add(table)
            lines.extend(comment(str(w)) for w in self.table_warnings.get(table, []))
            for name in program.get("tables", ()):
                lines.append(f"[programs.{toml_key(name)}]")
                lines.extend(
                    f"{toml_key(k)} = {toml_setting(v)}" for k, v in programs[name].items()
                )
                lines.append("")
        for name, (ini_name, keys) in self.listener_tables.items():
            lines.extend(
                comment(str(w)) for w in self.table_warnings.get(f"listeners.{ini_name}", [])
            )
            lines.append(f"[listeners.{toml_key(name)}]")
            lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in keys.items())
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"


def _argv(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


# Servers whose master forks workers that share its listening socket: with
# stopasgroup = false those workers outlive a crashed master and keep the port.
_FORKING_SERVERS = ("nginx", "apache2", "httpd", "php-fpm", "gunicorn", "uwsgi", "unicorn",
                    "puma", "hypercorn", "uvicorn")  # fmt: skip


def forks_workers(command: str) -> str:
    """The forking server a command runs (`nginx`, `gunicorn` ...), or ""."""
    try:
        words = _argv(command)[:3]  # the program, or the one an interpreter runs
    except ValueError:
        return ""
    for word in words:
        base = os.path.basename(word)
        for server in _FORKING_SERVERS:
            if base.startswith(server):
                return server
    return ""


def _listener_name(command: str) -> str:
    """memmon, httpok, crashmail... from `memmon -p x=200MB` or `python -m superlance.memmon`."""
    try:
        argv = _argv(command)
    except ValueError:
        return ""
    for word in argv:
        base = os.path.basename(word).rsplit(".", 1)[-1]
        if base in (MEMMON, HTTPOK, *MAILERS):
            return base
    return ""


def _our_default(key: str) -> Any:
    return PROGRAM_KEYS[key][1] if key in PROGRAM_KEYS else None


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, list):
        return tuple(value) == tuple(default or ())
    if isinstance(default, int) and isinstance(value, str) and default == int(signal.SIGTERM):
        return value == "TERM"
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default


# --- the command line -------------------------------------------------------------------


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="supervisord-lite convert",
        description="Convert a Supervisor config (supervisord.conf) to supervisord-lite TOML.",
    )
    parser.add_argument("config", metavar="SUPERVISORD.CONF")
    parser.add_argument("-o", "--output", metavar="OUT.toml", help="write here (default: stdout)")
    parser.add_argument(
        "--keep-listeners",
        action="store_true",
        help="superlance memmon, httpok and crash* stay [listeners.x] (default: built-ins)",
    )
    args = parser.parse_args(argv)
    if args.output and _same_file(args.config, args.output):
        print(
            f"supervisord-lite convert: {args.output} is the input file: refusing to overwrite it",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        text, warnings = convert(args.config, keep_listeners=args.keep_listeners)
    except ini.IniError as exc:
        print(f"supervisord-lite convert: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for warning in warnings:
        print(str(warning), file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        write_atomically(args.output, text)
    except OSError as exc:
        print(
            f"supervisord-lite convert: cannot write {args.output}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    return EXIT_OK


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def write_atomically(path: str, text: str) -> None:
    """A reader never sees half a file: write beside it, then rename over it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".toml", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
