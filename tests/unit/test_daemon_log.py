"""daemon_log.info writes what log.info would, where it would, in order."""

from __future__ import annotations

import logging
import re
import time

import pytest

from supervisord_lite.logs import daemon_log

pytestmark = pytest.mark.timeout(30)

log = logging.getLogger("supervisord_lite")
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) (.*)$")


@pytest.fixture
def logger_state():
    """Put the shared 'supervisord_lite' logger back as it was, whatever the test did."""
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    for handler in log.handlers:
        if handler not in saved[0]:
            handler.close()
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]
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
        record = logging.LogRecord("supervisord_lite", logging.INFO, "", 0, "x", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert log.handlers[0].formatter.format(record) == reference.format(record)
        assert daemon_log.timestamp(created) == reference.formatTime(record)


def test_without_the_daemons_handlers_it_is_log_info(logger_state, caplog):
    """A Supervisor used in-process (tests, tools) logs through logging as usual."""
    with caplog.at_level(logging.INFO, logger="supervisord_lite"):
        daemon_log.info("spawned: '%s' with pid %d", "web", 7)
    assert [r.getMessage() for r in caplog.records] == ["spawned: 'web' with pid 7"]


def test_a_handler_added_later_gets_every_line(tmp_path, logger_state):
    """Once the handlers are not just the daemon's, info() takes logging's path, so an
    added handler misses nothing."""
    path = tmp_path / "d.log"
    daemon_log.setup("info", str(path), foreground=False)
    seen = []
    extra = logging.Handler()
    extra.emit = lambda record: seen.append(record.getMessage())
    log.addHandler(extra)
    daemon_log.info("seen by %s", "both")
    daemon_log.flush()
    assert seen == ["seen by both"]
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
