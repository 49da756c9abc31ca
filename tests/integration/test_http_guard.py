"""Strangers against the [http] server's door (issues 21.6, 21.7, 21.14), each attack
run as `nobody` where the test runs as root: a refused client keeps no slot and no
client holds them all; a wrong password slows only its client and that user name; the
loop never spends a guess's PBKDF2; an unknown user costs and reads like a known one;
a token is long and braked like a password."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import psutil
import pytest

from integration.http_helpers import request, start_http
from integration.invariants import request as socket_request
from supervisord_lite.base.passwords import hash_password

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(
        os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"),
        reason="needs root (to attack as nobody) and /usr/bin/python3",
    ),
]

SLEEPER = {"a": {"command": ["sleep", "300"], "startsecs": 0}}
TOKEN = "a-long-enough-bearer-token-0123456789abcdef"

# The attacker's toolkit, run as nobody: `get(port, headers)` on a fresh connection ->
# (status, headers, connection), and `hold()`, which keeps what it is given until stdin
# closes. The attack itself follows it in each test.
KIT = r"""
import base64, http.client, json, socket, sys, time
port = int(sys.argv[1])
def get(path="/api/version", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse(); r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, c
    except (ConnectionError, http.client.HTTPException):
        c.close()
        return None, {}, None
def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
def raw_get(path="/api/version"):
    # (status line, whether the server closed the connection after its answer)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                return data.split(b"\r\n")[0].decode(), True
            data += chunk
        return data.split(b"\r\n")[0].decode(), s.recv(1) == b""
    except socket.timeout:
        return data.split(b"\r\n")[0].decode(), False
    finally:
        s.close()
def report(value):
    print(json.dumps(value), flush=True)
def hold():
    sys.stdin.read()
"""


def as_nobody(port: int, attack: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["/usr/bin/python3", "-I", "-c", KIT + attack, str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/", user=65534,
    )  # fmt: skip


def report_of(attacker: subprocess.Popen):
    line = attacker.stdout.readline()
    assert line, "the attacker died"
    return json.loads(line)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def write_token(daemon, token: str = TOKEN) -> None:
    path = daemon.path("token")
    path.write_text(token + "\n")
    path.chmod(0o600)


# -- 21.6: connection slots --------------------------------------------------------------


def test_refused_clients_keep_no_slot(daemon):
    """Without the token, nobody fills every slot: each refused request's connection is
    closed, and connections that never got in give way to a newcomer."""
    write_token(daemon)
    port = start_http(daemon, SLEEPER, 'token_file = "token"\nmax_clients = 8\n')
    attacker = as_nobody(port, r"""
refused = [raw_get() for _ in range(8)]
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
report(refused)
hold()
""")  # fmt: skip
    try:
        refused = report_of(attacker)
        assert refused == [["HTTP/1.1 401 Unauthorized", True]] * 8
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert request(port, "GET", "/api/status", headers=auth)[0] == 200
    finally:
        attacker.stdin.close()
        attacker.wait(10)


def test_no_client_holds_every_slot(daemon):
    """nobody is let in (allowed_uids) and keeps its connections: it gets half of
    max_clients, and root still gets in."""
    port = start_http(daemon, SLEEPER, "max_clients = 8\n", supervisord={"allowed_uids": [65534]})
    attacker = as_nobody(port, r"""
kept = [c for c in (get()[2] for _ in range(8)) if c is not None]
report(len(kept))
hold()
""")  # fmt: skip
    try:
        assert report_of(attacker) == 4
        assert request(port, "GET", "/api/status")[0] == 200
    finally:
        attacker.stdin.close()
        attacker.wait(10)


# -- 21.7: guessing passwords ------------------------------------------------------------


def test_a_guesser_slows_only_itself_and_the_name_it_tries(daemon):
    users = {name: hash_password(f"{name}-pw", iterations=1000) for name in
             ("admin", "ops1", "ops2", "ops3")}  # fmt: skip
    table = "users = { " + ", ".join(f'{n} = "{h}"' for n, h in users.items()) + " }\n"
    port = start_http(daemon, SLEEPER, table)
    attacker = as_nobody(port, r"""
waits = []
deadline = time.monotonic() + 30
while time.monotonic() < deadline and max(waits, default=0) < 2:
    status, headers, c = get(headers=basic("admin", "guess"))
    if status == 429:
        waits.append(int(headers["retry-after"]))
        if len(waits) == 1:
            report("braked")
        time.sleep(0.2)
report(sorted(set(waits)))
hold()
""")  # fmt: skip
    try:
        assert report_of(attacker) == "braked"  # nobody is being slowed down now
        for name in ("ops1", "ops2", "ops3"):  # each a first login: a hash each
            assert request(port, "GET", "/api/status", headers=basic(name, f"{name}-pw"))[0] == 200
        waits = report_of(attacker)
        assert waits[0] == 1 and waits[-1] >= 2  # its own pause grew; no one else's
    finally:
        attacker.stdin.close()
        attacker.wait(10)


def _hash_helpers(pid: int) -> list:
    return [p for p in psutil.Process(pid).children() if "pbkdf2" in " ".join(p.cmdline())]


def _children_cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.children_user + times.children_system


def test_an_unknown_user_reads_and_costs_as_a_wrong_password(daemon):
    stored = hash_password("pw")  # the default cost: ~0.15 s of CPU per check
    port = start_http(daemon, SLEEPER, f'users = {{ admin = "{stored}" }}\n')
    attacker = as_nobody(port, r"""
status, headers, c = get(headers=basic("admin", "wrong"))
report([status, headers.get("www-authenticate")])
hold()
""")  # fmt: skip
    try:
        wrong = report_of(attacker)
    finally:
        attacker.stdin.close()
        attacker.wait(10)
    daemon.wait_until(lambda: not _hash_helpers(daemon.pid), 10)  # the guess's is reaped
    before = _children_cpu(daemon.pid)
    status, headers, body = request(port, "GET", "/api/version", headers=basic("ghost", "pw"))
    assert [status, headers.get("www-authenticate")] == wrong
    assert json.loads(body)["error"]["message"].startswith("authentication required")
    # the name was checked as hard as a real one: a helper hashed it (and was reaped)
    daemon.wait_until(lambda: _children_cpu(daemon.pid) - before > 0.05, 10)


def test_a_costly_password_check_never_stalls_the_loop(daemon):
    stored = hash_password("pw", iterations=10_000_000)  # the most a hash may ask: seconds
    port = start_http(daemon, SLEEPER, f'users = {{ admin = "{stored}" }}\n')
    attacker = as_nobody(port, r"""
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
          + base64.b64encode(b"admin:guess") + b"\r\n\r\n")
report("sent")
report(s.recv(65536).split(b"\r\n")[0].decode())
hold()
""")  # fmt: skip
    try:
        assert report_of(attacker) == "sent"
        # PBKDF2 runs in a helper process, and the daemon answers while it does
        daemon.wait_until(lambda: _hash_helpers(daemon.pid), 10)
        assert socket_request(daemon, "status", timeout=10.0)["ok"]
        assert _hash_helpers(daemon.pid), "the hash took seconds: the answer came meanwhile"
        assert report_of(attacker) == "HTTP/1.1 401 Unauthorized"
    finally:
        attacker.stdin.close()
        attacker.wait(10)


# -- 21.14: the bearer token -------------------------------------------------------------


def test_a_short_token_is_refused_and_token_guesses_are_braked(daemon):
    write_token(daemon, "sixteen-chars-ok")
    daemon.write_config(SLEEPER)
    with open(daemon.config, "a") as fh:
        fh.write('\n[http]\nlisten = "127.0.0.1:9"\ntoken_file = "token"\n')
    res = daemon.launch("--check")
    assert res.returncode == 2
    assert (f"{daemon.config}: http.token_file: {daemon.path('token')}: the token on its first "
            "line has 16 characters; it must have at least 32") in res.stderr  # fmt: skip
    write_token(daemon)
    port = start_http(daemon, SLEEPER, 'token_file = "token"\n')
    attacker = as_nobody(port, r"""
answers = []
for guess in ("guess-1", "guess-2"):
    status, headers, c = get(headers={"Authorization": "Bearer " + guess})
    answers.append([status, headers.get("retry-after")])
report(answers)
hold()
""")  # fmt: skip
    try:
        assert report_of(attacker) == [[401, None], [429, "1"]]
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert request(port, "GET", "/api/version", headers=good)[0] == 200  # another client
    finally:
        attacker.stdin.close()
        attacker.wait(10)
