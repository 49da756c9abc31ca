"""engine/event_hub.py and engine/listener_pipes.py with real pipes and a real loop: a
pool's serials, buffering and drops; a listener that breaks the protocol or stops
reading (docs/listeners.md)."""

from __future__ import annotations

import os

import pytest

from supervisord_lite.config.model import ListenerConfig, ProgramConfig
from supervisord_lite.engine import event_hub
from supervisord_lite.engine.event_hub import EventHub, Pool
from supervisord_lite.linux.loop import EventLoop

pytestmark = pytest.mark.timeout(20)


def listener(name="rec", events=("PROCESS_STATE_EXITED", "TICK_5"), buffer_size=4):
    return ProgramConfig(
        name=name, command=("cat",), listener=ListenerConfig(frozenset(events), buffer_size)
    )


class Child:
    """The listener's side of its two pipes."""

    def __init__(self, hub: EventHub, name="rec"):
        stdin_r, self.stdin_w = os.pipe()
        self.stdout_r, stdout_w = os.pipe()
        os.set_blocking(self.stdin_w, False)
        os.set_blocking(self.stdout_r, False)
        self.stdin, self.stdout = stdin_r, stdout_w  # the child's ends
        self.pipes = hub.attach(name, f"{name}:0", self.stdin_w, self.stdout_r)
        hub.running(self.pipes, True)

    def say(self, loop: EventLoop, data: bytes) -> None:
        """Write on its stdout; one turn of the loop reads it (a timer bounds the wait)."""
        os.write(self.stdout, data)
        loop.call_later(0.5, lambda: None)
        loop.run_once()

    def read_event(self) -> bytes:
        return os.read(self.stdin, 1 << 20)


def _pending(fd: int) -> bool:
    import fcntl
    import struct
    import termios

    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0] > 0


@pytest.fixture
def loop():
    loop = EventLoop()
    yield loop
    loop.close()


def test_serials_count_as_supervisor_counts_them(loop):
    hub = EventHub(loop)
    hub.configure([listener("a"), listener("b", events=("TICK_5",))])
    hub.publish("PROCESS_STATE_RUNNING", "x")  # nobody subscribes: no serial taken
    hub.publish("PROCESS_STATE_EXITED", "one")  # pool a only
    hub.publish("TICK_5", "two")  # both
    a, b = hub.pools["a"], hub.pools["b"]
    held_a = [a.buffer.pop() for _ in range(len(a.buffer))]
    held_b = [b.buffer.pop() for _ in range(len(b.buffer))]
    assert [(e.serial, e.pool_serials["a"]) for e in held_a] == [(0, 0), (1, 1)]
    assert [(e.serial, e.pool_serials["b"]) for e in held_b] == [(1, 0)]


def test_a_full_buffer_drops_the_oldest_and_counts(loop):
    hub = EventHub(loop)
    hub.configure([listener(buffer_size=3)])
    for n in range(5):
        hub.publish("TICK_5", f"when:{n}")
    pool = hub.pools["rec"]
    assert [e.payload for e in list(pool.buffer._events)] == ["when:2", "when:3", "when:4"]
    assert hub.dropped() == {"rec": 2}


def test_payload_bytes_are_bounded_too(loop, monkeypatch):
    monkeypatch.setattr(event_hub, "MAX_POOL_BYTES", 100)
    pool = Pool("rec", ListenerConfig(frozenset({"TICK_5"}), 1024))
    for n in range(5):
        pool.accept(event_hub.Event("TICK_5", "x" * 40, n))
    assert len(pool.buffer) == 2 and pool.held_bytes == 80
    assert pool.buffer.dropped_total == 3


def test_the_protocol_exchange_ok_and_fail(loop):
    hub = EventHub(loop)
    hub.configure([listener()])
    child = Child(hub)
    hub.publish("TICK_5", "when:5")
    assert not _pending(child.stdin)  # nothing before READY
    child.say(loop, b"READY\n")
    sent = child.read_event()
    assert sent == (
        b"ver:3.0 server:supervisor serial:0 pool:rec poolserial:0 eventname:TICK_5 len:6\nwhen:5"
    )
    child.say(loop, b"RESULT 4\nFAILREADY\n")  # rejected: the same event again, at once
    assert child.read_event() == sent
    child.say(loop, b"RESULT 2\nOK")
    assert len(hub.pools["rec"].buffer) == 0 and child.pipes.event is None


def test_a_stray_byte_makes_the_listener_unknown_and_it_is_read_no_more(loop):
    hub = EventHub(loop)
    hub.configure([listener()])
    child = Child(hub)
    child.say(loop, b"hello\n")
    assert child.pipes.protocol_error.startswith("expected READY")
    child.say(loop, b"x" * 1000)  # nothing reads it now: it stays in the pipe
    assert _pending(child.stdout_r)
    hub.publish("TICK_5", "when:5")
    assert len(hub.pools["rec"].buffer) == 1  # kept for a listener that works


def test_a_busy_listener_that_goes_away_gives_its_event_back(loop):
    hub = EventHub(loop)
    hub.configure([listener()])
    child = Child(hub)
    child.say(loop, b"READY\n")
    hub.publish("TICK_5", "when:5")
    hub.publish("TICK_5", "when:10")
    assert child.pipes.event is not None
    hub.detach(child.pipes)
    pool = hub.pools["rec"]
    assert [e.payload for e in list(pool.buffer._events)] == ["when:5", "when:10"]


def test_a_listener_that_never_reads_holds_only_its_own_event(loop):
    hub = EventHub(loop)
    hub.configure([listener(buffer_size=2)])
    child = Child(hub)
    child.say(loop, b"READY\n")
    big = "y" * 200_000  # more than the pipe holds: the rest waits for it to drain
    hub.publish("TICK_5", big)
    assert child.pipes._out  # not all written, and nothing blocked
    for n in range(10):
        hub.publish("TICK_5", f"when:{n}")
    assert len(hub.pools["rec"].buffer) == 2 and hub.dropped() == {"rec": 8}


def test_a_reload_to_a_smaller_buffer_drops_the_oldest_at_once(loop):
    hub = EventHub(loop)
    hub.configure([listener(buffer_size=5)])
    for n in range(5):
        hub.publish("TICK_5", f"when:{n}")
    hub.configure([listener(buffer_size=2)])
    pool = hub.pools["rec"]
    assert [e.payload for e in list(pool.buffer._events)] == ["when:3", "when:4"]
    assert hub.dropped() == {"rec": 3}
    hub.configure([])  # the listener removed: its drops stay counted
    assert hub.dropped() == {"rec": 3} and hub.pools == {}
