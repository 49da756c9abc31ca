"""In what order processes start and stop: dependencies first, stop batches in order.

A start first brings up what the process depends on (like systemd's Requires=), and
the process waits until they all are RUNNING; a start that cannot happen is refused,
with the reason, so whoever waits for it gets an answer. A stop batch (shutdown,
`stop all`, a reload's retired slots) signals dependents first, then by priority
(core/ordering.py). Both settle after the current step, once per loop turn however
many transitions asked. The table and the machines are the supervisor's: this module
only decides when to feed them StartRequested and StopRequested.
"""

from __future__ import annotations

from typing import Callable, Protocol

from supervisord_lite.base.log import log
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.conditions import MET, WAITING, verdict
from supervisord_lite.core.ordering import AT_REST, StopBatch, transitive_dependents
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import (
    LIVE_STATES,
    ProcessState,
    StartRequested,
    StateChanged,
    StopRequested,
)
from supervisord_lite.engine.subscribers import Subscribers
from supervisord_lite.linux.loop import EventLoop, now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.engine.event_sources import EventSources


S = ProcessState


class SequenceHost(Protocol):
    """What the sequencer needs of the supervisor: its table, loop and listeners, and
    the machine's door."""

    loop: EventLoop
    processes: dict[str, Process]
    shutting_down: bool
    listeners: Subscribers  # told (process, None) when a start is refused
    events: EventSources | None  # the event listeners' (event_sources.py), if any

    def start(self, process: Process) -> None:
        """A start from the top: a retired slot's goes to its successor."""

    def dispatch(self, process: Process, event) -> None:
        """Feed an event to the process's machine and carry out its effects."""


class Sequencer:
    """The starts waiting for dependencies and the stop batches under way."""

    def __init__(self, host: SequenceHost, start_successor: Callable[[Process], None]):
        self.host = host
        self.start_successor = start_successor  # a slot a reload retired: reload.py's
        self._dependents: dict[str, set[str]] = {}  # program -> its dependents, transitively
        self.conditions_used: set[str] = set()
        self._stop_batches: list[StopBatch] = []
        self._soon: set[Callable[[], None]] = set()
        # Who waits for dependencies now: when no one does (most daemons, always), a
        # transition settles nothing, instead of scanning the whole table each turn
        # (47 us a turn at 500 programs, growing with the table).
        self._waiting: set[Process] = set()

    def new_table(self, programs: dict[str, ProgramConfig]) -> None:
        """The table's programs changed (start-up, a reload): their dependencies too."""
        self._dependents = transitive_dependents(programs)
        # The conditions in use other than "ready": "started" and "healthy" are met
        # without a transition to RUNNING or to rest, so they need their own wake-ups.
        self.conditions_used = {c for p in programs.values() for _, c in p.conditions}

    # -- starting -----------------------------------------------------------------

    def start(self, process: Process) -> None:
        """Start a process, first bringing up what it depends on (like systemd's Requires).

        A start that cannot happen is refused: dep_error says why and listeners are told
        (change None), so that whoever waits for the start gets an answer."""
        host = self.host
        if host.shutting_down or process.state in LIVE_STATES:
            return
        if process.retired is not None:
            self.start_successor(process)
            return
        process.dep_error = None
        missing = self.unready_dependencies(process)
        stopping = [dep for dep in missing if dep.state is S.STOPPING]
        if stopping:
            # Its stop was asked for after whatever wanted it running: do not undo it.
            self.refuse_start(
                process,
                f"dependency {stopping[0].name} is stopping; "
                f"start {process.name} again once it has stopped",
            )
            return
        if missing:
            self._wait(process, True)
            for dep in missing:
                if dep.state not in LIVE_STATES and not dep.waiting_for_deps:
                    host.start(dep)
            # A dependency may have been refused on the spot: settle this wait too.
            self.settle_waiting_soon()
            return
        self._wait(process, False)
        host.dispatch(process, StartRequested(now()))

    def _wait(self, process: Process, waiting: bool) -> None:
        process.waiting_for_deps = waiting
        if waiting:
            self._waiting.add(process)
        else:
            self._waiting.discard(process)

    def refuse_start(self, process: Process, reason: str) -> None:
        self._wait(process, False)
        process.dep_error = reason
        log.warning("%s: not started: %s", process.name, reason)
        self.host.listeners.emit(process, None)

    def unready_dependencies(self, process: Process) -> list[Process]:
        """The processes of process's depends_on that do not meet its condition on them
        (RUNNING, for the list form)."""
        return [dep for dep, answer in self._verdicts(process) if answer != MET]

    def _verdicts(self, process: Process) -> list[tuple[Process, str]]:
        """(dependency process, MET | WAITING | why it can no longer be met), in order."""
        program = process.program
        if not program.depends_on:
            return []
        processes = self.host.processes.values()
        out = []
        for name in program.depends_on:
            condition = program.condition_of(name)
            for dep in processes:
                if dep.program.name == name:
                    out.append((dep, verdict(condition, dep)))
        return out

    def _start_waiting_dependents(self) -> None:
        """Start each waiting process whose dependencies are all RUNNING; refuse those
        waiting on one that came to rest. Repeated until nothing changes: a refusal
        makes no transition, yet it settles whoever waits on the refused process."""
        host = self.host
        settled = bool(self._waiting)
        while settled and not host.shutting_down:
            settled = False
            for process in list(host.processes.values()):
                if not process.waiting_for_deps:
                    continue
                answers = [answer for _, answer in self._verdicts(process)]
                failed = [a for a in answers if a not in (MET, WAITING)]
                if failed:
                    self.refuse_start(process, failed[0])
                    settled = True
                elif all(answer == MET for answer in answers):
                    self._wait(process, False)
                    host.dispatch(process, StartRequested(now()))
                    settled = True

    def settle_waiting_soon(self) -> None:
        """Start or refuse the processes waiting for dependencies, after this step."""
        self._once_soon(self._start_waiting_dependents)

    # -- stopping -----------------------------------------------------------------

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None:
        """Stop processes in order (dependents and higher priority first); then on_done()."""
        batch = StopBatch(processes, self._dependents, self._request_stop, on_done)
        self._stop_batches.append(batch)
        self._advance_stop_batches()

    def _advance_stop_batches(self) -> None:
        for batch in list(self._stop_batches):
            batch.dependents = self._dependents  # a reload may have changed them
            if batch.advance():
                self._stop_batches.remove(batch)
                self.host.loop.call_soon(batch.on_done)

    def _request_stop(self, process: Process) -> None:
        events = self.host.events
        if events is not None and self.host.shutting_down and process.listener is not None:
            # A listener hears the programs' last events before it goes (bounded).
            if events.hold_stop(process, lambda: self._request_stop(process)):
                return
        process.restart_pending = None  # a stop asked for is never undone by a restart
        if process.waiting_for_deps:
            self.refuse_start(process, "stopped while waiting for its dependencies")
        self.host.dispatch(process, StopRequested(now()))

    # -- after each transition ------------------------------------------------------

    def transitioned(self, process: Process, change: StateChanged) -> None:
        """Settle, after this step, the starts and stop batches the transition moves."""
        new = change.new
        wake = new is S.RUNNING or new in AT_REST
        if new is S.STARTING and "started" in self.conditions_used:
            wake = True  # its Spawned (in this same step) meets "started"
        if wake and process.retired is None:
            # Dependents waiting on this process can now start (or must give up). Not for
            # a slot a reload retires: they wait for its successor instead.
            self.settle_waiting_soon()
        if self._stop_batches:
            if new in AT_REST:
                for batch in self._stop_batches:
                    batch.came_to_rest(process)
            self._once_soon(self._advance_stop_batches)

    def _once_soon(self, callback: Callable[[], None]) -> None:
        """Run callback after the current step, once however many transitions asked.

        Deferring keeps handlers from re-entering each other mid-step; coalescing keeps
        a 500-process stop at one scan per loop turn instead of one per exit."""
        if callback not in self._soon:
            self._soon.add(callback)
            self.host.loop.call_soon(lambda: self._run_once_soon(callback))

    def _run_once_soon(self, callback: Callable[[], None]) -> None:
        self._soon.discard(callback)
        callback()
