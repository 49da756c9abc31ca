"""[http] against the real daemon through real sockets: the API mirrors the protocol,
GET changes nothing, every change needs POST + the CSRF token, auth, read_only, the
config refusal beyond loopback, server-sent events, and malformed or hostile input."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integration.http_helpers import EventStream, csrf, post, raw, request, start_http
from supervisord_lite.base.passwords import hash_password

pytestmark = pytest.mark.timeout(60)

SLEEPERS = {
    "a": {"command": ["sleep", "300"], "startsecs": 0},
    "b": {"command": ["sleep", "300"], "startsecs": 0, "numprocs": 2},
}


def test_api_mirrors_the_protocol_and_serves_metrics(daemon):
    port = start_http(daemon, SLEEPERS, groups={"g": {"programs": ["b"]}})
    daemon.wait_state("g:1", "RUNNING")
    status, headers, body = request(port, "GET", "/api/status")
    assert status == 200 and headers["content-type"] == "application/json"

    def fixed(items):  # uptime and its text move on between the two requests
        return [{k: v for k, v in p.items() if k not in ("uptime", "description")} for p in items]

    assert fixed(json.loads(body)["result"]) == fixed(
        json.loads(daemon.ctl_ok("status", "--json").stdout)
    )
    status, headers, body = request(port, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    up = {s.labels["name"]: s.value for s in families["supervisord_lite_process_up"].samples}
    assert up == {"a": 1, "g:0": 1, "g:1": 1}
    # a parked reply: stop waits until stopped, then answers as the socket does
    code, reply = post(port, "stop", {"names": ["g:*"]})
    assert code == 200 and reply == {"ok": True, "result": [
        {"name": "g:0", "ok": True, "message": "stopped"},
        {"name": "g:1", "ok": True, "message": "stopped"}]}  # fmt: skip
    assert daemon.state("g:0") == "STOPPED"
    code, reply = post(port, "start", {"names": ["nope"]})
    assert reply["result"] == [{"name": "nope", "ok": False, "message": "no such process"}]
    code, reply = post(port, "frobnicate", {})
    assert code == 404 and reply["error"]["code"] == "UNKNOWN_COMMAND"
    status, _, body = request(port, "GET", "/api/status?names=zzz")
    assert status == 404 and json.loads(body)["error"]["code"] == "NO_SUCH_PROCESS"
    status, headers, body = request(port, "GET", "/")
    assert status == 200 and b'<meta name="csrf-token" content="' + csrf(port).encode() in body
    assert "script-src 'self'" in headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert request(port, "GET", asset)[0] == 200
    assert request(port, "GET", "/static/../http_server.py")[0] == 404


def test_get_never_changes_and_post_needs_the_token(daemon):
    port = start_http(daemon, SLEEPERS)
    daemon.wait_state("a", "RUNNING")
    for method in ("GET", "HEAD"):
        status, headers, _ = request(port, method, "/api/stop?names=a")
        assert status == 405 and headers["allow"] == "POST"
    status, _, body = request(port, "POST", "/api/stop", {"names": ["a"]})
    assert status == 403 and b"X-CSRF-Token" in body
    status, _, _ = request(port, "POST", "/api/stop", {"names": ["a"]}, {"X-CSRF-Token": "guess"})
    assert status == 403
    # a cross-site page cannot post even with a token it somehow learnt
    hdrs = {"X-CSRF-Token": csrf(port), "Origin": "http://evil.example"}
    assert request(port, "POST", "/api/stop", {"names": ["a"]}, hdrs)[0] == 403
    # a DNS-rebound name for 127.0.0.1 is not served at all
    assert request(port, "GET", "/api/csrf", headers={"Host": "evil.example"})[0] == 403
    assert daemon.state("a") == "RUNNING"
    assert post(port, "stop", {"names": ["a"]})[0] == 200
    assert daemon.state("a") == "STOPPED"


def test_read_only_refuses_every_change(daemon):
    port = start_http(daemon, SLEEPERS, "read_only = true\n")
    daemon.wait_state("a", "RUNNING")
    for cmd in ("stop", "restart", "signal", "shutdown", "reload"):
        status, reply = post(port, cmd, {"names": ["a"], "signal": "TERM"})
        assert status == 403 and "read-only" in reply["error"]["message"], cmd
    assert post(port, "status", {"names": ["a"]})[1]["result"][0]["state"] == "RUNNING"
    assert b'content="true"' in request(port, "GET", "/")[2]
    assert daemon.state("a") == "RUNNING"


def test_basic_and_bearer_auth(daemon):
    token_file = daemon.path("token")
    token_file.write_text("t0ken-t0ken-t0ken-t0ken-t0ken-t0ken\n")
    token_file.chmod(0o600)
    users = f'users = {{ admin = "{hash_password("pw", iterations=1000)}" }}\n'
    port = start_http(daemon, SLEEPERS, users + 'token_file = "token"\n')
    status, headers, _ = request(port, "GET", "/api/status")
    assert status == 401
    assert headers["www-authenticate"] == (
        'Basic realm="supervisord-lite", charset="UTF-8", Bearer realm="supervisord-lite"'
    )
    assert request(port, "GET", "/metrics")[0] == 401
    basic = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    bearer = {"Authorization": "Bearer t0ken-t0ken-t0ken-t0ken-t0ken-t0ken"}
    for good in (basic, bearer):
        assert request(port, "GET", "/api/status", headers=good)[0] == 200
        assert request(port, "GET", "/metrics", headers=good)[0] == 200
    assert post(port, "stop", {"names": ["a"]}, bearer)[0] == 200
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}
    assert request(port, "GET", "/api/status", headers=wrong)[0] == 401
    # right after a wrong guess this client's next one is not checked (a token's
    # neither); credentials already known good still work (test_http_guard.py: more)
    status, headers, _ = request(port, "GET", "/", headers={"Authorization": "Bearer nope"})
    assert status == 429 and headers["retry-after"] == "1"
    assert request(port, "GET", "/api/status", headers=basic)[0] == 200


def test_beyond_loopback_without_auth_is_refused(daemon):
    daemon.write_config(SLEEPERS)
    with open(daemon.config, "a") as fh:
        fh.write('\n[http]\nlisten = "0.0.0.0:9001"\n')
    message = (
        f'{daemon.config}: http.listen: "0.0.0.0:9001" is reachable beyond this host: set users '
        "(see supervisord-lite hash-password) or token_file, or listen on 127.0.0.1"
    )
    res = daemon.launch("--check")
    assert res.returncode == 2 and message in res.stderr
    res = daemon.launch()
    assert res.returncode == 2 and message in res.stderr
    assert not daemon.pidfile.exists()


def test_events_stream_a_state_change_and_tail_follows(daemon):
    talk = "trap 'echo hup' HUP; echo one; while :; do sleep 0.1; done"
    programs = dict(SLEEPERS, talk={"command": ["sh", "-c", talk], "startsecs": 0})
    port = start_http(daemon, programs)
    daemon.wait_state("a", "RUNNING")
    events = EventStream(port, "/api/events")
    try:
        assert events.res.getheader("content-type") == "text/event-stream"
        assert events.next() == (None, {"subscribed": True})
        daemon.ctl_ok("stop", "a")
        seen = [events.next()[1] for _ in range(2)]
        assert [(e["process"], e["from"], e["to"]) for e in seen] == [
            ("a", "RUNNING", "STOPPING"), ("a", "STOPPING", "STOPPED")]  # fmt: skip
        assert abs(seen[1]["time"] - time.time()) < 5
    finally:
        events.close()
    daemon.wait_until(lambda: daemon.read_log("talk") == "one\n")
    tail = EventStream(port, "/api/tail?name=talk&lines=5&follow=1")
    try:
        assert tail.next()[1]["data"] == "one\n"
        daemon.ctl_ok("signal", "HUP", "talk")
        assert tail.next()[1] == {"data": "hup\n"}
    finally:
        tail.close()
    status, _, body = request(port, "GET", "/api/tail?name=nope")
    assert status == 404 and json.loads(body)["error"]["code"] == "NO_SUCH_PROCESS"


def test_tail_is_a_one_shot_read_unless_follow_is_asked(daemon):
    """GET /api/tail answers the last lines and is done (a script or a cron job must not
    hang on it); only follow=1 makes it tail -f."""
    talk = "echo one; echo two; exec sleep 300"
    port = start_http(daemon, {"talk": {"command": ["sh", "-c", talk], "startsecs": 0}})
    daemon.wait_until(lambda: daemon.read_log("talk") == "one\ntwo\n")
    status, headers, body = request(port, "GET", "/api/tail?name=talk&lines=1", timeout=5)
    assert status == 200 and headers["content-type"] == "application/json"
    result = json.loads(body)["result"]
    assert result["data"] == "two\n" and result["path"] == str(daemon.log_path("talk"))
    status, _, body = request(port, "GET", "/api/tail?name=talk&follow=maybe", timeout=5)
    assert status == 400 and "follow" in json.loads(body)["error"]["message"]
    tail = EventStream(port, "/api/tail?name=talk&lines=1&follow=true")
    try:
        assert tail.next()[1]["data"] == "two\n"
    finally:
        tail.close()


@pytest.mark.timeout(180)
def test_the_pages_refresh_of_hundreds_of_rows_fits(daemon):
    """The page's refresh after a bulk stop (issue 22.9): its names go in a POST body,
    since in a query string 760 names pass the 16 KiB head limit (431)."""
    count = 760
    program = {"command": ["sleep", "600"], "startsecs": 0, "numprocs": count,
               "process_name": "{program_name}-instance-{process_num:04d}"}  # fmt: skip
    port = start_http(daemon, {"many": program})
    names = [f"many:many-instance-{i:04d}" for i in range(count)]
    daemon.wait_until(lambda: {p["state"] for p in daemon.status().values()} == {"RUNNING"}, 60)
    daemon.ctl_ok("stop", "all", timeout=120)
    code, reply = post(port, "status", {"names": names})
    assert code == 200 and [(p["name"], p["state"]) for p in reply["result"]] == [
        (name, "STOPPED") for name in names
    ]
    query = "&".join(f"names={name}" for name in names)
    assert request(port, "GET", f"/api/status?{query}")[0] == 431


def test_hostile_and_malformed_requests(daemon):
    port = start_http(daemon, SLEEPERS, "request_timeout = 1\nidle_timeout = 2\nmax_clients = 4\n")
    host = b"Host: 127.0.0.1\r\n"
    # pipelining: three requests in one write, three answers in order, then keep-alive
    one = b"GET /api/version HTTP/1.1\r\n" + host + b"\r\n"
    last = b"GET /api/status?names=a HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n"
    out = raw(port, one + one + last)
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 3 and out.index(b'"daemon"') < out.index(b'"a"')
    # headers past 16 KiB: 431, closed
    big = b"GET / HTTP/1.1\r\n" + host + b"X-Big: " + b"x" * 20000 + b"\r\n\r\n"
    assert raw(port, big).startswith(b"HTTP/1.1 431 ")
    # not HTTP at all, and a method with a space in it
    assert raw(port, b"\x16\x03\x01\x02\x00hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(port, b"GE T / HTTP/1.1\r\n" + host + b"\r\n").startswith(b"HTTP/1.1 400 ")
    put = raw(port, b"PUT /api/stop HTTP/1.1\r\n" + host + b"Content-Length: 0\r\n\r\n", 2)
    assert put.startswith(b"HTTP/1.1 405 ") and b"allow: GET, HEAD, POST" in put
    # a body past 1 MiB is refused from its Content-Length, unread
    body = b"POST /api/status HTTP/1.1\r\n" + host + b"Content-Length: 2000000\r\n\r\n"
    assert raw(port, body).startswith(b"HTTP/1.1 413 ")
    # slow loris: half a request, then nothing; closed with 408 after request_timeout
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        began = time.monotonic()
        reply = slow.recv(65536)
        assert reply.startswith(b"HTTP/1.1 408 ") and 0.9 < time.monotonic() - began < 5
    # connections that never send a request hold no slot for long: a newcomer takes the
    # oldest one's (http/slots.py), and each is closed, without a word, after
    # request_timeout; the others are still served
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(6)]
    try:
        for sock in held:
            assert sock.recv(100) == b""
    finally:
        for sock in held:
            sock.close()
    daemon.wait_until(lambda: request(port, "GET", "/api/version")[0] == 200)
    # an idle keep-alive connection is closed after idle_timeout
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(one)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 OK")
        began = time.monotonic()
        assert idle.recv(65536) == b"" and 1.5 < time.monotonic() - began < 6
    assert daemon.state("a") == "RUNNING"


def test_no_wakeups_when_idle_with_http_on(daemon):
    import psutil

    port = start_http(daemon, SLEEPERS, "idle_timeout = 1\n")
    daemon.wait_state("b:1", "RUNNING")
    assert request(port, "GET", "/api/status")[0] == 200  # a client came and went
    proc = psutil.Process(daemon.pid)

    def switches() -> int:
        c = proc.num_ctx_switches()
        return c.voluntary + c.involuntary

    time.sleep(0.5)  # the closed client's last timer
    before = switches()
    time.sleep(2.0)  # a quiet window: nothing may wake the daemon
    assert switches() - before == 0


def _request_as(uid: int, port: int, path: str) -> int:
    """The status a GET gets from a client process running as `uid`."""
    # The system's python3 (the test's own may live where that user cannot read).
    code = (
        "import http.client, sys; c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]),"
        " timeout=10); c.request('GET', sys.argv[2]); print(c.getresponse().status)"
    )
    res = subprocess.run(["/usr/bin/python3", "-I", "-c", code, str(port), path],
                         capture_output=True, text=True, timeout=20, user=uid,
                         cwd="/")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return int(res.stdout)


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
    reason="needs root (to run a client as another user) and /usr/bin/python3",
)
def test_without_auth_only_the_sockets_users_may_come_in(daemon):
    """No users, no token: loopback only, and only root, the daemon's user and
    allowed_uids, found in /proc/net/tcp as the control socket finds them by SO_PEERCRED."""
    port = start_http(daemon, SLEEPERS)
    assert request(port, "GET", "/api/status")[0] == 200  # root
    assert _request_as(65534, port, "/api/status") == 403  # nobody
    assert _request_as(65534, port, "/") == 403
    daemon.write_config(SLEEPERS, {"allowed_uids": [65534]})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    daemon.ctl_ok("reload")
    assert _request_as(65534, port, "/api/status") == 200  # allowed now, as on the socket
    status, _, body = request(port, "GET", "/api/status")
    assert status == 200


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_serves_the_api_over_a_real_handshake(daemon, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    port = start_http(daemon, SLEEPERS, f'certfile = "{cert}"\nkeyfile = "{key}"\n')
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    try:
        conn.request("GET", "/api/status")
        res = conn.getresponse()
        assert res.status == 200
        assert {p["program"] for p in json.loads(res.read())["result"]} == set(SLEEPERS)
    finally:
        conn.close()
    # plain HTTP on the TLS port gets no answer it could mistake for one: it is dropped
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
        assert b"HTTP/1.1 200" not in answer
    daemon.wait_until(lambda: "TLS handshake failed" in daemon.logfile.read_text(), 5)
    # clients that reset before or during their handshake: one short line each, no
    # traceback, and the next client is served (issue 22.10)
    for i in range(20):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if i % 2:
            sock.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello
        sock.close()
    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    try:
        conn.request("GET", "/api/version")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert "Traceback" not in daemon.logfile.read_text()
