"""supervisor_wire/events.py against Supervisor's own code (PyPI supervisor, a test dependency).

Every payload, the envelope, the listener's stdout state machine, TICK alignment, the
type hierarchy and the pool buffer are run through supervisor's classes and functions
on the same inputs, and must come out the same.
"""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor import childutils
from supervisor import events as sv_events
from supervisor import process as sv_process
from supervisor import states as sv_states
from supervisor import supervisord as sv_supervisord
from supervisor.dispatchers import PEventListenerDispatcher, default_handler
from supervisor.states import ProcessStates

from supervisord_lite.supervisor_wire import events as ep

pytestmark = pytest.mark.timeout(30)

names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)
pids = st.integers(min_value=0, max_value=2**22)


def sv_process_for(name: str, group: str | None, pid: int = 0, backoff: int = 0):
    group_obj = None if group is None else SimpleNamespace(config=SimpleNamespace(name=group))
    return SimpleNamespace(
        config=SimpleNamespace(name=name), group=group_obj, pid=pid, backoff=backoff
    )


# --- payloads -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    name=names,
    group=st.none() | names,
    to_state=st.sampled_from(sorted(ep._STATE_EXTRAS)),
    from_state=st.sampled_from(sorted(ep._STATE_EXTRAS)),
    pid=pids,
    tries=st.integers(0, 100),
    expected=st.booleans(),
)
def test_process_state_payloads_are_supervisors(
    name, group, to_state, from_state, pid, tries, expected
):
    process = sv_process_for(name, group, pid, tries)
    event_class = sv_process.Subprocess.event_map[getattr(ProcessStates, to_state)]
    event = event_class(process, getattr(ProcessStates, from_state), expected)
    ours = ep.process_state_payload(name, group, from_state, to_state, pid, expected, tries)
    assert ours == event.payload()
    assert sv_events.getEventNameByType(event_class) == f"PROCESS_STATE_{to_state}"


def test_process_state_payload_examples():
    assert (
        ep.process_state_payload("web", "web", "RUNNING", "EXITED", pid=42, expected=False)
        == "processname:web groupname:web from_state:RUNNING expected:0 pid:42"
    )
    assert (
        ep.process_state_payload("w_0", "g", "STARTING", "BACKOFF", tries=2)
        == "processname:w_0 groupname:g from_state:STARTING tries:2"
    )
    assert ep.process_state_payload("x", None, "BACKOFF", "FATAL") == (
        "processname:x groupname: from_state:BACKOFF"
    )


data = st.binary(max_size=40) | st.text(max_size=20).map(lambda t: t.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(name=names, group=st.none() | names, pid=pids, chunk=data)
def test_log_and_communication_payloads_are_supervisors(name, group, pid, chunk):
    process = sv_process_for(name, group)
    for event_class, channel in (
        (sv_events.ProcessLogStdoutEvent, "stdout"),
        (sv_events.ProcessLogStderrEvent, "stderr"),
    ):
        expected = event_class(process, pid, chunk).payload()
        assert ep.process_log_payload(name, group, pid, channel, chunk) == expected
    for event_class in (
        sv_events.ProcessCommunicationStdoutEvent,
        sv_events.ProcessCommunicationStderrEvent,
    ):
        expected = event_class(process, pid, chunk).payload()
        assert ep.process_communication_payload(name, group, pid, chunk) == expected


def test_undecodable_output_is_shown_as_supervisor_shows_it():
    assert ep.process_log_payload("a", "a", 7, "stdout", b"\xff\n") == (
        "processname:a groupname:a pid:7 channel:stdout\nUndecodable: b'\\xff\\n'"
    )


@given(
    kind=st.text(max_size=10), body=st.text(max_size=30), group=names, when=st.integers(0, 2**40)
)
def test_the_other_payloads_are_supervisors(kind, body, group, when):
    assert ep.remote_communication_payload(kind, body) == (
        sv_events.RemoteCommunicationEvent(kind, body).payload()
    )
    assert ep.process_group_payload(group) == sv_events.ProcessGroupAddedEvent(group).payload()
    assert ep.process_group_payload(group) == sv_events.ProcessGroupRemovedEvent(group).payload()
    assert ep.tick_payload(when) == sv_events.Tick60Event(when, None).payload()
    assert ep.supervisor_state_payload() == sv_events.SupervisorRunningEvent().payload()
    assert ep.supervisor_state_payload() == sv_events.SupervisorStoppingEvent().payload()


# --- the envelope ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    payload=st.text(max_size=40),
    serial=st.integers(0, 10**6),
    pool=names,
    pool_serial=st.integers(0, 10**6),
    event_name=st.sampled_from(sorted(ep.CONCRETE_TYPES)),
)
def test_envelope_is_supervisors(payload, serial, pool, pool_serial, event_name):
    fake_pool = SimpleNamespace(
        config=SimpleNamespace(name=pool, options=SimpleNamespace(identifier="supervisor"))
    )
    event_type = getattr(sv_events.EventTypes, event_name)
    theirs = sv_process.EventListenerPool._eventEnvelope(
        fake_pool, event_type, serial, pool_serial, payload
    )
    assert ep.envelope(event_name, payload, serial, pool, pool_serial) == theirs.encode("utf-8")


def test_len_counts_characters_not_bytes():
    payload = "processname:caf\u00e9 groupname:\u2603 pid:1 channel:stdout\n\u00fcber"
    raw = ep.envelope("PROCESS_LOG_STDOUT", payload, 3, "pool", 1)
    header, _, body = raw.partition(b"\n")
    assert header.endswith(f"len:{len(payload)}".encode())
    assert len(payload) < len(payload.encode("utf-8"))  # so bytes would have been wrong
    # supervisor.childutils reads `len` characters from a text stdin: exactly the payload.
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    headers, got = childutils.EventListenerProtocol().wait(stdin, io.StringIO())
    assert got == payload and headers["eventname"] == "PROCESS_LOG_STDOUT"


def test_serials_wrap_like_supervisors():
    counter = SimpleNamespace(serial=-1)
    ours = -1
    for _ in range(3):
        ours = ep.next_serial(ours)
        assert ours == sv_process.new_serial(counter)
    counter.serial = ours = sys.maxsize
    assert ep.next_serial(ours) == sv_process.new_serial(counter) == 0


# --- ticks ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    start=st.floats(1e9, 2e9, allow_nan=False),
    steps=st.lists(st.floats(0, 4000, allow_nan=False), max_size=20),
)
def test_ticks_are_supervisors(start, steps):
    sent = []

    def record(event):
        sent.append((sv_events.getEventNameByType(event.__class__), event.when))

    fake_supervisord = SimpleNamespace(ticks={})
    ours_sent, last = [], {}
    sv_events.subscribe(sv_events.TickEvent, record)
    try:
        now = start
        for step in [0.0, *steps]:
            now += step
            sv_supervisord.Supervisor.tick(fake_supervisord, now)
            ours_sent += ep.due_ticks(last, now)
    finally:
        sv_events.unsubscribe(sv_events.TickEvent, record)
    assert ours_sent == sent


def test_next_tick_is_the_next_period_boundary():
    assert ep.next_tick_at(1003.2, frozenset({"TICK_5"})) == 1005.0
    assert ep.next_tick_at(1003.2, frozenset({"TICK_60", "TICK_3600"})) == 1020.0
    assert ep.next_tick_at(1005.0, frozenset({"TICK_5"})) == 1010.0
    assert ep.next_tick_at(1003.2, frozenset({"PROCESS_STATE_RUNNING"})) is None
    assert ep.timeslice(5, 1003.2) == sv_supervisord.timeslice(5, 1003.2) == 1000


# --- event types ----------------------------------------------------------------------------

SUPERVISOR_TYPES = {
    name: cls for name, cls in vars(sv_events.EventTypes).items() if not name.startswith("_")
}


def test_every_supervisor_event_type_is_known():
    assert set(SUPERVISOR_TYPES) == set(ep.EVENT_PARENTS)


@pytest.mark.parametrize("name", sorted(SUPERVISOR_TYPES))
def test_expand_matches_supervisors_isinstance_subscription(name):
    wanted = SUPERVISOR_TYPES[name]
    expected = {
        concrete for concrete in ep.CONCRETE_TYPES if issubclass(SUPERVISOR_TYPES[concrete], wanted)
    }
    assert ep.expand([name]) == expected


def test_expand_unions_and_deduplicates():
    assert ep.expand(["TICK", "TICK_5"]) == {"TICK_5", "TICK_60", "TICK_3600"}
    assert ep.expand(["EVENT"]) == ep.CONCRETE_TYPES
    assert len(ep.CONCRETE_TYPES) == 20


def test_an_unknown_event_type_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match='unknown event type "PROCESS_STATE_EXIT" \\(did you mean'):
        ep.expand(["PROCESS_STATE", "PROCESS_STATE_EXIT"])
    with pytest.raises(ValueError, match='unknown event type "nonsense"$'):
        ep.expand(["nonsense"])


# --- the listener's stdout --------------------------------------------------------------------


class SupervisorSide:
    """Supervisor's PEventListenerDispatcher, driven the way supervisord drives it."""

    def __init__(self):
        self.results: list[bytes] = []
        logger = SimpleNamespace(
            debug=lambda *a, **k: None, warn=self._warn, trace=lambda *a, **k: None
        )
        options = SimpleNamespace(logger=logger)
        config = SimpleNamespace(name="listener", options=options, stdout_logfile=None)
        group = SimpleNamespace(config=SimpleNamespace(result_handler=self._handler))
        self.process = SimpleNamespace(config=config, group=group)
        self.dispatcher = PEventListenerDispatcher(self.process, "stdout", 0)

    def _handler(self, event, result):
        self.results.append(result)
        default_handler(event, result)

    def _warn(self, message, *args, **kwargs):
        if "bad result line" in message:
            self.results.append(b"")

    def feed(self, data: bytes) -> None:
        self.dispatcher.state_buffer += data
        self.dispatcher.handle_listener_state_change()

    def send_event(self) -> None:
        self.process.listener_state = sv_states.EventListenerStates.BUSY
        self.process.event = object()

    @property
    def state(self) -> str:
        return sv_states.getEventListenerStateDescription(self.process.listener_state)


READIES = [b"READY\n"] * 6 + [b"READ", b"garbage", b"\n", b"READY\nREADY\n"]
RESULTS = [b"RESULT 2\nOK", b"RESULT 4\nFAIL", b"RESULT 0\n", b"RESULT x\n", b"RESULT  3\nBAD"]
RESULTS += [b"XXXXXX 2\nOK", b"RESULT 2\r\nOK", b"RESULT 2\n", b"OK", b"", b"R", b"RESULT 1_0\n"]


@st.composite
def conversations(draw):
    """A listener's exchanges: READY, an event sent (usually), a result; noise at times.

    Each part is cut anywhere into chunks; an event is sent only between chunks.
    """
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        for part, send_after in (
            (draw(st.sampled_from(READIES)), draw(st.sampled_from([True, True, True, False]))),
            (draw(st.sampled_from(RESULTS)), False),
        ):
            cuts = sorted(draw(st.lists(st.integers(0, len(part)), max_size=2)))
            chunks = [part[a:b] for a, b in zip([0, *cuts], [*cuts, len(part)])]
            steps += [(chunk, False) for chunk in chunks[:-1]]
            steps.append((chunks[-1], send_after))
    return steps


@settings(max_examples=400, deadline=None)
@given(steps=conversations())
def test_listener_reader_matches_supervisors_dispatcher(steps):
    theirs, ours = SupervisorSide(), ep.ListenerReader()
    results: list[bytes] = []
    for chunk, send in steps:
        results += ours.feed(chunk)
        theirs.feed(chunk)
        assert ours.state == theirs.state
        if send and ours.state == ep.READY:
            ours.event_sent()
            theirs.send_event()
    assert results == theirs.results
    assert ours.state == theirs.state


def test_a_whole_exchange():
    reader = ep.ListenerReader()
    assert reader.state == ep.ACKNOWLEDGED
    assert reader.feed(b"REA") == [] and reader.state == ep.ACKNOWLEDGED
    assert reader.feed(b"DY\n") == [] and reader.state == ep.READY
    reader.event_sent()
    assert reader.feed(b"RESULT 2\nO") == [] and reader.state == ep.BUSY
    assert reader.feed(b"KREADY\n") == [b"OK"] and reader.state == ep.READY
    reader.event_sent()
    assert reader.feed(b"RESULT 4\nFAILREADY\n") == [b"FAIL"] and reader.state == ep.READY


def test_stray_bytes_make_the_listener_unknown_for_good():
    reader = ep.ListenerReader()
    reader.feed(b"READY\nhello")
    assert reader.state == ep.UNKNOWN and "before it was sent an event" in reader.protocol_error
    assert reader.feed(b"READY\n") == [] and reader.state == ep.UNKNOWN
    with pytest.raises(ValueError, match="state UNKNOWN"):
        reader.event_sent()
    starting = ep.ListenerReader()
    starting.feed(b"Hello!\n")
    assert starting.state == ep.UNKNOWN and "expected READY" in starting.protocol_error


def test_bounds_where_supervisor_has_none():
    negative = ep.ListenerReader()
    negative.feed(b"READY\n")
    negative.event_sent()
    assert negative.feed(b"RESULT -1\nOK") == [b""] and negative.state == ep.UNKNOWN
    endless = ep.ListenerReader()
    endless.feed(b"READY\n")
    endless.event_sent()
    assert endless.feed(b"R" * (ep.MAX_RESULT_LINE + 1)) == []
    assert endless.state == ep.UNKNOWN and "longer than" in endless.protocol_error
    huge = ep.ListenerReader()
    huge.feed(b"READY\n")
    huge.event_sent()
    assert huge.feed(b"RESULT 99999999999\n") == [b""] and huge.state == ep.UNKNOWN


# --- the pool's buffer ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 5),
    operations=st.lists(st.sampled_from(["append", "requeue", "pop"]), max_size=30),
)
def test_event_buffer_is_supervisors(capacity, operations):
    logger = SimpleNamespace(debug=lambda *a: None, error=lambda *a: None)
    pool = SimpleNamespace(
        config=SimpleNamespace(
            name="p", buffer_size=capacity, options=SimpleNamespace(logger=logger)
        ),
        event_buffer=[],
        serial=-1,
    )
    ours = ep.EventBuffer(capacity)
    popped = None
    for number, operation in enumerate(operations):
        if operation == "pop":
            if not pool.event_buffer:
                continue
            popped = pool.event_buffer.pop(0)
            assert ours.pop() is popped
            continue
        if operation == "requeue":
            if popped is None:
                continue
            event, popped = popped, None
        else:
            event = SimpleNamespace(number=number)
        sv_process.EventListenerPool._acceptEvent(pool, event, head=operation == "requeue")
        (ours.requeue if operation == "requeue" else ours.append)(event)
        assert list(ours._events) == pool.event_buffer
