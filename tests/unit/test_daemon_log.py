"""The daemon's log: daemon_log.info writes what log.info would, where it would, in
order; lines are logging's lines (its own formatter is the oracle)."""

from __future__ import annotations

import logging
import re
import sys
import time

import pytest

from supervisord_lite.base.log import ERROR, INFO, Collected, Record, collected, log
from supervisord_lite.logs import daemon_log

pytestmark = pytest.mark.timeout(30)
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) (.*)$")


@pytest.fixture
def logger_state():
    """Put the daemon's logger back as it was, whatever the test did."""
    saved = (list(log.handlers), log.level, list(log.filters))
    yield
    for handler in log.handlers:
        if handler not in saved[0] and hasattr(handler, "close"):
            handler.close()
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.filters[:] = saved[2]
    daemon_log._direct.clear()


def lines_of(path) -> list[tuple[str, str]]:
    found = []
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        assert match, f"not a log line: {line!r}"
        found.append(match.groups())
    return found


def test_same_text_as_logging_in_order(tmp_path, logger_state):
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    log.info("exited: %s (%s; %s)", "web", "exit status 1", "not expected")
    daemon_log.info("exited: %s (%s; %s)", "web", "exit status 1", "not expected")
    daemon_log.info("no arguments: 100% literal")
    log.info("b")
    daemon_log.info("spawned: '%s' with pid %d", "web:1", 42)
    assert path.read_text() == "", "routine lines wait for the loop's turn"
    log.warning("something wrong")  # written at once, with everything before it
    assert lines_of(path) == [
        ("INFO", "exited: web (exit status 1; not expected)"),
        ("INFO", "exited: web (exit status 1; not expected)"),
        ("INFO", "no arguments: 100% literal"),
        ("INFO", "b"),
        ("INFO", "spawned: 'web:1' with pid 42"),
        ("WARNING", "something wrong"),
    ]
    daemon_log.info("after")
    daemon_log.flush()
    assert lines_of(path)[-1] == ("INFO", "after")


def test_respects_the_log_level(tmp_path, logger_state):
    path = tmp_path / "d.log"
    daemon_log.setup("warning", str(path), foreground=False)
    daemon_log.info("routine")
    log.warning("shown")
    daemon_log.flush()
    assert lines_of(path) == [("WARNING", "shown")]


def test_same_timestamp_as_logging(tmp_path, logger_state):
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    # Logging's own default asctime is the oracle: the same text, milliseconds and all.
    reference = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for created in (0.0, 1764300000.0, 1764300000.999, 1764300001.0005, time.time()):
        for level in (logging.INFO, logging.WARNING, logging.ERROR):
            theirs = logging.LogRecord("supervisord_lite", level, "", 0, "x %d", (5,), None)
            theirs.created, theirs.msecs = created, (created - int(created)) * 1000
            ours = Record(level, "x %d", (5,), created=created)
            assert daemon_log.format_line(ours) == reference.format(theirs) + "\n"
        assert daemon_log.timestamp(created) == reference.formatTime(theirs)


def test_a_traceback_follows_its_line_as_logging_writes_it(tmp_path, logger_state):
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    try:
        raise KeyError("boom")
    except KeyError:
        log.exception("control: internal error handling %r", b"status")
        theirs = logging.LogRecord("x", logging.ERROR, "", 0, "m", None, sys.exc_info())
    daemon_log.flush()
    text = path.read_text()
    first, trace = text.split("\n", 1)
    assert first.endswith(" ERROR control: internal error handling b'status'")
    assert trace == logging.Formatter("%(message)s").formatException(theirs.exc_info) + "\n"


def test_a_line_whose_arguments_do_not_fit_is_still_written(tmp_path, logger_state):
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    log.warning("two %s %s", "but one")  # a bug in a message must not lose the line
    log.warning("odd text: \udcff and \u00e9")  # a lone surrogate cannot be UTF-8
    text = path.read_text(encoding="utf-8")
    assert "two %s %s ('but one',)" in text
    assert "odd text: \\udcff and \u00e9" in text


def test_without_the_daemons_handlers_it_is_log_info(logger_state):
    """A Supervisor used in-process (tests, tools) logs through `log` as usual."""
    with collected(INFO) as lines:
        daemon_log.info("spawned: '%s' with pid %d", "web", 7)
    assert lines.messages() == ["spawned: 'web' with pid 7"]


def test_before_set_up_warnings_go_to_stderr(logger_state, capfd):
    log.handlers.clear()
    log.setLevel(logging.WARNING)
    log.info("routine")
    log.warning("cannot listen on %s", "[::1]:9001")
    assert capfd.readouterr().err == "cannot listen on [::1]:9001\n"


def test_a_handler_added_later_gets_every_line(tmp_path, logger_state):
    """Once the handlers are not just the daemon's, info() takes log.info's path, so an
    added handler misses nothing."""
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    extra = Collected(ERROR)
    log.handlers.append(extra)
    with collected(INFO) as seen:
        daemon_log.info("seen by %s", "both")
    daemon_log.flush()
    assert seen.messages() == ["seen by both"] and extra.records == []
    assert lines_of(path) == [("INFO", "seen by both")]


def test_a_failing_log_never_raises_and_each_new_failure_is_told(tmp_path, logger_state, capfd):
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    handler = log.handlers[0]
    good = handler.stream
    full = open("/dev/full", "w")  # every write: ENOSPC, as a full disk
    closed = open(tmp_path / "closed", "w")
    closed.close()
    try:
        handler.stream = full
        log.error("lost 1")  # flushed at once: ENOSPC, and nothing raises
        log.error("lost 2")
        daemon_log.info("lost 3")
        daemon_log.flush()
        told = capfd.readouterr().err
        assert told.count("No space left on device") == 1, told  # told once, not per line
        handler.stream = closed  # a different failure
        log.error("lost 4")
        assert "closed file" in capfd.readouterr().err
        handler.stream = full  # ENOSPC again: different from the last one, so told again
        log.error("lost 5")
        assert "No space left on device" in capfd.readouterr().err
        handler.stream = good
        log.warning("back")
        text = path.read_text()
        assert "log writing works again" in text and "No space left on device" in text, text
    finally:
        handler.stream = good
        try:
            full.close()
        except OSError:
            pass  # what it still held cannot be written either


def test_reopen_into_a_missing_directory_keeps_the_old_file(tmp_path, logger_state, capfd):
    folder = tmp_path / "logs"
    folder.mkdir()
    daemon_log.setup("info", str(folder / "d.log"), foreground=False)
    folder.rename(tmp_path / "moved")
    daemon_log.reopen()  # nothing raises
    assert "cannot reopen" in capfd.readouterr().err
    log.warning("still here")
    assert "still here" in (tmp_path / "moved" / "d.log").read_text()


def test_repeated_lines_are_collapsed_and_counted(tmp_path, logger_state):
    """A flood of one kind (numbers differ), and of tracebacks whose arguments differ:
    BURST lines of each, then one line each says how many were not written."""
    from supervisord_lite.logs.repeats import BURST

    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    for pid in range(100):
        log.warning("control: refused a client with uid %d (pid %d)", 65534, pid)
        try:
            raise ValueError(pid)
        except ValueError:
            line = "".join(chr(97 + int(d)) for d in f"{pid:02d}")  # a request of its own
            log.exception("control: internal error handling %r", line.encode())
    log.warning("another kind is written at once")
    daemon_log.write_held()
    daemon_log.flush()
    text = path.read_text()
    assert text.count("WARNING control: refused") == BURST
    assert text.count("ERROR control: internal error") == BURST
    assert text.count("Traceback") == BURST
    assert "another kind is written at once" in text
    assert f"{100 - BURST} similar lines not logged" in text
    assert "the last: control: refused a client with uid 65534 (pid 99)" in text
    assert "the last: control: internal error handling b'jj'" in text
