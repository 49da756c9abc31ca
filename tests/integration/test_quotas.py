"""cpu_quota and tasks_max: kept by the kernel in cgroups with those controllers;
refused with the reason where the daemon cannot keep them (docs/limits.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from integration.harness import DAEMON_CMD
from integration.test_cgroups import _remove_tree
from supervisord_lite.linux import cgroups

pytestmark = pytest.mark.timeout(60)


def _writable_v2_with(*controllers: str) -> str | None:
    mount = cgroups.v2_mount()
    if mount is None:
        return None
    try:
        offered = open(os.path.join(mount, "cgroup.controllers")).read().split()
    except OSError:
        return None
    if not set(controllers) <= set(offered):
        return None
    probe = os.path.join(mount, f"sdl-probe-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError:
        return None
    return mount


def _offered() -> str:
    mount = cgroups.v2_mount()
    if mount is None:
        return "no cgroup v2 mount"
    try:
        return open(os.path.join(mount, "cgroup.controllers")).read().strip() or "none"
    except OSError as exc:
        return str(exc)


PIDS = _writable_v2_with("pids")
CPU = _writable_v2_with("cpu")
NO_PIDS = f"the cgroup v2 pids controller is not offered here (controllers: {_offered()})"
NO_CPU = f"the cgroup v2 cpu controller is not offered here (controllers: {_offered()})"

FORK_BOMB = [
    sys.executable,
    "-c",
    "import os, time\n"
    "n = 0\n"
    "for _ in range(200):\n"
    "    try:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(60); os._exit(0)\n"
    "        n += 1\n"
    "    except OSError:\n"
    "        break\n"
    "print('forked', n, flush=True)\n"
    "time.sleep(60)\n",
]


def test_refused_with_the_reason_where_cgroups_cannot_keep_them(daemon):
    if PIDS and CPU:
        pytest.skip("this host has the cpu and pids controllers: nothing to refuse")
    limits = {"tasks_max": 10, "cpu_quota": "50%"}
    daemon.write_config({"q": {"command": ["sleep", "30"], "limits": limits}})
    res = subprocess.run(
        [*DAEMON_CMD, "-c", str(daemon.config), "--check"], capture_output=True, text=True
    )
    assert res.returncode == 2, res
    missing = [k for k, c in (("tasks_max", PIDS), ("cpu_quota", CPU)) if not c]
    for key in missing:
        assert f"programs.q.limits.{key}" in res.stderr, res.stderr
    assert "controller" in res.stderr
    res = daemon.launch()
    assert res.returncode != 0, res
    assert f"programs.q.limits.{missing[0]}" in res.stderr, res.stderr
    # A reload cannot bring them in either.
    daemon.write_config({"q": {"command": ["sleep", "30"]}})
    daemon.start()
    daemon.write_config({"q": {"command": ["sleep", "30"], "limits": limits}})
    res = daemon.ctl("reload")
    assert res.returncode == 1 and f"limits.{missing[0]}" in res.stderr, daemon.describe(res)


@pytest.fixture
def cgroup_root():
    mount = cgroups.v2_mount()
    path = os.path.join(mount or "/nonexistent", f"sdl-test-{uuid.uuid4().hex[:12]}")
    yield path
    if os.path.isdir(path):
        _remove_tree(path)


@pytest.mark.skipif(PIDS is None, reason=NO_PIDS)
def test_tasks_max_stops_a_fork_bomb(daemon, cgroup_root):
    daemon.start(
        {"bomb": {"command": FORK_BOMB, "startsecs": 0, "limits": {"tasks_max": 10}}},
        cgroup_root=cgroup_root,
    )
    daemon.wait_until(lambda: "forked" in daemon.read_log("bomb"), 20)
    assert int(daemon.read_log("bomb").split()[1]) < 10
    assert open(os.path.join(cgroup_root, "bomb", "pids.max")).read().strip() == "10"
    assert daemon.status("bomb")["bomb"]["tasks_max"] == 10


@pytest.mark.skipif(CPU is None, reason=NO_CPU)
def test_cpu_quota_in_cpu_max(daemon, cgroup_root):
    daemon.start(
        {"slow": {"command": ["sleep", "30"], "limits": {"cpu_quota": "50%"}}},
        cgroup_root=cgroup_root,
    )
    daemon.wait_state("slow", "RUNNING")
    assert open(os.path.join(cgroup_root, "slow", "cpu.max")).read().split() == ["50000", "100000"]
    assert daemon.status("slow")["slow"]["cpu_quota"] == "50%"
