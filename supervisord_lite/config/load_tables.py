"""The loader's conversion of each table: [supervisord], [alerts], [http], every
[groups.NAME] and [programs.NAME], per the key tables (keys.py), into values with
defaults filled in and paths absolute; and the checks between one table's keys
(process_name with numprocs, watchdog_sec with notify, the user, log path templates).

A bad key is reported and falls back to its default, so the rest of the table is
still checked: one load reports every problem.
"""

from __future__ import annotations

import os
import pwd
from typing import Any

from supervisord_lite.base import names
from supervisord_lite.base.paths import OWN_STREAMS
from supervisord_lite.config import lifecycle
from supervisord_lite.config import values as cv
from supervisord_lite.config.keys import ALERT_KEYS, DAEMON_KEYS, GROUP_KEYS, PROGRAM_KEYS
from supervisord_lite.config.load_context import LoadContext
from supervisord_lite.config.log_paths import is_stream
from supervisord_lite.config.model import ListenerConfig, ProgramConfig
from supervisord_lite.config.schedule_key import schedule_problems, scheduled_autostart
from supervisord_lite.config.sockets import resolve_program_sockets

# sockaddr_un.sun_path is 108 bytes including the terminating NUL: unix(7).
MAX_SOCKET_PATH = 107
PROGRAM_NAME = names.NAME


class TableConverter(LoadContext):
    """Each table converted and checked on its own; the programs built as ProgramConfig."""

    def daemon_settings(self, table: Any) -> dict[str, Any]:
        """The [supervisord] values (defaults filled in, paths absolute), even if some are bad."""
        settings = {key: default for key, (_, default) in DAEMON_KEYS.items()}
        if isinstance(table, dict):
            settings.update(self.convert_table(self.path, ("supervisord",), table, DAEMON_KEYS)[0])
        else:
            self.error(self.path, ("supervisord",), f"expected a table, got {cv.show(table)}")
        return self.finish_daemon(settings)

    def finish_daemon(self, settings: dict[str, Any]) -> dict[str, Any]:
        for key in ("socket", "pidfile", "log_dir"):
            settings[key] = self.resolve(settings[key])
        lf = settings["logfile"]
        settings["logfile"] = None if lf == "none" else self.resolve(lf)
        if settings["cgroup_root"] is not None:
            settings["cgroup_root"] = self.resolve(settings["cgroup_root"])
        size = len(os.fsencode(settings["socket"]))
        if size > MAX_SOCKET_PATH:
            self.error(
                self.path,
                ("supervisord", "socket"),
                f"{cv.show(settings['socket'])} is {size} bytes once absolute; "
                f"a Unix socket path may be at most {MAX_SOCKET_PATH} bytes (AF_UNIX limit)",
            )
        return settings

    def alerts(self, table: Any) -> dict[str, Any] | None:
        """The [alerts] values (defaults filled in), or None when there is no table."""
        if table is None:
            return None
        if not isinstance(table, dict):
            self.error(self.path, ("alerts",), f"expected a table, got {cv.show(table)}")
            return None
        values, _ = self.convert_table(self.path, ("alerts",), table, ALERT_KEYS)
        if not values.get("exec") and not values.get("webhook"):
            self.error(self.path, ("alerts",), "give exec, webhook or both: where alerts go")
        values = {key: values.get(key, default) for key, (_, default) in ALERT_KEYS.items()}
        values["on"] = tuple(dict.fromkeys(values["on"]))
        if values["exec"]:  # the daemon runs in /: `./page-oncall` means the config's
            values["exec"] = self.resolve_command(values["exec"], None)
        return values

    def http_settings(self, table: Any):
        """The [http] table's HttpConfig, or None (its errors recorded)."""
        from supervisord_lite.config import http  # only for a config that has one

        if not isinstance(table, dict):
            self.error(self.path, ("http",), f"expected a table, got {cv.show(table)}")
            return None
        values, ok = self.convert_table(self.path, ("http",), table, http.HTTP_KEYS)
        if not ok:  # reported; the checks across keys would only guess at the bad ones
            return None
        return http.build(
            values, self.resolve, lambda parts, msg: self.error(self.path, ("http", *parts), msg)
        )

    def xmlrpc_settings(self, table: Any):
        """The [xmlrpc] table's XmlRpcConfig, or None (its errors recorded)."""
        from supervisord_lite.config import xmlrpc  # only for a config that has one

        if not isinstance(table, dict):
            self.error(self.path, ("xmlrpc",), f"expected a table, got {cv.show(table)}")
            return None
        values, ok = self.convert_table(self.path, ("xmlrpc",), table, xmlrpc.XMLRPC_KEYS)
        if not ok:
            return None
        return xmlrpc.build(
            values, self.resolve, lambda parts, msg: self.error(self.path, ("xmlrpc", *parts), msg)
        )

    def add_groups(self, file: str, doc: dict[str, Any]) -> None:
        groups = doc.get("groups", {})
        if not isinstance(groups, dict):
            self.error(file, ("groups",), f"expected a table of groups, got {cv.show(groups)}")
            return
        for name, table in groups.items():
            parts = ("groups", name)
            if name in self.groups:
                first = self.groups[name][0]
                self.error(file, parts, f'group "{name}" is already defined in {first}')
            elif self.check_name(file, parts, name, "group"):
                if not isinstance(table, dict):
                    self.error(file, parts, f"expected a table, got {cv.show(table)}")
                    continue
                values, _ = self.convert_table(file, parts, table, GROUP_KEYS)
                if "programs" not in table:
                    self.error(file, (*parts, "programs"), "required key missing")
                members = tuple(dict.fromkeys(values.get("programs", ())))
                self.groups[name] = (file, members, values.get("priority", 999))

    def add_programs(self, file: str, doc: dict[str, Any]) -> None:
        programs = doc.get("programs", {})
        if not isinstance(programs, dict):
            shown = cv.show(programs)
            self.error(file, ("programs",), f"expected a table of programs, got {shown}")
            return
        for name, table in programs.items():
            if name in self.sources:
                first = self.sources[name]
                where = ("programs", name)
                self.error(file, where, f'program "{name}" is already defined in {first}')
                continue
            self.sources[name] = file
            prog = self.program(file, name, table)
            if prog is not None:
                self.programs[name] = prog

    def check_name(self, file: str, parts: tuple[str, ...], name: str, what: str) -> bool:
        if not PROGRAM_NAME.fullmatch(name):
            self.error(file, parts, f'invalid {what} name: use letters, digits, "_", "." and "-"')
            return False
        if name == "all":
            message = '"all" is reserved: supervisorctl-lite uses it for every process'
            self.error(file, parts, message)
            return False
        return True

    def program(
        self,
        file: str,
        name: str,
        table: Any,
        section: str = "programs",
        listener: ListenerConfig | None = None,
    ) -> ProgramConfig | None:
        """One [programs.NAME] table (or a listener's program keys, under `section`);
        None if anything in it is wrong (errors recorded)."""
        parts = (section, name)
        if not self.check_name(file, parts, name, "program"):
            return None
        if not isinstance(table, dict):
            self.error(file, parts, f"expected a table, got {cv.show(table)}")
            return None
        values, ok = self.convert_table(file, parts, table, PROGRAM_KEYS)
        if "command" not in table:
            self.error(file, (*parts, "command"), "required key missing")
            ok = False
        # Bad keys fall back to their defaults so the checks below still run: one load
        # reports everything.
        kwargs = {key: values.get(key, default) for key, (_, default) in PROGRAM_KEYS.items()}
        kwargs["depends_on"], kwargs["conditions"] = lifecycle.split_depends_on(
            kwargs["depends_on"], isinstance(table.get("depends_on"), dict)
        )
        self.deps[name] = (file, kwargs["depends_on"])
        # A user unknown here is a host's problem, not the file's: the program is still
        # built (for --check --json) while the error fails the load.
        self.check_user(file, parts, kwargs["user"])
        ok = self.check_watchdog(file, parts, kwargs) and ok
        ok = (
            resolve_program_sockets(
                kwargs, self.sockets, lambda sub, msg: self.error(file, (*parts, *sub), msg)
            )
            and ok
        )
        ok = self.check_instance_templates(file, parts, kwargs) and ok
        for key, message in lifecycle.lifecycle_problems(kwargs):
            self.error(file, (*parts, key), message)
            ok = False
        if kwargs["stdin"] and kwargs["stdin_socket"] is not None:
            self.error(file, (*parts, "stdin"), "stdin = true and stdin_socket both want fd 0: "
                       "keep one of them")  # fmt: skip
            ok = False
        for key, message in schedule_problems(kwargs):
            self.error(file, (*parts, key), message)
            ok = False
        kwargs["autostart"] = scheduled_autostart(table, kwargs)
        if kwargs["directory"] is not None:
            kwargs["directory"] = self.resolve_template(kwargs["directory"])
        kwargs["command"] = self.resolve_command(kwargs["command"], kwargs["directory"], True)
        kwargs["env_file"] = tuple(
            self.resolve_env_file(path, kwargs["directory"]) for path in kwargs["env_file"]
        )
        for key in ("ready", "health"):  # an exec probe runs where the program does
            probe = kwargs[key]
            if probe is not None and probe.kind == "exec":
                target = self.resolve_command(probe.target, kwargs["directory"])
                kwargs[key] = probe.replace(target=target)
        for key in lifecycle.HOOK_KEYS:  # hooks too
            commands = kwargs[key]
            kwargs[key] = tuple(self.resolve_command(c, kwargs["directory"]) for c in commands)
        for stream in ("stdout", "stderr"):
            key = f"{stream}_logfile"
            if kwargs[key] in ("auto", "none"):
                continue
            kwargs[key] = self.resolve(kwargs[key])
            ok = self.check_log_template(file, (*parts, key), kwargs[key], kwargs) and ok
        if kwargs["numprocs"] > 1 and "process_num" not in names.template_fields(
            kwargs["process_name"] or "{process_num}"
        ):
            self.error(
                file,
                (*parts, "process_name"),
                f"with numprocs = {kwargs['numprocs']} the name must contain "
                '"{process_num}" so each process gets its own name',
            )
            ok = False
        if not ok:
            return None
        if self.environment:  # [supervisord] environment, under the program's own
            # Its values are no templates (only a program's own are): braces kept literal.
            shared = {key: _literal(value) for key, value in self.environment}
            merged = {**shared, **dict(kwargs["environment"])}
            kwargs["environment"] = tuple(merged.items())
        kwargs["group"], kwargs["group_priority"] = self.member_of.get(name, (None, None))
        shared = self.shared
        for key in (*values, "command"):  # defaults are one object already
            kwargs[key] = shared(kwargs[key])
        prog = ProgramConfig(name=shared(name), source=file, listener=listener, **kwargs)
        return prog if self.check_process_names(prog) else None

    def check_process_names(self, prog: ProgramConfig) -> bool:
        """Every full name valid and taken once (error recorded otherwise)."""
        taken = self.taken
        where = (section_of(prog), prog.name, "process_name")
        for index, full in enumerate(prog.processes):
            short = prog.short_name(index)
            if not PROGRAM_NAME.fullmatch(short):
                message = (
                    f"gives the process name {cv.show(short)}: "
                    'use letters, digits, "_", "." and "-"'
                )
                self.error(prog.source, where, message)
                return False
            if full in taken:
                other = taken[full]
                message = f'gives the process name "{full}", which program "{other}" gives too'
                self.error(prog.source, where, message)
                return False
            taken[full] = prog.name
        return True

    def check_log_template(
        self, file: str, parts: tuple[str, ...], path: str, kwargs: dict[str, Any]
    ) -> bool:
        """A log path may use the process_name fields; with numprocs > 1 it must use
        {process_num}, unless it is a stream all processes may share (/dev/stdout)."""
        problem = names.template_problem(path)
        if problem is not None:
            self.error(file, parts, f"{problem}, in {cv.show(path)}")
            return False
        shared = path in OWN_STREAMS or is_stream(path)
        if kwargs["numprocs"] > 1 and "process_num" not in names.template_fields(path):
            if not shared:
                self.error(
                    file,
                    parts,
                    f"with numprocs = {kwargs['numprocs']} the path must contain "
                    '"{process_num}" so each process gets its own log',
                )
                return False
        return True

    def check_instance_templates(
        self, file: str, parts: tuple[str, ...], kwargs: dict[str, Any]
    ) -> bool:
        """`command`, `directory`, `environment` values and `env_file` may use the
        process_name fields (docs/lifecycle.md): each template must expand."""
        command = kwargs["command"]
        where: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(command, tuple):
            where += [(("command",), arg) for arg in command]
        if kwargs["directory"] is not None:
            where.append((("directory",), kwargs["directory"]))
        where += [(("environment", key), value) for key, value in kwargs["environment"]]
        where += [(("env_file", i), path) for i, path in enumerate(kwargs["env_file"])]
        ok = True
        for sub, text in where:
            if "{" not in text and "}" not in text:
                continue
            problem = names.template_problem(text)
            if problem is not None:
                self.error(file, (*parts, *sub), f"{problem}, in {cv.show(text)}")
                ok = False
        return ok

    def resolve_template(self, path: str) -> str:
        """A path that may be a template made absolute: braces in the config's own
        folder stay literal."""
        if os.path.isabs(path):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(_literal(self.base), path))

    def resolve_env_file(self, given: str, directory: str | None) -> str:
        """An env_file entry made absolute, its optional "-" kept: against the program's
        `directory` (where it runs, as a relative command), else the config's folder."""
        optional = "-" if given.startswith("-") else ""
        path = given[len(optional) :]
        if not os.path.isabs(path):
            path = os.path.join(directory or _literal(self.base), path)
        return optional + os.path.normpath(path)

    def resolve_command(
        self, argv: tuple[str, ...], directory: str | None, template: bool = False
    ) -> tuple[str, ...]:
        """`./run.sh` (a path, but relative) -> absolute: against the program's directory,
        where the program runs and where a shell there would find it, else against the
        config's folder, as every other relative path. Never against the daemon's own
        cwd, which is / once detached. A bare name (`sleep`) is looked up in PATH."""
        if not isinstance(argv, tuple):  # REQUIRED: the command had errors of its own
            return argv
        program = argv[0]
        if os.sep not in program or os.path.isabs(program):
            return argv
        base = directory or (_literal(self.base) if template else self.base)
        return (os.path.normpath(os.path.join(base, program)), *argv[1:])

    def check_user(self, file: str, parts: tuple[str, ...], user: str | None) -> bool:
        if user is None:
            return True
        try:
            entry = pwd.getpwnam(user)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            self.error(file, (*parts, "user"), f"unknown user {cv.show(user)}")
            return False
        # setuid(2) to another user needs CAP_SETUID; switching to ourselves is a no-op.
        if self.euid != 0 and entry.pw_uid != self.euid:
            self.error(
                file,
                (*parts, "user"),
                f"only a daemon running as root can switch users "
                f"(this one runs as uid {self.euid}; {cv.show(user)} is uid {entry.pw_uid})",
            )
            return False
        return True

    def check_watchdog(self, file: str, parts: tuple[str, ...], kwargs: dict[str, Any]) -> bool:
        """watchdog_sec counts WATCHDOG=1 pings, which only an sd_notify program sends."""
        ready = kwargs["ready"]
        if kwargs["watchdog_sec"] is None or (ready is not None and ready.kind == "notify"):
            return True
        self.error(
            file,
            (*parts, "watchdog_sec"),
            f"needs [{parts[0]}.{parts[-1]}.ready] notify = true (the program pings with "
            "WATCHDOG=1 over sd_notify)",
        )
        return False


def _literal(text: str) -> str:
    """Text put into a template as it is: its braces doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def section_of(prog: ProgramConfig) -> str:
    """The table a program came from, for messages: [programs.X] or [listeners.X]."""
    return "programs" if prog.listener is None else "listeners"
