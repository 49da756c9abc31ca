"""Schedules as written: five cron fields (numbers, ranges, steps, month and day names),
the @hourly-style names ISC cron knows, and @every DURATION, parsed into the values
cron.py computes runs from. Pure; a ValueError names the field and what is wrong.
"""

from __future__ import annotations

import re
from typing import Union

from supervisord_lite.base.frozen import Frozen, _set

# A longer @every is a calendar job: @monthly or @yearly say it better.
_MAX_INTERVAL = 366 * 86400

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MAX_DAY_OF_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# The @names ISC cron knows, as the five fields they stand for (entry.c load_entry).
_NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"([0-9]{1,9})([dhms])")
_NUMBER = re.compile(r"[0-9]{1,4}")
_FIVE_FIELDS = "minute hour day-of-month month day-of-week"


class _Field(Frozen):
    __slots__ = ("name", "low", "high", "names", "name_base")

    def __init__(self, name: str, low: int, high: int, names=(), name_base: int = 0):
        _set(self, "name", name)
        _set(self, "low", low)
        _set(self, "high", high)
        _set(self, "names", names)
        _set(self, "name_base", name_base)  # the number of the first name (jan 1, sun 0)


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES, 1),
    _Field("day-of-week", 0, 7, _DAY_NAMES, 0),  # 7 is Sunday too
)


class CronSchedule(Frozen):
    """Five cron fields as sorted tuples, plus the flags cron's DST and day rules read.

    ``days_of_week`` counts 0 = Sunday .. 6 = Saturday. ``day_of_month_star`` and
    ``day_of_week_star``: the field began with ``*`` (cron's DOM_STAR, DOW_STAR).
    ``wildcard``: the minute or hour field began with ``*`` (cron's MIN_STAR|HR_STAR).
    """

    __slots__ = (
        "text",
        "minutes",
        "hours",
        "days_of_month",
        "months",
        "days_of_week",
        "day_of_month_star",
        "day_of_week_star",
        "wildcard",
    )

    def __init__(
        self,
        text: str,
        minutes: tuple[int, ...],
        hours: tuple[int, ...],
        days_of_month: tuple[int, ...],
        months: tuple[int, ...],
        days_of_week: tuple[int, ...],
        day_of_month_star: bool,
        day_of_week_star: bool,
        wildcard: bool,
    ):
        values = (text, minutes, hours, days_of_month, months, days_of_week)
        flags = (day_of_month_star, day_of_week_star, wildcard)
        for name, value in zip(self.__slots__, values + flags):
            _set(self, name, value)

    def __str__(self) -> str:
        return self.text


class IntervalSchedule(Frozen):
    """``@every 1h30m``: a run every ``seconds``, timed on the monotonic clock."""

    __slots__ = ("text", "seconds")

    def __init__(self, text: str, seconds: int):
        _set(self, "text", text)
        _set(self, "seconds", seconds)

    def __str__(self) -> str:
        return self.text


Schedule = Union[CronSchedule, IntervalSchedule]


def parse(text: str) -> Schedule:
    """Parse a schedule; a ValueError says what is wrong and in which field."""
    stripped = text.strip()
    if stripped.startswith("@"):
        word, *rest_list = stripped.split(None, 1)
        word, rest = word.lower(), "".join(rest_list)
        if word == "@every":
            return IntervalSchedule(stripped, _parse_duration(rest.strip()))
        if word == "@reboot":
            raise ValueError("@reboot is not a schedule here: use autostart = true")
        if word not in _NICKNAMES or rest.strip():
            known = ", ".join([*_NICKNAMES, "@every DURATION"])
            raise ValueError(f'unknown schedule "{stripped}": expected one of {known}')
        return _parse_fields(stripped, _NICKNAMES[word])
    return _parse_fields(stripped, stripped)


def _parse_duration(text: str) -> int:
    parts = _DURATION_PART.findall(text)
    units = [unit for _, unit in parts]
    if not text or "".join(f"{n}{u}" for n, u in parts) != text or len(set(units)) != len(units):
        raise ValueError(f'@every: "{text}" is not a duration like 30s, 5m, 1h30m or 1d')
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if not 1 <= seconds <= _MAX_INTERVAL:
        raise ValueError(f"@every: {text} is outside 1s..366d")
    return seconds


def _parse_fields(text: str, fields_text: str) -> CronSchedule:
    specs = fields_text.split()
    if len(specs) != 5:
        raise ValueError(
            f'schedule "{text}" has {len(specs)} fields; cron needs five '
            f"({_FIVE_FIELDS}), or @hourly, @daily, @weekly, @monthly, @yearly, @every 30s"
        )
    minutes, hours, doms, months, dows = (
        _parse_field(field, spec) for field, spec in zip(_FIELDS, specs)
    )
    dows = {day % 7 for day in dows}
    dom_star, dow_star = specs[2].startswith("*"), specs[4].startswith("*")
    if dom_star or dow_star:
        # Both must match, so some chosen day must exist in some chosen month (Feb 29
        # counts: leap years come). With OR, every month has each weekday.
        if not any(day <= _MAX_DAY_OF_MONTH[month - 1] for day in doms for month in months):
            raise ValueError(
                f'schedule "{text}" never runs: day-of-month {min(doms)} does not occur '
                "in the months chosen"
            )
    return CronSchedule(
        text,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days_of_month=tuple(sorted(doms)),
        months=tuple(sorted(months)),
        days_of_week=tuple(sorted(dows)),
        day_of_month_star=dom_star,
        day_of_week_star=dow_star,
        wildcard=specs[0].startswith("*") or specs[1].startswith("*"),
    )


def _parse_field(field: _Field, spec: str) -> set[int]:
    """One field's list of items: ``*``, ``N``, ``N-M``, each optionally ``/STEP``."""
    values: set[int] = set()
    for item in spec.split(","):
        where = f'{field.name} field "{spec}"'
        range_part, slash, step_part = item.partition("/")
        if range_part == "*":
            low, high = field.low, field.high
        elif "-" in range_part:
            first, _, last = range_part.partition("-")
            low, high = _value(field, first, where), _value(field, last, where)
            if low > high:
                raise ValueError(f"{where}: range {range_part} runs backwards")
        else:
            low = high = _value(field, range_part, where)
            if slash:
                # ISC cron refuses "5/15" (entry.c get_range: a step follows a range).
                raise ValueError(
                    f"{where}: a step needs a range or *: write {low}-{field.high}/{step_part}"
                )
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_part) or int(step_part) == 0:
                raise ValueError(f'{where}: step "{step_part}" is not a whole number >= 1')
            step = int(step_part)
        values.update(range(low, high + 1, step))
    return values


def _value(field: _Field, token: str, where: str) -> int:
    if _NUMBER.fullmatch(token):
        number = int(token)
    elif token.lower() in field.names:
        number = field.names.index(token.lower()) + field.name_base
    else:
        expected = "a number" if not field.names else f"a number or {', '.join(field.names)}"
        raise ValueError(f'{where}: "{token}" is not {expected}')
    if not field.low <= number <= field.high:
        raise ValueError(f"{where}: {number} is out of range {field.low}-{field.high}")
    return number
