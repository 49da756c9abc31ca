"""supervisor_wire/log_reads.py against Supervisor's own readFile and tailFile
(supervisor/options.py) on the same files: every offset and length."""

from __future__ import annotations

import os
import tempfile
import xmlrpc.client

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor.options import readFile, tailFile
from supervisor.xmlrpc import Faults

from supervisord_lite.supervisor_wire import log_reads

MOST = 4096


def _file(size: int) -> str:
    fd, path = tempfile.mkstemp()
    os.write(fd, bytes(ord("a") + i % 26 for i in range(size)))
    os.close(fd)
    return path


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 300), st.integers(-400, 400), st.integers(-50, 400))
def test_tail_is_supervisors(size, offset, length):
    path = _file(size)
    try:
        want = log_reads.tail_length(offset, length, MOST)
        with open(path, "rb") as fh:
            data = fh.read()
        last = data[max(0, len(data) - want) :] if want else b""  # as the daemon reads
        assert log_reads.tail_result(size, offset, length, last) == tailFile(path, offset, length)
    finally:
        os.unlink(path)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 300), st.integers(-400, 400), st.integers(-50, 400))
def test_read_is_supervisors(size, offset, length):
    path = _file(size)
    try:
        try:
            expected = readFile(path, offset, length)
        except ValueError as exc:
            expected = exc.args[0]
        try:
            start, count = log_reads.read_request(offset, length, MOST)
        except Exception as exc:
            assert expected == "BAD_ARGUMENTS" and exc.faultCode == Faults.BAD_ARGUMENTS
            return
        with open(path, "rb") as fh:
            data = fh.read()
        first = max(0, size + start) if start < 0 else start
        assert data[first : first + count] == expected
    finally:
        os.unlink(path)


def test_text_xml_cannot_carry_is_replaced():
    assert log_reads.xml_text("a\x00b\x1bc\td\n") == "a\ufffdb\ufffdc\td\n"
    with pytest.raises(xmlrpc.client.Fault):
        log_reads.read_request("0", 1, MOST)
