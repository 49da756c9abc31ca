"""Opening log files so that a directory another user controls cannot lead the daemon
(often root) to any file outside it.

A program running as `nobody` may own its log directory. It can then swap its log for
a symbolic link to /etc/cron.d/x, or a hard link to /etc/shadow, or swap a directory on
the way for a link to /etc: a root daemon that opens the path by name would create,
append to, rename or serve that file. So a log path is walked one component at a time
from `/`, each directory held by a descriptor (O_PATH, never following a link); a
symbolic link is followed only where no one but root and the daemon's own user can
change it (its directory is not writable by anyone else, or is sticky and the link is
theirs), and the final name is opened relative to its directory's descriptor with
O_NOFOLLOW. Where someone else can write that directory, only a regular file with a
single name, or a FIFO, is accepted there.

These checks cost a few system calls per path component, paid when a log is opened
(the first byte, a rotation, SIGUSR2), never per write.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections import deque

# Logs may hold what programs print (tokens, personal data): created readable by
# their owner and group only. See docs/configuration.md for letting a group read them.
LOG_MODE = 0o640

_STEP_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's ELOOP limit
_proc_dev: int | None = None


class UnsafeLogPath(OSError):
    """A log path that would lead the daemon somewhere another user chose."""

    def __init__(self, path: str, why: str):
        super().__init__(errno.EPERM, f"refused: {why}", path)


class NoReader(OSError):
    """A FIFO nobody has open for reading (ENXIO): hold the output back, try later."""

    def __init__(self, path: str):
        super().__init__(
            errno.ENXIO, "waiting for a reader: no process has this FIFO open for reading", path
        )


class Place:
    """Where a log's final name lives: its directory (a descriptor, closed by close())
    and what is there now.

    writer: who besides root and the daemon's own user can change names in that
    directory ("uid 65534 (nobody)", "every user" ...), or None.
    st: the name's lstat, None when it does not exist.
    magic: a /proc link to an open file (/proc/1/fd/1), which only the kernel can follow.
    """

    __slots__ = ("dir_fd", "dir_path", "name", "writer", "st", "magic")

    def __init__(self, dir_fd: int, dir_path: str, name: str, writer: str | None):
        self.dir_fd = dir_fd
        self.dir_path = dir_path
        self.name = name
        self.writer = writer
        self.st: os.stat_result | None = None
        self.magic = False

    def look(self) -> None:
        """Look at the name again (after it was renamed away, say)."""
        try:
            self.st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            self.st = None

    @property
    def path(self) -> str:
        return os.path.join(self.dir_path, self.name)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _trusted(uid: int) -> bool:
    return uid == 0 or uid == os.geteuid()


def writer_of(st: os.stat_result) -> str | None:
    """Who besides root and the daemon's own user can change the names in a directory."""
    if not _trusted(st.st_uid):
        return f"uid {st.st_uid}{_user_name(st.st_uid)}"
    if st.st_mode & stat.S_IWOTH:
        return "every user"
    if st.st_mode & stat.S_IWGRP:
        return f"group {st.st_gid}{_group_name(st.st_gid)}"
    return None


def _user_name(uid: int) -> str:
    try:
        return f" ({pwd.getpwuid(uid).pw_name})"
    except (KeyError, OverflowError):
        return ""


def _group_name(gid: int) -> str:
    try:
        return f" ({grp.getgrgid(gid).gr_name})"
    except (KeyError, OverflowError):
        return ""


def _link_is_stable(dir_st: os.stat_result, link_st: os.stat_result) -> bool:
    """No one but root and the daemon can replace this link: its directory is theirs
    alone, or sticky (as /tmp) with the link theirs, which others may not rename."""
    if writer_of(dir_st) is None:
        return True
    return bool(dir_st.st_mode & stat.S_ISVTX) and _trusted(link_st.st_uid)


def _on_proc(st: os.stat_result) -> bool:
    global _proc_dev
    if _proc_dev is None:
        try:
            _proc_dev = os.stat("/proc").st_dev
        except OSError:
            _proc_dev = -1
    return st.st_dev == _proc_dev


def locate(path: str, make_dirs: bool = False, follow_final: bool = True) -> Place:
    """Walk `path` to the directory its final name lives in (see the module docstring).

    make_dirs: create missing directories on the way (log_dir is the daemon's to make),
    under the daemon's umask. follow_final=False: a final symbolic link is the name
    itself (rotation renames names, whatever they are). Raises OSError (UnsafeLogPath
    for a link it will not follow); the caller closes the returned Place."""
    parts = deque(p for p in os.path.abspath(path).split("/") if p)
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    fd = os.open("/", _STEP_FLAGS | os.O_DIRECTORY)
    walked: list[str] = []  # the directory fd's path, for messages (joined only then)
    links = 0
    try:
        dir_st = os.fstat(fd)
        while True:
            name = parts.popleft()
            if not parts:
                place = Place(fd, _joined(walked), name, writer_of(dir_st))
                if _final(place, dir_st, follow_final):
                    fd = -1  # the Place owns it now
                    return place
                links += 1
            else:
                step = _step(fd, name, make_dirs, walked)
                step_st = os.fstat(step)
                if stat.S_ISDIR(step_st.st_mode):
                    os.close(fd)
                    fd, dir_st = step, step_st
                    if name == "..":
                        walked = walked[:-1]
                    elif name != ".":
                        walked.append(name)
                    continue
                os.close(step)
                if not stat.S_ISLNK(step_st.st_mode):
                    raise NotADirectoryError(
                        errno.ENOTDIR, "not a directory", _joined(walked, name)
                    )
                _check_link(dir_st, step_st, _joined(walked), name)
                links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            # Follow the link: its target's components come next, from / or from here.
            target = os.readlink(name, dir_fd=fd)
            if target.startswith("/"):
                os.close(fd)
                fd = -1
                fd = os.open("/", _STEP_FLAGS | os.O_DIRECTORY)
                dir_st, walked = os.fstat(fd), []
            parts.extendleft(reversed([p for p in target.split("/") if p] or ["."]))
    finally:
        if fd >= 0:
            os.close(fd)


def _joined(walked: list[str], name: str | None = None) -> str:
    return "/" + "/".join(walked if name is None else [*walked, name])


def _step(dir_fd: int, name: str, make_dirs: bool, walked: list[str]) -> int:
    try:
        return os.open(name, _STEP_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        if not make_dirs:
            shown = _joined(walked, name)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", shown) from None
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        pass  # made meanwhile: whatever it is, it is looked at like any other
    except OSError as exc:
        exc.filename = _joined(walked, name)
        raise
    return os.open(name, _STEP_FLAGS, dir_fd=dir_fd)


def _final(place: Place, dir_st: os.stat_result, follow: bool) -> bool:
    """Look at the final name; False when it is a link to follow (the caller does)."""
    place.look()
    if place.st is None or not follow or not stat.S_ISLNK(place.st.st_mode):
        return True
    _check_link(dir_st, place.st, place.dir_path, place.name)
    if _on_proc(dir_st):
        place.magic = True  # /proc/PID/fd/N: no path to walk, the kernel resolves it
        return True
    return False


def _check_link(dir_st: os.stat_result, link_st: os.stat_result, dir_path: str, name: str):
    if not _link_is_stable(dir_st, link_st):
        raise UnsafeLogPath(
            os.path.join(dir_path, name),
            f"it is a symbolic link in {dir_path}, which {writer_of(dir_st)} can write; "
            "the daemon never follows a link there (name the file itself)",
        )


def open_log(path: str, flags: int, make_dirs: bool = False) -> int:
    """open(path, flags, LOG_MODE) for a log, through locate(): never outside where the
    path leads by names only root and the daemon can change. Raises OSError:
    UnsafeLogPath, NoReader (a FIFO without a reader), FileNotFoundError …"""
    with locate(path, make_dirs) as place:
        return open_at(place, flags)


def open_at(place: Place, flags: int) -> int:
    """Open place's name (see open_log) and check what was opened."""
    refused = _refusal(place, place.st)
    if refused:  # looked at before opening: opening a device can have effects
        raise UnsafeLogPath(place.path, refused)
    flags |= os.O_CLOEXEC | os.O_NOCTTY
    if not place.magic:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(place.name, flags, LOG_MODE, dir_fd=place.dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not place.magic:  # made a link since we looked
            raise UnsafeLogPath(
                place.path, "it became a symbolic link while being opened"
            ) from None
        if exc.errno == errno.ENXIO and _is_fifo(place):
            raise NoReader(place.path) from None
        if exc.filename is None:
            exc.filename = place.path
        raise
    try:
        refused = _refusal(place, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    if refused:
        os.close(fd)
        raise UnsafeLogPath(place.path, refused)
    return fd


def _refusal(place: Place, st: os.stat_result | None) -> str | None:
    if st is None or stat.S_ISLNK(st.st_mode):
        return None
    mode = st.st_mode
    if stat.S_ISREG(mode) and st.st_nlink > 1:
        return (
            f"it has {st.st_nlink} hard links: another name, maybe outside "
            f"{place.dir_path}, for the same file; a log file must have one name"
        )
    if stat.S_ISBLK(mode):
        return "a block device (a disk) is not a log"
    if place.writer is not None and not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        return (
            f"it is not a regular file, in {place.dir_path}, which {place.writer} can "
            "write; only a regular file or a FIFO is used there"
        )
    return None


def _is_fifo(place: Place) -> bool:
    try:
        st = os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=not place.magic)
    except OSError:
        return False
    return stat.S_ISFIFO(st.st_mode)


def empty(path: str) -> str | None:
    """Empty the log file at `path` (one the daemon has not open: `clear`), found as
    open_log finds it; why not when it is not a regular file. Raises OSError."""
    try:
        place = locate(path)
    except FileNotFoundError:
        return None
    with place:
        if place.st is None:
            return None  # nothing written yet: nothing to empty
        if place.magic or not stat.S_ISREG(place.st.st_mode):
            return f"{path} is not a regular file: left alone"
        # O_NONBLOCK: should it have become a FIFO since we looked, open must not block.
        fd = open_at(place, os.O_WRONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"{path} is not a regular file: left alone"
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return None


def open_read(path: str) -> int:
    """A read descriptor of the regular log file at `path` (as open_log finds it); -1
    when it does not exist. A stream is refused without being opened: opening a FIFO
    for reading blocks, and reading one steals its reader's bytes."""
    try:
        place = locate(path)
    except FileNotFoundError:
        return -1
    with place:
        st = place.st
        if st is None:
            return -1
        if not place.magic and not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory", path)
            raise NotAFile(path)
        try:
            fd = open_at(place, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return -1
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a socket, through /proc
                raise NotAFile(path) from None
            raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotAFile(path)
    return fd


class NotAFile(OSError):
    def __init__(self, path: str):
        super().__init__(
            errno.EINVAL,
            "not a regular file (a stream: FIFO, device, terminal or socket), so it has "
            "no lines to tail",
            path,
        )
