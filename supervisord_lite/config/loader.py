"""The config loader: reading the main file and its includes, converting every table
per the key tables, and the checks that span keys or files: program names, users,
depends_on (unknown names, cycles), and that every program log can be written.

Every problem is collected in `Loader.errors` (`<file>: <key path>: <message>`), never
raised: load_config (load.py) turns them into one ConfigError. Builds the
programs as model.py's ProgramConfig; does no process work.
"""

from __future__ import annotations

import glob
import os
import pwd
import sys
from typing import Any

from supervisord_lite.base import names, paths
from supervisord_lite.base.paths import OWN_STREAMS
from supervisord_lite.config import values as cv
from supervisord_lite.config.bounded_read import UnreadableFile
from supervisord_lite.config.bounded_read import read_bounded as read_config_bytes
from supervisord_lite.config.keys import (
    ALERT_KEYS,
    DAEMON_KEYS,
    GROUP_KEYS,
    INCLUDE_TOP_KEYS,
    PROGRAM_KEYS,
    TOP_KEYS,
)
from supervisord_lite.config.listeners import add_listeners
from supervisord_lite.config.log_paths import is_stream, log_path_problem
from supervisord_lite.config.model import ListenerConfig, ProgramConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the 3.9/3.10 CI only
    import tomli as tomllib

# sockaddr_un.sun_path is 108 bytes including the terminating NUL: unix(7).
MAX_SOCKET_PATH = 107
PROGRAM_NAME = names.NAME


class Loader:
    """One load: the collected errors and the context every check needs."""

    def __init__(
        self,
        path: str,
        euid: int,
        check_logs: bool = True,
    ):
        self.path = path
        self.euid = euid
        self.check_logs = check_logs
        self.base = os.path.dirname(os.path.abspath(path))  # relative paths resolve here
        self.errors: list[str] = []
        self.warnings: list[str] = []  # loaded anyway: told at launch and by --check
        self.sources: dict[str, str] = {}  # every program name seen -> its file
        self.deps: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (file, depends_on)
        self.programs: dict[str, ProgramConfig] = {}  # the valid ones, in load order
        # group name -> (file, its programs, its priority), from [groups.*]
        self.groups: dict[str, tuple[str, tuple[str, ...], int]] = {}
        self.member_of: dict[str, tuple[str, int]] = {}  # program -> (group, priority)
        self.environment: tuple[tuple[str, str], ...] = ()  # [supervisord] environment
        self.taken: dict[str, str] = {}  # full process name -> the program giving it

    def error(self, file: str, parts: tuple[str | int, ...], message: str) -> None:
        self.errors.append(f"{file}: {cv.key_path(*parts)}: {message}")

    def resolve(self, p: str) -> str:
        return os.path.normpath(os.path.join(self.base, p))

    def load(self) -> dict[str, Any] | None:
        """The [supervisord] settings, with self.programs filled in (the programs that
        could be built, even when self.errors has others' problems); None when the main
        file cannot be read or parsed."""
        doc = self.read(self.path)
        if doc is None:
            return None
        self.check_trusted(self.path)
        self.check_top_keys(self.path, doc, TOP_KEYS)
        settings = self.daemon_settings(doc.get("supervisord", {}))
        settings["alerts"] = self.alerts(doc.get("alerts"))
        settings["http"] = self.http_settings(doc["http"]) if "http" in doc else None
        docs = [(self.path, doc)]
        for file in self.include_files(settings["include"]):
            inc = self.read(file)
            if inc is not None:
                self.check_trusted(file)
                self.check_top_keys(file, inc, INCLUDE_TOP_KEYS)
                docs.append((file, inc))
        # Groups first, wherever they are: each program is built once, knowing its group.
        for file, tables in docs:
            self.add_groups(file, tables)
        self.member_of = self.group_membership()
        self.environment = settings["environment"]
        for file, tables in docs:
            self.add_programs(file, tables)
        for file, tables in docs:  # after every program: a name taken twice is the listener's
            add_listeners(self, file, tables)
        self.check_group_members()
        self.check_depends_on()
        if self.check_logs:
            self.check_log_paths(settings["log_dir"])
        settings["include"] = tuple(self.resolve(p) for p in settings["include"])
        settings["groups"] = {
            name: (members, priority) for name, (_, members, priority) in self.groups.items()
        }
        return settings

    def read(self, file: str) -> dict[str, Any] | None:
        try:
            data = read_config_bytes(file)
        except UnreadableFile as exc:  # a FIFO, /dev/zero, a huge file: never read
            self.errors.append(f"{file}: cannot read: {exc}")
            return None
        try:
            return tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self.errors.append(f"{file}: invalid TOML: not UTF-8 ({exc})")
        except tomllib.TOMLDecodeError as exc:  # its message carries line and column
            self.errors.append(f"{file}: invalid TOML: {exc}")
        except RecursionError:  # tomllib recurses into nested arrays and inline tables
            self.errors.append(f"{file}: invalid TOML: nested too deeply")
        return None

    def check_trusted(self, file: str) -> None:
        """A file root reads that another user could write is a warning, as supervisord
        warns about searching the current directory: named with -c or included, it is
        the admin's choice (found without -c, paths.find_config_path refuses it)."""
        reason = paths.untrusted_reason(file, self.euid)
        if reason is not None:
            self.warnings.append(
                f"{file}: {reason}; another user could make root run anything "
                "(make it and its directories root's, not writable by group or others)"
            )

    def check_top_keys(self, file: str, doc: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in doc:
            if key in allowed:
                continue
            if key == "supervisord":  # allowed only in the main file
                message = (
                    "not allowed in an include file "
                    "(only [programs.*], [groups.*] and [listeners.*] are)"
                )
                self.error(file, (key,), message)
            else:
                self.unknown_key(file, (key,), key, allowed)

    def unknown_key(
        self, file: str, parts: tuple[str | int, ...], key: str, known: Any, hint: str = ""
    ) -> None:
        import difflib  # only for a mistake: not worth its memory for the daemon's life

        close = difflib.get_close_matches(key, list(known), n=1)
        if close and close[0] != key:
            hint = f' (did you mean "{close[0]}"?)' + hint
        self.error(file, parts, "unknown key" + hint)

    def convert_table(
        self, file: str, parts: tuple[str, ...], table: dict[str, Any], keys: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Convert every key of `table` per `keys`: (the good values, whether all were good)."""
        values = {}
        ok = True
        for key, raw in table.items():
            if key not in keys:
                self.unknown_key(file, (*parts, key), key, keys)
                ok = False
                continue
            try:
                values[key] = keys[key][0](raw)
            except cv.Invalid as exc:
                for sub, message in exc.problems:
                    self.error(file, (*parts, key, *sub), message)
                ok = False
            except ValueError as exc:  # a plain ValueError from some other converter
                self.error(file, (*parts, key), str(exc))
                ok = False
        return values, ok

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

    def include_files(self, patterns: tuple[str, ...]) -> list[str]:
        """Files matched by the include globs: each pattern's matches sorted, no repeats."""
        shown_base = os.path.dirname(self.path)  # so messages name files as the user would
        main = os.path.realpath(self.path)
        seen, files = {main}, []
        for pattern in patterns:
            if not os.path.isabs(pattern):
                pattern = os.path.join(glob.escape(shown_base), pattern) if shown_base else pattern
            for match in sorted(glob.glob(pattern)):
                real = os.path.realpath(match)
                if real in seen:  # "*.toml" beside the main file must not include it again
                    continue
                seen.add(real)
                if os.path.isfile(match):
                    files.append(match)
                else:  # a directory, or a FIFO or device that a read could block on forever
                    self.errors.append(f"{match}: cannot read: not a regular file")
        return files

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

    def check_name(self, file: str, parts: tuple[str, ...], name: str, what: str) -> bool:
        if not PROGRAM_NAME.fullmatch(name):
            self.error(file, parts, f'invalid {what} name: use letters, digits, "_", "." and "-"')
            return False
        if name == "all":
            message = '"all" is reserved: supervisorctl-lite uses it for every process'
            self.error(file, parts, message)
            return False
        return True

    def group_membership(self) -> dict[str, tuple[str, int]]:
        """program -> (its group, the group's priority); a second group is an error."""
        member_of: dict[str, tuple[str, int]] = {}
        for group, (file, members, priority) in self.groups.items():
            for program in members:
                if program in member_of:
                    other = member_of[program][0]
                    where = ("groups", group, "programs")
                    self.error(file, where, f'program "{program}" is already in group "{other}"')
                else:
                    member_of[program] = (group, priority)
        return member_of

    def check_group_members(self) -> None:
        """Once every program is known: members must exist, and a group must not take
        the name of a program outside it (which is a group of its own)."""
        for group, (file, members, _) in self.groups.items():
            for program in members:
                if program not in self.sources:
                    where = ("groups", group, "programs")
                    self.error(file, where, f"unknown program {cv.show(program)}")
            if group in self.sources and group not in members:
                self.error(
                    file,
                    ("groups", group),
                    f'a program outside this group is called "{group}" (and so is its own '
                    "group); rename one of them",
                )

    def check_process_names(self, prog: ProgramConfig) -> bool:
        """Every full name valid and taken once (error recorded otherwise)."""
        taken = self.taken
        where = (_section(prog), prog.name, "process_name")
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
        kwargs["depends_on"] = tuple(dict.fromkeys(kwargs["depends_on"]))  # drop repeats
        self.deps[name] = (file, kwargs["depends_on"])
        # A user unknown here is a host's problem, not the file's: the program is still
        # built (for --check --json) while the error fails the load.
        self.check_user(file, parts, kwargs["user"])
        ok = self.check_watchdog(file, parts, kwargs) and ok
        if kwargs["directory"] is not None:
            kwargs["directory"] = self.resolve(kwargs["directory"])
        kwargs["command"] = self.resolve_command(kwargs["command"], kwargs["directory"])
        for key in ("ready", "health"):  # an exec probe runs where the program does
            probe = kwargs[key]
            if probe is not None and probe.kind == "exec":
                target = self.resolve_command(probe.target, kwargs["directory"])
                kwargs[key] = probe.replace(target=target)
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
            merged = {**dict(self.environment), **dict(kwargs["environment"])}
            kwargs["environment"] = tuple(merged.items())
        kwargs["group"], kwargs["group_priority"] = self.member_of.get(name, (None, None))
        prog = ProgramConfig(name=name, source=file, listener=listener, **kwargs)
        return prog if self.check_process_names(prog) else None

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

    def resolve_command(self, argv: tuple[str, ...], directory: str | None) -> tuple[str, ...]:
        """`./run.sh` (a path, but relative) -> absolute: against the program's directory,
        where the program runs and where a shell there would find it, else against the
        config's folder, as every other relative path. Never against the daemon's own
        cwd, which is / once detached. A bare name (`sleep`) is looked up in PATH."""
        if not isinstance(argv, tuple):  # REQUIRED: the command had errors of its own
            return argv
        program = argv[0]
        if os.sep not in program or os.path.isabs(program):
            return argv
        return (os.path.normpath(os.path.join(directory or self.base, program)), *argv[1:])

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

    def check_log_paths(self, log_dir: str) -> None:
        """Every program log the daemon would write, checked as it would meet it."""
        for name, prog in self.programs.items():
            file, parts = prog.source, (_section(prog), name)
            for stream in ("stdout", "stderr"):
                key = f"{stream}_logfile"
                auto = getattr(prog, key) == "auto"
                seen = set()
                for index in range(prog.numprocs):
                    path = prog.logfile_path(stream, index, log_dir)
                    if path is None or path in seen:
                        continue
                    seen.add(path)
                    # log_dir is created by the daemon; any other directory must exist
                    in_log_dir = os.path.dirname(path) == log_dir
                    problem = log_path_problem(path, may_create_dir=in_log_dir)
                    if problem:
                        what = f'"auto" log {path}' if auto else f"log {path}"
                        self.error(file, (*parts, key), f"cannot write {what}: {problem}")
                        break  # one line per key: its other processes fail alike

    def check_depends_on(self) -> None:
        """Unknown names, then cycles (each reported once, with its path: a -> b -> a)."""
        graph = {}
        for name, (file, deps) in self.deps.items():
            for dep in deps:
                # Any defined name counts, even one whose table had errors of its own.
                if dep not in self.sources:
                    where = ("programs", name, "depends_on")
                    self.error(file, where, f"unknown program {cv.show(dep)}")
            graph[name] = [d for d in deps if d in self.deps]
        for cycle in cv.dependency_cycles(graph):
            file = self.deps[cycle[0]][0]
            where = ("programs", cycle[0], "depends_on")
            self.error(file, where, "dependency cycle: " + " -> ".join(cycle))


def _section(prog: ProgramConfig) -> str:
    """The table a program came from, for messages: [programs.X] or [listeners.X]."""
    return "programs" if prog.listener is None else "listeners"
