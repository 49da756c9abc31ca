"""The page's CSRF tokens: one per session, renewed whenever who may come in changes.

A token is HMAC(secret, session), where the session is what admitted the client: its
uid on loopback without auth, else its Authorization header. So a token that leaks
(a page's POST read by someone else) is worth nothing under another identity, and a
password change ends the old session's token too. The secret is drawn anew whenever
the admission rule changes at reload (allowed_uids, users, token_file): a uid or a
user that is let out keeps no token that works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


class CsrfTokens:
    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._admission: object = None

    def admit(self, admission: object) -> bool:
        """Take the current admission rule (any comparable value); a new secret, and
        True, when it differs from the last one taken (never for the first)."""
        changed = self._admission is not None and admission != self._admission
        if changed:
            self._secret = secrets.token_bytes(32)
        self._admission = admission
        return changed

    def token(self, session: bytes) -> str:
        digest = hmac.new(self._secret, session, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def check(self, session: bytes, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.token(session).encode())
