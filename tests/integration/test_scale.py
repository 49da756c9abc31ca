"""`scale PROGRAM N` and a numprocs-only reload touch only the tail (docs/lifecycle.md)."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from integration.harness import helper, wait_until
from integration.test_cgroups import MOUNT, _remove_tree

WORKER = {
    "command": ["sleep", "300"],
    "numprocs": 4,
    "process_name": "w{process_num}",
    "startsecs": 0,
    "stopwaitsecs": 2,
}


def pids(daemon, program="work"):
    return {name: s["pid"] for name, s in daemon.status().items() if s["program"] == program}


def scale(daemon, n, program="work"):
    res = daemon.ctl("scale", program, n, "--json")
    assert res.returncode == 0, daemon.describe(res)
    return json.loads(res.stdout)


@pytest.mark.timeout(90)
def test_scale_4_8_2_keeps_the_survivors(daemon):
    daemon.start({"work": dict(WORKER)})
    for i in range(4):
        daemon.wait_state(f"work:w{i}", "RUNNING")
    before = pids(daemon)
    assert len(before) == 4 and all(before.values())

    up = scale(daemon, 8)
    assert up["started"] == [f"work:w{i}" for i in range(4, 8)]
    assert all(r["ok"] for r in up["results"]), up
    after_up = pids(daemon)
    assert len(after_up) == 8 and all(after_up.values())
    assert {n: after_up[n] for n in before} == before  # the first four untouched
    status = daemon.status()["work:w0"]
    assert (status["numprocs"], status["numprocs_config"]) == (8, 4)

    down = scale(daemon, 2)
    assert sorted(down["stopped"]) == [f"work:w{i}" for i in range(2, 8)]
    after_down = pids(daemon)
    assert after_down == {n: before[n] for n in ("work:w0", "work:w1")}
    gone = [after_up[f"work:w{i}"] for i in range(2, 8)]
    for pid in gone:
        assert not _alive(pid), pid

    # Back to the config's number: status shows no difference.
    scale(daemon, 4)
    status = daemon.status()["work:w3"]
    assert (status["numprocs"], status["numprocs_config"]) == (4, 4)
    assert {n: pids(daemon)[n] for n in ("work:w0", "work:w1")} == {
        n: before[n] for n in ("work:w0", "work:w1")
    }


def test_scale_to_zero_and_back_and_refusals(daemon):
    daemon.start({"work": dict(WORKER, numprocs=2), "solo": {"command": ["sleep", "300"]}})
    daemon.wait_state("work:w1", "RUNNING")
    assert sorted(scale(daemon, 0)["stopped"]) == ["work:w0", "work:w1"]
    assert pids(daemon) == {}
    assert scale(daemon, 1)["started"] == ["work:w0"]
    daemon.wait_state("work:w0", "RUNNING")
    res = daemon.ctl("scale", "solo", "2")
    assert res.returncode == 1 and "process_name" in res.stderr, daemon.describe(res)
    res = daemon.ctl("scale", "nope", "2")
    assert res.returncode == 1 and 'no program "nope"' in res.stderr, daemon.describe(res)
    res = daemon.ctl("scale", "work", "x")
    assert res.returncode == 2, daemon.describe(res)


@pytest.mark.timeout(90)
def test_reload_numprocs_change_touches_only_the_tail(daemon):
    daemon.start({"work": dict(WORKER), "other": {"command": ["sleep", "300"]}})
    for i in range(4):
        daemon.wait_state(f"work:w{i}", "RUNNING")
    before = pids(daemon)
    other = daemon.status()["other"]["pid"]

    daemon.write_config({"work": dict(WORKER, numprocs=6), "other": {"command": ["sleep", "300"]}})
    res = daemon.ctl_ok("reload", "--json")
    diff = json.loads(res.stdout)
    assert diff["scaled"] == ["work"] and diff["changed"] == [], diff
    daemon.wait_state("work:w5", "RUNNING")
    now = pids(daemon)
    assert {n: now[n] for n in before} == before and len(now) == 6
    assert daemon.status()["other"]["pid"] == other

    daemon.write_config({"work": dict(WORKER, numprocs=3), "other": {"command": ["sleep", "300"]}})
    daemon.ctl_ok("reload")
    now = pids(daemon)
    assert now == {n: before[n] for n in ("work:w0", "work:w1", "work:w2")}

    # A runtime scale survives a reload that leaves numprocs alone in the file ...
    scale(daemon, 5)
    daemon.ctl_ok("reload")
    assert len(pids(daemon)) == 5
    # ... while any other change replaces them all, at the file's number.
    daemon.write_config(
        {"work": dict(WORKER, numprocs=3, stopwaitsecs=3), "other": {"command": ["sleep", "300"]}}
    )
    daemon.ctl_ok("reload")
    for i in range(3):
        daemon.wait_state(f"work:w{i}", "RUNNING")
    now = pids(daemon)
    assert len(now) == 3 and now["work:w0"] != before["work:w0"]


def test_scale_a_grouped_program_names_and_logs(daemon):
    daemon.start(
        {
            "work": dict(
                WORKER,
                command=["sh", "-c", "echo hello from $SUPERVISOR_PROCESS_NUM; exec sleep 300"],
                numprocs=1,
                stdout_logfile="logs/w-{process_num}.log",
            )
        },
        groups={"pool": {"programs": ["work"]}},
    )
    daemon.wait_state("pool:w0", "RUNNING")
    up = scale(daemon, 3)
    assert up["started"] == ["pool:w1", "pool:w2"]
    log = daemon.dir / "logs" / "w-2.log"
    wait_until(lambda: log.exists() and "hello from 2" in log.read_text())
    res = daemon.ctl("scale", "pool", "2")
    assert res.returncode == 1 and "is a group" in res.stderr, daemon.describe(res)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def cgroup_root():
    path = os.path.join(MOUNT or "/nonexistent", f"sdl-test-{uuid.uuid4().hex[:12]}")
    yield path
    if os.path.isdir(path):
        _remove_tree(path)


@pytest.mark.skipif(MOUNT is None, reason="no writable cgroup v2 hierarchy")
def test_scale_down_removes_the_cgroups_of_the_processes_that_go(daemon, cgroup_root):
    daemon.start({"work": dict(WORKER, numprocs=3)}, cgroup_root=cgroup_root)
    for i in range(3):
        daemon.wait_state(f"work:w{i}", "RUNNING")
    assert os.path.isdir(os.path.join(cgroup_root, "work:w2"))
    scale(daemon, 1)
    wait_until(lambda: not os.path.exists(os.path.join(cgroup_root, "work:w2")))
    assert not os.path.exists(os.path.join(cgroup_root, "work:w1"))
    assert os.path.isdir(os.path.join(cgroup_root, "work:w0"))
    assert daemon.status()["work:w0"]["tracking"] == "cgroup"


@pytest.mark.timeout(60)
def test_scale_while_the_tail_stops_or_a_reload_runs_is_refused_and_starts_of_it_too(daemon):
    stubborn = dict(WORKER, command=helper("ignore_term"), stopwaitsecs=4)
    daemon.start({"work": dict(stubborn, numprocs=2)})
    daemon.wait_state("work:w1", "RUNNING")
    with daemon.ctl_in_background("scale", "work", "1") as down:
        daemon.wait_state("work:w1", "STOPPING")
        res = daemon.ctl("scale", "work", "3")
        assert res.returncode == 1 and "try again" in res.stderr, daemon.describe(res)
        res = daemon.ctl("start", "work:w1")
        assert res.returncode == 1, daemon.describe(res)
        out, _ = down.communicate(timeout=20)
    assert "work:w1: stopped" in out, out
    assert list(pids(daemon)) == ["work:w0"]
    # A reload under way (its stop waits on stopwaitsecs) refuses a scale too.
    daemon.write_config({"work": dict(stubborn, numprocs=1, stopwaitsecs=3)})
    with daemon.ctl_in_background("reload") as reload:
        daemon.wait_state("work:w0", "STOPPING")
        res = daemon.ctl("scale", "work", "2")
        assert res.returncode == 1 and "try again" in res.stderr, daemon.describe(res)
        reload.communicate(timeout=20)
    daemon.wait_state("work:w0", "RUNNING")
