"""The [http] listener's life (issues 21.8 and 22.14): supervision never depends on the
page. A port held by another user does not stop the daemon starting; the failure is
logged, shown by `version` and retried until the port is free. Reload starts, stops and
moves the listener."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import psutil
import pytest

from integration.harness import free_port
from integration.http_helpers import request, start_http

pytestmark = pytest.mark.timeout(90)

SLEEPER = {"a": {"command": ["sleep", "300"], "startsecs": 0}}

# Holds a port (as nobody where the test runs as root) until its stdin closes.
HOLD = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.bind((host, port)); s.listen(8)
print("holding", flush=True); sys.stdin.read()
"""


def _hold_port(port: int, host: str = "127.0.0.1") -> subprocess.Popen:
    as_nobody = os.geteuid() == 0 and os.path.exists("/usr/bin/python3")
    holder = subprocess.Popen(
        ["/usr/bin/python3" if as_nobody else sys.executable, "-I", "-c", HOLD, host, str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/",
        user=65534 if as_nobody else None,
    )  # fmt: skip
    assert holder.stdout.readline() == "holding\n"
    return holder


def _http_of_version(daemon) -> dict:
    return json.loads(daemon.ctl_ok("version", "--json").stdout)["http"]


def _refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _version_on(host: str, port: int) -> int:
    """The status of GET /api/version at host:port (127.0.0.1 or ::1)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/api/version")
        return conn.getresponse().status
    finally:
        conn.close()


def _wakeups_in(pid: int, seconds: float) -> int:
    proc = psutil.Process(pid)
    before = proc.num_ctx_switches()
    time.sleep(seconds)  # a quiet window: what wakes the daemon in it is counted
    after = proc.num_ctx_switches()
    return after.voluntary + after.involuntary - before.voluntary - before.involuntary


def test_a_held_port_never_stops_the_daemon_and_is_retried(daemon):
    port = free_port()
    holder = _hold_port(port)
    try:
        daemon.write_config(SLEEPER)
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
        res = daemon.launch()
        assert res.returncode == 0, daemon.describe(res)
        reason = f"cannot listen on 127.0.0.1:{port}: Address already in use"
        assert f"warning: [http] {reason}; the programs run" in res.stderr
        daemon.wait_state("a", "RUNNING")
        state = _http_of_version(daemon)
        assert state["serving"] is False and state["error"] == reason and "retry_in" in state
        text = daemon.ctl_ok("version").stdout
        assert f"http: NOT serving 127.0.0.1:{port}: {reason}" in text
        assert f"ERROR http: {reason}; the programs run regardless" in daemon.logfile.read_text()
    finally:
        holder.stdin.close()
        holder.wait(10)
    # the port is free again: the next retry (1, 2, 4 ... s) takes it
    daemon.wait_until(lambda: _http_of_version(daemon)["serving"], 20)
    assert request(port, "GET", "/api/version")[0] == 200
    assert f"http: serving http://127.0.0.1:{port}/" in daemon.ctl_ok("version").stdout
    assert "Traceback" not in daemon.logfile.read_text()
    time.sleep(0.5)  # the last client's timer
    assert _wakeups_in(daemon.pid, 2.0) == 0  # no retry timer once it serves


def test_reload_stops_starts_and_moves_the_listener(daemon, tmp_path):
    port = start_http(daemon, SLEEPER)
    keep_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    keep_alive.request("GET", "/api/version")
    assert keep_alive.getresponse().read()
    # [http] removed: the listener and its connections are closed
    daemon.write_config(SLEEPER)
    daemon.ctl_ok("reload")
    assert _refused(port)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        keep_alive.request("GET", "/api/version")
        keep_alive.getresponse()
    keep_alive.close()
    assert "http" not in json.loads(daemon.ctl_ok("version", "--json").stdout)
    log = daemon.logfile.read_text()
    assert f"http: stopped serving 127.0.0.1:{port}: [http] was removed from the config" in log
    assert "takes effect when the daemon restarts" not in log
    # [http] added back, then moved to another port
    for listen_port in (port, free_port()):
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "127.0.0.1:{listen_port}"\n')
        daemon.ctl_ok("reload")
        assert request(listen_port, "GET", "/api/version")[0] == 200
        daemon.write_config(SLEEPER)
    assert _refused(port) and _http_of_version(daemon)["listen"] == f"127.0.0.1:{listen_port}"
    if shutil.which("openssl") is None:
        return
    # TLS switched on at reload: the same port speaks TLS from then on
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{listen_port}"\n'
                 f'certfile = "{cert}"\nkeyfile = "{key}"\n')  # fmt: skip
    daemon.ctl_ok("reload")
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("localhost", listen_port, context=context, timeout=10)
    try:
        conn.request("GET", "/api/version")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert _http_of_version(daemon)["tls"] is True
    assert daemon.state("a") == "RUNNING"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 here")
def test_a_held_ipv6_loopback_port_is_retried_and_never_half_served(daemon):
    """A loopback listen takes 127.0.0.1 and ::1 both (http_server.bind): [::1]:PORT
    held by another user fails the listener as a held 127.0.0.1 does, programs running
    and the bind retried, and 127.0.0.1 is not served meanwhile (half a listener would
    leave ::1 clients of `localhost` to that user)."""
    port = free_port()
    holder = _hold_port(port, "::1")
    try:
        daemon.write_config(SLEEPER)
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
        res = daemon.launch()
        assert res.returncode == 0, daemon.describe(res)
        assert f"Address already in use on [::1]:{port}" in res.stderr, res.stderr
        daemon.wait_state("a", "RUNNING")
        state = _http_of_version(daemon)
        assert state["serving"] is False and "retry_in" in state, state
        assert _refused(port)  # 127.0.0.1 was let go again
    finally:
        holder.stdin.close()
        holder.wait(10)
    daemon.wait_until(lambda: _http_of_version(daemon)["serving"], 20)
    assert _version_on("127.0.0.1", port) == 200
    assert _version_on("::1", port) == 200


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1 here")
def test_reload_moves_both_loopbacks(daemon):
    old = start_http(daemon, SLEEPER)
    assert _version_on("::1", old) == 200
    for listen, new in (("127.0.0.1:{}", free_port()), ("[::1]:{}", free_port())):
        daemon.write_config(SLEEPER)
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[http]\nlisten = "{listen.format(new)}"\n')
        daemon.ctl_ok("reload")
        assert _refused(old, "127.0.0.1") and _refused(old, "::1")
        assert _version_on("127.0.0.1", new) == 200
        assert _version_on("::1", new) == 200
        old = new
