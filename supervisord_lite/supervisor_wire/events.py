"""Supervisor's event-listener protocol, pure: byte for byte what supervisord 4.x does.

* ``ListenerReader``: what a listener writes on stdout (``READY\\n``, ``RESULT N\\n`` and
  N bytes), fed in any chunks, as supervisor/dispatchers.py PEventListenerDispatcher
  reads it.
* ``envelope``: the header line and payload written to its stdin (process.py
  EventListenerPool._eventEnvelope).
* The payload of every event (events.py), the event type names with their hierarchy
  (events.EventTypes), TICK alignment (supervisord.py tick/timeslice), and a pool's
  bounded buffer (process.py EventListenerPool._acceptEvent).

Deliberate differences, each where Supervisor fails its users: the buffer is 1024 by
default (the config's business) and counts what it drops; a listener's result line is
bounded (Supervisor buffers a line without end) and a negative length is a protocol
error (Supervisor recurses without end); a pool subscribed to overlapping types (TICK
and TICK_5) gets each event once (Supervisor queues it twice).
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Optional

from supervisord_lite.base import event_types

# Listener states: supervisor/states.py EventListenerStates.
READY = "READY"
BUSY = "BUSY"
ACKNOWLEDGED = "ACKNOWLEDGED"
UNKNOWN = "UNKNOWN"

READY_TOKEN = b"READY\n"
RESULT_TOKEN = b"RESULT "
# Longer than any "RESULT N" line or result body a listener sends ("OK", "FAIL").
MAX_RESULT_LINE = 4096
MAX_RESULT_BYTES = 65536


class ListenerReader:
    """One listener process's stdout, as supervisord reads it (a new one per process).

    ``feed`` returns the results completed by the bytes, each the body the listener
    sent (``b"OK"`` acknowledges; anything else, ``b"FAIL"`` included, rejects: the
    event goes back at the head of the buffer). ``state`` says whether the listener
    may be sent an event (READY); UNKNOWN is final and ``protocol_error`` says why.
    The shell calls ``event_sent`` when it wrote an envelope (READY -> BUSY) and, if
    the process exits while BUSY, re-queues that event itself (process.py finish).
    """

    def __init__(self) -> None:
        # ACKNOWLEDGED at start: awaiting READY (dispatchers.py __init__).
        self.state = ACKNOWLEDGED
        self.protocol_error = ""
        self._buffer = b""
        self._result = b""
        self._result_length: Optional[int] = None

    def event_sent(self) -> None:
        """The shell wrote an event to this listener: READY -> BUSY."""
        if self.state != READY:
            raise ValueError(f"an event was sent to a listener in state {self.state}")
        self.state = BUSY

    def feed(self, data: bytes) -> list[bytes]:
        """Take bytes read from the listener's stdout; the results they complete.

        A result line that is not ``RESULT N`` also ends the event in flight, as a
        rejection: it comes back as ``b""`` while ``state`` turns UNKNOWN.
        """
        results: list[bytes] = []
        if data:
            self._buffer += data
            self._handle(results)
        return results

    def _unknown(self, reason: str) -> None:
        self.state = UNKNOWN
        self.protocol_error = reason
        self._buffer = b""

    # dispatchers.py handle_listener_state_change, as a loop instead of its recursion
    # ("if self.state_buffer: self.handle_listener_state_change()").
    def _handle(self, results: list[bytes]) -> None:
        while self._buffer:
            if self.state == UNKNOWN:
                self._buffer = b""
                return
            if self.state == ACKNOWLEDGED:
                if len(self._buffer) < len(READY_TOKEN):
                    return  # not enough to decide
                if not self._buffer.startswith(READY_TOKEN):
                    self._unknown(f"expected READY, got {self._buffer[:40]!r}")
                    return
                self.state = READY
                self._buffer = self._buffer[len(READY_TOKEN) :]
            elif self.state == READY:
                # Anything before an event is sent violates the protocol.
                self._unknown(f"wrote {self._buffer[:40]!r} before it was sent an event")
                return
            elif self._result_length is None:  # BUSY, awaiting the result line
                if not self._read_result_line(results):
                    return
            else:  # BUSY, gathering the result body
                needed = self._result_length - len(self._result)
                if needed:
                    self._result += self._buffer[:needed]
                    self._buffer = self._buffer[needed:]
                    needed = self._result_length - len(self._result)
                if not needed:
                    results.append(self._result)
                    self.state = ACKNOWLEDGED
                    self._result, self._result_length = b"", None

    def _read_result_line(self, results: list[bytes]) -> bool:
        """Parse ``RESULT N``; False when there is not a whole line yet (or it was bad).

        Supervisor takes whatever follows the first 7 bytes as N and never checks the
        ``RESULT `` word itself: neither do we. A zero length completes only when more
        bytes arrive, as in Supervisor (its body branch runs on the next read).
        """
        newline = self._buffer.find(b"\n")
        if newline == -1:
            if len(self._buffer) > MAX_RESULT_LINE:
                self._unknown(f"result line longer than {MAX_RESULT_LINE} bytes")
            return False
        line, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
        try:
            length = int(line[len(RESULT_TOKEN) :]) if newline <= MAX_RESULT_LINE else -1
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_RESULT_BYTES:
            # Supervisor: "bad result line", UNKNOWN, and the event is rejected.
            results.append(b"")
            self._unknown(f"bad result line {line[:40]!r}")
            return False
        self._result_length = length
        return True


def next_serial(serial: int) -> int:
    """The serial after ``serial``; a counter starts at -1 (process.py new_serial)."""
    return 0 if serial == sys.maxsize else serial + 1


def envelope(
    event_name: str,
    payload: str,
    serial: int,
    pool: str,
    pool_serial: int,
    server: str = "supervisor",
) -> bytes:
    """The header line and payload a listener reads on stdin.

    ``len`` counts the payload's characters, not its bytes: Supervisor formats a str
    and encodes the whole envelope as UTF-8, and its childutils reads that many
    characters from a text stdin. ``serial`` is the event's, given when the first pool
    takes it; ``pool_serial`` counts that pool's events.
    """
    header = (
        f"ver:3.0 server:{server} serial:{serial} pool:{pool} poolserial:{pool_serial} "
        f"eventname:{event_name} len:{len(payload)}\n"
    )
    return (header + payload).encode("utf-8")


# --- payloads (supervisor/events.py) ------------------------------------------------------

# Which extra tokens each PROCESS_STATE_* event carries (events.py get_extra_values).
_STATE_EXTRAS = {
    "STARTING": ("tries",),
    "BACKOFF": ("tries",),
    "EXITED": ("expected", "pid"),
    "RUNNING": ("pid",),
    "STOPPING": ("pid",),
    "STOPPED": ("pid",),
    "FATAL": (),
    "UNKNOWN": (),
}


def process_state_payload(
    process_name: str,
    group_name: Optional[str],
    from_state: str,
    to_state: str,
    pid: int = 0,
    expected: bool = True,
    tries: int = 0,
) -> str:
    """``PROCESS_STATE_<to_state>``'s payload; ``tries`` counts failed starts so far.

    Supervisor takes pid and tries when the event is made: pid is still the child's on
    EXITED and STOPPED, and BACKOFF's tries already counts the failure it reports.
    """
    tokens = [
        f"processname:{process_name}",
        f"groupname:{group_name or ''}",
        f"from_state:{from_state}",
    ]
    extra = {"tries": tries, "expected": int(expected), "pid": pid}
    tokens += [f"{name}:{extra[name]}" for name in _STATE_EXTRAS[to_state]]
    return " ".join(tokens)


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"Undecodable: {data!r}"


def process_log_payload(
    process_name: str, group_name: Optional[str], pid: int, channel: str, data: bytes
) -> str:
    """``PROCESS_LOG_STDOUT/STDERR``: one chunk of output as it was logged."""
    return (
        f"processname:{process_name} groupname:{group_name or ''} pid:{pid} "
        f"channel:{channel}\n{_decoded(data)}"
    )


def process_communication_payload(
    process_name: str, group_name: Optional[str], pid: int, data: bytes
) -> str:
    """``PROCESS_COMMUNICATION_STDOUT/STDERR``: what came between the capture tokens."""
    return f"processname:{process_name} groupname:{group_name or ''} pid:{pid}\n{_decoded(data)}"


def remote_communication_payload(kind: str, data: str) -> str:
    """``REMOTE_COMMUNICATION``, from supervisor.sendRemoteCommEvent(type, data)."""
    return f"type:{kind}\n{data}"


def supervisor_state_payload() -> str:
    """``SUPERVISOR_STATE_CHANGE_RUNNING/STOPPING`` carry nothing."""
    return ""


def process_group_payload(group_name: str) -> str:
    """``PROCESS_GROUP_ADDED/REMOVED``: note the newline, which Supervisor sends too."""
    return f"groupname:{group_name}\n"


def tick_payload(when: int) -> str:
    """``TICK_*``: the start of the period that just began."""
    return f"when:{when}"


# --- ticks (supervisord.py tick and timeslice) ----------------------------------------------

TICK_PERIODS = event_types.TICK_PERIODS


def timeslice(period: int, when: float) -> int:
    """The start of the period holding ``when`` (seconds since the epoch)."""
    return int(when - (when % period))


def due_ticks(last: dict[str, int], now: float) -> list[tuple[str, int]]:
    """The TICK events to send at wall time ``now``, updating ``last`` in place.

    Empty ``last`` (start-up) records the current periods and sends nothing, as
    supervisord does; after a long sleep one event per type, not one per period missed.
    """
    due = []
    for name, period in TICK_PERIODS.items():
        this = timeslice(period, now)
        if name not in last:
            last[name] = this
        elif last[name] != this:
            last[name] = this
            due.append((name, this))
    return due


def next_tick_at(now: float, names: frozenset[str]) -> Optional[float]:
    """When the next of these TICK types is due (wall time), None if none is wanted.

    Supervisor polls every second; the shell arms one timer for this instead.
    """
    periods = [TICK_PERIODS[name] for name in names if name in TICK_PERIODS]
    if not periods:
        return None
    return float(min(timeslice(period, now) + period for period in periods))


# --- event types: base/event_types.py (the config checks `events` with them too) -------------

EVENT_PARENTS = event_types.EVENT_PARENTS
ABSTRACT_TYPES = event_types.ABSTRACT_TYPES
CONCRETE_TYPES = event_types.CONCRETE_TYPES
expand = event_types.expand


class EventBuffer:
    """A listener pool's queue: oldest first, bounded, dropping the oldest when full.

    ``requeue`` puts a rejected event back at the head, and it too drops the oldest
    when the buffer is full (Supervisor's _acceptEvent with head=True), so ``dropped``
    lists what the shell must log and count.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an event buffer holds at least one event")
        self.capacity = capacity
        self._events: deque = deque()
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._events)

    def append(self, event: object) -> Optional[object]:
        """Queue a new event; the event dropped to make room, if any."""
        dropped = self._make_room()
        self._events.append(event)
        return dropped

    def requeue(self, event: object) -> Optional[object]:
        """Put an event back first (a FAIL, a listener gone while busy)."""
        dropped = self._make_room()
        self._events.appendleft(event)
        return dropped

    def pop(self) -> object:
        """The oldest event, to send now."""
        return self._events.popleft()

    def drop_oldest(self) -> object:
        """Drop the oldest event (a bound of the shell's own, e.g. on bytes held)."""
        self.dropped_total += 1
        return self._events.popleft()

    def _make_room(self) -> Optional[object]:
        if len(self._events) < self.capacity:
            return None
        self.dropped_total += 1
        return self._events.popleft()
