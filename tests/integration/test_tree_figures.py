"""status figures (tracking, cpu_seconds, memory_bytes, tasks) read from our own trees
only: descendants through the kernel's children lists, orphans of a program's session
that the daemon adopted, the children of every thread; and not read at all when the
request asks for none (the ctl's text `status`)."""

from __future__ import annotations

import json
import socket
import sys

import psutil
import pytest

pytestmark = pytest.mark.timeout(40)

FIGURES = ("tracking", "cpu_seconds", "memory_bytes", "tasks", "memory_limit_by")


def call(daemon, cmd: str, args: dict) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(15)
        sock.connect(str(daemon.socket))
        sock.sendall(json.dumps({"id": 1, "cmd": cmd, "args": args}).encode() + b"\n")
        with sock.makefile("rb") as lines:
            reply = json.loads(lines.readline())
    assert reply["ok"], reply
    return reply


def test_an_orphan_the_daemon_adopted_counts_for_its_session(daemon):
    # The subshell forks a sleep and exits: the sleep is re-parented to the daemon (a
    # subreaper) but stays in the program's session. It belongs to the program's tree.
    program = {"command": ["sh", "-c", "(sleep 60 &); exec sleep 61"], "startsecs": 0}
    daemon.start({"tree": program})

    def counted():
        obj = daemon.status("tree")["tree"]
        return obj["tasks"] == 2 and obj

    obj = daemon.wait_until(counted, 10, message="the main process and the orphan")
    orphans = [p for p in psutil.Process(daemon.pid).children() if p.pid != obj["pid"]]
    assert [p.cmdline() for p in orphans] == [["sleep", "60"]]
    rss = sum(p.memory_info().rss for p in [psutil.Process(obj["pid"]), *orphans])
    assert obj["memory_bytes"] == pytest.approx(rss, rel=0.2)


def test_the_children_of_every_thread_count(daemon):
    # A child belongs to the thread that forked it: each thread has its own list.
    code = (
        "import subprocess, threading, time\n"
        "child = lambda: subprocess.Popen(['sleep', '60']) and time.sleep(60)\n"
        "t = threading.Thread(target=child)\n"
        "t.start(); print('ready', flush=True); time.sleep(60)\n"
    )
    daemon.start({"threads": {"command": [sys.executable, "-c", code], "startsecs": 0}})
    daemon.wait_until(lambda: "ready" in daemon.read_log("threads"), 10, message="ready")

    def counted():
        obj = daemon.status("threads")["threads"]
        return obj["tasks"] == 3 and obj  # two threads, and the sleep

    daemon.wait_until(counted, 10, message="two threads and the thread's child")


def test_status_reads_figures_only_when_asked(daemon):
    daemon.start({"one": {"command": ["sleep", "60"], "startsecs": 0}})
    daemon.wait_state("one", "RUNNING")
    plain = call(daemon, "status", {"figures": False})["result"][0]
    assert not set(FIGURES) & set(plain), plain
    full = call(daemon, "status", {})["result"][0]
    assert list(full)[-len(FIGURES) :] == list(FIGURES)
    assert full["tasks"] == 1 and full["memory_bytes"] > 0
    assert {k: v for k, v in full.items() if k not in FIGURES and k != "uptime"} == {
        k: v for k, v in plain.items() if k != "uptime"
    }
    # The ctl's --json prints the protocol's result, figures included.
    assert set(FIGURES) <= set(daemon.status("one")["one"])


def test_a_wrong_figures_argument_is_refused(daemon):
    daemon.start({"one": {"command": ["sleep", "60"], "startsecs": 0}})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(15)
        sock.connect(str(daemon.socket))
        sock.sendall(b'{"id": 1, "cmd": "status", "args": {"figures": "yes"}}\n')
        with sock.makefile("rb") as lines:
            reply = json.loads(lines.readline())
    assert reply["error"]["code"] == "BAD_ARGUMENT", reply
    assert "figures" in reply["error"]["message"]
