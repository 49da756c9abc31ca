"""Schedules: five-field cron in local time, @hourly-style names, and @every intervals.

Pure: date arithmetic only (the parsing is cron_parse.py's); the shell arms timers and
reads the clocks.

Which runs happen is ISC ("Vixie") cron's rule, as its main loop in cron.c decides it, so
a crontab line moved here behaves as it did under cron:

* A *fixed-time* job (its minute and hour fields do not begin with ``*``, e.g.
  ``30 2 * * *`` or ``@daily``) whose time falls in the hour skipped by a spring-forward
  runs once, at the jump (cron.c "case 2: DST begins" runs the fixed-time jobs of every
  skipped minute when it wakes after the jump). A fixed-time job whose time falls in the
  hour repeated by a fall-back runs once, at the first pass (cron.c "case 0: DST ends"
  runs only wildcard jobs until the clock has caught up).
* A *wildcard* job (``*/5 * * * *``, ``0 * * * *``, ``@hourly``) runs at every real
  instant whose local time matches: none in the skipped hour, both passes of the
  repeated hour, so it keeps its cadence in real time.
* cron's thresholds apply to unusual jumps: a skipped span of 4 minutes or less is
  caught up whole (cron.c "case 1"); one of 3 hours or more is not caught up at all,
  and a repeated span over 3 hours replays every job (cron.c "default: time has changed
  a *lot*"). Real DST changes (30 min to 2 h) never reach them.
* Several matching minutes inside one skipped span make one run at the jump, not a
  burst: a program is started once at a time anyway.
* Day of month and day of week: when both fields are restricted the day matches if
  *either* does; when either begins with ``*`` (``*`` or ``*/2``) both must match
  (cron.c find_jobs, the DOM_STAR/DOW_STAR test).

Runs missed while the daemon was down (``first_due_after_start``): at most one, at start,
as systemd timers with ``Persistent=true`` and anacron do. A schedule on a process
manager usually stands for a job that has to happen (a backup, a report), and the
daemon's own restart around its time should not silently cancel it; replaying every
missed run in a burst is what nobody wants. Without a recorded last run there is
nothing to make up.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional

# What a schedule says is cron_parse.py's; `cron.parse` stays the one entry point.
from supervisord_lite.config.cron_parse import CronSchedule, IntervalSchedule, Schedule, parse

__all__ = [
    "CronSchedule",
    "IntervalSchedule",
    "Schedule",
    "first_due_after_start",
    "matches",
    "matches_day",
    "next_interval_due",
    "next_run",
    "parse",
]

MINUTE = timedelta(minutes=1)
# cron.c's limits on a clock jump, in minutes of wall time between two wakeups.
_CATCH_UP_EVERYTHING = timedelta(minutes=4)  # "case 1": a late wakeup, run all
_CATCH_UP_FIXED_BELOW = timedelta(hours=3)  # "case 2" / "case 0" below this
# A valid schedule matches within one Gregorian cycle (Feb 29 on a given weekday).
_SEARCH_YEARS = 400


def matches_day(schedule: CronSchedule, day: datetime) -> bool:
    """Whether cron would run on this date (month, and the day-of-month/week rule)."""
    if day.month not in schedule.months:
        return False
    on_dom = day.day in schedule.days_of_month
    on_dow = (day.weekday() + 1) % 7 in schedule.days_of_week
    if schedule.day_of_month_star or schedule.day_of_week_star:
        return on_dom and on_dow
    return on_dom or on_dow


def matches(schedule: CronSchedule, wall: datetime) -> bool:
    """Whether a wall-clock time (its date, hour and minute) matches every field."""
    return (
        wall.minute in schedule.minutes
        and wall.hour in schedule.hours
        and matches_day(schedule, wall)
    )


def _next_in(values: tuple[int, ...], at_least: int) -> Optional[int]:
    index = bisect.bisect_left(values, at_least)
    return values[index] if index < len(values) else None


def _next_matching_wall_time(
    schedule: CronSchedule, wall: datetime, last_year: int
) -> Optional[datetime]:
    """The first naive wall-clock minute from ``wall`` on that matches, up to last_year."""
    while wall.year <= last_year:
        if wall.month not in schedule.months:
            month = _next_in(schedule.months, wall.month)
            if month is None:
                wall = datetime(wall.year + 1, schedule.months[0], 1)
            else:
                wall = datetime(wall.year, month, 1)
            continue
        if not matches_day(schedule, wall):
            wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
            continue
        hour = _next_in(schedule.hours, wall.hour)
        if hour is None:
            wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
            continue
        if hour != wall.hour:
            wall = wall.replace(hour=hour, minute=0)
        minute = _next_in(schedule.minutes, wall.minute)
        if minute is None:
            wall = wall.replace(minute=0) + timedelta(hours=1)
            continue
        return wall.replace(minute=minute)
    return None


def next_run(schedule: CronSchedule, after: datetime) -> datetime:
    """The first run strictly after ``after``, as an aware datetime in ``after``'s zone.

    ``after`` must be aware, in the zone local time follows (``local_zone``; a fixed
    ``timezone`` knows no DST). A result in a repeated hour's second pass has fold=1:
    compare results as instants (``<`` between one tzinfo's datetimes ignores fold).
    A ValueError means it never runs in this zone (every match in skipped time).
    """
    if not isinstance(schedule, CronSchedule):
        raise TypeError("next_run takes a cron schedule; @every runs on next_interval_due")
    zone = after.tzinfo
    if zone is None or after.utcoffset() is None:
        raise ValueError("next_run needs an aware datetime (local time with its zone)")
    after_utc = after.astimezone(timezone.utc)
    wall_after = after_utc.astimezone(zone).replace(tzinfo=None)
    # A repeated hour that starts soon holds wall times *before* wall_after whose second
    # pass is still to come: start that far back.
    wall = wall_after.replace(second=0, microsecond=0) - _fold_ahead(zone, after_utc)
    best: Optional[datetime] = None
    # Fields always match within the bound; runs might not, if every match fell in time
    # the zone skips (a zone skipping the same date each year).
    last_year = wall.year + _SEARCH_YEARS
    while True:
        match = _next_matching_wall_time(schedule, wall, last_year)
        if match is None:
            break
        wall = match
        first, runs = _runs_at(schedule, wall, zone)
        # First occurrences grow with wall time, and a second pass comes after its first:
        # once a first occurrence passes the best run, nothing later can beat it.
        if best is not None and first > best:
            return best.astimezone(zone)
        for run in runs:
            if run > after_utc and (best is None or run < best):
                best = run
        wall += MINUTE
    if best is not None:
        return best.astimezone(zone)
    raise ValueError(f'schedule "{schedule.text}" never runs in local time ({zone})')


def _offset_at(zone: tzinfo, instant_utc: datetime) -> timedelta:
    offset = instant_utc.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _fold_ahead(zone: tzinfo, after_utc: datetime) -> timedelta:
    """How much wall time repeats in the day after ``after_utc`` (0 if none)."""
    now = _offset_at(zone, after_utc)
    if _offset_at(zone, after_utc + timedelta(hours=25)) == now:
        return timedelta(0)  # no change within a day: tzdata never has two that close
    lowest = min(_offset_at(zone, after_utc + timedelta(hours=h)) for h in range(1, 26))
    return max(now - lowest, timedelta(0))


def _runs_at(
    schedule: CronSchedule, wall: datetime, zone: tzinfo
) -> tuple[datetime, list[datetime]]:
    """(first instant of this wall minute, the UTC instants cron runs the job for it)."""
    earlier = wall.replace(tzinfo=zone, fold=0)
    later = wall.replace(tzinfo=zone, fold=1)
    offset_before, offset_after = earlier.utcoffset(), later.utcoffset()
    assert offset_before is not None and offset_after is not None
    as_utc = wall.replace(tzinfo=timezone.utc)
    if offset_before == offset_after:
        instant = as_utc - offset_before
        return instant, [instant]
    if offset_before > offset_after:
        # A repeated hour (PEP 495: fold=0 is the first pass, the larger offset).
        first, second = as_utc - offset_before, as_utc - offset_after
        replays_all = offset_before - offset_after > _CATCH_UP_FIXED_BELOW
        return first, [first, second] if schedule.wildcard or replays_all else [first]
    # A skipped hour: cron runs it, if at all, when it wakes after the jump.
    skipped = offset_after - offset_before
    jump = _transition(zone, as_utc - offset_after, as_utc - offset_before)
    if skipped <= _CATCH_UP_EVERYTHING:
        return jump, [jump]
    if skipped < _CATCH_UP_FIXED_BELOW and not schedule.wildcard:
        return jump, [jump]
    return jump, []


def _transition(zone: tzinfo, before_utc: datetime, after_utc: datetime) -> datetime:
    """The first whole second in (before_utc, after_utc] with the zone's new offset."""
    offset_before = _offset_at(zone, before_utc)
    # Whole seconds: every tzdata transition falls on one.
    low, high = math.floor(before_utc.timestamp()), math.ceil(after_utc.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, datetime.fromtimestamp(middle, timezone.utc)) == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, timezone.utc)


def next_interval_due(schedule: IntervalSchedule, last_due: float, now: float) -> float:
    """The first monotonic time ``last_due + k * seconds`` (k >= 1) that is after ``now``.

    Runs stay on the grid of the first one (no drift from a late wakeup or a long run),
    and a wakeup late by several intervals gives one run, not one per interval: the
    grid points in between are the caller's skipped runs.
    """
    if now < last_due:
        return last_due + schedule.seconds
    intervals = int((now - last_due) // schedule.seconds) + 1
    return last_due + intervals * schedule.seconds


def first_due_after_start(
    schedule: Schedule, last_run: Optional[datetime], now: datetime
) -> datetime:
    """When a schedule first runs after the daemon (re)starts: ``now`` to make up a missed
    run (at most one), else its next regular time.

    ``last_run`` is the recorded start of the last run (aware), or None when none was
    recorded: then nothing is made up. A ``last_run`` in the future (the clock was set
    back) counts as unknown. For ``@every`` the result is on the wall clock; the caller
    turns ``result - now`` into a monotonic deadline.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("first_due_after_start needs an aware datetime")
    now_utc = now.astimezone(timezone.utc)
    if last_run is not None and last_run.astimezone(timezone.utc) > now_utc:
        last_run = None
    if isinstance(schedule, IntervalSchedule):
        step = timedelta(seconds=schedule.seconds)
        if last_run is None:
            return (now_utc + step).astimezone(now.tzinfo)
        due = last_run.astimezone(timezone.utc) + step
        return now if due <= now_utc else due.astimezone(now.tzinfo)
    if last_run is not None:
        missed = next_run(schedule, last_run.astimezone(now.tzinfo))
        if missed.astimezone(timezone.utc) <= now_utc:
            return now
    return next_run(schedule, now)
