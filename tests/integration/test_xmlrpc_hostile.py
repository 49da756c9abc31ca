"""[xmlrpc] against hostile clients: entity expansion, deep nesting, huge bodies and
numbers, slow loris, strangers on the socket and on TCP. Each gets a fault or a close;
the daemon keeps supervising."""

from __future__ import annotations

import os
import socket
import subprocess
import xmlrpc.client

import pytest

from integration.harness import helper, wait_until
from integration.xmlrpc_helpers import (
    SUPERVISORCTL,
    describe,
    proxy,
    start_xmlrpc,
    supervisorctl,
    tcp_listen,
)
from supervisord_lite.base.passwords import hash_password

NOBODY = 65534

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<methodCall><methodName>supervisor.getState</methodName><params><param><value>&lol3;</value>
</param></params></methodCall>"""


def sleeper(**extra) -> dict:
    program = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2}
    program.update(extra)
    return program


def post(path: str, body: bytes, head: bytes = b"", timeout: float = 10.0) -> bytes:
    """One raw POST /RPC2 on the Unix socket; everything that comes back until close."""
    request = (
        b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
        + head
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        + body
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        try:
            sock.sendall(request)
        except OSError:
            pass  # refused before it was all sent: what it answered still counts
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def fault_code(response: bytes) -> int:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:300]
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(body)
    return caught.value.faultCode


def assert_supervising(daemon, name: str = "web") -> None:
    """The daemon still answers and still restarts a killed process."""
    pid = daemon.status(name)[name]["pid"]
    os.kill(pid, 9)
    wait_until(lambda: daemon.status(name)[name]["pid"] not in (None, pid), 10)


@pytest.mark.timeout(90)
def test_hostile_xml_gets_faults(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper(autorestart=True)})
    daemon.wait_state("web", "RUNNING")
    path = url[len("unix://") :]
    assert fault_code(post(path, BILLION_LAUGHS)) == 2  # INCORRECT_PARAMETERS
    deep = b"<methodCall><methodName>x.y</methodName><params><param><value>"
    deep += b"<array><data><value>" * 20_000 + b"</value></data></array>" * 20_000
    deep += b"</value></param></params></methodCall>"
    assert len(deep) < 1024 * 1024
    assert fault_code(post(path, deep)) == 2
    number = b"<methodCall><methodName>supervisor.getPID</methodName><params><param><value>"
    number += b"<int>" + b"9" * 100_000 + b"</int></value></param></params></methodCall>"
    assert fault_code(post(path, number)) == 2
    assert fault_code(post(path, b"\xff\xfe garbage <<<")) == 2
    assert fault_code(post(path, b"<methodResponse/>")) == 2
    external = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
    <methodCall><methodName>&e;</methodName></methodCall>"""
    assert fault_code(post(path, external)) == 2
    huge = post(path, b"<" * (2 * 1024 * 1024))
    assert huge.startswith(b"HTTP/1.1 413"), huge[:200]
    assert_supervising(daemon)
    assert proxy(url).supervisor.getState()["statename"] == "RUNNING"


@pytest.mark.timeout(60)
def test_slow_loris_is_closed_and_others_served(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper(autorestart=True)}, extra="request_timeout = 1")
    daemon.wait_state("web", "RUNNING")
    path = url[len("unix://") :]
    slow = []
    for _ in range(20):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n<me")
        slow.append(sock)
    try:
        assert proxy(url).supervisor.getState()["statename"] == "RUNNING"
        for sock in slow:
            sock.settimeout(10)
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 408"), data[:200]
    finally:
        for sock in slow:
            sock.close()
    assert_supervising(daemon)


def _as_nobody(fn) -> int:
    """Run fn() in a child with uid/gid nobody; its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = fn()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.timeout(60)
def test_unix_socket_admits_only_the_control_sockets_uids(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper()}, supervisord={"socket_mode": 0o666})
    os.chmod(daemon.dir, 0o711)
    path = url[len("unix://") :]

    def as_stranger() -> int:
        response = post(path, xmlrpc.client.dumps((), "supervisor.getState").encode())
        return 3 if response.startswith(b"HTTP/1.1 403") else 4

    assert _as_nobody(as_stranger) == 3
    wait_until(lambda: "xmlrpc: refused uid 65534" in daemon.logfile.read_text(), 5)
    assert proxy(url).supervisor.getState()["statename"] == "RUNNING"  # root is served


@pytest.mark.timeout(90)
def test_tcp_with_users_asks_for_a_password(daemon):
    stored = hash_password("s3cret", iterations=1000)
    url = start_xmlrpc(
        daemon, {"web": sleeper()}, listen=tcp_listen(), extra=f'users = {{ admin = "{stored}" }}'
    )
    daemon.wait_state("web", "RUNNING")
    res = supervisorctl(url, "status")
    assert "Server requires authentication" in res.stdout, describe(res)
    res = supervisorctl(url, "status", user="admin", password="wrong")
    assert "Server requires authentication" in res.stdout, describe(res)
    wait_until(
        lambda: supervisorctl(url, "status", user="admin", password="s3cret").returncode == 0, 10
    )
    res = supervisorctl(url, "status", user="admin", password="s3cret")
    assert res.stdout.split()[:2] == ["web", "RUNNING"], describe(res)
    assert proxy(url, "admin", "s3cret").supervisor.getPID() == daemon.pid
    for command, said in (
        ("stop", "web: stopped\n"),
        ("start", "web: started\n"),
        ("restart", "web: stopped\nweb: started\n"),
    ):
        res = supervisorctl(url, command, "web", user="admin", password="s3cret")
        assert (res.returncode, res.stdout) == (0, said), describe(res)
    res = supervisorctl(url, "signal", "HUP", "web", user="admin", password="s3cret")
    assert res.stdout == "web: signalled\n", describe(res)
    wait_until(lambda: "got SIGHUP" in daemon.read_log("web"), 5)
    res = supervisorctl(url, "tail", "web", user="admin", password="s3cret")
    assert "got SIGHUP" in res.stdout, describe(res)
    follow = subprocess.Popen(
        [SUPERVISORCTL, "-s", url, "-u", "admin", "-p", "s3cret", "tail", "-f", "web"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Press Ctrl-C" in follow.stdout.readline()
        supervisorctl(url, "signal", "USR1", "web", user="admin", password="s3cret")
        seen = ""
        while "got SIGUSR1" not in seen:
            line = follow.stdout.readline()
            assert line, seen
            seen += line
    finally:
        follow.kill()
        follow.communicate()


@pytest.mark.timeout(60)
def test_tcp_loopback_without_users_admits_by_uid(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper()}, listen=tcp_listen())
    daemon.wait_state("web", "RUNNING")
    res = supervisorctl(url, "status")
    assert res.returncode == 0 and "RUNNING" in res.stdout, describe(res)

    def as_stranger() -> int:
        try:
            proxy(url).supervisor.getState()
        except xmlrpc.client.ProtocolError as exc:
            return 3 if exc.errcode == 403 else 4
        return 5

    assert _as_nobody(as_stranger) == 3


def test_open_tcp_without_users_is_refused(daemon):
    daemon.write_config({"web": sleeper()})
    with open(daemon.config, "a") as fh:
        fh.write('\n[xmlrpc]\nlisten = "0.0.0.0:9001"\n')
    res = daemon.launch()
    assert res.returncode != 0
    assert "xmlrpc.listen" in res.stderr and "users" in res.stderr, res.stderr


@pytest.mark.timeout(60)
def test_web_pages_cannot_drive_a_loopback_port(daemon):
    """A page in the local user's browser may POST text/plain to 127.0.0.1 without a
    preflight, or reach it as its own origin through a DNS rebinding: neither gets in."""
    import http.client

    url = start_xmlrpc(daemon, {"web": sleeper()}, listen=tcp_listen())
    daemon.wait_state("web", "RUNNING")
    port = int(url.rsplit(":", 1)[1])
    body = xmlrpc.client.dumps(("web",), "supervisor.stopProcess")

    def status_of(headers: dict) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/RPC2", body, {"Content-Type": "text/plain", **headers})
            return conn.getresponse().status
        finally:
            conn.close()

    assert status_of({"Origin": "https://evil.example"}) == 403
    assert status_of({"Host": f"evil.example:{port}"}) == 403
    assert daemon.state("web") == "RUNNING"
    assert status_of({}) == 200  # a client that is no browser: served
    daemon.wait_state("web", "STOPPED")


def test_a_port_in_use_is_a_launch_error_that_leaves_nothing(daemon):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        daemon.write_config({"web": sleeper()})
        with open(daemon.config, "a") as fh:
            fh.write(f'\n[xmlrpc]\nlisten = "127.0.0.1:{port}"\n')
        res = daemon.launch()
        assert res.returncode == 1, res
        assert f"[xmlrpc] cannot listen on 127.0.0.1:{port}" in res.stderr, res.stderr
        assert not daemon.socket.exists() and not daemon.pidfile.exists()
    finally:
        holder.close()


@pytest.mark.timeout(60)
def test_idle_connections_cannot_keep_a_client_out(daemon):
    url = start_xmlrpc(daemon, {"web": sleeper()}, extra="max_clients = 8")
    path = url[len("unix://") :]
    idle = []
    try:
        for _ in range(30):  # far past max_clients, none sending a request
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            idle.append(sock)
        assert proxy(url).supervisor.getState()["statename"] == "RUNNING"
    finally:
        for sock in idle:
            sock.close()
