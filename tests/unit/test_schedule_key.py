"""The `schedule` key: its errors (golden, by file and key), the oneshot rule, and
autostart off by default for a scheduled job."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from supervisord_lite.config.load import load_config
from supervisord_lite.config.model import ConfigError

pytestmark = pytest.mark.timeout(30)


def load(tmp_path, monkeypatch, body: str):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.toml").write_text(textwrap.dedent(body))
    try:
        return load_config("example.toml", euid=0), []
    except ConfigError as exc:
        return None, exc.errors


@pytest.mark.parametrize(
    "value, message",
    [
        ('"*/5 * * *"', 'schedule "*/5 * * *" has 4 fields; cron needs five'),
        ('"61 * * * *"', 'minute field "61": 61 is out of range 0-59'),
        ('"@reboot"', "@reboot is not a schedule here: use autostart = true"),
        ('"@every 0s"', "@every: 0s is outside 1s..366d"),
        ('"0 0 31 2 *"', "never runs: day-of-month 31 does not occur in the months chosen"),
        ("300", "expected a string, got 300"),
    ],
)
def test_bad_schedules_say_what_and_where(tmp_path, monkeypatch, value, message):
    _, errors = load(
        tmp_path,
        monkeypatch,
        f"""
        [programs.job]
        command = "true"
        oneshot = true
        schedule = {value}
        """,
    )
    assert len(errors) == 1 and errors[0].startswith("example.toml: programs.job.schedule: ")
    assert message in errors[0], errors


def test_a_schedule_needs_a_oneshot(tmp_path, monkeypatch):
    _, errors = load(
        tmp_path, monkeypatch, '[programs.web]\ncommand = "true"\nschedule = "@hourly"\n'
    )
    assert errors == [
        "example.toml: programs.web.schedule: runs only a job: add oneshot = true (a "
        "schedule starts a program that runs to completion; a long-running service is "
        "started by autostart)"
    ]


def test_a_scheduled_job_is_not_autostarted_unless_asked(tmp_path, monkeypatch):
    config, errors = load(
        tmp_path,
        monkeypatch,
        """
        [programs.a]
        command = "true"
        oneshot = true
        schedule = " @every 1h30m "
        [programs.b]
        command = "true"
        oneshot = true
        schedule = "@daily"
        autostart = true
        [programs.c]
        command = "true"
        oneshot = true
        """,
    )
    assert errors == []
    programs = config.programs
    assert programs["a"].schedule == "@every 1h30m" and programs["a"].autostart is False
    assert programs["b"].autostart is True
    assert programs["c"].schedule is None and programs["c"].autostart is True


def test_no_schedule_loads_no_schedule_module(tmp_path):
    """Zero cost unused: without a schedule neither cron.py, zoneinfo nor the scheduler
    is imported by loading the config and building the process table."""
    body = '[programs.a]\ncommand = "true"\n'
    code = textwrap.dedent(
        f"""
        import sys
        from supervisord_lite.config.load import load_config
        from supervisord_lite.engine.supervisor import Supervisor
        from supervisord_lite.linux.loop import EventLoop
        for text in ({body!r}, {body!r} + 'oneshot = true\\nschedule = "@hourly"\\n'):
            open("example.toml", "w").write(text)
            Supervisor(load_config("example.toml", euid=0), EventLoop())
            names = ("zoneinfo", "supervisord_lite.config.cron",
                     "supervisord_lite.engine.scheduler")
            print(sorted(n for n in names if n in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    without, with_one = out.stdout.splitlines()
    assert without == "[]"
    assert "supervisord_lite.engine.scheduler" in with_one and "zoneinfo" in with_one
