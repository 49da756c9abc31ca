"""The scheduler's table work on a real loop and process table (no clock faked): one
timer for the nearest run, a reload keeping an unchanged schedule's next run, and the
reexec seam carrying next runs and counts to a new table."""

from __future__ import annotations

import textwrap

import pytest

from supervisord_lite.config.load import load_config
from supervisord_lite.core.process import slots_for
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import EventLoop

pytestmark = pytest.mark.timeout(30)


def config(tmp_path, monkeypatch, schedules: dict[str, str]):
    monkeypatch.chdir(tmp_path)
    body = '[supervisord]\npidfile = "p.pid"\nsocket = "s.sock"\n'
    for name, text in schedules.items():
        body += textwrap.dedent(
            f"""
            [programs.{name}]
            command = "true"
            oneshot = true
            schedule = "{text}"
            """
        )
    (tmp_path / "c.toml").write_text(body)
    return load_config("c.toml", euid=0)


def live_timers(loop: EventLoop) -> list:
    return [t for _, _, t in loop._timers if not t.cancelled]


def test_one_timer_for_the_nearest_run_and_reload_keeps_the_unchanged(tmp_path, monkeypatch):
    loop = EventLoop()
    try:
        first = config(tmp_path, monkeypatch, {"a": "@every 1h", "b": "@every 10m"})
        supervisor = Supervisor(first, loop)
        timers = live_timers(loop)
        assert len(timers) == 1
        entries = supervisor.scheduler.entries
        assert timers[0].when == pytest.approx(entries["b"].due, abs=0.01)  # the nearest
        a_due, b_due = entries["a"].next_run, entries["b"].next_run
        second = config(tmp_path, monkeypatch, {"a": "@every 1h", "b": "@every 20m"})
        supervisor.set_table(second, slots_for(second.programs.values(), {})[0])
        entries = supervisor.scheduler.entries
        assert entries["a"].next_run == a_due  # unchanged: kept
        assert entries["b"].next_run > b_due  # changed: timed afresh
        assert len(live_timers(loop)) == 1
        assert supervisor.processes["a"].schedule is entries["a"]
        supervisor.scheduler.close()
        assert live_timers(loop) == []
    finally:
        loop.close()


def test_the_reexec_seam_carries_next_runs_and_counts(tmp_path, monkeypatch):
    loop = EventLoop()
    try:
        cfg = config(tmp_path, monkeypatch, {"a": "@every 1h", "b": "*/5 * * * *"})
        old = Supervisor(cfg, loop)
        old.scheduler.entries["a"].runs = 3
        old.scheduler.entries["b"].skipped = 2
        saved = old.scheduler.snapshot()
        old.scheduler.close()
        changed = config(tmp_path, monkeypatch, {"a": "@every 1h", "b": "@every 2h"})
        new = Supervisor(changed, loop)
        new.scheduler.restore(saved)
        entries = new.scheduler.entries
        assert (entries["a"].runs, entries["a"].next_run) == (3, round(saved["a"][1], 3))
        assert entries["b"].skipped == 0  # its schedule changed: not carried
        assert len(live_timers(loop)) == 1
    finally:
        loop.close()
