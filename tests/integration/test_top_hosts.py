"""`supervisorctl-lite -H … top`: one view of several daemons through a real sshd on
127.0.0.1 (two daemons are two "hosts"), on a pty read by pyte."""

from __future__ import annotations

import psutil
import pytest

from integration import sshd as sshd_mod
from integration.harness import CTL_CMD, wait_until
from integration.pty_term import Term
from integration.sshd import Sshd, run_ctl

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not sshd_mod.available(), reason="needs OpenSSH's sshd, ssh, ssh-keygen"),
]


@pytest.fixture
def sshd():
    server = Sshd()
    try:
        server.start()
        yield server
    finally:
        print(f"--- sshd log ---\n{server.log.read_text() if server.log.exists() else ''}")
        server.stop()


def sleeper() -> dict:
    return {"command": ["sleep", "300"], "startsecs": 0}


def tunnels_to(path) -> list[psutil.Process]:
    """ssh processes forwarding to the daemon socket `path`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "ssh" and any(a.endswith(f":{path}") for a in cmdline):
            found.append(proc)
    return found


def test_one_view_of_two_hosts_acts_on_the_right_one(sshd, make_daemon):
    a, b = make_daemon(), make_daemon()
    a.start({"web": sleeper(), "db": sleeper()})
    b.start({"web": sleeper(), "cache": sleeper()})
    env = sshd.env(a.env)
    term = Term([*CTL_CMD, "-H", f"hosta:{a.socket}", "-H", f"hostb:{b.socket}", "top"], env)
    try:
        # [host's first 5 letters, name, state] of every screen line
        rows = lambda: [[w[:5] for w in line.split()[:1]] + line.split()[1:3]  # noqa: E731
                        for line in term.text().splitlines()]  # fmt: skip
        want = [["hosta", "db", "RUNNING"], ["hosta", "web", "RUNNING"],
                ["hostb", "cache", "RUNNING"], ["hostb", "web", "RUNNING"]]  # fmt: skip
        term.wait_for(lambda: all(r in rows() for r in want), 30, "both hosts' rows")
        assert term.text().splitlines()[1].split()[:2] == ["HOST", "NAME"]
        # `s` on hostb's web stops that one, not hosta's
        term.send(b"/hostb\r")
        term.wait_for(lambda: ["db"] not in [r[1:2] for r in rows()], what="filter")
        term.send(b"G")  # the last row: hostb's web
        term.send(b"s")
        b.wait_state("web", "STOPPED")
        assert a.state("web") == "RUNNING"
        # one host going away leaves the other on the screen, and says which went
        a.ctl_ok("shutdown")
        term.send(b"\x1b")  # esc: the filter off
        term.wait_for(lambda: "hosta" in term.text() and "down" in term.text(), 15, "down")
        assert ["cache"] in [r[1:2] for r in rows()]
        term.send(b"q")
        assert term.wait_exit() == 0
        assert term.restored() == []
        # every tunnel closed with it
        wait_until(lambda: not tunnels_to(a.socket) and not tunnels_to(b.socket), 10)
    finally:
        term.close()


def test_into_a_pipe_one_table_of_every_host(sshd, make_daemon):
    a, b = make_daemon(), make_daemon()
    a.start({"web": sleeper()})
    b.start({"cache": sleeper()})
    args = ["-H", f"hosta:{a.socket}", "-H", f"hostb:{b.socket}", "-H", "down:/x.sock", "top"]
    res = run_ctl(args, sshd.env(a.env), timeout=60)
    assert res.returncode == 4, res  # one host could not be reached
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["HOST", "NAME", "STATE"]
    assert [line.split()[1:3] for line in lines[1:]] == [["web", "RUNNING"], ["cache", "RUNNING"]]
    assert "supervisorctl-lite: down:/x.sock:" in res.stderr
