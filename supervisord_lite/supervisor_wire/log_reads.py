"""Supervisor's log reads by byte, pure: readLog / readProcess*Log (options.py readFile)
and tailProcess*Log (options.py tailFile), as arithmetic on a file's size.

The shell reads the bytes (through the daemon's own descriptor); this says which.
"""

from __future__ import annotations

import re

from supervisord_lite.supervisor_wire import xmlrpc as wire

# Characters XML 1.0 cannot carry (a log may hold any byte): supervisord sends them
# as they are and its clients fail to parse the answer; we send U+FFFD instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def read_request(offset: int, length: int, most: int) -> tuple[int, int]:
    """(offset, length) to read for readFile(offset, length): a negative offset is
    that many bytes from the end (then length must be 0), length 0 means to the end
    (at most `most` bytes here); Fault BAD_ARGUMENTS otherwise."""
    _check_ints(offset, length)
    if offset < 0:
        if length:
            raise wire.fault(wire.BAD_ARGUMENTS)
        return offset, min(-offset, most)
    if length < 0:
        raise wire.fault(wire.BAD_ARGUMENTS)
    return offset, min(length or most, most)


def tail_length(offset: int, length: int, most: int) -> int:
    """How many bytes from the end tailFile may need: the last `length`."""
    _check_ints(offset, length)
    return max(0, min(length, most))


def tail_answer(size: int, offset: int, length: int, last: bytes) -> tuple[int, int, bool]:
    """tailFile's arithmetic: (where its data starts, how many bytes, overflow), given the
    file's size; the bytes are always a suffix of `last` (the file's last bytes)."""
    overflow = False
    if size > offset + length:
        overflow = True
        offset = size - 1
    if offset + length > size:
        if offset > size - 1:
            length = 0
        offset = size - length
    offset = max(offset, 0)
    length = max(length, 0)
    return offset, length, overflow


def tail_result(size: int, offset: int, length: int, last: bytes) -> list:
    """[string, offset, overflow] as tailProcessStdoutLog answers."""
    start, count, overflow = tail_answer(size, offset, length, last)
    first = size - len(last)  # where `last` begins in the file
    # A range reaching before `last` (past the 4 MiB read) starts where `last` does.
    data = last[max(0, start - first) : start - first + count] if count else b""
    return [xml_text(data.decode("utf-8", "replace")), wire.capped_int(size), overflow]


def _check_ints(*values) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wire.fault(wire.INCORRECT_PARAMETERS, "offset and length are integers")
