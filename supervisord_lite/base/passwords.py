"""The [http] credentials as values: password hashes (made by `supervisord-lite
hash-password`, daemon/hash_password.py) and the bearer token's digest. Checking them on the
loop, with the guessing brakes, is http/login.py's.

A hash is self-describing, `pbkdf2_sha256$ITERATIONS$SALT$HASH` (salt and hash in
base64), so the cost can be raised later without a format change. PBKDF2 at 600,000
iterations is OWASP's figure for SHA-256 (~0.15 s of CPU).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000  # below this a hash is a mistake, not a setting
MAX_ITERATIONS = 10_000_000  # ~2.5 s per check on this class of CPU: a typo past it
MIN_TOKEN_LENGTH = 32  # characters: a token is guessed at network speed, not PBKDF2's


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
