"""The config's key tables: every key of [programs.NAME] and [supervisord], as
key -> (converter, default), and the sanity bounds some converters enforce.

Data only: the loader (loader.py) applies these; nothing here reads a file or
checks more than the converters it names. ProgramConfig's defaults must match
PROGRAM_KEYS' (a unit test compares them).
"""

from __future__ import annotations

import signal
from typing import Any

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

# Defaults are supervisor's, except stopasgroup (true: no grandchild survives a stop) and
# umask (0o022: log files are never world-writable). A test checks these against the
# ProgramConfig defaults so the two cannot drift apart.
PROGRAM_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "command": (cv.command, REQUIRED),
    "numprocs": (cv.integer(1, limit=MAX_NUMPROCS, why="each process is a pipe pair"), 1),
    "directory": (cv.path_string, None),  # resolved against the config dir
    "environment": (cv.environment, ()),
    "user": (cv.string, None),  # checked against pwd and the daemon's euid
    "umask": (cv.mode, 0o022),
    "priority": (cv.integer(), 999),
    "depends_on": (cv.list_of(cv.program_name, "program names"), ()),
    "autostart": (cv.boolean, True),
    "autorestart": (cv.autorestart, "unexpected"),
    "exitcodes": (cv.list_of(cv.integer(0, 255), "exit codes 0..255"), (0,)),
    "startsecs": (cv.number, 1.0),
    "startretries": (cv.integer(0), 3),
    "backoff_max": (cv.number, 30.0),
    "backoff_reset": (cv.number, 60.0),
    "stopsignal": (cv.signal_number, int(signal.SIGTERM)),
    "stopwaitsecs": (cv.number, 10.0),
    "stopasgroup": (cv.boolean, True),
    "redirect_stderr": (cv.boolean, False),
    "stdout_logfile": (cv.logfile, "auto"),
    "stdout_logfile_maxbytes": (cv.byte_size, 50 * 1024 * 1024),
    "stdout_logfile_backups": (cv.integer(0, limit=MAX_BACKUPS, why="rotation renames each"), 10),
    "stderr_logfile": (cv.logfile, "auto"),
    "stderr_logfile_maxbytes": (cv.byte_size, 50 * 1024 * 1024),
    "stderr_logfile_backups": (cv.integer(0, limit=MAX_BACKUPS, why="rotation renames each"), 10),
    "log_prefix": (cv.log_prefix, ""),
    "log_timestamps": (cv.boolean, False),
    "process_name": (cv.template, None),  # None: "{program_name}" or "{process_num}"
    "numprocs_start": (cv.integer(0, limit=2**31 - 1, why="process numbers are ints"), 0),
    # Readiness and health (docs/health.md): None when the table is absent.
    "ready": (cv.later("config.probes", "ready_table"), None),
    "health": (cv.later("config.probes", "health_table"), None),
    "watchdog_sec": (cv.later("config.probes", "watchdog_seconds"), None),
    "limits": (
        cv.later("config.limits", "convert"),
        (),
    ),  # [programs.NAME.limits]: rlimits, nice, oom_score_adj
    "memory_limit": (cv.positive_size, None),  # the whole tree's resident memory; None: none
    "memory_check_interval": (cv.positive_number, 5.0),  # seconds between samples
    # Its output as PROCESS_LOG_* events to the listeners (docs/listeners.md)
    "stdout_events_enabled": (cv.boolean, False),
    "stderr_events_enabled": (cv.boolean, False),
}

# [listeners.NAME]: a program's keys plus these (config/listeners.py checks the names).
MAX_BUFFER_SIZE = 1_000_000
LISTENER_KEYS: dict[str, tuple[cv.Converter, Any]] = {
    "events": (cv.list_of(cv.string, "event type names"), REQUIRED),
    "buffer_size": (cv.integer(1, limit=MAX_BUFFER_SIZE, why="events held in memory"), 1024),
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
    # None: from the open-file limit, after what the programs need (daemon/running.py).
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

TOP_KEYS = ("supervisord", "programs", "groups", "alerts", "http", "listeners")  # [http]: http.py
INCLUDE_TOP_KEYS = ("programs", "groups", "listeners")
