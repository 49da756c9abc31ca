"""`export systemd` maps schedules to `.timer` units (docs/export.md): systemd-analyze
verifies them, and systemd's own calendar gives the same runs as ours (cron.next_run)
for each OnCalendar= it was given."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone

import pytest

from integration.systemd_units import needs_analyze, verify
from integration.test_export_systemd import export, unit_files, write_config
from supervisord_lite.config import cron

pytestmark = pytest.mark.timeout(120)

SCHEDULES = {
    "fives": "*/5 * * * *",
    "either": "30 2 1,15 * mon-fri",  # day of month OR weekday: two calendars
    "weekend": "10-30/5 */2 * jan-mar,dec sun,sat",
    "nightly": "@daily",
    "hourly": "@hourly",
    "sundays": "0 4 * * 7",
    "ranges": "0 9-17 * * 1-5",
}
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
RUNS = 12
_ELAPSE = re.compile(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def jobs() -> dict:
    return {
        name: {"command": ["true"], "oneshot": True, "schedule": text}
        for name, text in SCHEDULES.items()
    } | {"every": {"command": ["true"], "oneshot": True, "schedule": "@every 1h30m"}}


def systemd_runs(calendars: list[str]) -> list[datetime]:
    runs = set()
    for calendar in calendars:
        res = subprocess.run(
            ["systemd-analyze", "calendar", f"--iterations={RUNS}",
             "--base-time=2026-01-01 00:00:00 UTC", calendar],
            capture_output=True, text=True, timeout=30, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert res.returncode == 0, (calendar, res.stderr)
        for stamp in _ELAPSE.findall(res.stdout):
            runs.add(datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc))
    return sorted(runs)[:RUNS]


def our_runs(text: str) -> list[datetime]:
    schedule, at, runs = cron.parse(text), BASE, []
    while len(runs) < RUNS:
        at = cron.next_run(schedule, at)
        runs.append(at)
    return runs


@needs_analyze
def test_timers_verify_and_match_our_calendar(tmp_path):
    out = tmp_path / "units"
    res = export(write_config(tmp_path, jobs()), out)
    assert res.returncode == 0, res.stderr
    checked = verify(unit_files(out), tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name, text in SCHEDULES.items():
        timer = (out / f"supervisord-lite-{name}.timer").read_text()
        assert "Persistent=true" in timer and f"Unit=supervisord-lite-{name}.service" in timer
        calendars = re.findall(r"^OnCalendar=(.*)$", timer, re.M)
        assert calendars, timer
        assert systemd_runs(calendars) == our_runs(text), (text, calendars)
    every = (out / "supervisord-lite-every.timer").read_text()
    assert "OnActiveSec=5400s" in every and "OnUnitActiveSec=5400s" in every, every
    target = (out / "supervisord-lite@sdl.target").read_text()
    # The timers are wanted; the services they start are not (autostart off for a job).
    assert "supervisord-lite-nightly.timer" in target, target
    assert "supervisord-lite-nightly.service" not in target, target
