"""`export systemd` for schedules: a `.timer` unit beside each scheduled process's
service (docs/export.md).

A cron schedule becomes `OnCalendar=` in systemd's syntax (`DOW YYYY-MM-DD HH:MM:SS`),
written from the parsed fields so every cron form comes out alike: a whole range is
`*`, a step from the field's start `START/STEP`, otherwise values and `A..B` ranges.
Cron runs a job on a day matching day-of-month OR day-of-week when both are
restricted, where one OnCalendar= means AND: that case is two OnCalendar= lines.
`Persistent=true` is our make-up rule: one run for those missed while down.

`@every` becomes `OnActiveSec=` (the first run, one interval after the timer starts,
as ours one interval after the daemon starts) and `OnUnitActiveSec=` (then every
interval after the last start); systemd has no make-up for monotonic timers.
"""

from __future__ import annotations

from supervisord_lite.config import cron
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.systemd.export_files import MARKER
from supervisord_lite.systemd.syntax import comment, specifiers, visible

_DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def timer_lines(schedule_text: str) -> list[str]:
    """The [Timer] settings that start the service as `schedule_text` says."""
    schedule = cron.parse(schedule_text)
    if isinstance(schedule, cron.IntervalSchedule):
        every = f"{schedule.seconds}s"
        return [f"OnActiveSec={every}", f"OnUnitActiveSec={every}", "AccuracySec=1s"]
    calendars = on_calendar(schedule)
    return [*(f"OnCalendar={c}" for c in calendars), "Persistent=true", "AccuracySec=1s"]


def on_calendar(schedule: cron.CronSchedule) -> list[str]:
    """The OnCalendar= expressions (one, or two for cron's day-of-month OR day-of-week)."""
    time = f"{_field(schedule.hours, 0, 23)}:{_field(schedule.minutes, 0, 59)}:00"
    months = _field(schedule.months, 1, 12)
    doms = _field(schedule.days_of_month, 1, 31)
    dows = _weekdays(schedule.days_of_week)
    if schedule.day_of_month_star or schedule.day_of_week_star:
        weekday = "" if dows is None else dows + " "
        return [f"{weekday}*-{months}-{doms} {time}"]
    # Both restricted: either day matches (cron.c find_jobs), two calendars.
    return [f"*-{months}-{doms} {time}", f"{dows or '*'} *-{months}-* {time}"]


def _field(values: tuple[int, ...], low: int, high: int) -> str:
    if values == tuple(range(low, high + 1)):
        return "*"
    first = values[0]
    if len(values) > 2:
        step = values[1] - first
        if values == tuple(range(first, high + 1, step)) and values[-1] + step > high:
            return f"{first:02d}/{step}"
    return ",".join(_runs(values))


def _runs(values: tuple[int, ...]) -> list[str]:
    """Consecutive values as A..B ranges, two-digit numbers."""
    out = []
    start = previous = values[0]
    for value in values[1:]:
        if value != previous + 1:
            out.append(_span(start, previous))
            start = value
        previous = value
    out.append(_span(start, previous))
    return out


def _span(start: int, end: int) -> str:
    return f"{start:02d}" if start == end else f"{start:02d}..{end:02d}"


def _weekdays(days: tuple[int, ...]) -> str | None:
    """systemd's weekday list (None: every day), Monday-first ranges as it writes them."""
    if len(days) == 7:
        return None
    ordered = sorted(days, key=lambda d: (d - 1) % 7)  # Mon..Sun, so Sat..Sun is a range
    monday_first = tuple((d - 1) % 7 for d in ordered)
    parts = []
    for part in _runs(monday_first):
        ends = [int(n) for n in part.split("..")]
        parts.append("..".join(_DAY_NAMES[(n + 1) % 7] for n in ends))
    return ",".join(parts)


def timer_unit(program: ProgramConfig, service: str, source: str, target: str) -> str:
    """The `.timer` that starts `service` on the program's schedule."""
    assert program.schedule is not None
    lines = [
        MARKER,
        comment(f"from {source}: schedule {program.schedule}"),
        comment("local time; across DST systemd's calendar rule applies, not cron's"),
        "",
        "[Unit]",
        f"Description={specifiers(visible(f'{program.schedule} schedule of {service}'))}",
        f"PartOf={target}",
        "",
        "[Timer]",
        *timer_lines(program.schedule),
        f"Unit={service}",
        "",
        "[Install]",
        f"WantedBy={target}",
    ]
    return "\n".join(lines) + "\n"
