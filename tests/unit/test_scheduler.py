"""The scheduler on a real loop and process table (no clock faked: the clocks' disagreement
is put in the entries' deadlines): one timer for the nearest run, a reload keeping an
unchanged schedule's next run, the reexec seam, a wall clock set back or forward, and a
busy run skipped."""

from __future__ import annotations

import textwrap
import time

import pytest

from supervisord_lite.config.load import load_config
from supervisord_lite.core.process import slots_for
from supervisord_lite.engine.scheduler import Scheduler
from supervisord_lite.engine.supervisor import Supervisor
from supervisord_lite.linux.loop import EventLoop, now

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


class Host:
    """The scheduler's ScheduleHost, recording what it is asked (the seam, not the OS)."""

    def __init__(self, loop: EventLoop, processes: dict):
        self.loop, self.processes, self.shutting_down = loop, processes, False
        self.started: list[str] = []
        self.notices: list[tuple[str, str]] = []

    def start(self, process) -> None:
        self.started.append(process.name)

    def notice(self, process, item: dict) -> None:
        self.notices.append((process.name, item["event"]))


def scheduler_for(tmp_path, monkeypatch, loop, schedules):
    cfg = config(tmp_path, monkeypatch, schedules)
    host = Host(loop, slots_for(cfg.programs.values(), {})[0])
    sched = Scheduler(host, str(tmp_path / "p.pid.schedules"))
    sched.update(host.processes.values())
    return host, sched


def test_a_cron_run_waits_for_its_wall_time_when_the_clock_was_set_back(tmp_path, monkeypatch):
    loop = EventLoop()
    try:
        host, sched = scheduler_for(tmp_path, monkeypatch, loop, {"a": "0 3 * * *"})
        entry = sched.entries["a"]
        # The monotonic deadline has come, but the wall clock says 100 s to go.
        entry.due, entry.due_wall = now() - 1, time.time() + 100
        sched._fire()
        assert host.started == [] and entry.runs == 0
        assert entry.due == pytest.approx(now() + 100, abs=1)
        assert [t.when for t in live_timers(loop)] == [pytest.approx(entry.due, abs=0.01)]
    finally:
        loop.close()


def test_a_firing_runs_the_cron_jobs_a_clock_set_forward_made_due(tmp_path, monkeypatch):
    loop = EventLoop()
    try:
        host, sched = scheduler_for(
            tmp_path, monkeypatch, loop, {"a": "0 3 * * *", "b": "@every 1h"}
        )
        a, b = sched.entries["a"], sched.entries["b"]
        # a's wall time has passed (the clock jumped) though its monotonic deadline has
        # not; b is due: the one firing starts both, once, and times a's next day.
        a.due, a.due_wall = now() + 3600, time.time() - 1
        b.due = now() - 0.001
        sched._fire()
        assert sorted(host.started) == ["a", "b"]
        assert host.notices == [("a", "scheduled"), ("b", "scheduled")]
        # the next 03:00 after now, whatever the hour the test runs at
        assert time.time() < a.next_run <= time.time() + 25 * 3600 and a.runs == 1
        assert time.localtime(a.next_run)[3:6] == (3, 0, 0)
        assert (tmp_path / "p.pid.schedules").exists()  # the runs are on record
    finally:
        loop.close()


def test_a_run_still_going_is_skipped_not_started(tmp_path, monkeypatch):
    loop = EventLoop()
    try:
        host, sched = scheduler_for(tmp_path, monkeypatch, loop, {"a": "@every 1h"})
        process = host.processes["a"]
        process.waiting_for_deps = True  # busy: its last start still waits
        sched.entries["a"].due = now() - 0.001
        sched._fire()
        assert host.started == [] and host.notices == [("a", "skipped")]
        assert (sched.entries["a"].runs, sched.entries["a"].skipped) == (0, 1)
    finally:
        loop.close()
