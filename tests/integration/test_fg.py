"""`fg NAME` and `stdin = true`: a program's stdin is a pipe the daemon writes; the ctl's
fg (and Supervisor's own supervisorctl fg, through [xmlrpc]) forwards what is typed and
prints what it says; Ctrl-C leaves fg, not the program (SPEC §12)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from integration.harness import CTL_CMD, helper
from integration.test_hostile import one_shot
from integration.xmlrpc_helpers import SUPERVISORCTL, proxy, start_xmlrpc

ECHO = {
    "command": ["sh", "-c", 'echo ready; while read l; do echo "got $l"; done'],
    "startsecs": 0,
    "stdin": True,
}


def read_until(proc: subprocess.Popen, text: str, timeout: float = 10.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    assert text in seen, seen
    return seen


@pytest.mark.timeout(60)
def test_fg_forwards_input_and_ctrl_c_leaves_the_program_running(daemon):
    daemon.start({"echo": ECHO, "plain": {"command": helper("sigwait"), "startsecs": 0}})
    daemon.wait_state("echo", "RUNNING")
    pid = daemon.status("echo")["echo"]["pid"]
    fg = subprocess.Popen(
        [*CTL_CMD, "-c", str(daemon.config), "fg", "echo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=daemon.env,
    )
    try:
        read_until(fg, "Press Ctrl-C to exit")
        fg.stdin.write("hello\n")
        fg.stdin.flush()
        read_until(fg, "got hello")
        fg.stdin.write("again\n")
        fg.stdin.flush()
        read_until(fg, "got again")
        fg.send_signal(signal.SIGINT)
        assert fg.wait(10) == 0
    finally:
        if fg.poll() is None:
            fg.kill()
        fg.communicate()
    assert daemon.status("echo")["echo"]["pid"] == pid  # the program runs on
    assert daemon.state("echo") == "RUNNING"
    assert "got again" in daemon.read_log("echo")

    res = daemon.ctl("fg", "plain")
    assert res.returncode == 0  # no input (stdin is /dev/null here): leaves at once
    res = subprocess.run(
        [*CTL_CMD, "-c", str(daemon.config), "fg", "plain"],
        input="x\n",
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=30,
    )
    assert res.returncode == 1 and "set stdin = true" in res.stderr, res


@pytest.mark.timeout(60)
def test_send_process_stdin_and_supervisors_own_fg(daemon):
    url = start_xmlrpc(daemon, {"echo": ECHO, "plain": {"command": helper("sigwait")}})
    daemon.wait_state("echo", "RUNNING")
    sv = proxy(url).supervisor
    assert sv.sendProcessStdin("echo", "over rpc\n") is True
    daemon.wait_until(lambda: "got over rpc" in daemon.read_log("echo"), 10)
    import xmlrpc.client

    from supervisor.xmlrpc import Faults

    with pytest.raises(xmlrpc.client.Fault) as caught:
        sv.sendProcessStdin("plain", "x")
    assert caught.value.faultCode == Faults.NO_FILE

    fg = subprocess.Popen(
        [SUPERVISORCTL, "-s", url, "fg", "echo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        read_until(fg, "Press Ctrl-C to exit")
        fg.stdin.write("from supervisorctl\n")
        fg.stdin.flush()
        read_until(fg, "got from supervisorctl")
    finally:
        fg.kill()
        fg.communicate()
    assert daemon.state("echo") == "RUNNING"


@pytest.mark.timeout(60)
def test_stdin_of_a_program_that_does_not_read_is_refused_not_buffered(daemon):
    daemon.start(
        {
            "deaf": {"command": helper("sigwait"), "startsecs": 0, "stdin": True},
            "off": {"command": helper("sigwait"), "autostart": False, "stdin": True},
        }
    )
    daemon.wait_state("deaf", "RUNNING")
    big = "x" * 40_000
    answers = [
        one_shot(daemon, {"id": 1, "cmd": "stdin", "args": {"name": "deaf", "data": big}})
        for _ in range(3)
    ]
    assert answers[0]["ok"] is True
    assert any(not a["ok"] and a["error"]["code"] == "BUSY" for a in answers[1:]), answers
    off = one_shot(daemon, {"id": 1, "cmd": "stdin", "args": {"name": "off", "data": "x"}})
    assert off["error"]["message"] == "off is not running", off
    assert daemon.state("deaf") == "RUNNING"
    res = daemon.ctl("fg", "off")
    assert res.returncode == 1 and "off is not running" in res.stderr, res
