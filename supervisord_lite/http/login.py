"""Who may use the HTTP server, decided without letting a stranger slow the loop or lock
others out.

- A verified credential is remembered (a keyed digest of the header, never the
  password): PBKDF2 runs once per login, not per request, and a remembered one is never
  braked.
- After a wrong guess the *client* that made it (its local user, or its address:
  http_slots.peer_key) waits 1 s, then 2, 4 … 60 s after each further one, and the
  *user name* it tried waits 1 s: one client looping wrong passwords slows only itself
  and that one name, never every other login (a global pause would let one guesser
  lock everyone out).
- PBKDF2 (~0.15 s of CPU at 600,000 iterations) never runs on the loop: a helper
  process computes it, at most MAX_HASHING at a time (more are told to come back), so
  however many strangers guess, the loop only waits on pipes.
- An unknown user name is hashed against a dummy hash of the same cost and braked like
  a real one: the same answer, the same time, the same 429s.
- A bearer token (cheap to compare) takes the same per-client brake.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import secrets
import signal
import sys
from collections import Counter
from typing import Callable

from supervisord_lite.base.log import log
from supervisord_lite.base.passwords import parse_hash, token_digest
from supervisord_lite.linux.loop import EventLoop, now
from supervisord_lite.linux.spawn import spawn_helper

OK, DENIED, BUSY = "ok", "denied", "busy"
PENDING = object()  # the answer comes later, through `done`
CLIENT_PAUSE_FIRST = 1.0  # seconds a client waits after a wrong guess; doubled each time
CLIENT_PAUSE_MAX = 60.0
USER_PAUSE = 1.0  # seconds a user name waits after a wrong password for it
MAX_HASHING = 2  # helper processes hashing at once
HASH_TIMEOUT = 30.0  # a helper that has not answered by then is killed: denied
MAX_TRACKED = 4096  # clients and names remembered by the brakes (oldest forgotten)
MAX_REMEMBERED = 256  # good credentials remembered

# The helper: iterations, salt (base64) and the password on stdin, the digest (hex) on
# stdout. Python's own stdlib only (-I -S): nothing of the daemon's is imported.
HASH_PROGRAM = (
    "import base64,hashlib,sys\n"
    "n,s,p=sys.stdin.buffer.read().split(b'\\n',2)\n"
    "sys.stdout.write(hashlib.pbkdf2_hmac('sha256',p,base64.b64decode(s),int(n)).hex())\n"
)

Verdict = tuple  # (OK | DENIED | BUSY, seconds to wait before trying again)


class Brakes:
    """The pure core: how long a client and a user name must wait before their next
    guess is checked, from the failures seen (times are the caller's `now`)."""

    def __init__(self):
        self._clients: dict[str, tuple[int, float]] = {}  # key -> (failures, free at)
        self._users: dict[str, float] = {}  # name -> free at

    def wait(self, client: str, user: str | None, at: float) -> float:
        """Seconds until a guess of `client` (for `user`) may be checked; 0: now."""
        free_at = self._clients.get(client, (0, 0.0))[1]
        if user is not None:
            free_at = max(free_at, self._users.get(user, 0.0))
        return max(0.0, free_at - at)

    def failed(self, client: str, user: str | None, at: float) -> None:
        failures = self._clients.pop(client, (0, 0.0))[0] + 1
        pause = min(CLIENT_PAUSE_FIRST * 2 ** (failures - 1), CLIENT_PAUSE_MAX)
        self._clients[client] = (failures, at + pause)
        if user is not None:
            self._users.pop(user, None)
            self._users[user] = at + USER_PAUSE
        for table in (self._clients, self._users):
            while len(table) > MAX_TRACKED:
                del table[next(iter(table))]

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


class Login:
    """Checks an Authorization header for a client; PBKDF2 in a helper process."""

    def __init__(self, loop: EventLoop, watch_exit: Callable[[int, Callable[[int], None]], None]):
        self.loop = loop
        self.watch_exit = watch_exit  # supervisor.watch_exit: the helpers are reaped
        self.brakes = Brakes()
        self.hashing: set[Callable[[], None]] = set()  # each running helper's kill()
        self.users: dict[str, str] = {}
        self.token_sha256: bytes | None = None
        self._key = secrets.token_bytes(32)  # for remembering good credentials
        self._good: dict[bytes, None] = {}
        self._dummy = ""

    def configure(self, users: tuple[tuple[str, str], ...], token_sha256: bytes | None) -> None:
        """Take a config's users and token; credentials remembered are forgotten when
        they change (a removed user must not stay logged in)."""
        users_now = dict(users)
        if users_now != self.users or token_sha256 != self.token_sha256:
            self._good.clear()
        self.users, self.token_sha256 = users_now, token_sha256
        # An unknown name costs what a known one does: the users' most common cost.
        costs = Counter(parse_hash(stored)[0] for stored in users_now.values())
        iterations = costs.most_common(1)[0][0] if costs else 1000
        salt = base64.b64encode(secrets.token_bytes(16)).decode()
        self._dummy = f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(bytes(32)).decode()}"

    @property
    def required(self) -> bool:
        return bool(self.users) or self.token_sha256 is not None

    def check(self, header: bytes | None, client: str, done: Callable[[Verdict], None]):
        """A Verdict now, or PENDING and done(verdict) once the helper has answered."""
        if not self.required:
            return (OK, 0)
        if not header:
            return (DENIED, 0)  # no credentials yet: the browser asks; not a guess
        remembered = hmac.new(self._key, header, hashlib.sha256).digest()
        if remembered in self._good:
            return (OK, 0)
        scheme, _, value = header.partition(b" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == b"bearer" and self.token_sha256 is not None:
            return self._check_token(value, client, remembered)
        if scheme == b"basic" and self.users:
            return self._check_basic(value, client, remembered, done)
        return (DENIED, 0)

    def _check_token(self, value: bytes, client: str, remembered: bytes) -> Verdict:
        wait = self.brakes.wait(client, None, now())
        if wait:
            return (BUSY, wait)
        digest = token_digest(value.decode("latin-1"))
        if hmac.compare_digest(digest, self.token_sha256):
            return self._good_one(client, remembered)
        self.brakes.failed(client, None, now())
        return (DENIED, 0)

    def _check_basic(self, value: bytes, client: str, remembered: bytes, done) -> object:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            user, sep, password = "", "", ""
        name = user if sep else None
        wait = self.brakes.wait(client, name, now())
        if wait:
            return (BUSY, wait)
        if not sep:
            self.brakes.failed(client, None, now())
            return (DENIED, 0)
        if len(self.hashing) >= MAX_HASHING:
            return (BUSY, 1.0)  # not a guess checked: no brake for it either
        stored = self.users.get(user)
        iterations, salt, digest = parse_hash(stored or self._dummy)

        def hashed(got: bytes | None) -> None:
            self.hashing.discard(kill)
            if stored is not None and got is not None and hmac.compare_digest(got, digest):
                done(self._good_one(client, remembered))
            else:
                self.brakes.failed(client, user, now())
                done((DENIED, 0))

        try:
            kill = run_hash(self.loop, self.watch_exit, password.encode(), salt, iterations, hashed)
        except OSError as exc:
            log.error("http: cannot start the password check: %s", exc.strerror or exc)
            return (BUSY, 1.0)
        self.hashing.add(kill)
        return PENDING

    def close(self) -> None:
        """The server stops: no helper outlives it (each check in flight is denied)."""
        for kill in list(self.hashing):
            kill()

    def _good_one(self, client: str, remembered: bytes) -> Verdict:
        self.brakes.succeeded(client)
        if len(self._good) >= MAX_REMEMBERED:
            del self._good[next(iter(self._good))]
        self._good[remembered] = None
        return (OK, 0)


def retry_after(seconds: float) -> bytes:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds))).encode()


def run_hash(loop: EventLoop, watch_exit, password: bytes, salt: bytes, iterations: int,
             done: Callable[[bytes | None], None]) -> Callable[[], None]:  # fmt: skip
    """PBKDF2-SHA256 of `password` in a helper process; done(digest), or done(None)
    when it fails or takes over HASH_TIMEOUT. Returns kill(): stop it now, done(None).
    Raises OSError when it cannot start."""
    request = b"%d\n%s\n%s" % (iterations, base64.b64encode(salt), password)
    pid, out_r = _start_helper(request)
    job = _HashJob(loop, pid, out_r, done)
    watch_exit(pid, job.reaped)  # its output tells; EOF ends it
    return job.kill


def _start_helper(request: bytes) -> tuple[int, int]:
    """The helper's pid, and the non-blocking read end of its stdout."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        # The request is at most a request head (16 KiB), within a pipe's 64 KiB: the
        # write completes at once, before the helper even starts.
        os.write(in_w, request)
        os.close(in_w)
        in_w = -1
        pid = spawn_helper([sys.executable, "-I", "-S", "-c", HASH_PROGRAM], in_r, out_w)
    except OSError:
        os.close(out_r)
        raise
    finally:
        for fd in (in_r, in_w, out_w):
            if fd >= 0:
                os.close(fd)
    os.set_blocking(out_r, False)
    return pid, out_r


class _HashJob:
    """One helper's answer read on the loop: done() called once, whatever ends it."""

    def __init__(self, loop: EventLoop, pid: int, out_r: int, done):
        self.loop = loop
        self.pid = pid
        self.out_r = out_r
        self.done = done
        self.out = bytearray()
        self.finished = False
        self.is_reaped = False
        self.timer = loop.call_later(HASH_TIMEOUT, self._too_slow)
        loop.add_reader(out_r, self._readable)

    def reaped(self, status: int) -> None:
        self.is_reaped = True

    def kill(self) -> None:
        if not self.is_reaped:  # unreaped, its pid cannot belong to anyone else
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self._finish(None)

    def _finish(self, digest: bytes | None) -> None:
        if self.finished:
            return
        self.finished = True
        self.timer.cancel()
        self.loop.remove_reader(self.out_r)
        os.close(self.out_r)
        self.done(digest)

    def _readable(self) -> None:
        out = self.out
        try:
            data = os.read(self.out_r, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data and len(out) < 4096:
            out.extend(data)
            return
        try:
            self._finish(bytes.fromhex(out.decode("ascii")) if len(out) == 64 else None)
        except ValueError:
            self._finish(None)

    def _too_slow(self) -> None:
        log.error("http: a password check took over %g s; killed it", HASH_TIMEOUT)
        self.kill()
