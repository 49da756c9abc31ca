"""config/cron.py: parsing, next runs, and ISC cron's behaviour across DST changes.

The DST tests compare next_run with a minute-by-minute simulation of ISC cron's main
loop (cron.c: virtualTime, timeRunning and its four kinds of wakeup), written here
independently of the module.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisord_lite.config import cron

pytestmark = pytest.mark.timeout(30)

UTC = timezone.utc


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip(f"time zone {name} is not installed (no tzdata, no /usr/share/zoneinfo)")


def runs(schedule: str, start: datetime, count: int) -> list[datetime]:
    parsed = cron.parse(schedule)
    found, at = [], start
    for _ in range(count):
        at = cron.next_run(parsed, at)
        found.append(at)
    return found


def wall(instant: datetime) -> tuple[str, int]:
    """A run as its local wall time and UTC offset in hours, for readable asserts."""
    offset = instant.utcoffset()
    assert offset is not None
    return instant.strftime("%m-%d %H:%M"), int(offset.total_seconds() // 3600)


# --- parsing ----------------------------------------------------------------------------


def test_fields_ranges_lists_steps_and_names():
    parsed = cron.parse("*/15 9-17/4 1,15 jan-MAR mon-fri")
    assert isinstance(parsed, cron.CronSchedule)
    assert parsed.minutes == (0, 15, 30, 45)
    assert parsed.hours == (9, 13, 17)
    assert parsed.days_of_month == (1, 15)
    assert parsed.months == (1, 2, 3)
    assert parsed.days_of_week == (1, 2, 3, 4, 5)
    assert parsed.wildcard and not parsed.day_of_month_star and not parsed.day_of_week_star


def test_seven_is_sunday_and_ranges_may_end_on_it():
    assert cron.parse("0 0 * * 7").days_of_week == (0,)
    assert cron.parse("0 0 * * 5-7").days_of_week == (0, 5, 6)


@pytest.mark.parametrize(
    ("nickname", "fields"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_nicknames_are_their_five_fields(nickname, fields):
    named, spelled = cron.parse(nickname), cron.parse(fields)
    assert isinstance(named, cron.CronSchedule) and isinstance(spelled, cron.CronSchedule)
    assert named.text == nickname
    assert (named.minutes, named.hours, named.days_of_month, named.months) == (
        spelled.minutes,
        spelled.hours,
        spelled.days_of_month,
        spelled.months,
    )
    assert named.days_of_week == spelled.days_of_week
    assert named.wildcard == spelled.wildcard  # @hourly is a wildcard job, @daily is not


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("@every 30s", 30), ("@every 5m", 300), ("@every 1h30m", 5400), ("@every 1d2h", 93600)],
)
def test_every_takes_durations(text, seconds):
    assert cron.parse(text) == cron.IntervalSchedule(text, seconds)
    assert str(cron.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("*/5 * * *", "has 4 fields; cron needs five (minute hour day-of-month month"),
        ("60 * * * *", 'minute field "60": 60 is out of range 0-59'),
        ("0 24 * * *", 'hour field "24": 24 is out of range 0-23'),
        ("0 0 0 * *", 'day-of-month field "0": 0 is out of range 1-31'),
        ("0 0 * 13 *", 'month field "13": 13 is out of range 1-12'),
        ("0 0 * * 8", 'day-of-week field "8": 8 is out of range 0-7'),
        ("0 0 * * fry", '"fry" is not a number or sun, mon, tue, wed, thu, fri, sat'),
        ("0 0 * * mon-", '"" is not a number or sun'),
        ("5-1 * * * *", "range 5-1 runs backwards"),
        ("*/0 * * * *", 'step "0" is not a whole number >= 1'),
        ("*/x * * * *", 'step "x" is not a whole number >= 1'),
        ("5/15 * * * *", "a step needs a range or *: write 5-59/15"),
        ("1,,2 * * * *", '"" is not a number'),
        ("\u0661 * * * *", "is not a number"),  # an Arabic-Indic one: int() takes it, cron not
        ("0 0 30 2 *", "never runs: day-of-month 30 does not occur in the months chosen"),
        ("0 0 31 4,6 *", "never runs"),
        ("@reboot", "@reboot is not a schedule here: use autostart = true"),
        ("@fortnightly", 'unknown schedule "@fortnightly": expected one of @hourly'),
        ("@daily 5", "unknown schedule"),
        ("@every", '@every: "" is not a duration'),
        ("@every 5x", '@every: "5x" is not a duration like 30s, 5m, 1h30m or 1d'),
        ("@every 1m1m", "is not a duration"),
        ("@every 0s", "outside 1s..366d"),
        ("@every 367d", "outside 1s..366d"),
    ],
)
def test_errors_say_what_and_where(text, says):
    with pytest.raises(ValueError) as caught:
        cron.parse(text)
    assert says in str(caught.value), str(caught.value)


def test_february_29th_and_or_rule_are_valid():
    cron.parse("0 0 29 2 *")  # leap years come
    cron.parse("0 0 30 2 mon")  # both restricted: every Monday in February matches


# --- which days match ---------------------------------------------------------------------


def days_run(schedule: str, month: int) -> list[int]:
    start = datetime(2024, month, 1, tzinfo=UTC) - timedelta(minutes=1)
    return [run.day for run in runs(schedule, start, 40) if run.month == month and run.year == 2024]


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    # June 2024: Sundays are 2, 9, 16, 23, 30.
    assert days_run("0 0 1,15 * sun", 6) == [1, 2, 9, 15, 16, 23, 30]


def test_a_star_in_either_day_field_means_both_must_match():
    assert days_run("0 0 * * sun", 6) == [2, 9, 16, 23, 30]
    assert days_run("0 0 1,15 * *", 6) == [1, 15]
    # "*/2" begins with "*": cron ANDs it (odd days that are Sundays), a known oddity.
    assert days_run("0 0 */2 * sun", 6) == [9, 23]


def test_feb_29_waits_for_a_leap_year():
    assert runs("0 12 29 2 *", datetime(2025, 1, 1, tzinfo=UTC), 2) == [
        datetime(2028, 2, 29, 12, tzinfo=UTC),
        datetime(2032, 2, 29, 12, tzinfo=UTC),
    ]


def test_next_run_needs_an_aware_time_and_a_cron_schedule():
    with pytest.raises(ValueError, match="aware"):
        cron.next_run(cron.parse("* * * * *"), datetime(2024, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="next_interval_due"):
        cron.next_run(cron.parse("@every 5s"), datetime(2024, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]


# --- properties (UTC, where wall time is simple) ------------------------------------------

FIELD_ITEMS = {
    "minute": st.sampled_from(["*", "*/5", "*/17", "0", "30", "59", "10-20/3", "0,45"]),
    "hour": st.sampled_from(["*", "*/3", "0", "1", "2", "3", "23", "1-3", "2,3", "0-4/2"]),
    "dom": st.sampled_from(["*", "*/2", "1", "15", "31", "1,15", "28-31", "29"]),
    "month": st.sampled_from(["*", "*", "*", "2", "3,10,11", "jan-jun", "*/4"]),
    "dow": st.sampled_from(["*", "*", "0", "sun", "mon-fri", "6,7", "*/2"]),
}


@st.composite
def schedules(draw) -> cron.CronSchedule:
    while True:
        fields = " ".join(draw(items) for items in FIELD_ITEMS.values())
        try:
            parsed = cron.parse(fields)
        except ValueError:  # "0 0 31 2 *" never runs: drawn again
            continue
        assert isinstance(parsed, cron.CronSchedule)
        return parsed


instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(), after=instants)
def test_next_run_is_later_matches_and_is_the_first(schedule, after):
    found = cron.next_run(schedule, after)
    assert found > after
    assert found.second == 0 and found.microsecond == 0
    assert cron.matches(schedule, found)
    # Nothing matches in between (checked minute by minute when the gap is short).
    if found - after <= timedelta(days=2):
        minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute < found:
            assert not cron.matches(schedule, minute), minute
            minute += timedelta(minutes=1)


@settings(max_examples=100, deadline=None)
@given(
    schedule=schedules(), first=instants, later_by=st.timedeltas(timedelta(0), timedelta(days=3))
)
def test_next_run_is_monotone(schedule, first, later_by):
    assert cron.next_run(schedule, first) <= cron.next_run(schedule, first + later_by)


# --- DST, against a simulation of ISC cron's main loop ------------------------------------


def isc_cron_runs(schedule: cron.CronSchedule, tz, start: datetime, end: datetime):
    """The UTC minutes in (start, end] at which ISC cron, waking once a minute, runs the job.

    cron.c main(): clockTime is local wall time in minutes; virtualTime is the last wall
    minute whose jobs ran; the difference picks one of its four kinds of wakeup.
    """

    def wall_minute(instant: datetime) -> int:
        offset = instant.astimezone(tz).utcoffset()
        return int((instant + offset).timestamp() // 60)

    def fields_match(minute: int) -> bool:
        when = datetime(1970, 1, 1) + timedelta(minutes=minute)
        on_dom = when.day in schedule.days_of_month
        on_dow = (when.weekday() + 1) % 7 in schedule.days_of_week
        either_star = schedule.day_of_month_star or schedule.day_of_week_star
        return (
            when.minute in schedule.minutes
            and when.hour in schedule.hours
            and when.month in schedule.months
            and ((on_dom and on_dow) if either_star else (on_dom or on_dow))
        )

    def find_jobs(minute: int, wild: bool, non_wild: bool) -> bool:
        kind_ok = (wild and schedule.wildcard) or (non_wild and not schedule.wildcard)
        return kind_ok and fields_match(minute)

    fired = []
    now = start.replace(second=0, microsecond=0)
    virtual = wall_minute(now)
    now += timedelta(minutes=1)
    while now <= end:
        running = wall_minute(now)
        diff = running - virtual
        runs_now = False
        if diff == 1:
            virtual = running
            runs_now = find_jobs(virtual, True, True)
        elif 0 < diff <= 5:  # case 1: woke up late, run every missed minute
            while virtual < running:
                virtual += 1
                runs_now |= find_jobs(virtual, True, True)
        elif 5 < diff <= 180:  # case 2: DST begins
            runs_now = find_jobs(running, True, False)
            while virtual < running:
                virtual += 1
                runs_now |= find_jobs(virtual, False, True)
        elif -180 < diff <= 0:  # case 0: DST ends, wildcard jobs only
            runs_now = find_jobs(running, True, False)
        else:  # the clock jumped a lot
            virtual = running
            runs_now = find_jobs(running, True, True)
        if runs_now:
            fired.append(now)
        now += timedelta(minutes=1)
    return fired


# (zone, a UTC instant a little before one of its transitions): spring forward and fall
# back by an hour, half an hour (Lord Howe), two hours (Troll), at midnight (Sao Paulo),
# and Samoa skipping 30 December 2011 whole.
TRANSITIONS = [
    ("America/New_York", datetime(2024, 3, 10, 4, 0, tzinfo=UTC)),
    ("America/New_York", datetime(2024, 11, 3, 3, 0, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 3, 30, 23, 0, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2024, 10, 26, 23, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 4, 6, 13, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2024, 10, 5, 13, 0, tzinfo=UTC)),
    ("Antarctica/Troll", datetime(2024, 3, 30, 22, 0, tzinfo=UTC)),
    ("Antarctica/Troll", datetime(2024, 10, 26, 22, 0, tzinfo=UTC)),
    ("America/Sao_Paulo", datetime(2018, 11, 3, 22, 0, tzinfo=UTC)),
    ("America/Sao_Paulo", datetime(2019, 2, 16, 23, 0, tzinfo=UTC)),
    ("Pacific/Apia", datetime(2011, 12, 29, 8, 0, tzinfo=UTC)),
]


def chained_runs(schedule: cron.CronSchedule, tz, start: datetime, end: datetime):
    found, at = [], start.astimezone(tz)
    while True:
        at = cron.next_run(schedule, at)
        if at.astimezone(UTC) > end:
            return found
        found.append(at.astimezone(UTC))


@pytest.mark.parametrize(("zone_name", "near"), TRANSITIONS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(), lead=st.integers(min_value=0, max_value=300))
def test_next_run_follows_isc_cron_across_transitions(zone_name, near, schedule, lead):
    tz = zone(zone_name)
    start = near - timedelta(minutes=lead, seconds=30)
    end = near + timedelta(hours=8)  # each transition is 2 to 5 hours after "near"
    assert chained_runs(schedule, tz, start, end) == isc_cron_runs(schedule, tz, start, end)


@pytest.mark.parametrize(
    "schedule",
    ["30 2 * * *", "0,30 2 * * *", "*/15 * * * *", "0 * * * *", "@daily", "@hourly", "* * * * *"],
)
@pytest.mark.parametrize(("zone_name", "near"), TRANSITIONS)
def test_common_schedules_follow_isc_cron(zone_name, near, schedule):
    tz = zone(zone_name)
    parsed = cron.parse(schedule)
    assert isinstance(parsed, cron.CronSchedule)
    start, end = near - timedelta(hours=2), near + timedelta(hours=8)
    assert chained_runs(parsed, tz, start, end) == isc_cron_runs(parsed, tz, start, end)


def test_spring_forward_new_york():
    tz = zone("America/New_York")
    eve = datetime(2024, 3, 9, 12, 0, tzinfo=tz)
    # 02:30 does not exist on 10 March: the fixed-time job runs at the jump, once.
    assert [wall(r) for r in runs("30 2 * * *", eve, 2)] == [
        ("03-10 03:00", -4),
        ("03-11 02:30", -4),
    ]
    assert [wall(r) for r in runs("0,30 2 * * *", eve, 2)] == [
        ("03-10 03:00", -4),
        ("03-11 02:00", -4),
    ]
    # A wildcard job has no run in the skipped hour.
    assert [wall(r) for r in runs("*/30 2 * * *", eve, 1)] == [("03-11 02:00", -4)]
    night = datetime(2024, 3, 10, 0, 30, tzinfo=tz)
    assert [wall(r) for r in runs("@hourly", night, 3)] == [
        ("03-10 01:00", -5),
        ("03-10 03:00", -4),
        ("03-10 04:00", -4),
    ]


def test_fall_back_berlin():
    tz = zone("Europe/Berlin")
    eve = datetime(2024, 10, 26, 12, 0, tzinfo=tz)
    # 02:30 happens twice on 27 October: a fixed-time job runs at the first one only.
    assert [wall(r) for r in runs("30 2 * * *", eve, 2)] == [("10-27 02:30", 2), ("10-28 02:30", 1)]
    # A wildcard job keeps its cadence through both passes.
    assert [wall(r) for r in runs("*/30 2 * * *", eve, 5)] == [
        ("10-27 02:00", 2),
        ("10-27 02:30", 2),
        ("10-27 02:00", 1),
        ("10-27 02:30", 1),
        ("10-28 02:00", 1),
    ]
    second_pass = runs("*/30 2 * * *", eve, 3)[-1]
    assert second_pass.fold == 1


def test_a_daily_job_survives_a_dst_change_at_midnight():
    tz = zone("America/Sao_Paulo")  # 4 November 2018: 00:00 became 01:00
    assert [wall(r) for r in runs("@daily", datetime(2018, 11, 3, 12, tzinfo=tz), 2)] == [
        ("11-04 01:00", -2),
        ("11-05 00:00", -2),
    ]


def test_a_day_skipped_whole_is_not_caught_up():
    tz = zone("Pacific/Apia")  # 30 December 2011 did not happen: over cron's 3 hours
    after = datetime(2011, 12, 29, 13, 0, tzinfo=tz)
    assert [r.strftime("%m-%d %H:%M") for r in runs("0 12 * * *", after, 1)] == ["12-31 12:00"]


def test_a_job_whose_matches_all_fall_in_skipped_time_is_reported(monkeypatch):
    # No real zone skips the same date every year, so shrink the search to one year and
    # use Samoa's 30 December 2011 (whole day skipped, over cron's 3 hours).
    tz = zone("Pacific/Apia")
    monkeypatch.setattr(cron, "_SEARCH_YEARS", 0)
    with pytest.raises(ValueError, match="never runs in local time"):
        cron.next_run(cron.parse("*/5 12 30 12 *"), datetime(2011, 12, 29, tzinfo=tz))


# --- intervals and restarts ---------------------------------------------------------------


def test_intervals_keep_their_grid_and_never_burst():
    every = cron.parse("@every 10s")
    assert isinstance(every, cron.IntervalSchedule)
    assert cron.next_interval_due(every, 100.0, 100.0) == 110.0
    assert cron.next_interval_due(every, 100.0, 104.5) == 110.0  # a run that took 4.5 s
    assert cron.next_interval_due(every, 100.0, 110.0) == 120.0
    assert cron.next_interval_due(every, 100.0, 135.2) == 140.0  # late: one run, grid kept
    assert cron.next_interval_due(every, 100.0, 50.0) == 110.0


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.integers(1, 86400),
    last_due=st.floats(0, 1e7, allow_nan=False),
    later=st.floats(0, 1e6, allow_nan=False),
)
def test_next_interval_due_is_the_next_grid_point(seconds, last_due, later):
    due = cron.next_interval_due(cron.IntervalSchedule("x", seconds), last_due, last_due + later)
    assert due > last_due + later
    assert due - seconds <= last_due + later + 1e-6
    steps = (due - last_due) / seconds
    assert abs(steps - round(steps)) < 1e-6 and round(steps) >= 1


def test_restart_makes_up_one_missed_run_at_most():
    daily = cron.parse("0 3 * * *")
    now = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
    # Last ran 9 June 03:00; 10 June 03:00 was missed while down: run now, once.
    assert cron.first_due_after_start(daily, datetime(2024, 6, 9, 3, tzinfo=UTC), now) == now
    # Down for a week: still one run now, not seven.
    assert cron.first_due_after_start(daily, datetime(2024, 6, 3, 3, tzinfo=UTC), now) == now
    # Nothing missed, nothing recorded, or a last run in the future: the next regular run.
    tomorrow = datetime(2024, 6, 11, 3, tzinfo=UTC)
    assert cron.first_due_after_start(daily, datetime(2024, 6, 10, 3, tzinfo=UTC), now) == tomorrow
    assert cron.first_due_after_start(daily, None, now) == tomorrow
    assert cron.first_due_after_start(daily, datetime(2024, 7, 1, 3, tzinfo=UTC), now) == tomorrow


def test_restart_with_an_interval():
    every = cron.parse("@every 1h")
    now = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert cron.first_due_after_start(every, None, now) == now + hour
    assert cron.first_due_after_start(every, now - 3 * hour, now) == now
    assert cron.first_due_after_start(every, now - hour / 4, now) == now + hour * 3 / 4


def test_restart_interval_arithmetic_is_in_real_time():
    tz = zone("America/New_York")
    every = cron.parse("@every 1h")
    before_jump = datetime(2024, 3, 10, 1, 30, tzinfo=tz)  # an hour later it is 03:30 EDT
    due = cron.first_due_after_start(every, before_jump, before_jump + timedelta(minutes=1))
    assert due.astimezone(UTC) - before_jump.astimezone(UTC) == timedelta(hours=1)


@settings(max_examples=500, deadline=None)
@given(
    text=st.text(max_size=40)
    | st.lists(
        st.sampled_from(["*", "/", "-", ",", " ", "5", "59", "0", "mon", "jan", "@every", "1h"]),
        max_size=15,
    ).map("".join)
)
def test_any_text_parses_or_is_refused_with_a_value_error(text):
    try:
        parsed = cron.parse(text)
    except ValueError as error:
        assert str(error)
    else:
        if isinstance(parsed, cron.CronSchedule):
            assert cron.next_run(parsed, datetime(2024, 1, 1, tzinfo=UTC)) > datetime(
                2024, 1, 1, tzinfo=UTC
            )
