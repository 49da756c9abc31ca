"""Reading a config file: only a regular file, and only so much of it.

A config names other files (includes, `-c`), and the daemon, `--check` and `convert`
often run as root. Opening whatever a name points at would read /dev/zero or a FIFO
forever, or a tape device with side effects; so the file is opened without blocking,
checked to be a regular file on the descriptor itself (no race with a rename), and
read up to a bound. The caller never sees a byte of a file that failed these checks.
"""

from __future__ import annotations

import os
import stat

CONFIG_LIMIT = 4 << 20  # bytes: far above any real config, far below trouble

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(Exception):
    """Why a file was not read, for `FILE: cannot read: <this>` (never its content).
    `refused`: it could be opened, but is no regular file or too large (as opposed to
    the system failing to open it: missing, no permission, a directory)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


def read_bounded(path: str, limit: int = CONFIG_LIMIT) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UnreadableFile(getattr(exc, "strerror", None) or str(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
            raise UnreadableFile(f"{kind}, not a regular file", refused=not stat.S_ISDIR(mode))
        chunks, size = [], 0
        while size <= limit:  # read past the size fstat gave: the file may grow meanwhile
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableFile(f"larger than {limit >> 20} MiB; a config is far smaller", True)
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
