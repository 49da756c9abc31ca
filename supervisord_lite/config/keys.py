"""The config's key tables: every key of [programs.NAME] (one Key record each: the
single list the loader, --check, convert and export read) and of [supervisord],
[groups.NAME] and [alerts] as key -> (converter, default), and the sanity bounds some
converters enforce.

Data only: the loader (loader.py) applies these; nothing here reads a file or
checks more than the converters it names. ProgramConfig's defaults must match
PROGRAM_KEYS' (a unit test compares them).
"""

from __future__ import annotations

import signal
from typing import Any, NamedTuple

from supervisord_lite.base.paths import DEFAULT_SOCKET
from supervisord_lite.config import values as cv

# The alert kinds (alerts/batching.py's KINDS; a test compares them): kept here so the config
# never imports the alerts machinery.
ALERT_KINDS = ("crashed", "fatal", "unhealthy", "memory_limit", "watchdog")

# Sanity bounds. A billion processes would take the daemon's memory before its first
# spawn; a billion backups, a billion renames at each rotation, with the loop blocked.
MAX_NUMPROCS = 100_000
MAX_BACKUPS = 10_000

REQUIRED = object()  # the default of a key that must be given


class Key(NamedTuple):
    """One key of [programs.NAME]: the converter its TOML value goes through (the loader),
    its default (REQUIRED: none), and its kind: how --check --json shows it (config/check.py:
    "plain" as converted; "signal" by name; "logfile" resolved; "pairs" as an object;
    "probe" and "limits" as their tables; "sockets" by name)."""

    name: str
    convert: cv.Converter
    default: Any
    kind: str = "plain"


_COUNT_BACKUPS = cv.integer(0, limit=MAX_BACKUPS, why="rotation renames each")
_50MB = 50 * 1024 * 1024

# THE list of program keys: the loader converts them, --check --json shows them and convert
# writes them in this order, convert and export compare with their defaults. A new key is a
# line here and a field of ProgramConfig (a test compares the two).
# Defaults are supervisor's, except stopasgroup (true: no grandchild survives a stop) and
# umask (0o022: log files are never world-writable).
PROGRAM_KEY_TABLE: tuple[Key, ...] = (
    Key("command", cv.command, REQUIRED),
    Key("process_name", cv.template, None),  # None: "{program_name}" or "{process_num}"
    Key("numprocs", cv.integer(1, limit=MAX_NUMPROCS, why="each process is a pipe pair"), 1),
    Key("numprocs_start", cv.integer(0, limit=2**31 - 1, why="process numbers are ints"), 0),
    Key("directory", cv.path_string, None),  # resolved against the config dir
    Key("environment", cv.environment, (), "pairs"),
    # systemd EnvironmentFile= files read at each spawn, under `environment`; "-" first:
    # optional. Made absolute at load against `directory`, else the config's folder.
    Key("env_file", cv.list_of(cv.path_string, "paths"), ()),
    Key("user", cv.string, None),  # checked against pwd and the daemon's euid
    Key("umask", cv.mode, 0o022),
    Key("priority", cv.integer(), 999),
    # A list of names (each ready) or a table of conditions (lifecycle.py)
    Key("depends_on", cv.later("config.lifecycle", "depends_on"), (), "conditions"),
    Key("autostart", cv.boolean, True),
    Key("autorestart", cv.autorestart, "unexpected"),
    Key("exitcodes", cv.list_of(cv.integer(0, 255), "exit codes 0..255"), (0,)),
    Key("startsecs", cv.number, 1.0),
    Key("startretries", cv.integer(0), 3),
    Key("backoff_max", cv.number, 30.0),
    Key("backoff_reset", cv.number, 60.0),
    Key("stopsignal", cv.signal_number, int(signal.SIGTERM), "signal"),
    Key("stopwaitsecs", cv.number, 10.0),
    Key("stopasgroup", cv.boolean, True),
    Key("redirect_stderr", cv.boolean, False),
    Key("stdout_logfile", cv.logfile, "auto", "logfile"),
    Key("stdout_logfile_maxbytes", cv.byte_size, _50MB),
    Key("stdout_logfile_backups", _COUNT_BACKUPS, 10),
    Key("stderr_logfile", cv.logfile, "auto", "logfile"),
    Key("stderr_logfile_maxbytes", cv.byte_size, _50MB),
    Key("stderr_logfile_backups", _COUNT_BACKUPS, 10),
    Key("log_prefix", cv.log_prefix, ""),
    Key("log_timestamps", cv.boolean, False),
    # Readiness and health (docs/health.md): None when the table is absent.
    Key("ready", cv.later("config.probes", "ready_table"), None, "probe"),
    Key("health", cv.later("config.probes", "health_table"), None, "probe"),
    Key("watchdog_sec", cv.later("config.probes", "watchdog_seconds"), None),
    # [programs.NAME.limits]: rlimits, nice, oom_score_adj
    Key("limits", cv.later("config.limits", "convert"), (), "limits"),
    Key("memory_limit", cv.positive_size, None),  # the whole tree's resident memory; None: none
    Key("memory_check_interval", cv.positive_number, 5.0),  # seconds between samples
    # Held sockets (config/sockets.py): names here, their tables once loaded.
    Key("sockets", cv.list_of(cv.program_name, "socket names"), (), "sockets"),
    Key("stdin_socket", cv.program_name, None, "sockets"),
    Key("reload_signal", cv.signal_number, None, "signal"),  # restart --rolling signals
    # Lifecycle (docs/lifecycle.md): a job run to completion, hooks around start and stop
    Key("oneshot", cv.boolean, False),
    Key("exec_start_pre", cv.later("config.lifecycle", "hooks"), ()),
    Key("exec_start_post", cv.later("config.lifecycle", "hooks"), ()),
    Key("exec_stop", cv.later("config.lifecycle", "hooks"), ()),
    Key("exec_stop_post", cv.later("config.lifecycle", "hooks"), ()),
    Key("hook_timeout", cv.positive_number, 30.0),  # seconds for each hook command
)

# The table as key -> (converter, default), the shape the loader's tables share.
PROGRAM_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    key.name: (key.convert, key.default) for key in PROGRAM_KEY_TABLE
}

DAEMON_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "socket": (cv.path_string, DEFAULT_SOCKET),
    "pidfile": (cv.path_string, "supervisord_lite.pid"),
    "logfile": (cv.logfile, "supervisord_lite.log"),  # "none" -> None
    "loglevel": (cv.choice("debug", "info", "warning", "error"), "info"),
    "log_dir": (cv.path_string, "logs"),
    "umask": (cv.mode, 0o022),
    "include": (cv.list_of(cv.path_string, "glob patterns"), ()),
    "socket_mode": (cv.mode, 0o600),
    "allowed_uids": (cv.list_of(cv.integer(0, limit=2**32 - 2, why="uid_t"), "uids >= 0"), ()),
    # None: from the open-file limit, after what the programs need (daemon/process_limits.py).
    "max_clients": (cv.integer(1), None),
    "idle_timeout": (cv.number, 600.0),
    "line_timeout": (cv.number, 10.0),
    "environment": (cv.environment, ()),  # under every program's own
    "cgroup_root": (cv.path_string, None),  # a cgroup v2 directory to run programs under
}

GROUP_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "programs": (cv.list_of(cv.program_name, "program names"), REQUIRED),
    "priority": (cv.integer(), 999),
}

# [alerts]: the defaults are AlertsConfig's (alerts/batching.py), which a test compares.
ALERT_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "on": (cv.list_of(cv.choice(*ALERT_KINDS), "alert kinds"), ALERT_KINDS),
    "exec": (cv.command, None),
    "webhook": (cv.url, None),
    "batch": (cv.number, 10.0),
    "rate_limit": (cv.integer(1, limit=100_000, why="batches per hour"), 60),
    "timeout": (cv.positive_number, 10.0),
}

TOP_KEYS = ("supervisord", "programs", "groups", "alerts", "http", "sockets")  # [http]: http.py
INCLUDE_TOP_KEYS = ("programs", "groups", "sockets")
