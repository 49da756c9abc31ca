"""Hostile input and load (issue 6, SPEC §4): nothing a client or a program does can
crash or fool the daemon.

Real daemon, real sockets. Clients here speak the wire protocol by hand (never through
the ctl), so that they can be as rude as a buggy or malicious client would be.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import struct
import subprocess
import threading
import time
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.harness import DAEMON_CMD, helper

MAX_LINE = 1024 * 1024
KNOWN_CODES = {
    "BAD_REQUEST",
    "UNKNOWN_COMMAND",
    "BAD_ARGUMENT",
    "NO_SUCH_PROCESS",
    "LINE_TOO_LONG",
    "TOO_MANY_CLIENTS",
    "SHUTTING_DOWN",
    "CONFIG_ERROR",
    "BUSY",
    "TOO_SLOW",
    "TIMEOUT",
}  # never INTERNAL (a daemon bug) nor FORBIDDEN (we are root)
NOBODY = 65534


# ------------------------------------------------------------------------------ clients


def connect(daemon, timeout: float = 10.0, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    # A blocking connect, like the ctl's: with the listen backlog full it waits for room
    # (bounded by SO_SNDTIMEO) where a non-blocking one would fail with EAGAIN at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(timeout), 0))
    sock.connect(str(daemon.socket))
    sock.settimeout(timeout)
    return sock


class Reader:
    """Reads reply lines from a blocking socket (with its timeout)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def line(self) -> bytes | None:
        """The next line, or None at EOF (or a reset after the peer closed)."""
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self) -> dict:
        line = self.line()
        assert line is not None, "connection closed where a reply was due"
        message = json.loads(line)
        assert isinstance(message, dict) and "ok" in message, message
        return message

    def at_eof(self) -> bool:
        return self.line() is None


def call(sock: socket.socket, reader: Reader, message: Any) -> dict:
    raw = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
    sock.sendall(raw)
    return reader.reply()


def one_shot(daemon, message: Any, timeout: float = 10.0) -> dict:
    with connect(daemon, timeout) as sock:
        return call(sock, Reader(sock), message)


def error_code(reply: dict) -> str:
    assert reply["ok"] is False, reply
    err = reply["error"]
    assert isinstance(err["message"], str) and err["message"], reply
    return err["code"]


def assert_serves(daemon, dpid: int) -> None:
    """A fresh connection gets a correct `version` reply, and the daemon is alive."""
    reply = one_shot(daemon, {"id": 1, "cmd": "version"})
    assert reply["ok"] is True and reply["id"] == 1, reply
    assert reply["result"]["pid"] == dpid, reply
    assert alive(dpid)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def sleeper(**extra: Any) -> dict:
    p = {"command": helper("sigwait"), "startsecs": 0, "stopwaitsecs": 2}
    p.update(extra)
    return p


# ------------------------------------------------------------------------------ fuzzing

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(["a", "b", "a:0", "all", "nope", "", "b:1"]) | st.text(max_size=6)
ARG_VALUES = json_values | st.lists(NAMES, max_size=3) | NAMES
ARGS = (
    st.fixed_dictionaries(
        {},
        optional={
            "names": ARG_VALUES,
            "name": ARG_VALUES,
            "lines": st.integers(-5, 50) | json_values,
            "stream": st.sampled_from(["stdout", "stderr", "stdin"]) | json_values,
            "follow": st.booleans() | json_values,
            "signal": st.sampled_from(["HUP", "USR1", "BOGUS", "SIGCONT", 0, 15, -1, 99999])
            | json_values,
        },
    )
    | json_values
)
# Everything but shutdown; `stop`/`restart`/`signal` only reach the throwaway programs.
CMDS = st.sampled_from(
    ["status", "start", "stop", "restart", "signal", "pid", "tail", "reload", "events", "version"]
) | st.text(max_size=10).filter(lambda s: s != "shutdown")
REQUESTS = st.fixed_dictionaries(
    {"cmd": CMDS}, optional={"id": json_values, "args": ARGS, "extra": json_values}
)

KINDS = {
    "bytes": st.binary(max_size=3000),
    "lines": st.lists(st.text(max_size=80), min_size=1, max_size=5).map(
        lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")
    ),
    "json": json_values.map(lambda v: json.dumps(v).encode() + b"\n"),
    "request": REQUESTS.map(lambda r: json.dumps(r).encode() + b"\n"),
}
# Weighted: half the examples are objects with a `cmd`, which reach the handlers.
PAYLOADS = st.sampled_from(["bytes", "lines", "json", "request", "request", "request"]).flatmap(
    lambda kind: KINDS[kind].map(lambda data: (kind, data))
)


@pytest.mark.timeout(90)
def test_fuzz_socket_daemon_always_answers_next_request(daemon):
    dpid = daemon.start(
        {
            "a": sleeper(),
            "b": {"command": ["true"], "startsecs": 0, "autostart": False, "autorestart": False},
        }
    )
    daemon.wait_state("a", "RUNNING")
    bad_replies: list[tuple[bytes, dict]] = []
    kinds: dict[str, int] = {}

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(PAYLOADS)
    def throw(payload: tuple[str, bytes]) -> None:
        kind, data = payload
        kinds[kind] = kinds.get(kind, 0) + 1
        with connect(daemon, timeout=15) as sock:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            if kind in ("json", "request"):
                # One complete line: its first reply must be well formed, with a stable
                # code if it is an error, and never INTERNAL.
                reply = Reader(sock).reply()
                if reply["ok"] is False and reply["error"].get("code") not in KNOWN_CODES:
                    bad_replies.append((data, reply))
        assert_serves(daemon, dpid)

    throw()
    assert sum(kinds.values()) >= 100 and len(kinds) == 4, kinds
    print("examples by kind:", kinds)
    assert not bad_replies, f"unexpected error codes: {bad_replies[:5]}"
    log = daemon.logfile.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, daemon.log_tail(80)
    assert daemon.status()  # the ctl still works too


# ------------------------------------------------------------------------------ framing


@pytest.mark.timeout(30)
def test_line_over_1_mib_gets_line_too_long_then_close(daemon):
    dpid = daemon.start({"a": sleeper()})
    with connect(daemon) as sock:
        sock.sendall(b"x" * (MAX_LINE + 1))  # no newline needed: the limit is on buffering
        reader = Reader(sock)
        reply = reader.reply()
        assert reply["id"] is None and error_code(reply) == "LINE_TOO_LONG", reply
        assert reader.at_eof(), "connection left open after LINE_TOO_LONG"
    with connect(daemon) as sock:
        try:
            sock.sendall(b'{"id": 5, "cmd": "status"}' + b" " * MAX_LINE + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us mid-write: the reply is still queued for us to read
        reply = Reader(sock).reply()
        assert error_code(reply) == "LINE_TOO_LONG", reply
    # A line of exactly 1 MiB is still served.
    head = b'{"id": 6, "cmd": "version"'
    line = head + b" " * (MAX_LINE - len(head) - 1) + b"}"
    assert len(line) == MAX_LINE
    with connect(daemon) as sock:
        reply = call(sock, Reader(sock), line + b"\n")
        assert reply["ok"] is True and reply["id"] == 6, reply
    assert_serves(daemon, dpid)


MALFORMED = [
    (b"\xff\xfe\x00garbage\n", None, "BAD_REQUEST"),
    (b'{"id": 1, "cmd": "status"\n', None, "BAD_REQUEST"),
    (b"not json at all\n", None, "BAD_REQUEST"),
    (b"\n", None, "BAD_REQUEST"),
    (b'[{"id": 1, "cmd": "status"}]\n', None, "BAD_REQUEST"),
    (b'"status"\n', None, "BAD_REQUEST"),
    (b"42\n", None, "BAD_REQUEST"),
    (b"null\n", None, "BAD_REQUEST"),
    (b'{"id": 3}\n', 3, "BAD_REQUEST"),
    (b'{"id": 4, "cmd": 7}\n', 4, "BAD_REQUEST"),
    (b'{"id": 5, "cmd": null}\n', 5, "BAD_REQUEST"),
    (b'{"id": 6, "cmd": "status", "args": [1]}\n', 6, "BAD_REQUEST"),
    (b'{"id": 7, "cmd": "status", "args": "web"}\n', 7, "BAD_REQUEST"),
    (b'{"id": 8, "cmd": "frobnicate"}\n', 8, "UNKNOWN_COMMAND"),
    (b'{"id": 9, "cmd": "STATUS"}\n', 9, "UNKNOWN_COMMAND"),
    (b'{"id": 10, "cmd": ""}\n', 10, "UNKNOWN_COMMAND"),
    (b'{"id": 11, "cmd": "__init__"}\n', 11, "UNKNOWN_COMMAND"),
    # Argument types.
    (b'{"id": 20, "cmd": "status", "args": {"names": "a"}}\n', 20, "BAD_ARGUMENT"),
    (b'{"id": 21, "cmd": "status", "args": {"names": [1, 2]}}\n', 21, "BAD_ARGUMENT"),
    (b'{"id": 22, "cmd": "start", "args": {"names": {"a": 1}}}\n', 22, "BAD_ARGUMENT"),
    (b'{"id": 23, "cmd": "start", "args": {}}\n', 23, "BAD_ARGUMENT"),
    (b'{"id": 24, "cmd": "stop", "args": {"names": []}}\n', 24, "BAD_ARGUMENT"),
    (b'{"id": 25, "cmd": "tail", "args": {"name": "a", "lines": -1}}\n', 25, "BAD_ARGUMENT"),
    (b'{"id": 26, "cmd": "tail", "args": {"name": "a", "lines": "9"}}\n', 26, "BAD_ARGUMENT"),
    (b'{"id": 27, "cmd": "tail", "args": {"name": "a", "lines": true}}\n', 27, "BAD_ARGUMENT"),
    (b'{"id": 28, "cmd": "tail", "args": {"name": "a", "stream": "stdin"}}\n', 28, "BAD_ARGUMENT"),
    (b'{"id": 29, "cmd": "tail", "args": {"name": "a", "follow": "yes"}}\n', 29, "BAD_ARGUMENT"),
    (b'{"id": 30, "cmd": "tail", "args": {"name": 5}}\n', 30, "BAD_ARGUMENT"),
    (
        b'{"id": 31, "cmd": "signal", "args": {"signal": "BOGUS", "names": ["a"]}}\n',
        31,
        "BAD_ARGUMENT",
    ),
    (
        b'{"id": 32, "cmd": "signal", "args": {"signal": true, "names": ["a"]}}\n',
        32,
        "BAD_ARGUMENT",
    ),
    (b'{"id": 33, "cmd": "signal", "args": {"signal": [1], "names": ["a"]}}\n', 33, "BAD_ARGUMENT"),
    (b'{"id": 34, "cmd": "signal", "args": {"signal": -3, "names": ["a"]}}\n', 34, "BAD_ARGUMENT"),
    (b'{"id": 35, "cmd": "signal", "args": {"names": ["a"]}}\n', 35, "BAD_ARGUMENT"),
    (b'{"id": 36, "cmd": "pid", "args": {"name": 5}}\n', 36, "BAD_ARGUMENT"),
    # Unknown processes.
    (b'{"id": 40, "cmd": "status", "args": {"names": ["nope"]}}\n', 40, "NO_SUCH_PROCESS"),
    (b'{"id": 41, "cmd": "status", "args": {"names": ["a", "nope"]}}\n', 41, "NO_SUCH_PROCESS"),
    (b'{"id": 42, "cmd": "pid", "args": {"name": "nope"}}\n', 42, "NO_SUCH_PROCESS"),
    (b'{"id": 43, "cmd": "tail", "args": {"name": "nope"}}\n', 43, "NO_SUCH_PROCESS"),
]


@pytest.mark.timeout(40)
def test_malformed_requests_get_stable_codes_and_the_connection_goes_on(daemon):
    dpid = daemon.start({"a": sleeper()})
    daemon.wait_state("a", "RUNNING")
    with connect(daemon) as sock:
        reader = Reader(sock)
        for raw, want_id, code in MALFORMED:
            reply = call(sock, reader, raw)
            if code in ("BAD_REQUEST", "UNKNOWN_COMMAND"):
                # Refused while decoding: the id may not be echoed (none is promised).
                assert reply["id"] in (None, want_id), (raw, reply)
            else:
                assert reply["id"] == want_id, (raw, reply)
            assert error_code(reply) == code, (raw, reply)
            # The same connection keeps working.
            ok = call(sock, reader, {"id": "next", "cmd": "status", "args": {"names": ["a"]}})
            assert ok["ok"] is True and ok["id"] == "next", (raw, ok)
            assert [p["name"] for p in ok["result"]] == ["a"], ok
    assert_serves(daemon, dpid)
    assert daemon.state("a") == "RUNNING"


@pytest.mark.timeout(40)
def test_several_bad_lines_in_one_write_each_answered_in_order(daemon):
    dpid = daemon.start({"a": sleeper()})
    lines = [b'{"id": %d, "cmd": "nope"}' % i if i % 2 else b"\xff%d" % i for i in range(50)]
    lines.append(b'{"id": "last", "cmd": "version"}')
    with connect(daemon) as sock:
        sock.sendall(b"\n".join(lines) + b"\n")
        reader = Reader(sock)
        for i in range(50):
            reply = reader.reply()
            assert error_code(reply) == ("UNKNOWN_COMMAND" if i % 2 else "BAD_REQUEST"), reply
            assert reply["id"] in (None, i), reply
        last = reader.reply()
        assert last["ok"] is True and last["id"] == "last", last
    assert_serves(daemon, dpid)


@pytest.mark.timeout(30)
def test_deeply_nested_json_is_a_bad_request(daemon):
    dpid = daemon.start({"a": sleeper()})
    with connect(daemon) as sock:
        reader = Reader(sock)
        for raw in (b"[" * 100_000, b'{"id": 1, "cmd": "status", "args": ' + b"[" * 5000):
            reply = call(sock, reader, raw + b"\n")
            assert error_code(reply) == "BAD_REQUEST", reply
    assert_serves(daemon, dpid)
    assert "Traceback" not in daemon.logfile.read_text()


@pytest.mark.timeout(60)
def test_every_request_gets_a_reply_whatever_the_id_depth(daemon):
    dpid = daemon.start({"a": sleeper()})
    depths = range(900, 1100)
    with connect(daemon, timeout=5) as sock:
        reader = Reader(sock)
        for depth in depths:  # one at a time: a missing reply must not hide behind others
            ident = "[" * depth + "]" * depth
            sock.sendall(b'{"id": %s, "cmd": "version"}\n' % ident.encode())
            try:
                line = reader.line()  # not parsed: our own json.loads may hit the limit
            except TimeoutError:
                pytest.fail(f"no reply to a request whose id is nested {depth} deep")
            assert line is not None, f"connection closed at depth {depth}"
            tail = line[-120:]
            assert b'"ok":true' in tail or b'"code":"BAD_REQUEST"' in tail, (depth, tail)
    assert_serves(daemon, dpid)


@pytest.mark.timeout(40)
def test_unknown_names_in_start_stop_signal_are_per_process_failures(daemon):
    dpid = daemon.start({"a": sleeper()})
    apid = daemon.wait_state("a", "RUNNING")["pid"]
    with connect(daemon) as sock:
        reader = Reader(sock)
        for cmd, args in (
            ("start", {"names": ["nope"]}),
            ("stop", {"names": ["nope"]}),
            ("restart", {"names": ["nope"]}),
            ("signal", {"signal": "HUP", "names": ["nope"]}),
        ):
            reply = call(sock, reader, {"id": cmd, "cmd": cmd, "args": args})
            assert reply["ok"] is True and reply["id"] == cmd, reply
            assert reply["result"] == [{"name": "nope", "ok": False, "message": "no such process"}]
        # Mixed with a real one: the real one is served, the unknown one reported.
        reply = call(sock, reader, {"id": 1, "cmd": "start", "args": {"names": ["a", "nope"]}})
        assert reply["ok"] is True, reply
        by_name = {r["name"]: r for r in reply["result"]}
        assert by_name["a"]["ok"] is True and by_name["a"]["message"] == "already started"
        assert by_name["nope"]["ok"] is False, reply
    st_a = daemon.status("a")["a"]
    assert st_a["state"] == "RUNNING" and st_a["pid"] == apid
    assert_serves(daemon, dpid)


# ------------------------------------------------------------------------------ access


@pytest.mark.timeout(40)
def test_socket_is_0600_and_socket_mode_opens_it(make_daemon):
    d1 = make_daemon()
    d1.start({"a": sleeper()})
    st1 = os.stat(d1.socket)
    assert stat.S_ISSOCK(st1.st_mode)
    assert stat.S_IMODE(st1.st_mode) == 0o600, oct(st1.st_mode)
    assert st1.st_uid == os.geteuid()

    d2 = make_daemon()
    d2.start({"a": sleeper()}, socket_mode=0o666)
    st2 = os.stat(d2.socket)
    assert stat.S_ISSOCK(st2.st_mode)
    assert stat.S_IMODE(st2.st_mode) == 0o666, oct(st2.st_mode)
    assert_serves(d2, d2.pid)


def _as_nobody(socket_path: str) -> dict:
    """Fork; the child drops to uid/gid 65534, sends `status`, reads until EOF.

    Returns {"error": ...} or {"lines": [...], "end": "eof" | "reset"}.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(r)
            result: dict[str, Any] = {}
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(10)
                sock.connect(socket_path)
                try:
                    sock.sendall(b'{"id": 1, "cmd": "status"}\n')
                except OSError:
                    pass  # refused and closed before we wrote: what we read says so
                buf, end = b"", "eof"
                while True:
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        end = "reset"
                        break
                    except TimeoutError:
                        end = "timeout"
                        break
                    if not data:
                        break
                    buf += data
                    if b"\n" in buf and b'"ok":true' in buf.replace(b" ", b""):
                        end = "served"  # a served client is not closed: stop here
                        break
                sock.close()
                result = {"lines": buf.decode(errors="replace").splitlines(), "end": end}
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                result = {"error": f"{type(exc).__name__}: {exc}"}
            os.write(w, json.dumps(result).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "child wrote nothing"}')


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become uid 65534")
def test_other_uid_refused_unless_allowed(make_daemon):
    # socket_mode opens the door (uid 65534 could not even connect() to a 0600 socket);
    # SO_PEERCRED is the gate. The test dir is 0700 (mkdtemp): let others traverse it.
    d1 = make_daemon()
    dpid = d1.start({"a": sleeper()}, socket_mode=0o666)
    os.chmod(d1.dir, 0o711)
    got = _as_nobody(str(d1.socket))
    assert "error" not in got, got
    assert got["end"] in ("eof", "reset"), f"refused client not closed: {got}"
    assert len(got["lines"]) == 1, got
    reply = json.loads(got["lines"][0])
    assert reply["ok"] is False and reply["error"]["code"] == "FORBIDDEN", reply
    assert "result" not in reply
    d1.wait_until(
        lambda: "refused" in d1.logfile.read_text() and str(NOBODY) in d1.logfile.read_text(),
        5,
        message="the refusal logged with the uid",
    )
    assert_serves(d1, dpid)

    d2 = make_daemon()
    d2.start({"a": sleeper()}, socket_mode=0o666, allowed_uids=[NOBODY])
    d2.wait_state("a", "RUNNING")
    os.chmod(d2.dir, 0o711)
    got = _as_nobody(str(d2.socket))
    assert "error" not in got, got
    assert got["end"] == "served", got
    reply = json.loads(got["lines"][0])
    assert reply["ok"] is True and reply["id"] == 1, reply
    assert [p["name"] for p in reply["result"]] == ["a"], reply
    assert "refused" not in d2.logfile.read_text()


@pytest.mark.timeout(40)
def test_max_clients_refuses_past_the_cap_and_recovers(daemon):
    dpid = daemon.start({"a": sleeper()}, max_clients=5)
    idle = []
    for i in range(5):
        sock = connect(daemon)
        reply = call(sock, Reader(sock), {"id": i, "cmd": "version"})  # accepted and counted
        assert reply["ok"] is True, reply
        idle.append(sock)
    try:
        with connect(daemon) as sixth:
            reader = Reader(sixth)
            reply = reader.reply()  # sent at once, before any request
            assert reply["id"] is None and error_code(reply) == "TOO_MANY_CLIENTS", reply
            assert reader.at_eof(), "refused client left open"
        assert "refused a client" in daemon.logfile.read_text()
        # The 5 idle ones still work.
        for i, sock in enumerate(idle):
            assert call(sock, Reader(sock), {"id": i, "cmd": "pid"})["result"] == dpid
        idle.pop().close()

        def fresh_one_served() -> bool:
            # The daemon may accept the newcomer before it reads the EOF of the one we
            # closed; then the newcomer is refused, and we try again.
            with connect(daemon) as sock:
                sock.sendall(b'{"id": 9, "cmd": "version"}\n')
                reply = Reader(sock).reply()
                return reply["ok"] is True and reply["id"] == 9

        daemon.wait_until(fresh_one_served, 5, message="a new client served after one left")
    finally:
        for sock in idle:
            sock.close()
    assert_serves(daemon, dpid)


# ------------------------------------------------------------------------------ load


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


@pytest.mark.timeout(120)
def test_200_clients_and_20_stalled_ones_while_programs_crash_loop(daemon):
    crashers = {
        f"crash{i}": {
            "command": ["false"],
            "startsecs": 0,
            "autorestart": True,
            "backoff_max": 0,
            "stdout_logfile": "none",
            "stderr_logfile": "none",
        }
        for i in range(10)
    }
    dpid = daemon.start(crashers, max_clients=250)  # the default cap is 100
    names = sorted(crashers)
    daemon.wait_until(
        lambda: all(p["restarts"] > 3 for p in daemon.status().values()),
        15,
        message="every program crash-looping",
    )
    peak = [rss_mb(dpid)]

    stalled = []
    for i in range(20):
        sock = connect(daemon, rcvbuf=4096)
        if i % 2:
            sock.sendall(b'{"id": 1, "cmd": "events"}\n')
        else:
            sock.sendall(b'{"id": 1, "cmd": "status"}\n' * 2000)
        stalled.append(sock)

    failures: list[str] = []
    done = [0]
    lock = threading.Lock()
    start_gate = threading.Event()

    def client(n: int) -> None:
        try:
            start_gate.wait(10)
            with connect(daemon, timeout=60) as sock:
                reader = Reader(sock)
                for k in range(3):
                    reply = call(sock, reader, {"id": f"{n}-{k}", "cmd": "status"})
                    assert reply["ok"] is True and reply["id"] == f"{n}-{k}", reply
                    assert sorted(p["name"] for p in reply["result"]) == names, reply
            with lock:
                done[0] += 1
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            with lock:
                failures.append(f"client {n}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(200)]
    for t in threads:
        t.start()
    started = time.monotonic()
    start_gate.set()
    deadline = started + 60
    for t in threads:
        while t.is_alive() and time.monotonic() < deadline:
            t.join(0.5)
            peak.append(rss_mb(dpid))
    took = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), f"clients still waiting after {took:.0f}s"
    assert not failures, f"{len(failures)} clients failed: {failures[:5]}"
    assert done[0] == 200

    assert alive(dpid)
    status = daemon.status()
    assert sorted(status) == names
    assert all(p["restarts"] > 3 for p in status.values())
    peak.append(rss_mb(dpid))
    for sock in stalled:
        sock.close()
    assert_serves(daemon, dpid)
    assert max(peak) < 200, f"daemon RSS peaked at {max(peak):.0f} MB"
    assert "Traceback" not in daemon.logfile.read_text(errors="replace")


@pytest.mark.timeout(60)
def test_client_that_never_reads_is_dropped_and_blocks_no_one(daemon):
    # Five processes make a status reply ~1.5 KiB: 20000 unread replies are ~30 MB, far
    # past the daemon's 8 MiB cap for one client.
    dpid = daemon.start({f"p{i}": sleeper() for i in range(5)})
    daemon.wait_state("p4", "RUNNING")
    hog = connect(daemon, timeout=30, rcvbuf=4096)
    outcome: dict[str, Any] = {}

    def pipeline() -> None:
        try:
            for _ in range(20):  # 20000 requests, in batches so a drop is seen early
                hog.sendall(b'{"id": 1, "cmd": "status"}\n' * 1000)
            outcome["sent"] = "all"
        except OSError as exc:
            outcome["sent"] = errno.errorcode.get(exc.errno or 0, str(exc))

    sender = threading.Thread(target=pipeline, daemon=True)
    sender.start()
    worst = 0.0
    try:
        deadline = time.monotonic() + 40
        while True:
            t0 = time.monotonic()
            reply = one_shot(daemon, {"id": 2, "cmd": "status"}, timeout=5)
            worst = max(worst, time.monotonic() - t0)
            assert reply["ok"] is True and len(reply["result"]) == 5, reply
            if not sender.is_alive() and "dropping" in daemon.logfile.read_text():
                break
            assert time.monotonic() < deadline, (
                f"hog not dropped within 40s (sender alive: {sender.is_alive()}, {outcome})"
            )
            time.sleep(0.05)
        assert worst < 5, f"another client waited {worst:.1f}s"
        # Dropped: whatever is queued for it, then EOF.
        hog.settimeout(10)
        while True:
            try:
                data = hog.recv(1 << 20)  # a timeout here: the hog was never closed
            except ConnectionResetError:
                break
            if not data:
                break
    finally:
        hog.close()
    assert "does not read" in daemon.logfile.read_text()
    assert rss_mb(dpid) < 200
    assert_serves(daemon, dpid)


# ------------------------------------------------------------------------------ programs


@pytest.mark.timeout(60)
def test_spawn_failures_are_states_not_crashes(daemon):
    notexec = daemon.path("notexec.sh")
    notexec.write_text("#!/bin/sh\necho hi\n")
    notexec.chmod(0o644)
    missing_dir = daemon.path("no") / "such" / "dir"
    base = {"startsecs": 0, "startretries": 1, "autostart": False, "backoff_max": 0.2}
    programs = {
        "missing": {"command": [str(daemon.path("nosuchcmd")), "x"], **base},
        "notexec": {"command": [str(notexec)], **base},
        "nodir": {"command": ["true"], "directory": str(missing_dir), **base},
        "good": sleeper(),
    }
    dpid = daemon.start(programs)
    good = daemon.wait_state("good", "RUNNING")["pid"]

    events = connect(daemon, timeout=20)
    ev_reader = Reader(events)
    assert call(events, ev_reader, {"id": "ev", "cmd": "events"})["result"] == {"subscribed": True}
    expect = {
        "missing": f"{daemon.path('nosuchcmd')}: No such file or directory",
        "notexec": f"{notexec}: Permission denied",
        "nodir": f"{missing_dir}",
    }
    try:
        for name, reason in expect.items():
            reply = one_shot(daemon, {"id": name, "cmd": "start", "args": {"names": [name]}}, 20)
            assert reply["ok"] is True, reply
            [result] = reply["result"]
            assert result["ok"] is False and "spawn error" in result["message"], result
            assert reason in result["message"], result

            st_ = daemon.status(name)[name]
            assert st_["state"] == "FATAL", st_
            assert st_["pid"] is None
            assert st_["description"].startswith("spawn error: "), st_
            assert reason in st_["description"] and reason in st_["spawn_error"], st_
            if name == "nodir":
                assert "No such file or directory" in st_["spawn_error"], st_

            seen = []
            while not seen or seen[-1] != "FATAL":
                ev = ev_reader.reply()
                if ev["result"]["process"] == name:
                    seen.append(ev["result"]["to"])
            assert "BACKOFF" in seen and seen.index("BACKOFF") < seen.index("FATAL"), seen
            assert f"spawnerr: {name}:" in daemon.logfile.read_text()
    finally:
        events.close()
    st_good = daemon.status("good")["good"]
    assert st_good["state"] == "RUNNING" and st_good["pid"] == good
    assert_serves(daemon, dpid)
    assert "Traceback" not in daemon.logfile.read_text(errors="replace")


# ------------------------------------------------------------------------------ config


def check(daemon, text: str) -> subprocess.CompletedProcess:
    daemon.config.write_text(text)
    return subprocess.run(
        [*DAEMON_CMD, "--check", "-c", str(daemon.config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=30,
        cwd=daemon.dir,
    )


def assert_config_error(res: subprocess.CompletedProcess, *parts: str) -> None:
    out = f"rc={res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert res.returncode == 2, out
    assert "Traceback" not in res.stderr + res.stdout, out
    for part in parts:
        assert part in res.stderr, f"{part!r} missing\n{out}"


@pytest.mark.timeout(60)
def test_config_errors_end_to_end(daemon):
    cfg = str(daemon.config)
    res = check(daemon, '[programs.web]\ncommand = ["x"]\nstartsecs 1\n')
    assert_config_error(res, cfg, "invalid TOML", "line 3", "column")

    res = check(daemon, '[programs.web]\ncommand = ["x"\n')
    assert_config_error(res, cfg, "invalid TOML")  # tomllib: "(at end of document)"

    res = check(
        daemon,
        '[programs.a]\ncommand = ["x"]\ndepends_on = ["b"]\n'
        '[programs.b]\ncommand = ["x"]\ndepends_on = ["a"]\n',
    )
    assert_config_error(res, cfg, "depends_on", "cycle")

    res = check(daemon, '[programs.a]\ncommand = ["x"]\ndepends_on = ["ghost"]\n')
    assert_config_error(res, cfg, "programs.a.depends_on", "ghost")

    (daemon.dir / "conf.d").mkdir()
    (daemon.dir / "conf.d" / "one.toml").write_text('[programs.web]\ncommand = ["y"]\n')
    res = check(
        daemon, '[supervisord]\ninclude = ["conf.d/*.toml"]\n[programs.web]\ncommand = ["x"]\n'
    )
    assert_config_error(res, "one.toml", "programs.web", "already defined", "sdl.toml")

    res = check(daemon, '[programs.web]\ncommand = ["x"]\nuser = "nosuchuser"\n')
    assert_config_error(res, cfg, "programs.web.user", "nosuchuser")

    res = check(daemon, '[programs.web]\ncommand = ["x"]\nenvironment = { PORT = 8000 }\n')
    assert_config_error(res, cfg, "programs.web.environment.PORT", "string")

    res = check(daemon, '[supervisord]\nmax_clients = 0\n[programs.web]\ncommand = ["x"]\n')
    assert_config_error(res, cfg, "supervisord.max_clients")

    # Every problem at once, one line each.
    res = check(
        daemon,
        '[programs.web]\ncommand = ["x"]\nuser = "nosuchuser"\nstopsignal = "BOGUS"\n'
        'startsecs = "x"\nbogus_key = 1\n',
    )
    assert_config_error(
        res, "programs.web.user", "programs.web.stopsignal", "programs.web.startsecs"
    )
    assert "programs.web.bogus_key" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 4, res.stderr
