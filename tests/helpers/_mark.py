"""Shared by the helper children: append one timestamped event line to a marker file."""

from __future__ import annotations

import os
import time


def mark(path: str | None, event: str, name: str) -> None:
    """Append `EVENT NAME TIME PID`; one O_APPEND write, so lines from many children never mix."""
    if not path:
        return
    line = f"{event} {name} {time.time():.6f} {os.getpid()}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def write_pid_atomically(path: str, pid: int) -> None:
    """Write `pid` to `path` via a temp file + rename, so a reader never sees a partial file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, path)
