"""Who a loopback [http] client is, when neither users nor token_file is set: the
daemon asks the kernel for the client's own socket (sock_diag) and serves only root,
its own uid and allowed_uids, as on the control socket. Attacks run as `nobody`."""

from __future__ import annotations

import base64
import errno
import http.client
import json
import os
import signal
import socket
import subprocess
import textwrap

import pytest

from integration.harness import free_port, helper, wait_until
from integration.http_helpers import csrf, post, request, start_http

NOBODY = 65534

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
        reason="needs root (to run a client as another user) and /usr/bin/python3",
    ),
]

SLEEPER = {"a": {"command": ["sleep", "300"], "startsecs": 0}}


def as_user(uid: int, code: str, *args, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run `code` with the system's python3 as `uid` (the test's own python may live
    where that user cannot read)."""
    return subprocess.run(["/usr/bin/python3", "-I", "-c", textwrap.dedent(code),
                           *(str(a) for a in args)],
                          capture_output=True, text=True, timeout=timeout, user=uid,
                          cwd="/")  # fmt: skip


SEND_AND_CLOSE = """
    import socket, sys
    port, token = int(sys.argv[1]), sys.argv[2]
    body = b'{"names": ["a"]}'
    head = (f"POST /api/stop HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n"
            f"X-CSRF-Token: {token}\\r\\nContent-Type: application/json\\r\\n"
            f"Content-Length: {len(body)}\\r\\n\\r\\n")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(head.encode() + body)
    print(s.getsockname()[1])
    s.close()
"""


def test_a_client_closed_before_accept_is_never_served_as_root(daemon):
    """A socket that no process holds any more is listed by the kernel with uid 0: a
    request sent and closed before the daemon's accept() must not run as root's."""
    port = start_http(daemon, SLEEPER)
    daemon.wait_state("a", "RUNNING")
    token = csrf(port)  # the worst case: the attacker knows the page's token
    os.kill(daemon.pid, signal.SIGSTOP)  # the daemon cannot accept until SIGCONT
    try:
        res = as_user(NOBODY, SEND_AND_CLOSE, port, token)
        assert res.returncode == 0, res.stderr
        # Once the kernel has acknowledged its FIN, the orphan becomes a FIN_WAIT2
        # leftover that the kernel lists with uid 0 (root) and inode 0.
        wait_until(lambda: _tcp4_state(int(res.stdout), port) == "05", 5)
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    wait_until(
        lambda: (
            "refusing a loopback client" in daemon.logfile.read_text()
            or daemon.state("a") != "RUNNING"
        ),
        10,
    )
    assert daemon.state("a") == "RUNNING"
    assert "owned by no process" in daemon.logfile.read_text()
    # root, the daemon's own user, is still served
    status, reply = post(port, "stop", {"names": ["a"]})
    assert status == 200 and reply["result"][0]["ok"], reply
    assert daemon.state("a") == "STOPPED"


def test_with_auth_an_orphan_is_counted_by_address_and_refuses_no_one(daemon):
    """With users set, the slots and the guessing brakes still tell local users apart
    (http_slots.peer_key asks the kernel too). A client that closed before accept has no
    identity there either, but it is not refused for it: no "refusing" line, and the
    password decides."""
    from supervisord_lite.base.passwords import hash_password

    table = f'users = {{ alice = "{hash_password("a-secret", 1000)}" }}\n'
    port = start_http(daemon, SLEEPER, table)
    daemon.wait_state("a", "RUNNING")
    alice = {"Authorization": "Basic " + base64.b64encode(b"alice:a-secret").decode()}
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        res = as_user(NOBODY, SEND_AND_CLOSE, port, "no-token")
        assert res.returncode == 0, res.stderr
        wait_until(lambda: _tcp4_state(int(res.stdout), port) == "05", 5)  # an orphan
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    # Accepted after the orphan (the listen queue is in order), and answered after a
    # password check in a helper: the loop turn that accepted the orphan is logged.
    assert request(port, "GET", "/api/version", headers=alice)[0] == 200
    assert "refusing a loopback client" not in daemon.logfile.read_text()
    assert daemon.state("a") == "RUNNING"


def _tcp4_state(client_port: int, server_port: int) -> str | None:
    """The state /proc/net/tcp lists for the client socket 127.0.0.1:client_port."""
    local, remote = f"0100007F:{client_port:04X}", f"0100007F:{server_port:04X}"
    with open("/proc/net/tcp") as fh:
        for line in fh:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                return fields[3]
    return None


def test_nobody_is_refused_and_allowed_uids_lets_it_in(daemon):
    port = start_http(daemon, SLEEPER)
    code = """
        import http.client, sys
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
        c.request("GET", "/api/status")
        print(c.getresponse().status)
    """
    assert as_user(NOBODY, code, port).stdout.strip() == "403"
    daemon.write_config(SLEEPER, {"allowed_uids": [NOBODY]})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    daemon.ctl_ok("reload")
    assert as_user(NOBODY, code, port).stdout.strip() == "200"


def test_a_root_client_on_an_ipv4_mapped_ipv6_socket_is_root(daemon):
    """An IPv6 socket connected to ::ffff:127.0.0.1: the kernel files it under IPv4."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    port = start_http(daemon, SLEEPER)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(("::ffff:127.0.0.1", port))
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["ok"]
    assert request(port, "GET", "/api/version")[0] == 200


def test_the_csrf_token_is_per_session_and_renewed_when_who_may_come_in_changes(daemon):
    from integration.http_helpers import start_http as start
    from supervisord_lite.base.passwords import hash_password

    users = {"alice": hash_password("a-secret", 1000), "bob": hash_password("b-secret", 1000)}
    table = "users = { " + ", ".join(f'{n} = "{h}"' for n, h in users.items()) + " }\n"
    port = start(daemon, SLEEPER, table)
    alice = {"Authorization": "Basic " + base64.b64encode(b"alice:a-secret").decode()}
    bob = {"Authorization": "Basic " + base64.b64encode(b"bob:b-secret").decode()}
    token = csrf(port, alice)
    assert token != csrf(port, bob)
    status, _, _ = request(port, "POST", "/api/status", {}, {**bob, "X-CSRF-Token": token})
    assert status == 403  # alice's token is not bob's
    status, _, _ = request(port, "POST", "/api/status", {}, {**alice, "X-CSRF-Token": token})
    assert status == 200

    # bob is let out at reload: every token is renewed
    daemon.write_config(SLEEPER)
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
        fh.write(f'users = {{ alice = "{users["alice"]}" }}\n')
    daemon.ctl_ok("reload")
    status, _, body = request(port, "POST", "/api/status", {}, {**alice, "X-CSRF-Token": token})
    assert status == 403 and b"reload the page" in body, body
    assert post(port, "status", {}, alice)[0] == 200  # with the new token


def test_the_csrf_token_is_renewed_when_allowed_uids_changes(daemon):
    port = start_http(daemon, SLEEPER)
    token = csrf(port)
    daemon.write_config(SLEEPER, {"allowed_uids": [NOBODY]})
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "127.0.0.1:{port}"\n')
    daemon.ctl_ok("reload")
    status, _, _ = request(port, "POST", "/api/status", {}, {"X-CSRF-Token": token})
    assert status == 403
    assert post(port, "status", {})[0] == 200
    assert "new CSRF tokens" in daemon.logfile.read_text()
    token = csrf(port)
    daemon.ctl_ok("reload")  # nothing changed: the token stays
    assert csrf(port) == token


FLOOD = """
    # Keep 60 requests in flight: as each is answered (403) or dropped, open another.
    import selectors, socket, sys
    port = int(sys.argv[1])
    request = b"GET /api/version HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n"
    sel = selectors.DefaultSelector()

    def another():
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, "connecting")

    for _ in range(60):
        another()
    print("flooding", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == "connecting":
                try:
                    s.send(request)
                    sel.modify(s, selectors.EVENT_READ, "reading")
                    continue
                except OSError:
                    pass
            else:
                try:
                    if s.recv(65536):
                        continue
                except OSError:
                    pass
            sel.unregister(s)
            s.close()
            another()
"""


def _status_round_trip(path: str, timeout: float) -> bool:
    """One `status` over the control socket, answered within `timeout` seconds."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(b'{"id": 1, "cmd": "status"}\n')
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                answer += chunk
        except OSError:  # socket.timeout included
            return False
    return json.loads(answer)["ok"]


@pytest.mark.timeout(120)
def test_an_inflated_socket_table_does_not_slow_the_daemon(daemon):
    """20 000 sockets in the host's TCP table, and `nobody` keeping 60 requests to the
    page in flight: every accept used to read the whole table (a loop turn took
    seconds). Now each accept is one exact lookup: the control socket answers and a
    crash-looping program keeps being restarted."""
    programs = {
        **SLEEPER,
        "crash": {
            "command": ["sleep", "0.1"],
            "startsecs": 0,
            "autorestart": True,
            "backoff_max": 0,
        },  # fmt: skip
    }
    port = start_http(daemon, programs)
    hoard = subprocess.Popen(helper("socket_hoard", 20_000, free_port()),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    flood = None
    try:
        assert hoard.stdout.readline().strip() == "ready"
        flood = subprocess.Popen(["/usr/bin/python3", "-I", "-c", textwrap.dedent(FLOOD),
                                  str(port)], stdout=subprocess.PIPE, text=True, user=NOBODY,
                                 cwd="/")  # fmt: skip
        assert flood.stdout.readline().strip() == "flooding"
        before = daemon.status("crash")["crash"]["restarts"]
        # Generous on a loaded machine; a table scan per accept made each turn seconds.
        answered = [_status_round_trip(str(daemon.socket), 2.0) for _ in range(10)]
        assert all(answered), answered
        wait_until(lambda: daemon.status("crash")["crash"]["restarts"] >= before + 10, 10)
        assert flood.poll() is None  # the flood went on all along
    finally:
        for proc in (flood, hoard):
            if proc is not None:
                proc.kill()
                proc.communicate()
    assert request(port, "GET", "/api/version")[0] == 200


BIND_V6 = """
    import socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("::1", int(sys.argv[1])))
        s.listen(1)
        print("bound")
    except OSError as exc:
        print(exc.errno)
"""


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_a_loopback_listen_holds_both_127_0_0_1_and_ipv6_loopback(daemon):
    """With only 127.0.0.1 bound, any user could listen on [::1]:PORT and receive the
    requests (Authorization header included) of clients that try ::1 first for
    `localhost`. The daemon holds both, and answers on both as itself."""
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("this host has no ::1")
    port = start_http(daemon, SLEEPER)
    assert as_user(NOBODY, BIND_V6, port).stdout.strip() == str(errno.EADDRINUSE)
    assert f"http://[::1]:{port}/" in daemon.logfile.read_text()
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    try:
        conn.request("GET", "/api/version")
        res = conn.getresponse()
        assert res.status == 200  # and as root: sock_diag found the IPv6 client
        assert json.loads(res.read())["ok"]
    finally:
        conn.close()
    code = """
        import http.client, sys
        c = http.client.HTTPConnection("::1", int(sys.argv[1]), timeout=10)
        c.request("GET", "/api/status")
        print(c.getresponse().status)
    """
    assert as_user(NOBODY, code, port).stdout.strip() == "403"


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_an_ipv6_loopback_listen_holds_127_0_0_1_too(daemon):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("this host has no ::1")
    port = free_port()
    daemon.write_config(SLEEPER)
    with open(daemon.config, "a") as fh:
        fh.write(f'\n[http]\nlisten = "[::1]:{port}"\n')
    daemon.start()
    assert as_user(NOBODY, BIND_V6.replace('"::1"', '"127.0.0.1"').replace(
        "AF_INET6", "AF_INET"), port).stdout.strip() == str(errno.EADDRINUSE)  # fmt: skip
    assert request(port, "GET", "/api/version")[0] == 200  # 127.0.0.1, as root
