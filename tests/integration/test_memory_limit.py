"""memory_limit: the whole tree's resident memory, sampled; over the limit the process
is restarted (stop rules, then start; counted in restarts) with an event and a log line."""

from __future__ import annotations

import json
import re
import socket
import time

import psutil
import pytest

from integration.harness import helper

pytestmark = pytest.mark.timeout(40)


def subscribe(daemon):
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.settimeout(15)
    stream.connect(str(daemon.socket))
    lines = stream.makefile("r", encoding="utf-8")
    stream.sendall(b'{"id": 1, "cmd": "events"}\n')
    assert json.loads(lines.readline())["result"] == {"subscribed": True}
    return stream, lines


def next_event(lines, kind: str, seen: list | None = None) -> dict:
    """The next item of `kind`; the items before it go into `seen`."""
    while True:
        line = lines.readline()
        assert line, "events stream ended early"
        item = json.loads(line)["result"]
        if item.get("event") == kind:
            return item
        if seen is not None:
            seen.append(item)


@pytest.mark.parametrize("in_child", [0, 4], ids=["itself", "in-setsid-children"])
def test_over_the_limit_is_restarted_with_an_event(daemon, in_child):
    program = {
        "command": helper("hog", "--mb", 80, "--in-child", in_child),
        "startsecs": 0,
        "memory_limit": "40MB",
        "memory_check_interval": 0.2,
        "stopwaitsecs": 2,
        "autostart": False,  # subscribed first: the first restart may come within 0.2 s
    }
    daemon.start({"hog": program})
    stream, lines = subscribe(daemon)
    try:
        daemon.ctl_ok("start", "hog")
        before: list = []
        event = next_event(lines, "memory_limit", before)
    finally:
        stream.close()
    # the pid its first start gave it, from the stream (a status now could be later's)
    first = next(item["pid"] for item in before if item.get("to") == "RUNNING")
    assert event["process"] == "hog" and event["pid"] == first
    assert event["memory_limit"] == 40 * 1024**2
    assert event["memory_bytes"] > 40 * 1024**2
    assert event["over_bytes"] == event["memory_bytes"] - event["memory_limit"]
    assert re.fullmatch(
        r"memory \d+(\.\d)? MiB over the limit of 40 MiB \(\+\d+(\.\d)? MiB\): restarting",
        event["reason"],
    ), event

    def restarted():
        obj = daemon.status("hog")["hog"]
        return obj["restarts"] >= 1 and obj["pid"] not in (None, first) and obj

    obj = daemon.wait_until(restarted, 10, message="a restart with a new pid")
    # the replacement hogs too, so it may already be on its way to the next restart
    assert obj["state"] in ("STARTING", "RUNNING", "STOPPING")
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    assert f"hog: {event['reason']}" in daemon.log_tail()


def test_under_the_limit_is_left_alone(daemon):
    """Sampled in the same passes that restart a hog, a small process is never touched."""
    small = {"command": helper("hog", "--mb", 5), "startsecs": 0, "memory_limit": "200MB"}
    hog = {"command": helper("hog", "--mb", 80), "startsecs": 0, "memory_limit": "40MB"}
    for program in (small, hog):
        program["memory_check_interval"] = 0.2
    daemon.start({"small": small, "hog": hog})
    pid = daemon.wait_state("small", "RUNNING")["pid"]
    daemon.wait_until(
        lambda: daemon.status("hog")["hog"]["restarts"] >= 2, 15, message="2 restarts"
    )
    obj = daemon.status("small")["small"]
    assert obj["pid"] == pid and obj["restarts"] == 0 and obj["state"] == "RUNNING"


def wakeups(pid: int) -> int:
    ctx = psutil.Process(pid).num_ctx_switches()
    return ctx.voluntary + ctx.involuntary


def test_no_sampling_while_no_limited_process_runs(daemon):
    """The sampler's timer goes once the last limited process stops: an idle daemon
    with limits configured wakes no more than one without them."""
    program = {
        "command": ["sleep", "60"],
        "startsecs": 0,
        "memory_limit": "1GB",
        "memory_check_interval": 0.1,
    }
    daemon.start({"limited": program})
    daemon.wait_state("limited", "RUNNING")
    pid = daemon.pid
    before = wakeups(pid)
    deadline = time.monotonic() + 1.0
    daemon.wait_until(lambda: time.monotonic() > deadline, 2, message="a 1 s window")
    running = wakeups(pid) - before  # ~10 samples
    daemon.ctl_ok("stop", "limited")
    before = wakeups(pid)
    deadline = time.monotonic() + 1.0
    daemon.wait_until(lambda: time.monotonic() > deadline, 2, message="a 1 s window")
    stopped = wakeups(pid) - before
    assert running >= 8, f"{running} wakeups in 1 s while a limited process ran"
    assert stopped <= 2, f"{stopped} wakeups in 1 s with no limited process running"


def test_status_figures_cover_the_whole_tree(daemon):
    """cpu_seconds, memory_bytes and tasks count the main process and its descendants."""
    program = {"command": helper("hog", "--mb", 30, "--in-child", 2), "startsecs": 0}
    daemon.start({"tree": program, "idle": {"command": ["sleep", "60"], "autostart": False}})
    daemon.wait_until(lambda: "ready" in daemon.read_log("tree"), 10, message="ready")

    def counted():
        obj = daemon.status("tree")["tree"]
        return obj["tasks"] >= 3 and obj["memory_bytes"] >= 30 * 1024**2 and obj

    obj = daemon.wait_until(counted, 5, message="3 tasks holding 30 MiB")
    assert obj["tracking"] == "pgroup" and obj["cpu_seconds"] > 0
    assert obj["memory_limit_by"] is None
    idle = daemon.status("idle")["idle"]
    assert (idle["cpu_seconds"], idle["memory_bytes"], idle["tasks"]) == (None, None, None)
