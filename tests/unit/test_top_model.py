"""`top`'s model and options, without a terminal or a daemon: CPU % from status
answers, sort and filter, and --interval's floor of one second (SPEC §14)."""

from __future__ import annotations

import json
import socket

import pytest

from supervisord_lite.ctl import parse
from supervisord_lite.ctl.client import Connection
from supervisord_lite.ctl.top.link import Link
from supervisord_lite.ctl.top.model import Model, json_rows, plain_table


def proc(name: str, cpu: float, pid: int = 10, **extra) -> dict:
    return {"name": name, "group": name.split(":")[0], "state": "RUNNING", "pid": pid,
            "uptime": 5.0, "restarts": 0, "cpu_seconds": cpu, "memory_bytes": 1 << 20,
            **extra}  # fmt: skip


def test_cpu_percent_is_the_difference_of_fresh_answers_and_a_new_run_starts_again():
    model = Model()
    # the first answer's figures may be a second old (the daemon's /proc pass): no rate
    for i, cpu in enumerate((1.0, 1.5, 2.0)):
        model.apply_status("", [proc("spin", cpu)], now=100.0 + i)
    (row,) = model.order(103.0)
    assert row.cpu_pct == pytest.approx(50.0)
    model.apply_status("", [proc("spin", 0.1, pid=11)], now=104.0)  # restarted
    assert row.cpu_pct is None
    model.apply_status("", [proc("spin", 0.6, pid=11)], now=105.0)
    assert row.cpu_pct == pytest.approx(50.0)


def test_sort_filter_and_a_removed_process_goes():
    model = Model()
    answer = [proc("web:0", 1.0), proc("web:1", 1.0), proc("db", 1.0, state="FATAL")]
    for i in range(3):
        busy = [dict(p, cpu_seconds=p["cpu_seconds"] + i * (0.9 if p["name"] == "web:1" else 0.1))
                for p in answer]  # fmt: skip
        model.apply_status("", busy, now=float(i))
    model.set_sort("cpu")  # the biggest first; equal figures by name
    assert [r.name for r in model.order(3.0)] == ["web:1", "db", "web:0"]
    model.set_filter("fatal")  # a whole state
    assert [r.name for r in model.order(3.0)] == ["db"]
    model.set_filter("web")  # a part of a name or group
    assert [r.name for r in model.order(3.0)] == ["web:1", "web:0"]
    model.apply_status("", answer[:1], now=4.0)  # a reload removed web:1 and db
    assert [r.name for r in model.order(4.0)] == ["web:0"]


def test_the_table_and_json_show_no_control_characters():
    model = Model()
    model.apply_status("", [proc("x", 1.0, description="\x1b]0;pwned\x07")], now=1.0)
    model.rows[("", "x")].health = "\x1b[2Jbad"
    table = plain_table(model, False, 2.0)
    assert "\x1b" not in table and "\x07" not in table
    assert json_rows(model, False, 2.0)[0]["name"] == "x"


def test_top_options_and_the_one_second_floor(capsys):
    args = parse.parse_args(["top"])
    assert (args.sort, args.filter, args.interval) == ("name", "", 1.05)
    args = parse.parse_args(["top", "--sort", "cpu", "--filter", "web", "--interval", "2"])
    assert (args.sort, args.filter, args.interval) == ("cpu", "web", 2.0)
    for bad in ("0.5", "nan", "soon"):
        with pytest.raises(SystemExit) as exc:
            parse.parse_args(["top", "--interval", bad])
        assert exc.value.code == 2
        assert "--interval: takes a number of seconds >= 1" in capsys.readouterr().err


def test_a_log_that_never_ends_a_line_is_kept_in_bounded_pieces():
    pytest.importorskip("urwid")
    from supervisord_lite.ctl.top.view import MAX_LINE, MAX_LOG_LINES, Top

    top = Top(Model(), [], False, {})
    for _ in range(50):  # 50 MB without a newline, as a runaway program may write
        top._log_data("x" * (1 << 20))
    assert len(top.log_partial) <= MAX_LINE
    assert len(top.log_lines) <= MAX_LOG_LINES
    assert all(len(line) <= MAX_LINE for line in top.log_lines)


@pytest.fixture
def linked(tmp_path):
    """link(interval) -> (Link, the daemon's side of its connection, a reader of it)
    with the `events` request already read: a real socket stands for the daemon."""
    path = str(tmp_path / "d.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    opened: list = []

    def link(interval: float):
        made = Link("", Connection(path), lambda *_: None, lambda *_: None, interval=interval)
        peer, _ = server.accept()
        peer.settimeout(2)
        opened.extend((made, peer))
        reader = peer.makefile("rb")
        assert json.loads(reader.readline())["cmd"] == "events"
        return made, peer, reader

    try:
        yield link
    finally:
        for thing in opened:
            thing.close()
        server.close()


def test_status_is_asked_at_most_once_a_second_and_never_twice_at_a_time(linked):
    """SPEC §14: no polling faster than once a second, whatever --interval or the view's
    ticks say. The link's clock is given."""
    link, peer, reader = linked(0.2)
    asked: list[float] = []
    pending: dict | None = None
    for tick in range(61):  # six seconds, polled every 0.1 s
        now = 1000.0 + tick / 10
        link.poll(now)
        if link.status_sent_at == now:
            request = json.loads(reader.readline())
            assert request["cmd"] == "status"
            asked.append(now)
            pending = {"id": request["id"], "ok": True, "result": []}
        # the second answer takes 2.5 s: nothing is asked meanwhile
        if pending and not (len(asked) == 2 and now - asked[-1] < 2.5):
            peer.sendall(json.dumps(pending).encode() + b"\n")
            pending = None
            assert link.readable()
    gaps = [b - a for a, b in zip(asked, asked[1:])]
    assert len(asked) >= 3 and min(gaps) >= 1.0 - 1e-9, asked
    assert gaps[1] >= 2.5 - 1e-9, asked  # not while an answer was awaited


def test_the_first_status_is_asked_at_once_whatever_the_clock_says(linked):
    """The monotonic clock counts from boot: `top --interval 3600` on a machine up for
    ten minutes waited for the clock to pass 3600 before its first status, and showed
    "waiting…" until then."""
    link, _, reader = linked(3600)
    link.poll(600.0)  # ten minutes after boot
    assert json.loads(reader.readline())["cmd"] == "status"
    link.poll(601.0)
    assert link.status_sent_at == 600.0  # one at a time, and the interval holds
