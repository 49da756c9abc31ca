"""A daemon killed with SIGKILL leaves its children running; the next one cleans up
(SPEC §1): exactly the configured processes afterwards, none of the old ones."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

pytestmark = pytest.mark.timeout(40)


def program_pids(tag: str) -> set[int]:
    """Live `sleep` processes started for this test (their environment carries the tag)."""
    out = set()
    for p in psutil.process_iter(["name", "environ", "status"]):
        try:
            if (
                p.info["name"] == "sleep"
                and (p.info["environ"] or {}).get("SDL_TEST_TAG") == tag
                and p.info["status"] != psutil.STATUS_ZOMBIE
            ):
                out.add(p.pid)
        except psutil.Error:
            pass
    return out


def test_sigkilled_daemon_children_are_stopped_by_the_next(daemon):
    programs = {f"p{i}": {"command": ["sleep", "300"], "startsecs": 0} for i in range(5)}
    dpid = daemon.start(programs)
    old = program_pids(daemon.tag)
    assert len(old) == 5
    os.kill(dpid, signal.SIGKILL)
    daemon.wait_until(
        lambda: not psutil.pid_exists(dpid) or psutil.Process(dpid).status() == "zombie", 5
    )
    assert program_pids(daemon.tag) == old, "children should outlive a SIGKILLed daemon"

    daemon.start()
    new = daemon.wait_until(
        lambda: (lambda s: s if len(s) == 5 else None)(program_pids(daemon.tag)), 10
    )
    assert not (new & old), "processes of the dead daemon survived"
    assert all(o["state"] == "RUNNING" for o in daemon.status().values())
    assert "a previous daemon left processes running" in daemon.logfile.read_text()


def test_a_recycled_pid_is_never_touched(daemon):
    """A record whose start time does not match is ignored, even if the pid is alive."""
    bystander = psutil.Popen(["sleep", "300"])
    try:
        daemon.write_config({"a": {"command": ["sleep", "300"], "startsecs": 0}})
        (daemon.dir / "sdl.pid.children").write_text(f'{{"a": [{bystander.pid}, 1]}}')
        daemon.start()
        assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE
    finally:
        bystander.kill()
        bystander.wait()
