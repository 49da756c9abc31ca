"""Listener pools: events in, one READY listener each (docs/listeners.md).

Supervisor's EventListenerPool, on our loop: each [listeners.NAME] is a pool with a
bounded buffer (supervisor_wire/events.py's EventBuffer); an event a pool subscribes
to is buffered there, numbered as Supervisor numbers it (a global serial given when
the first pool takes the event, a per-pool serial), and sent to one READY and RUNNING
listener process of the pool; a rejected event (FAIL, a bad result, a listener gone
while busy) goes back at the head. Events are buffered from the start, so a listener
still starting misses nothing that fits; past buffer_size the oldest is dropped, logged
and counted. Knows no states: event_sources.py says what happened and when a listener
process can take events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional, cast

from supervisord_lite.base.log import log
from supervisord_lite.config.model import ListenerConfig, ProgramConfig
from supervisord_lite.engine.listener_pipes import ListenerPipes
from supervisord_lite.linux.loop import EventLoop
from supervisord_lite.supervisor_wire.events import EventBuffer, envelope, next_serial

# Besides buffer_size, a pool holds at most this many bytes of payloads: PROCESS_LOG
# events carry up to a pipe read each (256 KiB), and 1024 of them would be 256 MiB.
MAX_POOL_BYTES = 64 * 1024 * 1024


class Event:
    """One event: its type, payload, serial, and each pool's serial for it."""

    __slots__ = ("name", "payload", "serial", "pool_serials")

    def __init__(self, name: str, payload: str, serial: int):
        self.name = name
        self.payload = payload
        self.serial = serial
        self.pool_serials: dict[str, int] = {}


class Pool:
    """One [listeners.NAME]: its buffer, its serial, its listener processes' pipes."""

    def __init__(self, name: str, config: ListenerConfig):
        self.name = name
        self.config = config
        self.buffer = EventBuffer(config.buffer_size)
        self.serial = -1  # process.py new_serial: the first is 0
        self.members: list[ListenerPipes] = []
        self.held_bytes = 0  # payload characters in the buffer
        self.running: set[ListenerPipes] = set()  # whose process is RUNNING

    def reconfigure(self, config: ListenerConfig) -> None:
        self.config = config
        self.buffer.capacity = config.buffer_size
        while len(self.buffer) > config.buffer_size:  # a smaller one: the oldest go now
            self._dropped(
                cast(Event, self.buffer.drop_oldest()), f"buffer_size {config.buffer_size}"
            )

    def accept(self, event: Event, head: bool = False) -> None:
        """Buffer an event (a rejected one at the head, keeping its serials)."""
        if self.name not in event.pool_serials:
            self.serial = next_serial(self.serial)
            event.pool_serials[self.name] = self.serial
        dropped = self.buffer.requeue(event) if head else self.buffer.append(event)
        self.held_bytes += len(event.payload)
        if dropped is not None:
            self._dropped(cast(Event, dropped), f"buffer_size {self.config.buffer_size}")
        while self.held_bytes > MAX_POOL_BYTES and len(self.buffer) > 1:
            self._dropped(cast(Event, self.buffer.drop_oldest()), "64 MiB of payloads")

    def _dropped(self, event: Event, limit: str) -> None:
        self.held_bytes -= len(event.payload)
        # One line per drop, as Supervisor's; the daemon log collapses repeats.
        log.error(
            "listener %s: event buffer overflowed (%s), discarding event %d",
            self.name,
            limit,
            event.serial,
        )

    def dispatch(self) -> None:
        """Send buffered events, oldest first, while some listener is READY."""
        while len(self.buffer):
            pipes = self._ready_member()
            if pipes is None:
                return
            event = cast(Event, self.buffer.pop())
            self.held_bytes -= len(event.payload)
            data = envelope(
                event.name, event.payload, event.serial, self.name, event.pool_serials[self.name]
            )
            pipes.send(event, data)

    def _ready_member(self) -> Optional[ListenerPipes]:
        for pipes in self.members:  # in process order, as Supervisor's pool
            if pipes in self.running and pipes.is_ready():
                return pipes
        return None


class EventHub:
    """Every pool; `publish` hands an event to the pools that subscribe to its type."""

    def __init__(self, loop: EventLoop):
        self.loop = loop
        self.pools: dict[str, Pool] = {}
        self._subscribers: dict[str, list[Pool]] = {}  # event type -> its pools
        self.serial = -1  # GlobalSerial
        # A removed listener's drops stay counted (a counter never goes back).
        self.dropped_gone: dict[str, int] = {}
        self._pool_of: dict[ListenerPipes, Pool] = {}

    def configure(self, programs: Iterable[ProgramConfig]) -> None:
        """Pools for these listener programs (kept across a reload, with their buffers)."""
        wanted = {p.name: p.listener for p in programs if p.listener is not None}
        for name in list(self.pools):
            if name not in wanted:
                pool = self.pools.pop(name)
                self.dropped_gone[name] = pool.buffer.dropped_total
        for name, config in wanted.items():
            if name in self.pools:
                self.pools[name].reconfigure(config)
            else:
                self.pools[name] = Pool(name, config)
                self.pools[name].buffer.dropped_total = self.dropped_gone.pop(name, 0)
        self._subscribers = {}
        for pool in self.pools.values():
            for event_type in sorted(pool.config.events):
                self._subscribers.setdefault(event_type, []).append(pool)

    def wants(self, event_type: str) -> bool:
        """Some pool subscribes to this type (else there is no payload to build)."""
        return event_type in self._subscribers

    def subscribed_types(self) -> frozenset[str]:
        return frozenset(self._subscribers)

    def publish(self, event_type: str, payload: str) -> None:
        pools = self._subscribers.get(event_type)
        if not pools:
            return
        self.serial = next_serial(self.serial)
        event = Event(event_type, payload, self.serial)
        for pool in pools:
            pool.accept(event)
            pool.dispatch()

    def dropped(self) -> dict[str, int]:
        """Events dropped per listener since the daemon began (for `metrics`)."""
        counts = dict(self.dropped_gone)
        counts.update((name, pool.buffer.dropped_total) for name, pool in self.pools.items())
        return counts

    # -- listener processes ---------------------------------------------------------

    def attach(self, pool_name: str, process_name: str, stdin_fd: int, stdout_fd: int):
        """A listener process was spawned with these pipes: its ListenerPipes."""
        pool = self.pools[pool_name]
        pipes = ListenerPipes(
            self.loop, process_name, stdin_fd, stdout_fd, self._result, self._ready
        )
        self._pool_of[pipes] = pool
        pool.members.append(pipes)
        return pipes

    def running(self, pipes: ListenerPipes, running: bool) -> None:
        """Its process entered RUNNING (events may go to it) or left it."""
        pool = self._pool_of[pipes]
        if running:
            pool.running.add(pipes)
            pool.dispatch()
        else:
            pool.running.discard(pipes)

    def detach(self, pipes: ListenerPipes) -> None:
        """Its process is gone: an event it never answered goes back at the head."""
        pool = self._pool_of[pipes]
        pool.running.discard(pipes)  # first: a READY read in close() sends it nothing
        unanswered = pipes.close()  # a result still in its stdout is read and acted on
        del self._pool_of[pipes]
        if pipes in pool.members:
            pool.members.remove(pipes)
        if unanswered is not None and self.pools.get(pool.name) is pool:
            pool.accept(cast(Event, unanswered), head=True)
            pool.dispatch()

    def pending(self, pipes: ListenerPipes) -> bool:
        """Its pool still has something this listener process could be waiting to read:
        an event in flight to it, or buffered ones (unless it broke the protocol)."""
        if pipes.event is not None:
            return True
        pool = self._pool_of.get(pipes)
        return pool is not None and len(pool.buffer) > 0 and not pipes.protocol_error

    def _result(self, pipes: ListenerPipes, event: object, result: bytes) -> None:
        if result == b"OK" or event is None:
            return
        event = cast(Event, event)
        pool = self._pool_of[pipes]
        # As Supervisor's (a FAIL, or a bad result line: then the listener is UNKNOWN)
        log.warning("%s: event %d was rejected", pipes.name, event.serial)
        if self.pools.get(pool.name) is pool:
            pool.accept(event, head=True)

    def _ready(self, pipes: ListenerPipes) -> None:
        pool = self._pool_of.get(pipes)
        if pool is not None:
            pool.dispatch()
