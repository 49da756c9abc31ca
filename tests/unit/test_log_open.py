"""log_open: which links a log path may follow, on real files (no mocks).

Directories owned by uid 65534 stand for a program's user's; chown needs root.
"""

from __future__ import annotations

import errno
import os

import pytest

from supervisord_lite.logs import safe_open
from supervisord_lite.logs.safe_open import UnsafeLogPath

pytestmark = pytest.mark.timeout(30)

W = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def write(path, flags=W, **kw) -> None:
    fd = safe_open.open_log(str(path), flags, **kw)
    try:
        os.write(fd, b"x\n")
    finally:
        os.close(fd)


def others_dir(path):
    path.mkdir()
    os.chown(path, 65534, 65534)
    return path


def test_a_plain_path_is_created_0640_and_appended_to(tmp_path):
    old = os.umask(0o002)  # the create mode, not the umask, keeps others out
    try:
        write(tmp_path / "a.log")
    finally:
        os.umask(old)
    write(tmp_path / "a.log")
    assert (tmp_path / "a.log").read_bytes() == b"x\nx\n"
    assert os.stat(tmp_path / "a.log").st_mode & 0o777 == 0o640


def test_links_in_the_daemons_own_directories_are_followed(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "dir-link")  # relative, on the way
    os.symlink(tmp_path / "real" / "a.log", tmp_path / "file-link")  # absolute, dangling
    os.symlink("../real/./a.log", tmp_path / "real" / "up-link")  # with .. and .
    write(tmp_path / "dir-link" / "a.log")
    write(tmp_path / "file-link")
    write(tmp_path / "real" / "up-link")
    assert (tmp_path / "real" / "a.log").read_bytes() == b"x\n" * 3


def test_a_link_loop_is_an_error_not_a_hang(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError) as caught:
        write(tmp_path / "a")
    assert caught.value.errno == errno.ELOOP


@root_only
def test_links_where_another_user_can_write_are_refused(tmp_path):
    theirs = others_dir(tmp_path / "theirs")
    target = tmp_path / "secret"
    target.write_bytes(b"s")
    os.symlink(target, theirs / "x.log")
    os.symlink(tmp_path, theirs / "sub")
    for path in (theirs / "x.log", theirs / "sub" / "secret"):
        with pytest.raises(UnsafeLogPath, match="symbolic link in .*uid 65534"):
            write(path)
        with pytest.raises(UnsafeLogPath):
            safe_open.open_read(str(path))
    with pytest.raises(UnsafeLogPath):
        safe_open.empty(str(theirs / "x.log"))
    assert target.read_bytes() == b"s"
    write(theirs / "own.log")  # a file of its own there is fine
    assert (theirs / "own.log").read_bytes() == b"x\n"


@root_only
def test_hard_links_and_devices_are_refused(tmp_path):
    theirs = others_dir(tmp_path / "theirs")
    (tmp_path / "secret").write_bytes(b"s")
    os.link(tmp_path / "secret", theirs / "x.log")
    with pytest.raises(UnsafeLogPath, match="2 hard links"):
        write(theirs / "x.log")
    with pytest.raises(UnsafeLogPath, match="2 hard links"):
        safe_open.open_read(str(theirs / "x.log"))
    os.mknod(theirs / "null", 0o20666, os.makedev(1, 3))  # as if linked there
    with pytest.raises(UnsafeLogPath, match="not a regular file"):
        write(theirs / "null")
    os.mkfifo(theirs / "fifo")
    with pytest.raises(safe_open.NoReader):  # a FIFO is fine there: it has no reader yet
        write(theirs / "fifo")
    assert (tmp_path / "secret").read_bytes() == b"s"


@root_only
def test_a_sticky_directory_follows_only_the_daemons_own_links(tmp_path):
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (tmp_path / "real.log").write_bytes(b"")
    os.symlink(tmp_path / "real.log", sticky / "mine")
    os.symlink(tmp_path / "real.log", sticky / "theirs")
    os.lchown(sticky / "theirs", 65534, 65534)
    write(sticky / "mine")
    with pytest.raises(UnsafeLogPath, match="every user"):
        write(sticky / "theirs")
    assert (tmp_path / "real.log").read_bytes() == b"x\n"


def test_proc_links_to_open_files_are_followed_by_the_kernel(tmp_path):
    r, w = os.pipe()
    try:
        write(f"/proc/self/fd/{w}")
        write(f"/dev/fd/{w}")
        assert os.read(r, 100) == b"x\nx\n"
    finally:
        os.close(r)
        os.close(w)


def test_make_dirs_creates_what_is_missing_on_the_way(tmp_path):
    write(tmp_path / "a" / "b" / "x.log", make_dirs=True)
    assert (tmp_path / "a" / "b" / "x.log").read_bytes() == b"x\n"
    with pytest.raises(FileNotFoundError, match="No such file"):
        write(tmp_path / "c" / "x.log")
