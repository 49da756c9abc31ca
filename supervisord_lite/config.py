"""The config's model and entry points: the frozen value classes a loaded config is
made of (ProgramConfig, DaemonConfig), ConfigError, load_config and find_config_path.

`load_config` reads the main file and its includes, checks every key, and either
returns a `DaemonConfig` or raises one `ConfigError` listing every problem, one line
each: `<file>: <key path>: <message>`. It does no process work. It does check, as the daemon
would meet them, that every program log can be written (check_logs: the directory
exists and is writable, the path is not a directory, a socket or a name too long):
a program whose output would be lost is a config error, as in supervisord.
The reading and checking is config_load.py's, the key tables config_keys.py's, the
value converters (signal_number, byte_size, ...) config_convert.py's.
"""

from __future__ import annotations

import os
import signal
from typing import Union

from supervisord_lite import paths
from supervisord_lite.config_load import Loader
from supervisord_lite.frozen import Frozen, _set
from supervisord_lite.paths import DEFAULT_PATHS
from supervisord_lite.probe_config import ProbeConfig

__all__ = [
    "AutoRestart",
    "ConfigError",
    "DaemonConfig",
    "ProgramConfig",
    "find_config_path",
    "load_config",
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
        "source",
        "ready",
        "health",
        "watchdog_sec",
    )

    def __init__(
        self,
        name: str,
        command: tuple[str, ...],
        numprocs: int = 1,
        directory: str | None = None,  # absolute
        environment: tuple[tuple[str, str], ...] = (),
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
        source: str = "",  # the file this table came from, for messages
        ready: ProbeConfig | None = None,  # [programs.NAME.ready]
        health: ProbeConfig | None = None,  # [programs.NAME.health]
        watchdog_sec: float | None = None,  # needs ready.notify
    ):
        for key, value in locals().items():
            if key != "self":
                _set(self, key, value)

    def process_names(self) -> list[str]:
        """`web` for numprocs 1; `web:0`, `web:1`, ... otherwise."""
        if self.numprocs == 1:
            return [self.name]
        return [f"{self.name}:{n}" for n in range(self.numprocs)]

    def logfile_path(
        self, stream: str, process_name: str, process_num: int, log_dir: str
    ) -> str | None:
        """Where `stream` ("stdout" | "stderr") of one process is logged; None: not logged.

        With redirect_stderr, stderr goes into stdout's log, so stderr has no file.
        """
        if stream not in ("stdout", "stderr"):
            raise ValueError(f'stream must be "stdout" or "stderr", got {stream!r}')
        if stream == "stderr" and self.redirect_stderr:
            return None
        setting = self.stdout_logfile if stream == "stdout" else self.stderr_logfile
        if setting == "none":
            return None
        if setting == "auto":
            return os.path.join(log_dir, f"{process_name}.{stream}.log")
        return setting.replace("{process_num}", str(process_num))


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
        max_clients: int | None = None,  # None: from RLIMIT_NOFILE, see daemon.py
        idle_timeout: float = 600.0,  # a control connection with nothing under way; 0 = never
        line_timeout: float = 10.0,  # a half-written request line
    ):
        if programs is None:
            programs = {}
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
        """ "web" (numprocs 1) or "web:2" -> (the program, process_num); None if no such process."""
        name, sep, num = process_name.partition(":")
        prog = self.programs.get(name)
        if prog is None:
            return None
        if not sep:
            return (prog, 0) if prog.numprocs == 1 else None
        if prog.numprocs > 1 and num.isdigit() and int(num) < prog.numprocs:
            return prog, int(num)
        return None


# --- finding the file ---------------------------------------------------------------------


def find_config_path(explicit: str | None) -> str:
    """-c CONFIG, else $SUPERVISORD_LITE_CONFIG, else ./supervisord_lite.toml, else /etc/."""
    try:
        return paths.find_config_path(explicit, DEFAULT_PATHS)
    except paths.ConfigNotFound as exc:
        raise ConfigError([str(exc)]) from None


# --- loading ------------------------------------------------------------------------------


def load_config(path: str, *, euid: int | None = None, check_logs: bool = True) -> DaemonConfig:
    """Read and check `path` and its includes; raise ConfigError listing every problem.

    check_logs=False skips looking at the log paths on disk (for a caller that will
    not write them)."""
    loader = Loader(path, os.geteuid() if euid is None else euid, ProgramConfig, check_logs)
    try:
        settings = loader.load()
        if settings is not None:
            return DaemonConfig(path=os.path.abspath(path), programs=loader.programs, **settings)
    except Exception as exc:  # a bug here must still read as a config problem, not a trace
        raise ConfigError([*loader.errors, f"{path}: internal error: {exc!r}"]) from exc
    raise ConfigError(loader.errors)
