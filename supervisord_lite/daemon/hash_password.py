"""`supervisord-lite hash-password`: a password's hash for [http] users."""

from __future__ import annotations

import sys

from supervisord_lite.base.passwords import hash_password


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
