"""log_repeats.RepeatLimiter: histories of lines and clock values in, decisions out."""

from __future__ import annotations

import logging

import pytest

from supervisord_lite.logs.repeats import BURST, MAX_KINDS, WINDOW, RepeatLimiter, kind_of

pytestmark = pytest.mark.timeout(30)

W = logging.WARNING
REFUSED = "control: refused a client with uid %d (pid %d)"


def refused(pid: int) -> tuple:
    return kind_of(W, REFUSED, (65534, pid))


def test_numbers_are_blanked_names_are_not():
    assert refused(1) == refused(2) == kind_of(W, REFUSED, (0, 7))
    exited = "exited: %s (%s)"
    assert kind_of(W, exited, ("web", "x")) != kind_of(W, exited, ("db", "x"))
    assert kind_of(W, REFUSED, (1, 2)) != kind_of(logging.INFO, REFUSED, (1, 2))
    tls = "http: TLS handshake failed: %s"
    assert kind_of(W, tls, (OSError(104, "reset"),)) == kind_of(W, tls, (OSError(105, "reset"),))


def test_the_first_burst_is_written_at_once_the_rest_summed_up_at_the_window_end():
    limiter = RepeatLimiter()
    written = [limiter.admit(refused(pid), f"line {pid}", 100.0 + pid / 1000) for pid in range(50)]
    assert written == [True] * BURST + [False] * (50 - BURST)
    assert limiter.summaries(100.0 + WINDOW / 2) == []  # the window goes on
    assert limiter.due() == pytest.approx(100.0 + WINDOW)
    (summary,) = limiter.summaries(100.0 + WINDOW)
    assert (summary.level, summary.count, summary.last) == (W, 50 - BURST, "line 49")
    assert "40 similar lines not logged in 10 s" in summary.text("line 49")
    assert limiter.summaries(200.0) == [] and limiter.due() is None


def test_a_kind_that_keeps_coming_gives_one_line_per_window_until_it_stops():
    limiter = RepeatLimiter()
    t = 0.0
    logged = 0
    summaries = []
    for _ in range(int(5 * WINDOW / 0.01)):  # a line every 10 ms for 5 windows
        logged += limiter.admit(refused(1), "x", t)
        summaries += limiter.summaries(t)
        t += 0.01
    assert logged == BURST  # only the first burst, ever
    assert 4 <= len(summaries) <= 5
    t += 2 * WINDOW  # quiet for a whole window
    summaries += limiter.summaries(t)
    assert limiter.admit(refused(1), "x", t), "after a quiet window it is a first line again"


def test_other_kinds_are_not_held_up_by_a_flood():
    limiter = RepeatLimiter()
    for pid in range(1000):
        limiter.admit(refused(pid), "x", 1.0)
    assert limiter.admit(kind_of(W, "exited: %s", ("web",)), "exited: web", 1.0)


def test_at_most_max_kinds_are_kept_and_the_rest_counted_together():
    limiter = RepeatLimiter()
    for i in range(MAX_KINDS + 100):
        assert limiter.admit(kind_of(W, f"distinct {i}", ()), f"distinct {i}", 1.0) == (
            i < MAX_KINDS
        )
    assert len(limiter._kinds) == MAX_KINDS
    (summary,) = limiter.summaries(1.0 + WINDOW)
    assert (
        summary.other_kinds
        and summary.count == 100
        and summary.last == f"distinct {MAX_KINDS + 99}"
    )
    assert "lines of other kinds" in summary.text("t")
    # Their windows have ended: new kinds are welcome again.
    assert limiter.admit(kind_of(W, "new", ()), "new", 1.0 + WINDOW)


def test_final_summaries_write_what_is_held_before_its_window_ends():
    limiter = RepeatLimiter()
    for pid in range(BURST + 3):
        limiter.admit(refused(pid), pid, 1.0)
    (summary,) = limiter.summaries(2.0, final=True)
    assert summary.count == 3
