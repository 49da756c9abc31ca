"""log_prefix / log_timestamps: every line marked once, wherever the reads split it."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisord_lite.config.values import check_prefix
from supervisord_lite.logs.lines import MAX_HELD, LinePrefixer, rfc3339_ms

pytestmark = pytest.mark.timeout(30)

WALL = 1764354600.125  # 2025-11-28T18:30:00.125Z


def test_prefix_on_every_line():
    p = LinePrefixer("web | ", timestamps=False)
    assert p.feed(b"a\nb\n", WALL) == b"web | a\nweb | b\n"


def test_a_line_split_across_reads_is_marked_once_and_given_out_whole():
    p = LinePrefixer("w ", timestamps=False)
    assert p.feed(b"hel", WALL) == b""
    assert p.feed(b"lo\nwor", WALL) == b"w hello\n"
    assert p.feed(b"ld\n", WALL) == b"w world\n"


def test_flush_gives_out_the_unfinished_line_which_then_goes_on_unmarked():
    p = LinePrefixer("w ", timestamps=False)
    assert p.feed(b"Password: ", WALL) == b""
    assert p.flush() == b"w Password: "
    assert p.flush() == b""
    assert p.feed(b"ok\nnext\n", WALL) == b"ok\nw next\n"


def test_a_very_long_line_is_not_held_without_bound():
    p = LinePrefixer("w ", timestamps=False)
    out = p.feed(b"x" * (MAX_HELD + 10), WALL)
    assert out == b"w " + b"x" * (MAX_HELD + 10) and p.held == b""
    assert p.feed(b"y\n", WALL) == b"y\n"


def test_timestamps_are_rfc3339_utc_with_milliseconds():
    p = LinePrefixer("", timestamps=True)
    assert p.feed(b"x\n", WALL) == b"2025-11-28T18:30:00.125Z x\n"
    assert rfc3339_ms(WALL) == "2025-11-28T18:30:00.125Z"


def test_the_timestamp_is_that_of_the_read_where_the_line_starts():
    p = LinePrefixer("", timestamps=True)
    out = p.feed(b"first half ", WALL) + p.feed(b"second half\nnext\n", WALL + 1.5)
    out += p.flush()
    assert out == (
        b"2025-11-28T18:30:00.125Z first half second half\n2025-11-28T18:30:01.625Z next\n"
    )


def test_timestamp_then_prefix():
    p = LinePrefixer("db | ", timestamps=True)
    assert p.feed(b"up\n", WALL) == b"2025-11-28T18:30:00.125Z db | up\n"


def test_empty_reads_and_empty_lines():
    p = LinePrefixer("> ", timestamps=False)
    assert p.feed(b"", WALL) == b""
    assert p.feed(b"\n\n", WALL) == b"> \n> \n"


def test_stamps_agree_with_datetime():
    p = LinePrefixer("", timestamps=True)
    # Walls exact in binary, so the milliseconds are not at the mercy of float rounding.
    for wall, ms in ((0.0, 0), (1.5, 500), (951782400.25, 250), (4102444799.875, 875)):
        stamp = p.feed(b"x\n", wall)[:-3].decode()
        expected = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
        assert stamp == expected.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


@given(chunks=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"")), max_size=20))
def test_any_split_gives_the_same_lines(chunks):
    """However the output is cut into reads, the lines come out the same, each marked."""
    p = LinePrefixer("[x] ", timestamps=False)
    out = b""
    for chunk in chunks:
        given_out = p.feed(chunk, WALL)
        assert not given_out or given_out.endswith(b"\n"), "a piece of a line was given out"
        out += given_out
    out += p.flush()
    data = b"".join(chunks)
    if not data:
        assert out == b""
        return
    lines = data.split(b"\n")
    expected = b"\n".join(b"[x] " + line for line in lines[:-1])
    if lines[-1]:
        expected += (b"\n" if len(lines) > 1 else b"") + b"[x] " + lines[-1]
    elif len(lines) > 1:
        expected += b"\n"
    assert out == expected


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{name} | ", None),
        ("{group}/{name}[{stream}] ", None),
        ("plain ", None),
        ("{pid} ", r"unknown field \{pid\}"),
        ("{name", "not a valid template"),
        ("{} ", r"unknown field \{\}"),
    ],
)
def test_check_prefix(template, problem):
    found = check_prefix(template)
    if problem is None:
        assert found is None
    else:
        assert found is not None and re.search(problem, found), found
