"""`supervisorctl-lite top` on a real pseudo-terminal, its screen read by pyte: the rows
appear, a crash elsewhere shows from the events stream, `s` stops the selected row,
and every way out (q, Ctrl-C, SIGTERM, the daemon going away) puts the terminal back.
Into a pipe it prints one plain table; without urwid it says how to install it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from integration.harness import CTL_CMD
from integration.pty_term import Term

pytestmark = pytest.mark.timeout(60)


def sleeper(**extra) -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0, **extra}


@pytest.fixture
def top(daemon):
    """Start `top` on a pty against `daemon` (started by the test); closed at the end."""
    terms: list[Term] = []

    def start(*args: str) -> Term:
        term = Term([*CTL_CMD, "-c", str(daemon.config), "top", *args], daemon.env)
        terms.append(term)
        return term

    try:
        yield start
    finally:
        for term in terms:
            term.close()


def test_rows_appear_a_crash_shows_live_and_s_stops_the_selected_row(daemon, top):
    echo = "echo talking; exec sleep 300"
    daemon.start(
        {
            "web": sleeper(numprocs=3),
            "worker": {"command": ["sh", "-c", echo], "startsecs": 0},
            "once": sleeper(autorestart=False),
        }
    )
    for name in ("web:0", "web:1", "web:2", "worker", "once"):
        daemon.wait_state(name, "RUNNING")
    # --interval 3600: one status at the start, then none for an hour, so any change on
    # the screen after the first one came through the events stream
    term = top("--interval", "3600")
    term.wait_for(lambda: all(term.line_of(n) for n in ("web:0", "web:2", "worker", "once")),
                  what="every process on the screen")  # fmt: skip
    line = term.line_of("web:1")
    assert "RUNNING" in line and str(daemon.status("web:1")["web:1"]["pid"]) in line.split()
    assert "NAME" in term.text() and "CPU%" in term.text()
    # a crash elsewhere: the row changes without a status poll
    os.kill(daemon.status("once")["once"]["pid"], signal.SIGKILL)
    term.wait_for(lambda: "EXITED" in (term.line_of("once") or ""), 5, "once EXITED")
    old_pid = daemon.status("web:1")["web:1"]["pid"]
    os.kill(old_pid, signal.SIGKILL)
    new_pid = daemon.wait_state("web:1", "RUNNING")["pid"]
    assert new_pid != old_pid
    term.wait_for(lambda: str(new_pid) in (term.line_of("web:1") or "").split(), 5, "new pid")
    # the selected row's log shows below the table
    term.send(b"/worker\r")
    term.wait_for(lambda: term.line_of("web:0") is None, what="the filter hides web:*")
    term.wait_for(lambda: "talking" in term.text(), what="worker's log in the pane")
    # `s` stops the selected row, and only it
    term.send(b"s")
    daemon.wait_state("worker", "STOPPED")
    term.wait_for(lambda: "STOPPED" in (term.line_of("worker") or ""), 5, "worker STOPPED")
    assert daemon.state("web:0") == "RUNNING"
    assert daemon.state("once") == "EXITED"
    term.send(b"q")
    assert term.wait_exit() == 0
    assert term.restored() == []


@pytest.mark.parametrize("how", ["q", "ctrl-c", "sigterm", "sighup"])
def test_every_way_out_restores_the_terminal(daemon, top, how):
    daemon.start({"web": sleeper()})
    term = top()
    term.wait_for(lambda: term.line_of("web"), what="the row")
    assert term.restored() != [], "top did not take the terminal over"
    if how == "q":
        term.send(b"q")
    elif how == "ctrl-c":
        term.send(b"\x03")  # the tty driver makes it a SIGINT
    else:
        term.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    code = term.wait_exit()
    assert code == {"q": 0, "ctrl-c": 0, "sigterm": 143, "sighup": 129}[how]
    assert term.restored() == []
    assert "Traceback" not in term.after_screen()


def test_the_daemon_going_away_restores_the_terminal_then_says_why(daemon, top):
    daemon.start({"web": sleeper()})
    term = top()
    term.wait_for(lambda: term.line_of("web"), what="the row")
    daemon.ctl_ok("shutdown")
    assert term.wait_exit() == 4
    assert term.restored() == []
    said = term.after_screen()
    assert f"the daemon at {daemon.socket} closed the connection" in said
    assert "Traceback" not in said


def test_unreachable_daemon_is_exit_4_before_any_screen(daemon, top):
    daemon.write_config({"web": sleeper()})  # never started
    term = top()
    assert term.wait_exit() == 4
    assert b"\x1b[?1049h" not in term.raw
    assert "Is the daemon running?" in term.text()


def test_into_a_pipe_top_prints_one_table(daemon):
    spin = {"command": ["sh", "-c", "while :; do :; done"], "startsecs": 0}
    daemon.start({"web": sleeper(numprocs=2), "spin": spin})
    daemon.wait_state("spin", "RUNNING")
    res = daemon.ctl("top", "--sort", "cpu")
    assert res.returncode == 0, daemon.describe(res)
    assert "\x1b" not in res.stdout
    lines = res.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "STATE",
        "UPTIME",
        "PID",
        "RESTARTS",
        "CPU%",
        "MEM",
        "HEALTH",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["spin", "web:0", "web:1"]
    spin = lines[1].split()
    assert spin[1] == "RUNNING" and float(spin[5]) > 20  # a busy loop, over the last second
    as_json = json.loads(daemon.ctl_ok("top", "--json", "--filter", "web").stdout)
    assert [p["name"] for p in as_json] == ["web:0", "web:1"]
    assert {"cpu_percent", "memory_bytes", "uptime", "restarts", "health"} <= set(as_json[0])


def test_without_urwid_top_says_how_to_install_it(daemon):
    daemon.start({"web": sleeper()})
    # urwid made unimportable in this one interpreter: as on an install without the extra
    code = (
        "import sys; sys.modules['urwid'] = None; "
        "from supervisord_lite.ctl.main import main; sys.exit(main(sys.argv[1:]))"
    )
    term = Term([sys.executable, "-c", code, "-c", str(daemon.config), "top"], daemon.env)
    try:
        assert term.wait_exit() == 2
        text = term.text()
        assert "pip install 'supervisord-lite[top]'" in text.replace("\n", "")
    finally:
        term.close()
    # the plain table needs no library at all
    res = subprocess.run(
        [sys.executable, "-c", code, "-c", str(daemon.config), "top"],
        capture_output=True, text=True, env=daemon.env, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0 and re.search(r"^web\s+RUNNING", res.stdout, re.M), res


def imported_modules(argv: list[str], env: dict) -> set[str]:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env,
        timeout=30,
    )  # fmt: skip
    return {line.split("|")[-1].strip() for line in res.stderr.splitlines() if "|" in line}


def is_top(module: str) -> bool:
    return module == "supervisord_lite.ctl.top" or module.startswith("supervisord_lite.ctl.top.")


def test_other_commands_never_load_top_or_its_library(daemon):
    daemon.start({"web": sleeper()})
    ctl = ["-m", "supervisord_lite.ctl", "-c", str(daemon.config)]
    for command in (["status"], ["status", "--json"], ["events", "--help"], ["version"]):
        loaded = imported_modules([*ctl, *command], daemon.env)
        assert "supervisord_lite.ctl.client" in loaded  # the probe sees the ctl's imports
        assert not {m for m in loaded if "urwid" in m or is_top(m)}, command
        if command[-1] != "--help":  # the usual lines skip argparse, and top's options
            assert "supervisord_lite.ctl.top_args" not in loaded, command
    # top into a pipe loads top but not the terminal library
    loaded = imported_modules([*ctl, "top"], daemon.env)
    assert "supervisord_lite.ctl.top.top" in loaded
    assert not {m for m in loaded if "urwid" in m}


def test_a_programs_escape_sequences_reach_the_screen_as_text(daemon, top):
    """A log line is shown, not obeyed: a program printing a title change (OSC), a
    screen clear or a colour gets `?` for ESC and BEL, and none of its bytes reach the
    terminal as a sequence."""
    # the second line unfinished: drawn as it is, it must be cleaned too
    evil = "printf 'a\\033]0;pwned\\007b\\033[2Jc\\033[31md\\ne\\033]0;owned\\007'; exec sleep 300"
    daemon.start({"evil": {"command": ["sh", "-c", evil], "startsecs": 0}})
    daemon.wait_state("evil", "RUNNING")
    term = top()
    term.wait_for(lambda: "a?]0;pwned?b?[2Jc?[31md" in term.text(), what="the log as text")
    term.wait_for(lambda: "e?]0;owned?" in term.text(), what="the unfinished line as text")
    assert b"pwned\x07" not in term.raw and b"\x1b[2J" not in term.raw
    assert b"owned\x07" not in term.raw
    term.send(b"q")
    assert term.wait_exit() == 0
