"""The config's model: the frozen value classes a loaded config is made of
(ProgramConfig, GroupConfig, AlertsConfig, DaemonConfig) and ConfigError.

Values only: reading a file into them is load.py's (load_config), with the
reading and checking loader.py's, the key tables keys.py's and the value
converters (signal_number, byte_size, ...) values.py's. None of those is
imported here: the model sits below its loader.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from typing import Any, Union

from supervisord_lite.base import names
from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.config.keys import ALERT_KINDS

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: probe_config loads when a program has a probe
    from supervisord_lite.config.probes import ProbeConfig
    from supervisord_lite.config.sockets import SocketConfig

__all__ = [
    "AutoRestart",
    "ConfigError",
    "DaemonConfig",
    "GroupConfig",
    "AlertsConfig",
    "ListenerConfig",
    "ProgramConfig",
]

AutoRestart = Union[bool, str]  # True | False | "unexpected"


class ConfigError(Exception):
    """The config is invalid; `errors` holds every problem, one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class ProgramConfig(Frozen):
    """One [programs.NAME] table, every key converted and defaulted."""

    __slots__ = (
        "name",
        "command",
        "numprocs",
        "directory",
        "environment",
        "env_file",
        "user",
        "umask",
        "priority",
        "depends_on",
        "autostart",
        "autorestart",
        "exitcodes",
        "startsecs",
        "startretries",
        "backoff_max",
        "backoff_reset",
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
        "log_prefix",
        "log_timestamps",
        "process_name",
        "numprocs_start",
        "group",
        "group_priority",
        "source",
        "ready",
        "health",
        "watchdog_sec",
        "processes",
        "limits",
        "memory_limit",
        "memory_check_interval",
        "sockets",
        "stdin_socket",
        "reload_signal",
        "templated",
        "conditions",
        "oneshot",
        "exec_start_pre",
        "exec_start_post",
        "exec_stop",
        "exec_stop_post",
        "hook_timeout",
        "schedule",
        "stdin",
        "stdout_events_enabled",
        "stderr_events_enabled",
        "listener",
    )

    def __init__(
        self,
        name: str,
        command: tuple[str, ...],
        numprocs: int = 1,
        directory: str | None = None,  # absolute
        environment: tuple[tuple[str, str], ...] = (),
        env_file: tuple[str, ...] = (),  # absolute, "-" first when optional; templates
        user: str | None = None,
        umask: int = 0o022,
        priority: int = 999,
        depends_on: tuple[str, ...] = (),
        autostart: bool = True,
        autorestart: AutoRestart = "unexpected",
        exitcodes: tuple[int, ...] = (0,),
        startsecs: float = 1.0,
        startretries: int = 3,
        backoff_max: float = 30.0,
        backoff_reset: float = 60.0,
        stopsignal: int = int(signal.SIGTERM),
        stopwaitsecs: float = 10.0,
        stopasgroup: bool = True,
        redirect_stderr: bool = False,
        stdout_logfile: str = "auto",  # "auto" | "none" | absolute path (may hold {process_num})
        stdout_logfile_maxbytes: int = 50 * 1024 * 1024,
        stdout_logfile_backups: int = 10,
        stderr_logfile: str = "auto",
        stderr_logfile_maxbytes: int = 50 * 1024 * 1024,
        stderr_logfile_backups: int = 10,
        log_prefix: str = "",  # before every line, e.g. "{name} | "
        log_timestamps: bool = False,  # an RFC 3339 UTC time before every line
        process_name: str | None = None,  # a base/names.py template; None: the default below
        numprocs_start: int = 0,  # the first process_num
        group: str | None = None,  # None: its own group, named after it
        group_priority: int | None = None,  # None: its own priority (its own group's)
        source: str = "",  # the file this table came from, for messages
        ready: ProbeConfig | None = None,  # [programs.NAME.ready]
        health: ProbeConfig | None = None,  # [programs.NAME.health]
        watchdog_sec: float | None = None,  # needs ready.notify
        processes: tuple[str, ...] = (),  # ignored: always derived from the fields above
        limits: tuple[tuple[str, Any], ...] = (),  # limits.py: (key, value) pairs
        memory_limit: int | None = None,  # bytes of the whole tree's RSS; None: no limit
        memory_check_interval: float = 5.0,  # seconds between two samples
        sockets: tuple[SocketConfig, ...] = (),  # held sockets: fds 3, 4, ... (LISTEN_FDS)
        stdin_socket: SocketConfig | None = None,  # a held socket on fd 0 instead
        reload_signal: int | None = None,  # restart --rolling sends it instead of replacing
        templated: bool | None = None,  # None: derived (do its values hold template fields?)
        # depends_on as a table: (name, condition) pairs; () when every one is "ready"
        conditions: tuple[tuple[str, str], ...] = (),
        oneshot: bool = False,  # runs to completion: EXITED as completed, not restarted
        exec_start_pre: tuple[tuple[str, ...], ...] = (),  # hooks: argv arrays, in order
        exec_start_post: tuple[tuple[str, ...], ...] = (),
        exec_stop: tuple[tuple[str, ...], ...] = (),
        exec_stop_post: tuple[tuple[str, ...], ...] = (),
        hook_timeout: float = 30.0,  # seconds for each hook command
        schedule: str | None = None,  # cron or @every text (config/cron.py); None: none
        stdin: bool = False,  # its stdin a pipe the daemon writes; else /dev/null
        stdout_events_enabled: bool = False,  # PROCESS_LOG_STDOUT events to listeners
        stderr_events_enabled: bool = False,  # PROCESS_LOG_STDERR
        listener: ListenerConfig | None = None,  # set: a [listeners.NAME] table's processes
    ):
        if process_name is None:
            process_name = "{program_name}" if numprocs == 1 else "{process_num}"
        if group is None:
            group = name
        if group_priority is None:
            group_priority = priority
        if templated is None:
            templated = any(
                "{" in text or "}" in text
                for text in (*command, directory or "", *env_file, *(v for _, v in environment))
            )
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)
        # Expanded once: every status, spawn and log path names processes.
        full = [names.full_name(group, self.short_name(i)) for i in range(numprocs)]
        # Most programs' one process is named as the program: one string, not two.
        _set(self, "processes", tuple([name if f == name else f for f in full]))

    def condition_of(self, dependency: str) -> str:
        """What this program waits for of `dependency` (config/lifecycle.py CONDITIONS)."""
        for name, condition in self.conditions:
            if name == dependency:
                return condition
        return "ready"

    def has_hooks(self) -> bool:
        return bool(
            self.exec_start_pre or self.exec_start_post or self.exec_stop or self.exec_stop_post
        )

    def process_num(self, index: int) -> int:
        """The process_num of the index-th process (numprocs_start onwards)."""
        return self.numprocs_start + index

    def short_name(self, index: int) -> str:
        """The index-th process's name within its group (supervisord's process_name)."""
        if self.process_name == "{program_name}":  # the usual case: no new string to keep
            return self.name
        num = self.process_num(index)
        return names.expand(self.process_name, self.name, self.group, num, self.numprocs)

    def instance(self, index: int) -> ProgramConfig:
        """The index-th process's own settings: `command`, `directory`, `environment`
        values and `env_file` with the process_name fields filled in (`{{` a brace).
        The program itself when none of them is a template: nothing to pay per spawn."""
        if not self.templated:
            return self
        return self.instance_with(self.process_num(index))

    def instance_with(self, num: int | str) -> ProgramConfig:
        """instance() for a given process_num (export's stand-in for systemd's %i is a
        string: a format spec like {process_num:d} then raises ValueError)."""

        def fill(text: str) -> str:
            return names.expand(text, self.name, self.group, num, self.numprocs)

        return self.replace(
            command=tuple(fill(arg) for arg in self.command),
            directory=None if self.directory is None else fill(self.directory),
            environment=tuple((key, fill(value)) for key, value in self.environment),
            env_file=tuple(fill(path) for path in self.env_file),
            templated=False,  # resolved: a brace left in is the user's literal one
        )

    def process_names(self) -> list[str]:
        """Full names, as supervisorctl shows them: `web` for numprocs 1 outside any
        group; `web:0`, `web:1`, ... for numprocs 2; `GROUP:PROCESS` in a group."""
        return list(self.processes)

    def order_key(self) -> tuple[int, int, int]:
        """Start order: listeners first (and so stopped last), then by group priority,
        then the program's own (supervisord's)."""
        return 0 if self.listener is not None else 1, self.group_priority, self.priority

    def logged(self, stream: str) -> bool:
        """Whether `stream` ("stdout" | "stderr") goes to a log file (logfile_path is
        not None), without building the path."""
        if stream not in ("stdout", "stderr"):
            raise ValueError(f'stream must be "stdout" or "stderr", got {stream!r}')
        if stream == "stderr" and self.redirect_stderr:
            return False
        return (self.stdout_logfile if stream == "stdout" else self.stderr_logfile) != "none"

    def logfile_path(self, stream: str, index: int, log_dir: str) -> str | None:
        """Where `stream` ("stdout" | "stderr") of the index-th process is logged; None:
        not logged. A path may use the process_name template's fields.

        With redirect_stderr, stderr goes into stdout's log, so stderr has no file.
        """
        if not self.logged(stream):
            return None
        setting = self.stdout_logfile if stream == "stdout" else self.stderr_logfile
        if setting == "auto":
            return os.path.join(log_dir, f"{self.processes[index]}.{stream}.log")
        num = self.process_num(index)
        return names.expand(setting, self.name, self.group, num, self.numprocs)


class ListenerConfig(Frozen):
    """What a [listeners.NAME] table adds to a program's keys (docs/listeners.md)."""

    __slots__ = ("events", "buffer_size")

    def __init__(self, events: frozenset[str], buffer_size: int = 1024):
        _set(self, "events", events)  # concrete event type names (base/event_types.expand)
        _set(self, "buffer_size", buffer_size)  # events the pool holds; past it the oldest go


class GroupConfig(Frozen):
    """One [groups.NAME] table, or the implicit group of a program outside any."""

    __slots__ = ("name", "programs", "priority")

    def __init__(self, name: str, programs: tuple[str, ...], priority: int = 999):
        _set(self, "name", name)
        _set(self, "programs", programs)
        _set(self, "priority", priority)


class AlertsConfig(Frozen):
    """The [alerts] table."""

    __slots__ = ("on", "exec", "webhook", "batch", "rate_limit", "timeout")

    def __init__(
        self,
        on: tuple[str, ...] = ALERT_KINDS,
        exec: tuple[str, ...] | None = None,  # argv; gets the batch as JSON on stdin
        webhook: str | None = None,  # http:// or https:// URL; gets it as a JSON POST
        batch: float = 10.0,  # seconds from the first alert to its batch going out
        rate_limit: int = 60,  # batches per hour, per target
        timeout: float = 10.0,  # for one delivery (exec run, webhook request)
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)


class DaemonConfig(Frozen):
    """The [supervisord] settings and every valid program, in load order."""

    __slots__ = (
        "path",
        "socket",
        "pidfile",
        "logfile",
        "loglevel",
        "log_dir",
        "umask",
        "include",
        "socket_mode",
        "allowed_uids",
        "programs",
        "max_clients",
        "idle_timeout",
        "line_timeout",
        "environment",
        "groups",
        "alerts",
        "http",
        "xmlrpc",
        "cgroup_root",
        "warnings",
        "sockets",
    )

    def __init__(
        self,
        path: str,  # absolute path of the main config file
        socket: str,
        pidfile: str,
        logfile: str | None,
        loglevel: str = "info",
        log_dir: str = "",
        umask: int = 0o022,
        include: tuple[str, ...] = (),
        socket_mode: int = 0o600,
        allowed_uids: tuple[int, ...] = (),
        programs: dict[str, ProgramConfig] | None = None,  # None: a new empty dict
        max_clients: int | None = None,  # None: from RLIMIT_NOFILE, see daemon/process_limits.py
        idle_timeout: float = 600.0,  # a control connection with nothing under way; 0 = never
        line_timeout: float = 10.0,  # a half-written request line
        environment: tuple[tuple[str, str], ...] = (),  # already merged into each program's
        # The [groups.*] tables. A program outside them is a group of its own: groups_of
        # lists those too (not kept here: a thousand programs, a thousand groups).
        groups: dict[str, GroupConfig] | None = None,
        alerts: AlertsConfig | None = None,  # None: no [alerts]
        http: object = None,  # a config_http.HttpConfig when [http] is configured
        xmlrpc: object = None,  # a config/xmlrpc.py XmlRpcConfig when [xmlrpc] is configured
        cgroup_root: str | None = None,  # absolute; None: the daemon's own, if delegated
        warnings: tuple[str, ...] = (),  # the loader's, e.g. a file others may write
        sockets: dict[str, SocketConfig] | None = None,  # [sockets.*] by name
    ):
        if programs is None:
            programs = {}
        if sockets is None:
            sockets = {}
        if groups is None:
            groups = {}
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)

    def program(self, name: str) -> ProgramConfig | None:
        """The program called `name`, or None."""
        return self.programs.get(name)

    def process_names(self) -> list[str]:
        """Every process name of every program, in config order."""
        return [p for prog in self.programs.values() for p in prog.process_names()]

    def find_process(self, process_name: str) -> tuple[ProgramConfig, int] | None:
        """A full process name -> (its program, its index); None if no such process."""
        for prog in self.programs.values():
            if process_name in prog.processes:
                return prog, prog.processes.index(process_name)
        return None


def groups_of(programs: Iterable[ProgramConfig]) -> dict[str, GroupConfig]:
    """Every program's group, [groups.*] or its own, by name, in start order (members
    in start order too)."""
    members: dict[str, list[ProgramConfig]] = {}
    for prog in sorted(programs, key=ProgramConfig.order_key):
        members.setdefault(prog.group, []).append(prog)
    return {
        name: GroupConfig(name, tuple(p.name for p in progs), progs[0].group_priority)
        for name, progs in members.items()
    }
