"""Any local user can make the daemon log a line (a refused connection, a malformed
request) as often as they like: repeated lines are collapsed, so the daemon's log stays
small and says how many were not written (daemon_log + log_repeats)."""

from __future__ import annotations

import encodings.idna  # noqa: F401 - loaded now: the flood runs as nobody, who cannot read it
import os
import re
import socket

import pytest

from integration.http_helpers import start_http
from supervisord_lite.logs.repeats import BURST

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as uid 65534"),
]

NOBODY = 65534
FLOOD = 300


def as_nobody(action) -> None:
    """Run action in a forked child as uid/gid 65534."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                action()
                code = 0
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                os.write(w, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        error = fh.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the flood failed: {error}"


def refused_flood(path: str) -> None:
    for _ in range(FLOOD):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(path)
            while sock.recv(4096):  # the FORBIDDEN reply, then the daemon closes
                pass


def malformed_flood(port: int) -> None:
    for _ in range(FLOOD):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass


def summary_counts(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"(\d+) similar lines not logged", text)]


def assert_collapsed(daemon, marker: str) -> None:
    """Every line of the flood is a written line or counted in a summary, and at
    most BURST were written."""

    def counted() -> bool:
        text = daemon.logfile.read_text()
        lines = [x for x in text.splitlines() if marker in x and "not logged" not in x]
        return len(lines) + sum(summary_counts(text)) >= FLOOD

    # The summary comes when the window ends, by the loop's timer: nothing else happens.
    daemon.wait_until(counted, 30, message=lambda: daemon.log_tail(20))
    text = daemon.logfile.read_text()
    written = [x for x in text.splitlines() if marker in x and "not logged" not in x]
    assert len(written) <= BURST, f"{len(written)} lines written for the flood"
    assert len(written) + sum(summary_counts(text)) == FLOOD
    assert os.path.getsize(daemon.logfile) < 8192, "the flood grew the log"
    daemon.ctl_ok("status")


def test_refused_connections_from_nobody_are_collapsed(daemon):
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}}, socket_mode=0o666)
    os.chmod(daemon.dir, 0o711)  # nobody may reach the socket, to be refused
    as_nobody(lambda: refused_flood(str(daemon.socket)))
    assert_collapsed(daemon, "refused a client with uid 65534")


def test_malformed_http_requests_from_nobody_are_collapsed(daemon):
    port = start_http(daemon, {"a": {"command": ["sleep", "300"], "startsecs": 0}})
    as_nobody(lambda: malformed_flood(port))
    assert_collapsed(daemon, "malformed request")


def test_held_lines_are_counted_at_shutdown(daemon):
    daemon.start({"a": {"command": ["sleep", "300"], "startsecs": 0}}, socket_mode=0o666)
    os.chmod(daemon.dir, 0o711)
    as_nobody(lambda: refused_flood(str(daemon.socket)))
    daemon.ctl_ok("shutdown")  # before the window ends: the count is written anyway
    daemon.wait_until(lambda: "shut down" in daemon.logfile.read_text())
    text = daemon.logfile.read_text()
    written = [x for x in text.splitlines() if "uid 65534" in x and "not logged" not in x]
    assert len(written) <= BURST
    assert len(written) + sum(summary_counts(text)) == FLOOD
    assert text.index("not logged") < text.index("shut down")
