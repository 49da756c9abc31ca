"""The `schedule` key of [programs.NAME]: its converter (the text checked by cron.parse,
kept as written) and the rules between it and the table's other keys.

The schedule stays text in ProgramConfig: reload compares programs key by key, and the
engine parses it again when it arms the timer (cron.py, loaded only then).
"""

from __future__ import annotations

from typing import Any

from supervisord_lite.config import values as cv
from supervisord_lite.config.messages import fail


def schedule(value: Any) -> str:
    """A schedule: five cron fields, @hourly-style names or @every DURATION."""
    # cron.py (and datetime) only for a config that has a schedule
    from supervisord_lite.config import cron

    text = cv.string(value).strip()
    try:
        cron.parse(text)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return text


def schedule_problems(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for each rule a scheduled program breaks."""
    if kwargs.get("schedule") is None:
        return []
    if not kwargs.get("oneshot"):
        return [
            (
                "schedule",
                "runs only a job: add oneshot = true (a schedule starts a program that "
                "runs to completion; a long-running service is started by autostart)",
            )
        ]
    return []


def scheduled_autostart(table: dict[str, Any], kwargs: dict[str, Any]) -> bool:
    """A scheduled job runs at its times, not at every daemon start: autostart defaults
    to false for it (an explicit autostart = true still starts it at launch too)."""
    if kwargs.get("schedule") is not None and "autostart" not in table:
        return False
    return kwargs["autostart"]
