"""Finding a program's executable in the child's PATH, as execvpe would, and
posix_spawn with that lookup: os.posix_spawn takes a path, and its posix_spawnp
sibling would search the daemon's PATH, not the one the program is given.

A lookup is remembered for a few seconds per (name, PATH): a crash-looping program
would otherwise stat its way along PATH on every restart.
"""

from __future__ import annotations

import errno
import os
import time

# (name, PATH) -> (path, when found). A crash-looping `sleep` would otherwise stat its
# way along PATH on every restart (a tenth of the daemon's work in a crash storm).
_found: dict[tuple[str, bytes | None], tuple[str, float]] = {}
FOUND_TTL = 5.0  # seconds: a binary newly put earlier in PATH is used within this time


def spawn_executable(argv: list[str], env: dict, **kwargs) -> int:
    """posix_spawn `argv`, its command looked up in the child's PATH; a remembered
    lookup that no longer works (the file went away) is forgotten and looked up again."""
    name = argv[0]
    if os.sep in name:
        return os.posix_spawn(name, argv, env, **kwargs)
    key = (name, env.get(b"PATH"))
    hit = _found.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < FOUND_TTL:
        try:
            return os.posix_spawn(hit[0], argv, env, **kwargs)
        except (FileNotFoundError, PermissionError):
            pass
    path = find_executable(name, env)
    _found[key] = (path, now)
    return os.posix_spawn(path, argv, env, **kwargs)


def resolve_executable(name: str, env: dict) -> str:
    """Where exec would find `name` (remembered as spawn_executable does); raises the
    OSError exec would raise."""
    if os.sep in name:
        if not os.path.exists(name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return name
    key = (name, env.get(b"PATH"))
    hit = _found.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < FOUND_TTL and os.access(hit[0], os.X_OK):
        return hit[0]
    path = find_executable(name, env)
    _found[key] = (path, now)
    return path


def find_executable(name: str, env: dict) -> str:
    """`name` looked up like execvpe does, in the child's PATH: the first executable file.

    Raises what exec would: ENOENT when nothing is found, EACCES when only a
    non-executable file is.
    """
    denied = None
    for directory in os.get_exec_path(env):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = denied or candidate
    if denied is not None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), denied)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
