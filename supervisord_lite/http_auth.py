"""Who may use the HTTP server: password hashes (`supervisord-lite hash-password`),
HTTP Basic against `[http] users`, and a bearer token read from `token_file`.

A hash is self-describing, `pbkdf2_sha256$ITERATIONS$SALT$HASH` (salt and hash in
base64), so the cost can be raised later without a format change. PBKDF2 at 600,000
iterations (OWASP's figure for SHA-256) takes ~0.15 s of CPU, which the one loop cannot
spend on every request: a verified password is remembered (as a keyed digest, never
the password), and after a wrong one no new password is checked for a second, so
guessing costs the daemon at most one hash per second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import sys

from supervisord_lite.loop import now

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000  # below this a hash is a mistake, not a setting
MAX_ITERATIONS = 10_000_000  # ~2.5 s per check on this class of CPU: a typo past it
FAILED_CHECK_PAUSE = 1.0  # seconds without new password checks after a wrong one
MAX_REMEMBERED = 256


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join((SCHEME, str(iterations), _b64(salt), _b64(digest)))


def parse_hash(text: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest); ValueError saying what is wrong with `text`."""
    parts = text.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise ValueError(
            f"expected a password hash {SCHEME}$ITERATIONS$SALT$HASH "
            "(make one with: supervisord-lite hash-password)"
        )
    try:
        iterations = int(parts[1])
        salt, digest = (
            base64.b64decode(parts[2], validate=True),
            base64.b64decode(parts[3], validate=True),
        )
    except (ValueError, binascii.Error):
        message = "the password hash is damaged (iterations, salt or hash unreadable)"
        raise ValueError(message) from None
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(
            f"the password hash has {iterations} iterations; use {MIN_ITERATIONS}..{MAX_ITERATIONS}"
        )
    if len(digest) != 32 or not salt:
        raise ValueError("the password hash is damaged (wrong salt or hash length)")
    return iterations, salt, digest


def verify_password(password: str, stored: str) -> bool:
    iterations, salt, digest = parse_hash(stored)
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return hmac.compare_digest(got, digest)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Checks an Authorization header against the configured users and token."""

    def __init__(self, users: tuple[tuple[str, str], ...], token_sha256: bytes | None):
        self.users = dict(users)
        self.token_sha256 = token_sha256
        self._key = secrets.token_bytes(32)  # for remembering good credentials
        self._good: set[bytes] = set()
        self._pause_until = 0.0

    @property
    def required(self) -> bool:
        return bool(self.users) or self.token_sha256 is not None

    def check(self, header: bytes | None) -> str:
        """ "ok", "denied" (401), or "busy" (429: a wrong password was just checked)."""
        if not self.required:
            return "ok"
        if not header:
            return "denied"
        scheme, _, value = header.partition(b" ")
        scheme = scheme.lower()
        if scheme == b"bearer" and self.token_sha256 is not None:
            token = value.strip().decode("latin-1")
            return "ok" if hmac.compare_digest(token_digest(token), self.token_sha256) else "denied"
        if scheme == b"basic" and self.users:
            return self._check_basic(value.strip())
        return "denied"

    def _check_basic(self, value: bytes) -> str:
        remembered = hmac.new(self._key, value, hashlib.sha256).digest()
        if remembered in self._good:
            return "ok"
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            return "denied"
        stored = self.users.get(user)
        if not sep or stored is None:
            return "denied"
        if now() < self._pause_until:
            return "busy"
        if not verify_password(password, stored):
            self._pause_until = now() + FAILED_CHECK_PAUSE
            return "denied"
        if len(self._good) >= MAX_REMEMBERED:
            self._good.clear()
        self._good.add(remembered)
        return "ok"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main(argv: list[str]) -> int:
    """supervisord-lite hash-password: read a password (tty: asked twice; else the
    first line of stdin) and print its hash for [http] users."""
    if argv:
        print("usage: supervisord-lite hash-password  (reads the password)", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("supervisord-lite: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("supervisord-lite: empty password refused", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0
