"""When each scheduled process last ran, kept beside the pidfile (`PIDFILE.schedules`),
so a daemon started after a restart (or a crash) makes up at most one missed run
(cron.first_due_after_start) instead of none or a burst.

A file of its own rather than the child record: that record is removed once no child
runs, and a schedule's last run must outlive every child. Written atomically (a
temporary file renamed over it) at each run's start: one small write per run. Opened
O_NOFOLLOW, read and written: the pidfile's directory may be one others can write to,
and a link planted there must not make the root daemon write (or read) elsewhere.
"""

from __future__ import annotations

import json
import os
import stat

from supervisord_lite.base.log import log

# Bounded like the config: a state file is ours, but never trusted to be small.
_MAX_BYTES = 4 * 1024 * 1024
_YEAR_9000 = 221845392000.0


def state_path(pidfile: str) -> str:
    return pidfile + ".schedules"


def read_last_runs(path: str) -> dict[str, tuple[str, float]]:
    """process name -> (its schedule's text, the wall-clock start of its last run)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        with open(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValueError("not a regular file")
            data = json.loads(file.read(_MAX_BYTES))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s (no missed run is made up): %s", path, exc)
        return {}
    runs = {}
    for name, entry in data.items() if isinstance(data, dict) else ():
        try:
            text, when = str(entry[0]), float(entry[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if not 0 < when < _YEAR_9000:  # nan, inf or a date no datetime holds
            continue
        runs[name] = (text, when)
    return runs


def write_last_runs(path: str, runs: dict[str, tuple[str, float]]) -> None:
    tmp = f"{path}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with open(os.open(tmp, flags, 0o600), "w") as file:
            json.dump({name: [text, when] for name, (text, when) in runs.items()}, file)
        os.replace(tmp, path)
    except OSError as exc:
        log.error("cannot record the last scheduled runs in %s: %s", path, exc.strerror or exc)
