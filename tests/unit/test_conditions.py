"""core/conditions.py: whether a dependency meets a condition, waits, or can no longer
meet it (docs/lifecycle.md), on real machines fed scripted events."""

from __future__ import annotations

import pytest

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.conditions import MET, WAITING, verdict
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import Exited, Spawned, StartRequested, StopRequested

pytestmark = pytest.mark.timeout(30)

ALL = ("started", "ready", "healthy", "completed", "completed_successfully")


def dep(**config) -> Process:
    return Process(ProgramConfig(name="dep", command=("true",), **config), 0)


def feed(process: Process, *events) -> Process:
    for event in events:
        process.machine.handle(event)
    return process


def answers(process: Process) -> dict[str, str]:
    out = {}
    for c in ALL:
        v = verdict(c, process)
        out[c] = v if v in (MET, WAITING) else "failed"
    return out


def test_a_job_that_completed():
    job = feed(dep(oneshot=True), StartRequested(0), Spawned(10, 0), Exited(0, 1))
    assert answers(job) == {
        "started": MET,
        "ready": MET,  # a oneshot is "ready" once it completed, as systemd's oneshot
        "healthy": "failed",
        "completed": MET,
        "completed_successfully": MET,
    }


def test_a_job_that_failed_for_good():
    job = feed(dep(oneshot=True, startretries=0), StartRequested(0), Spawned(10, 0), Exited(3, 1))
    got = answers(job)
    assert got["completed"] == MET and got["completed_successfully"] == "failed", got
    reason = verdict("completed_successfully", job)
    assert reason.startswith("dependency dep is FATAL (exit status 3 (unexpected)"), reason
    assert reason.endswith('"completed_successfully" can no longer be met'), reason


def test_a_job_still_running_and_a_spawn_still_to_come():
    job = feed(dep(oneshot=True), StartRequested(0))
    assert set(answers(job).values()) == {WAITING}  # not even "started": no pid yet
    feed(job, Spawned(10, 0))
    got = answers(job)
    assert got.pop("started") == MET and set(got.values()) == {WAITING}


def test_a_service_running_then_stopped_by_hand():
    svc = feed(dep(startsecs=0), StartRequested(0), Spawned(10, 0))
    got = answers(svc)
    assert got["started"] == got["ready"] == MET and got["completed"] == WAITING
    feed(svc, StopRequested(1), Exited(-15, 2))
    assert set(answers(svc).values()) == {"failed"}
    assert "dependency dep is STOPPED" in verdict("ready", svc)


def test_a_dependency_waiting_for_its_own_dependencies_is_waiting():
    svc = dep()
    svc.waiting_for_deps = True
    assert set(answers(svc).values()) == {WAITING}
    svc.waiting_for_deps = False
    svc.dep_error = "dependency db is FATAL"
    assert verdict("ready", svc) == "dependency dep was not started: dependency db is FATAL"
