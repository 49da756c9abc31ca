"""Schedules (SPEC §13, docs/lifecycle.md) through the real daemon: `@every` and cron
runs of a oneshot, never two at once (skipped runs counted and told), the next run in
`status`, kept across reload, at most one make-up run after a restart, and no wakeup
between runs. The calendar math (DST, day rules) is tests/unit/test_cron.py's."""

from __future__ import annotations

import json
import socket
import sys
import time
from datetime import datetime

import psutil
import pytest

pytestmark = pytest.mark.timeout(60)

PY = sys.executable


def job(marks: str, sleep: float = 0.0, **extra):
    """A oneshot that writes "start" and "end" lines to `marks` around a sleep."""
    script = (
        "import sys, time\n"
        f"open({marks!r}, 'a').write('start\\n')\n"
        f"time.sleep({sleep})\n"
        f"open({marks!r}, 'a').write('end\\n')\n"
    )
    return {"command": [PY, "-c", script], "oneshot": True, "startretries": 0, **extra}


def lines(path) -> list[str]:
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


def subscribe(daemon) -> tuple[socket.socket, object]:
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.settimeout(20)
    stream.connect(str(daemon.socket))
    reader = stream.makefile("r", encoding="utf-8")
    stream.sendall(b'{"id": 1, "cmd": "events"}\n')
    assert json.loads(reader.readline())["result"] == {"subscribed": True}
    return stream, reader


def test_every_job_longer_than_its_interval_is_never_started_twice(daemon):
    marks = daemon.path("marks")
    daemon.start({"slow": job(str(marks), sleep=3.0, schedule="@every 2s")})
    st = daemon.status()["slow"]
    # Not run at launch: a scheduled job waits for its time (autostart defaults off).
    assert st["state"] == "STOPPED" and st["scheduled_runs"] == 0, st
    assert st["schedule"] == "@every 2s" and st["next_run"] > time.time(), st
    assert "next run " in st["description"], st
    stream, reader = subscribe(daemon)
    try:
        events = []
        while not any(e.get("event") == "skipped" for e in events):
            reply = json.loads(reader.readline())
            events.append(reply["result"])
    finally:
        stream.close()
    kinds = [e.get("event") for e in events if "event" in e]
    assert kinds[0] == "scheduled" and "skipped" in kinds, events
    skipped = next(e for e in events if e.get("event") == "skipped")
    assert skipped["process"] == "slow" and "still going" in skipped["reason"], skipped
    st = daemon.wait_until(
        lambda: (s := daemon.status()["slow"])["scheduled_runs"] >= 2 and s, timeout=20
    )
    assert st["skipped_runs"] >= 1, st
    daemon.wait_state("slow", "EXITED", timeout=10)
    # Runs alternate start/end: never two at once.
    seen = lines(marks)
    assert seen[: len(seen) // 2 * 2] == ["start", "end"] * (len(seen) // 2), seen
    metrics = daemon.ctl_ok("metrics").stdout
    assert 'supervisord_lite_process_skipped_runs_total{name="slow",group="slow"}' in metrics


@pytest.mark.timeout(150)  # up to a minute to the next whole one
def test_cron_schedule_starts_the_job_at_the_minute(daemon):
    marks = daemon.path("marks")
    daemon.start({"tick": job(str(marks), schedule="* * * * *")})
    st = daemon.status()["tick"]
    due = st["next_run"]
    # The next whole minute of local time.
    assert due > time.time() and datetime.fromtimestamp(due).second == 0, st
    assert due - time.time() <= 60, st
    st = daemon.wait_until(
        lambda: (s := daemon.status()["tick"])["state"] == "EXITED" and s, timeout=75
    )
    assert st["scheduled_runs"] == 1 and st["completed"] is True, st
    assert lines(marks) == ["start", "end"]
    assert st["next_run"] == due + 60, st


@pytest.mark.timeout(40)
def test_reload_keeps_an_unchanged_schedule_and_recomputes_a_changed_one(daemon):
    programs = {
        "a": job(str(daemon.path("a")), schedule="@every 1h"),
        "b": job(str(daemon.path("b")), schedule="@every 1h"),
    }
    daemon.start(programs)
    before = daemon.status()
    daemon.wait_until(lambda: time.time() > before["a"]["next_run"] - 3600 + 1.5)
    programs["b"] = job(str(daemon.path("b")), schedule="@every 2h")
    programs["c"] = {"command": ["sleep", "300"]}
    daemon.write_config(programs)
    daemon.ctl_ok("reload")
    after = daemon.status()
    assert after["a"]["next_run"] == before["a"]["next_run"], (before, after)
    assert after["b"]["schedule"] == "@every 2h", after
    assert after["b"]["next_run"] >= before["b"]["next_run"] + 3600 + 1, (before, after)


@pytest.mark.timeout(60)
def test_a_restart_makes_up_one_missed_run_not_a_burst(daemon):
    marks = daemon.path("marks")
    daemon.start({"every": job(str(marks), schedule="@every 2s")})
    daemon.wait_until(lambda: daemon.status()["every"]["scheduled_runs"] == 1, timeout=10)
    daemon.wait_state("every", "EXITED")
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not daemon.pidfile.exists(), timeout=10)
    assert lines(marks) == ["start", "end"]
    down = time.time()
    daemon.wait_until(lambda: time.time() > down + 7, timeout=10)  # three runs missed
    daemon.start()
    daemon.wait_until(lambda: daemon.status()["every"]["scheduled_runs"] >= 1, timeout=10)
    daemon.wait_state("every", "EXITED")
    # One run at once for all the missed ones, said to be the make-up; then the grid.
    made_up = "scheduled: every (schedule @every 2s: making up a run missed while"
    assert daemon.log_tail(200).count(made_up) == 1, daemon.log_tail(200)
    assert lines(marks)[:4] == ["start", "end"] * 2


def test_scheduled_daemon_does_not_wake_between_runs(daemon):
    marks = str(daemon.path("marks"))
    dpid = daemon.start(
        {
            "hourly": job(marks, schedule="@every 1h"),
            "yearly": job(marks, schedule="0 0 1 1 *"),
            "plain": {"command": ["sleep", "300"], "startsecs": 0},
        }
    )
    daemon.wait_state("plain", "RUNNING")
    proc = psutil.Process(dpid)
    time.sleep(0.5)  # start-up work (log flushes, the child record) settles
    before = proc.num_ctx_switches().voluntary
    time.sleep(1.5)
    assert proc.num_ctx_switches().voluntary - before == 0
    assert daemon.status()["hourly"]["scheduled_runs"] == 0


def test_schedule_on_a_service_is_refused_with_the_reason(daemon):
    daemon.write_config({"web": {"command": ["sleep", "300"], "schedule": "@hourly"}})
    res = daemon.launch()
    assert res.returncode != 0
    assert "programs.web.schedule: runs only a job: add oneshot = true" in res.stderr, res.stderr


@pytest.mark.timeout(30)
def test_a_bad_or_planted_state_file_makes_nothing_up(daemon):
    """The last runs are read O_NOFOLLOW and checked: a link planted beside the pidfile
    or values no clock holds are ignored, never a crash or a run."""
    long_ago = [["@every 1h", 1.0]]
    elsewhere = daemon.path("elsewhere.json")
    elsewhere.write_text(json.dumps({"a": long_ago[0]}))
    daemon.path("sdl.pid.schedules").symlink_to(elsewhere)
    programs = {"a": job(str(daemon.path("a")), schedule="@every 1h")}
    daemon.start(programs)
    assert daemon.status()["a"]["scheduled_runs"] == 0
    assert "ignoring unreadable" in daemon.log_tail(100)
    assert elsewhere.read_text() == json.dumps({"a": long_ago[0]})  # never written through
    daemon.ctl_ok("shutdown")
    daemon.wait_until(lambda: not daemon.pidfile.exists(), timeout=10)
    daemon.path("sdl.pid.schedules").unlink()
    daemon.path("sdl.pid.schedules").write_text('{"a": ["@every 1h", NaN], "b": 7}')
    daemon.start()
    assert daemon.status()["a"]["scheduled_runs"] == 0
