"""config_log_paths.log_path_problem: the on-disk checks behind `--check` for program logs.

Real files, FIFOs, sockets and directories in a temp dir; no mocks.
"""

from __future__ import annotations

import os
import socket

import pytest

from supervisord_lite.config.log_paths import log_path_problem


def test_a_writable_file_or_a_new_file_in_a_writable_directory_is_fine(tmp_path):
    (tmp_path / "old.log").write_text("")
    assert log_path_problem(str(tmp_path / "old.log")) is None
    assert log_path_problem(str(tmp_path / "new.log")) is None


def test_the_daemons_own_streams_are_not_looked_up(tmp_path):
    for path in ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"):
        assert log_path_problem(path) is None


def test_a_fifo_and_a_character_device_are_streams_and_fine(tmp_path):
    os.mkfifo(tmp_path / "f")
    assert log_path_problem(str(tmp_path / "f")) is None
    assert log_path_problem("/dev/null") is None


def test_missing_directory_is_refused_unless_it_is_log_dir_under_a_writable_parent(tmp_path):
    path = str(tmp_path / "a" / "b" / "x.log")
    assert "does not exist" in log_path_problem(path)
    assert log_path_problem(path, may_create_dir=True) is None
    (tmp_path / "file").write_text("")
    blocked = str(tmp_path / "file" / "b" / "x.log")
    assert "not a directory" in log_path_problem(blocked, may_create_dir=True)


def test_a_directory_a_socket_and_a_parent_file_are_refused(tmp_path):
    assert "is a directory" in log_path_problem(str(tmp_path))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        assert "socket" in log_path_problem(str(tmp_path / "s"))
    finally:
        sock.close()
    (tmp_path / "file").write_text("")
    assert "not a directory" in log_path_problem(str(tmp_path / "file" / "x.log"))


def test_a_file_name_over_255_bytes_is_refused(tmp_path):
    assert "255" in log_path_problem(str(tmp_path / ("é" * 128 + ".log")))


def test_a_dangling_symlink_is_checked_where_it_leads(tmp_path):
    os.symlink(tmp_path / "nodir" / "x.log", tmp_path / "link.log")
    assert "nodir does not exist" in log_path_problem(str(tmp_path / "link.log"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_directory_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert "not writable" in log_path_problem(str(ro / "x.log"))
    finally:
        ro.chmod(0o755)
