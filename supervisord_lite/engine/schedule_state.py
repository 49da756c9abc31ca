"""When each scheduled process last ran, kept beside the pidfile (`PIDFILE.schedules`),
so a daemon started after a restart (or a crash) makes up at most one missed run
(cron.first_due_after_start) instead of none or a burst.

A file of its own rather than the child record: that record is removed once no child
runs, and a schedule's last run must outlive every child. Written atomically (a
temporary file renamed over it) at each run's start: one small write per run.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger("supervisord_lite")

# Bounded like the config: a state file is ours, but never trusted to be small.
_MAX_BYTES = 4 * 1024 * 1024


def state_path(pidfile: str) -> str:
    return pidfile + ".schedules"


def read_last_runs(path: str) -> dict[str, tuple[str, float]]:
    """process name -> (its schedule's text, the wall-clock start of its last run)."""
    try:
        with open(path, "rb") as file:
            data = json.loads(file.read(_MAX_BYTES + 1)[:_MAX_BYTES])
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
        runs[name] = (text, when)
    return runs


def write_last_runs(path: str, runs: dict[str, tuple[str, float]]) -> None:
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as file:
            json.dump({name: [text, when] for name, (text, when) in runs.items()}, file)
        os.replace(tmp, path)
    except OSError as exc:
        log.error("cannot record the last scheduled runs in %s: %s", path, exc.strerror or exc)
