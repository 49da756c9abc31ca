"""What happens in the daemon, as Supervisor's events for the listeners (docs/listeners.md).

Made by the supervisor at the first [listeners.NAME] (a daemon without listeners never
loads this): every transition as PROCESS_STATE_* (payloads token for token, pid and
tries as Supervisor takes them), output of programs with `*_events_enabled` as
PROCESS_LOG_*, TICK_5/60/3600 on a timer aligned as supervisord aligns them (armed only
while a listener subscribes to one), SUPERVISOR_STATE_CHANGE_*, and PROCESS_GROUP_*
at start-up and when a reload adds, changes or removes a group. It also follows each
listener process's life: its pipes at spawn, events once it is RUNNING, its unanswered
event back to the pool when it is gone, its stop at shutdown held (briefly) until it
has read what is left.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Callable, Optional

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import LIVE_STATES, ProcessState, StateChanged
from supervisord_lite.engine.event_hub import EventHub
from supervisord_lite.engine.listener_pipes import ListenerPipes
from supervisord_lite.linux.loop import EventLoop, Timer, now
from supervisord_lite.linux.spawn import Child
from supervisord_lite.supervisor_wire import events as wire

S = ProcessState
# The loop's timers run on the monotonic clock, ticks on the wall clock: wake a little
# after the boundary so that the wall clock is surely past it.
TICK_SLACK = 0.002
# At shutdown a listener's stop waits, at most this long, for it to read what its pool
# still holds (the programs' last events), looking again every DRAIN_POLL.
DRAIN_AT_SHUTDOWN = 2.0
DRAIN_POLL = 0.05


class EventSources:
    """The daemon's events into the hub; the listener processes' lives into their pools."""

    def __init__(self, loop: EventLoop, subscribe: Callable[[Callable], None]):
        self.loop = loop
        self.hub = EventHub(loop)
        self._pids: dict[Process, int] = {}  # a live child's pid: EXITED/STOPPED name it
        self._ticks: dict[str, int] = {}  # due_ticks' record of the current periods
        self._tick_timer: Optional[Timer] = None
        self._draining: dict[Process, float] = {}  # listener -> when its stop was asked
        subscribe(self.state_changed)

    # -- the config ---------------------------------------------------------------------

    def configure(self, old: Iterable[ProgramConfig], new: Iterable[ProgramConfig]) -> None:
        """Pools for the new table's listeners; PROCESS_GROUP_* for the groups a reload
        adds, changes or removes, and at start-up ADDED for every group, the listeners'
        own too (supervisord adds each group after the pools made before it, its own
        pool included)."""
        old, new = list(old), list(new)
        self.hub.configure(new)
        self._arm_ticks()
        before, after = _members(old), _members(new)
        for name, members in before.items():
            if after.get(name) != members:
                self._publish_group("PROCESS_GROUP_REMOVED", name)
        for name, members in after.items():
            if before.get(name) != members:
                self._publish_group("PROCESS_GROUP_ADDED", name)

    def _publish_group(self, event_type: str, group: str) -> None:
        if self.hub.wants(event_type):
            self.hub.publish(event_type, wire.process_group_payload(group))

    def supervisor_state(self, state: str) -> None:
        """SUPERVISOR_STATE_CHANGE_RUNNING (start-up) or _STOPPING (shutdown)."""
        event_type = f"SUPERVISOR_STATE_CHANGE_{state}"
        if self.hub.wants(event_type):
            self.hub.publish(event_type, wire.supervisor_state_payload())

    def remote_communication(self, kind: str, data: str) -> None:
        """REMOTE_COMMUNICATION, from XML-RPC's supervisor.sendRemoteCommEvent(type, data)."""
        if self.hub.wants("REMOTE_COMMUNICATION"):
            self.hub.publish("REMOTE_COMMUNICATION", wire.remote_communication_payload(kind, data))

    def dropped(self) -> dict[str, int]:
        return self.hub.dropped()

    def hold_stop(self, process: Process, retry: Callable[[], None]) -> bool:
        """At shutdown: hold a listener process's stop (True; retry() is called later)
        while it still has events to read, for at most DRAIN_AT_SHUTDOWN seconds."""
        pipes = process.listener
        if pipes is None or not self.hub.pending(pipes):
            self._draining.pop(process, None)
            return False
        since = self._draining.setdefault(process, now())
        if now() - since >= DRAIN_AT_SHUTDOWN:
            self._draining.pop(process, None)
            return False
        self.loop.call_later(DRAIN_POLL, retry)
        return True

    # -- processes ----------------------------------------------------------------------

    def spawned(self, process: Process, child: Child) -> None:
        """A child started: a listener's protocol pipes; a program's PROCESS_LOG taps."""
        program = process.program
        if program.listener is not None:
            assert child.stdin_fd is not None and child.stdout_fd is not None
            process.listener = self.hub.attach(
                program.name, process.name, child.stdin_fd, child.stdout_fd
            )
        if program.stdout_events_enabled or program.stderr_events_enabled:
            own = (child.stdout_fd, child.stderr_fd)  # not an earlier child's, still open
            for reader in process.readers:
                if reader.fd in own and getattr(program, f"{reader.stream}_events_enabled"):
                    tap = self._log_tap(process, child.pid, reader.stream)
                    earlier = reader.tap  # a `log` ready probe's matcher
                    reader.tap = tap if earlier is None else _both(earlier, tap)

    def _log_tap(self, process: Process, pid: int, stream: str) -> Callable[[bytes], None]:
        event_type = f"PROCESS_LOG_{stream.upper()}"
        program = process.program
        name = program.short_name(process.num)

        def tap(data: bytes) -> None:
            if self.hub.wants(event_type):
                payload = wire.process_log_payload(name, program.group, pid, stream, data)
                self.hub.publish(event_type, payload)

        return tap

    def state_changed(self, process: Process, change: Optional[StateChanged]) -> None:
        if change is None:
            return  # a refused start: no transition
        pipes = process.listener
        if pipes is not None:
            self._listener_changed(process, pipes, change.new)
        pid = process.machine.pid
        if pid is not None:
            self._pids[process] = pid
        if change.old is S.STARTING and change.new is S.FATAL:
            # Supervisor gives up from BACKOFF: STARTING -> BACKOFF -> FATAL. Its
            # listeners see both, so ours do.
            self._publish_state(process, S.STARTING, S.BACKOFF)
            self._publish_state(process, S.BACKOFF, S.FATAL)
        else:
            self._publish_state(process, change.old, change.new)
        if change.new not in LIVE_STATES:
            self._pids.pop(process, None)
        if pipes is not None and change.new is S.RUNNING:
            self.hub.running(pipes, True)  # after its own RUNNING event was buffered

    def _listener_changed(self, process: Process, pipes: ListenerPipes, new: ProcessState) -> None:
        if new is not S.RUNNING:
            self.hub.running(pipes, False)
        if new not in LIVE_STATES:  # its child is gone
            process.listener = None
            self.hub.detach(pipes)

    def _publish_state(self, process: Process, old: ProcessState, new: ProcessState) -> None:
        event_type = f"PROCESS_STATE_{new.value}"
        if not self.hub.wants(event_type):
            return
        machine = process.machine
        if new is S.RUNNING or new is S.STOPPING:
            pid = machine.pid or 0
        elif (new is S.EXITED and old is S.RUNNING) or (new is S.STOPPED and old is S.STOPPING):
            pid = self._pids.get(process, 0)
        else:
            pid = 0
        program = process.program
        payload = wire.process_state_payload(
            program.short_name(process.num),
            program.group,
            old.value,
            new.value,
            pid=pid,
            expected=bool(machine.last_exit_expected),
            tries=machine.failed_starts,
        )
        self.hub.publish(event_type, payload)

    # -- ticks --------------------------------------------------------------------------

    def _arm_ticks(self) -> None:
        """A timer while some listener subscribes to a TICK type; none otherwise."""
        wanted = frozenset(t for t in wire.TICK_PERIODS if self.hub.wants(t))
        if not wanted:
            if self._tick_timer is not None:
                self._tick_timer.cancel()
                self._tick_timer = None
            self._ticks.clear()
            return
        if self._tick_timer is None:
            wire.due_ticks(self._ticks, time.time())  # the current periods: none sent
        else:
            self._tick_timer.cancel()
        self._schedule_tick(wanted)

    def _schedule_tick(self, wanted: frozenset[str]) -> None:
        wall = time.time()
        at = wire.next_tick_at(wall, wanted)
        assert at is not None
        self._tick_timer = self.loop.call_later(at - wall + TICK_SLACK, self._tick)

    def _tick(self) -> None:
        for event_type, when in wire.due_ticks(self._ticks, time.time()):
            if self.hub.wants(event_type):
                self.hub.publish(event_type, wire.tick_payload(when))
        wanted = frozenset(t for t in wire.TICK_PERIODS if self.hub.wants(t))
        if wanted:
            self._schedule_tick(wanted)
        else:
            self._tick_timer = None


def _members(programs: list[ProgramConfig]) -> dict[str, dict[str, ProgramConfig]]:
    """Each group's programs by name: a group whose programs differ has changed."""
    members: dict[str, dict[str, ProgramConfig]] = {}
    for program in programs:
        members.setdefault(program.group, {})[program.name] = program
    return members


def _both(first: Callable[[bytes], None], second: Callable[[bytes], None]):
    def tap(data: bytes) -> None:
        first(data)
        second(data)

    return tap
