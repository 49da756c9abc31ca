"""TOML config -> frozen dataclasses, with every error collected and named by key path.

INTERFACE SKELETON: the dataclasses and public functions below are the contract the
rest of the daemon codes against. Validation is being filled in.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Union

AutoRestart = Union[bool, str]  # True | False | "unexpected"


class ConfigError(Exception):
    """The config is invalid; `errors` holds every problem, one line each."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class ProgramConfig:
    name: str
    command: tuple[str, ...]
    numprocs: int = 1
    directory: str | None = None  # absolute
    environment: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    umask: int = 0o022
    priority: int = 999
    depends_on: tuple[str, ...] = ()
    autostart: bool = True
    autorestart: AutoRestart = "unexpected"
    exitcodes: tuple[int, ...] = (0,)
    startsecs: float = 1.0
    startretries: int = 3
    backoff_max: float = 30.0
    backoff_reset: float = 60.0
    stopsignal: int = int(signal.SIGTERM)
    stopwaitsecs: float = 10.0
    stopasgroup: bool = True
    redirect_stderr: bool = False
    stdout_logfile: str = "auto"  # "auto" | "none" | absolute path (may hold {process_num})
    stdout_logfile_maxbytes: int = 50 * 1024 * 1024
    stdout_logfile_backups: int = 10
    stderr_logfile: str = "auto"
    stderr_logfile_maxbytes: int = 50 * 1024 * 1024
    stderr_logfile_backups: int = 10
    source: str = ""  # the file this table came from, for messages

    def process_names(self) -> list[str]:
        """`web` for numprocs 1; `web:0`, `web:1`, ... otherwise."""
        if self.numprocs == 1:
            return [self.name]
        return [f"{self.name}:{n}" for n in range(self.numprocs)]


@dataclass(frozen=True)
class DaemonConfig:
    path: str  # absolute path of the main config file
    socket: str
    pidfile: str
    logfile: str | None
    loglevel: str = "info"
    log_dir: str = ""
    umask: int = 0o022
    include: tuple[str, ...] = ()
    socket_mode: int = 0o600
    allowed_uids: tuple[int, ...] = ()
    programs: dict[str, ProgramConfig] = field(default_factory=dict)
