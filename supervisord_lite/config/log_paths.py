"""Whether the daemon could write a program log at a path, checked on disk as it would
meet it: the directory exists (or is log_dir, which it creates) and is writable; the
path is not a directory, a socket, a block device or a name too long.

Used by the loader, so `--check`, launch and reload refuse a log the daemon could not
write. It only looks (stat, access): it never creates or opens anything.
"""

from __future__ import annotations

import errno
import os
import stat

from supervisord_lite.base.paths import OWN_STREAMS

NAME_MAX = 255  # bytes in one path component on Linux file systems


def log_path_problem(
    path: str, may_create_dir: bool = False, directories: dict | None = None
) -> str | None:
    """Why the daemon could not write a log at `path` (None: it can).

    may_create_dir: the directory is log_dir, which the daemon creates if missing (so
    its nearest existing ancestor must be a writable directory).
    directories: the verdicts on directories met so far in this check, by (directory,
    may_create_dir): a thousand programs' new logs in one log_dir look at it once.
    """
    if path in OWN_STREAMS:  # the daemon's own stdout/stderr: never looked up on disk
        return None  # the daemon's own descriptors
    size = len(os.fsencode(os.path.basename(path)))
    if size > NAME_MAX:
        return f"the file name is {size} bytes; a file name may have at most {NAME_MAX}"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        # A dangling symlink is followed by open(O_CREAT): check where it leads. Only
        # then: realpath costs a syscall per component, a 1000-program --check's most.
        target = os.path.realpath(path) if os.path.islink(path) else path
        if directories is None:
            return _directory_problem(os.path.dirname(target), may_create_dir)
        key = (os.path.dirname(target), may_create_dir)
        if key not in directories:
            directories[key] = _directory_problem(*key)
        return directories[key]
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return f"{os.path.dirname(path)} is not a directory"
        return exc.strerror or str(exc)
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISSOCK(mode):
        return (
            "it is a socket, which cannot be opened as a file (for the daemon's own "
            'stdout, use "/dev/stdout")'
        )
    if stat.S_ISBLK(mode):
        return "it is a block device (a disk), not a log"
    if not os.access(path, os.W_OK):
        return _not_writable(path)
    return None


def _directory_problem(directory: str, may_create: bool) -> str | None:
    try:
        mode = os.stat(directory).st_mode
    except FileNotFoundError:
        if not may_create:
            return f"directory {directory} does not exist (create it first)"
        parent = os.path.dirname(directory)
        if parent == directory:
            return f"directory {directory} does not exist"
        return _directory_problem(parent, True)  # the daemon makes it: can it?
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return f"{directory} is not a directory (part of it is a file)"
        return f"directory {directory}: {exc.strerror or exc}"
    if not stat.S_ISDIR(mode):
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return _not_writable(directory)
    return None


def _not_writable(path: str) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return f"{path} is not writable: it is on a read-only file system"
    except OSError:
        pass
    return f"{path} is not writable by uid {os.geteuid()}"


def is_stream(path: str) -> bool:
    """An existing FIFO or device: written as a stream, so processes may share it."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)
