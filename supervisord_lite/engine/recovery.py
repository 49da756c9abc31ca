"""Crash recovery: remember our children beside the pidfile, and clean up after a
predecessor that was killed with SIGKILL (its children outlive it).

A pid alone is not an identity: pids are recycled. Each record pairs the pid with the
process's start time (field 22 of /proc/PID/stat, clock ticks since boot), and a
stray is touched only if both still match.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable

from supervisord_lite.base import cjson
from supervisord_lite.base.log import log
from supervisord_lite.linux.proctree import read_file


def children_path(pidfile: str) -> str:
    return pidfile + ".children"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone.

    A zombie counts as gone: it holds no resources and only its parent can reap it.
    """
    try:
        stat = read_file(f"/proc/{pid}/stat")  # 3 system calls; open() makes 9
    except OSError:
        return _psutil_start_time(pid)
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None
    return int(fields[19])  # field 22 overall


def _psutil_start_time(pid: int) -> int | None:
    if os.path.isdir("/proc"):
        return None  # /proc exists, so the process is simply gone
    try:
        import psutil

        return int(psutil.Process(pid).create_time() * 100)
    except Exception:
        return None


class ChildRecord:
    """Writes {process name: [pid, start time]} atomically.

    At the end of the loop turn that changed it, but at most every MIN_INTERVAL seconds:
    a crash storm must not rewrite the file every turn. A quiet daemon's record is
    current within a turn; in a storm a SIGKILL may miss the last 0.1 s of spawns.
    """

    MIN_INTERVAL = 0.1

    def __init__(self, path: str, call_later: Callable[[float, Callable[[], None]], object]):
        self.path = path
        self.call_later = call_later
        self.children: dict[str, list[int]] = {}
        self.dirty = False
        self.last_write = -self.MIN_INTERVAL

    def spawned(self, name: str, pid: int) -> None:
        # The start time is read when the record is written, after this loop turn's
        # spawns: reading /proc/PID/stat while the child is still in exec contends with
        # the exec, which would slow every spawn.
        # Two children of one name (a surge: restart --rolling) are both kept, the
        # second as NAME#PID, so that neither outlives a SIGKILLed daemon unstopped.
        held = self.children.get(name)
        if held is not None and held[0] != pid:
            name = f"{name}#{pid}"
        self.children[name] = [pid, None]
        self._mark()

    def exited(self, name: str, pid: int | None = None) -> None:
        held = self.children.get(name)
        if held is not None and pid is not None and held[0] != pid:
            name = f"{name}#{pid}"
        if self.children.pop(name, None) is not None:
            self._mark()

    def _mark(self) -> None:
        if not self.dirty:
            self.dirty = True
            wait = self.last_write + self.MIN_INTERVAL - time.monotonic()
            self.call_later(max(0.0, wait), self.write)

    def write(self) -> None:
        self.dirty = False
        self.last_write = time.monotonic()
        for name, record in list(self.children.items()):
            if record[1] is None:
                started = start_time(record[0])
                if started is None:
                    del self.children[name]  # already gone: its exit is on its way
                else:
                    record[1] = started
        tmp = f"{self.path}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(cjson.dumps(self.children))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot record children in %s: %s", self.path, exc.strerror)

    def remove(self) -> bool:
        """Remove the record, unless a child on it still runs: then bring it up to date
        and keep it (a daemon dying of an unexpected error leaves its children to the
        next one, which can stop them only if they are on record). True if removed."""
        for name, (pid, started) in list(self.children.items()):
            current = start_time(pid)
            if current is None or (started is not None and current != started):
                del self.children[name]  # gone; its exit was never reaped by us
        if self.children:
            self.write()
            return False
        for path in (self.path, f"{self.path}.tmp"):
            try:
                os.unlink(path)
            except OSError:
                pass
        return True


def stop_strays(path: str, stop_settings: Callable[[str], tuple[int, float, bool]]) -> list[str]:
    """Stop the recorded children of a dead predecessor that still run; return their names.

    stop_settings(name) gives (stopsignal, stopwaitsecs, stopasgroup) for a process
    name, from the current config (defaults for names it no longer has).
    """
    try:
        with open(path) as f:
            records = cjson.loads(f.read())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return []
    strays = {}
    for name, record in records.items() if isinstance(records, dict) else ():
        try:
            pid, started = int(record[0]), int(record[1])
        except (TypeError, ValueError, IndexError):
            continue
        if pid > 1 and start_time(pid) == started:
            strays[name] = (pid, started)
    if strays:
        found = ", ".join(f"{n} (pid {pid})" for n, (pid, _) in strays.items())
        log.warning("a previous daemon left processes running: %s; stopping them", found)
    deadlines = {}
    give_up = float("inf")
    for name, (pid, _) in strays.items():
        signum, wait, as_group = stop_settings(name)
        _signal(pid, signum, as_group)
        deadlines[name] = time.monotonic() + wait
    while strays:
        for name, (pid, started) in list(strays.items()):
            if start_time(pid) != started:
                del strays[name]
                log.info("stopped: %s (pid %d, left by a previous daemon)", name, pid)
            elif time.monotonic() >= deadlines[name]:
                log.warning("killing %s (pid %d) with SIGKILL", name, pid)
                _signal(pid, signal.SIGKILL, stop_settings(name)[2])
                deadlines[name] = float("inf")
                give_up = time.monotonic() + 5
            elif time.monotonic() >= give_up:
                log.error("%s (pid %d) survives SIGKILL; leaving it", name, pid)
                del strays[name]
        if strays:
            time.sleep(0.01)  # start-up only, before we serve anyone: polling is fine here
    os.unlink(path)
    return list(records)


def _signal(pid: int, signum: int, as_group: bool) -> None:
    try:
        if as_group and os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
