"""Schedules on the loop: one timer, for the nearest due run of every scheduled process.

The calendar math is config/cron.py's (pure); here are the clocks and the timer. An
idle daemon wakes only when some run is due: there is never more than one timer, and
none at all without schedules (this module is loaded only for a config that has one).

Clocks: every deadline is on the monotonic clock (the loop's), so nothing drifts. A
cron run is also a wall-clock time: when the timer fires its wall time is checked
again, so a clock set back (an NTP step) waits for the wall time rather than running
early, and any firing also runs the cron entries whose wall time a clock set forward
has already passed. `@every` lives on the monotonic grid of its first run.

A run that is still going when the next is due is not started twice: it counts as
skipped (the `skipped` event). Each run's start is recorded (schedule_state.py) so a
daemon restart makes up at most one missed run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from supervisord_lite.base.log import log
from supervisord_lite.config import cron
from supervisord_lite.config.local_zone import local_timezone
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import ProcessState
from supervisord_lite.engine.schedule_state import read_last_runs, write_last_runs
from supervisord_lite.linux.loop import EventLoop, Timer, now
from supervisord_lite.logs import daemon_log

S = ProcessState
# A run is under way in these states: a new one would start it twice.
_BUSY = (S.STARTING, S.RUNNING, S.BACKOFF, S.STOPPING)
# Monotonic and wall clocks may part by NTP slewing: a wall-clock due this close counts.
_WALL_SLACK = 0.01


class ScheduleHost(Protocol):
    """What the scheduler needs of the supervisor."""

    loop: EventLoop
    processes: dict[str, Process]
    shutting_down: bool

    def start(self, process: Process) -> None: ...

    def notice(self, process: Process, item: dict) -> None: ...


class Entry:
    """One scheduled process: its schedule, when it runs next, what it did (core's
    ScheduleView: `status` reads it)."""

    __slots__ = ("text", "schedule", "due", "due_wall", "runs", "skipped", "last_run", "make_up")

    def __init__(self, text: str):
        self.text = text
        self.schedule = cron.parse(text)
        self.due = 0.0  # monotonic deadline
        self.due_wall: float | None = None  # the same, as a wall-clock timestamp
        self.runs = 0
        self.skipped = 0
        self.last_run: float | None = None  # wall clock of the last run's start
        self.make_up = False  # the next run makes up one missed while the daemon was down

    @property
    def next_run(self) -> float | None:
        return None if self.due_wall is None else round(self.due_wall, 3)

    def key(self) -> tuple:
        return self.due_wall, self.runs, self.skipped


class Scheduler:
    def __init__(self, host: ScheduleHost, state_path: str):
        self.host = host
        self.state_path = state_path
        self.zone = local_timezone()  # read once: the zone file is not reread on the loop
        self.entries: dict[str, Entry] = {}
        self._timer: Timer | None = None
        self._recorded = read_last_runs(state_path)  # name -> (schedule text, last run)

    # -- the table --------------------------------------------------------------------

    def update(self, processes: Iterable[Process]) -> None:
        """Follow a (new) process table: an unchanged schedule keeps its next run, a new
        or changed one is timed afresh (after a restart: per first_due_after_start)."""
        old, self.entries = self.entries, {}
        mono, wall = now(), time.time()
        for process in processes:
            text = process.program.schedule
            if text is None:
                process.schedule = None
                continue
            entry = old.get(process.name)
            if entry is None or entry.text != text:
                entry = Entry(text)
                self._first_due(process.name, entry, mono, wall)
            self.entries[process.name] = process.schedule = entry
        self._arm()

    def _first_due(self, name: str, entry: Entry, mono: float, wall: float) -> None:
        recorded = self._recorded.pop(name, None)
        if recorded is not None and recorded[0] == entry.text:
            entry.last_run = recorded[1]
        last = None if entry.last_run is None else self._local(entry.last_run)
        local_now = self._local(wall)
        try:
            due = cron.first_due_after_start(entry.schedule, last, local_now)
        except ValueError as exc:  # every match falls in time this zone skips
            self._never(name, entry, exc)
            return
        # Compared as datetimes: a timestamp's trip through one rounds to microseconds.
        entry.make_up = last is not None and due <= local_now
        self._set_due(entry, due.timestamp(), mono, wall)

    def _never(self, name: str, entry: Entry, exc: ValueError) -> None:
        log.warning("%s: %s; it will not run", name, exc)
        entry.due, entry.due_wall = math.inf, None

    # -- across an exec of the daemon (reexec) ---------------------------------------------

    def snapshot(self) -> dict[str, list]:
        """What a reexec carries to the new image (the seam for engine/handover.py): per
        process its schedule, next run (wall clock), counts and last run. Without it the
        new image still reads the state file: at most one make-up run, counts from 0."""
        return {
            name: [e.text, e.due_wall, e.runs, e.skipped, e.last_run]
            for name, e in self.entries.items()
        }

    def restore(self, saved: dict[str, list]) -> None:
        """The new image's side: an unchanged schedule takes its next run and counts back
        (a changed or removed one keeps what update() gave it)."""
        mono, wall = now(), time.time()
        for name, (text, due_wall, runs, skipped, last_run) in saved.items():
            entry = self.entries.get(name)
            if entry is None or entry.text != text:
                continue
            entry.runs, entry.skipped, entry.last_run = runs, skipped, last_run
            entry.make_up = False
            if due_wall is not None:
                self._set_due(entry, due_wall, mono, wall)
        self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the one timer ----------------------------------------------------------------

    def _set_due(self, entry: Entry, due_wall: float, mono: float, wall: float) -> None:
        entry.due_wall = due_wall
        entry.due = mono + max(0.0, due_wall - wall)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        nearest = min((entry.due for entry in self.entries.values()), default=math.inf)
        if nearest != math.inf:
            self._timer = self.host.loop.call_later(nearest - now(), self._fire)

    def _fire(self) -> None:
        mono, wall = now(), time.time()
        runs_before = sum(entry.runs for entry in self.entries.values())
        for name, entry in list(self.entries.items()):
            interval = isinstance(entry.schedule, cron.IntervalSchedule)
            if interval and entry.due <= mono:
                self._run(name, entry, wall)
                due = cron.next_interval_due(entry.schedule, entry.due, mono)
                entry.due, entry.due_wall = due, wall + (due - mono)
            elif not interval and entry.due_wall is not None:
                if entry.due_wall <= wall + _WALL_SLACK:  # due, whatever the monotonic says
                    self._run(name, entry, wall)
                    after = self._local(max(wall, entry.due_wall))
                    try:
                        due = cron.next_run(entry.schedule, after)
                    except ValueError as exc:
                        self._never(name, entry, exc)
                        continue
                    self._set_due(entry, due.timestamp(), mono, wall)
                elif entry.due <= mono:  # the wall clock was set back: wait for it
                    self._set_due(entry, entry.due_wall, mono, wall)
        if sum(entry.runs for entry in self.entries.values()) != runs_before:
            self._record()  # once per firing, however many jobs it started
        self._arm()

    # -- a run --------------------------------------------------------------------------

    def _run(self, name: str, entry: Entry, wall: float) -> None:
        host = self.host
        process = host.processes.get(name)
        if process is None or host.shutting_down:
            return
        reason = f"schedule {entry.text}"
        if entry.make_up:
            entry.make_up = False
            reason += ": making up a run missed while the daemon was down"
        if process.state in _BUSY or process.waiting_for_deps:
            entry.skipped += 1
            reason += f": the last run is still going ({process.state.value})"
            daemon_log.info("skipped: %s (%s)", name, reason)
            host.notice(process, {"event": "skipped", "reason": reason})
            return
        entry.runs += 1
        entry.last_run = wall
        daemon_log.info("scheduled: %s (%s)", name, reason)
        host.notice(process, {"event": "scheduled", "reason": reason})
        host.start(process)

    def _record(self) -> None:
        runs = {
            name: (entry.text, entry.last_run)
            for name, entry in self.entries.items()
            if entry.last_run is not None
        }
        write_last_runs(self.state_path, runs)

    def _local(self, timestamp: float) -> datetime:
        return datetime.fromtimestamp(timestamp, self.zone)
