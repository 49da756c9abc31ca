"""Supervisor's own reading of a config, as plain per-process dicts (the test oracle).

ServerOptions.process_config only reads and checks the file: it creates no socket, log
or pidfile, so tests may call it freely. It reads os.environ when constructed, so the
caller sets the environment first.
"""

from __future__ import annotations

import os
import pwd
import shlex
import signal
from typing import Any

from supervisor import datatypes
from supervisor.options import ServerOptions, make_namespec

CORPUS = os.path.dirname(os.path.abspath(__file__))

# The environment every corpus config expects (what its %(ENV_X)s names).
CORPUS_ENV = {
    "USER": pwd.getpwuid(os.geteuid()).pw_name,
    "HOME": pwd.getpwuid(os.geteuid()).pw_dir,
    "CELERY_APP": "proj",
    "CELERY_AUTOSTART": "true",
    "APP_ENV": "prod",
}


def _logfile(value: Any) -> str | None:
    if value is datatypes.Automatic:
        return "auto"
    return value


def _autorestart(value: Any) -> Any:
    if value is datatypes.RestartUnconditionally:
        return True
    if value is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return False


def supervisor_processes(path: str) -> dict[str, dict[str, Any]]:
    """{full name as supervisorctl shows it: the process's resolved settings}."""
    options = ServerOptions()
    options.configfile = path
    options.process_config(do_usage=False)
    out = {}
    for group in options.process_group_configs:
        if type(group).__name__ == "EventListenerPoolConfig":
            continue
        for p in group.process_configs:
            out[make_namespec(group.name, p.name)] = {
                "group": group.name,
                "process_name": p.name,
                "group_priority": group.priority,
                "command": shlex.split(p.command),
                "directory": p.directory,
                "environment": dict(p.environment or {}),
                "user": None if p.uid is None else pwd.getpwuid(p.uid).pw_name,
                "umask": p.umask,
                "priority": p.priority,
                "autostart": p.autostart,
                "autorestart": _autorestart(p.autorestart),
                "exitcodes": list(p.exitcodes),
                "startsecs": p.startsecs,
                "startretries": p.startretries,
                "stopsignal": signal.Signals(p.stopsignal).name[3:],
                "stopwaitsecs": p.stopwaitsecs,
                "stopasgroup": p.stopasgroup,
                "killasgroup": p.killasgroup,
                "redirect_stderr": p.redirect_stderr,
                "stdout_logfile": _logfile(p.stdout_logfile),
                "stderr_logfile": _logfile(p.stderr_logfile),
                "stdout_logfile_maxbytes": p.stdout_logfile_maxbytes,
                "stderr_logfile_maxbytes": p.stderr_logfile_maxbytes,
                "stdout_logfile_backups": p.stdout_logfile_backups,
                "stderr_logfile_backups": p.stderr_logfile_backups,
            }
    return out


def supervisor_listeners(path: str) -> dict[str, dict[str, Any]]:
    """{eventlistener pool name: its command and the event type names it listens to}."""
    from supervisor.events import getEventNameByType

    options = ServerOptions()
    options.configfile = path
    options.process_config(do_usage=False)
    return {
        group.name: {
            "command": shlex.split(group.process_configs[0].command),
            "events": sorted(getEventNameByType(t) for t in group.pool_events),
            "numprocs": len(group.process_configs),
        }
        for group in options.process_group_configs
        if type(group).__name__ == "EventListenerPoolConfig"
    }


def supervisor_umask(path: str) -> int:
    options = ServerOptions()
    options.configfile = path
    options.process_config(do_usage=False)
    return options.umask
