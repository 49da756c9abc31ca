"""`restart --rolling`: replacing a program's processes one at a time
(docs/zero-downtime.md).

Each process in turn is replaced in one of three ways, and the next waits until the
replacement is RUNNING (ready, when a `ready` probe is set):

- **reload_signal**: the program reloads itself; the process is sent the signal and
  counts as replaced (or, with a tcp/http/exec `ready` probe, once the probe passes
  again).
- **surge**: a single process holding sockets. A second slot of the same name starts
  beside it while the old one still accepts; once it is RUNNING it takes the old one's
  place in the table, and the old one gets its stop signal and is listed as
  `retiring` until it has exited.
- **replace**: stop, then start (numprocs > 1: the others keep accepting on the
  shared socket meanwhile).

A replacement that ends FATAL, is stopped, or whose old process stops meanwhile
stops the roll; the processes not reached yet are left as they were. A reload or a
shutdown interrupts every roll (a newcomer not yet in the table is stopped). Every
roll gets an answer: nothing here waits on a state that cannot come.
"""

from __future__ import annotations

from typing import Callable, Protocol

from supervisord_lite.base.log import log
from supervisord_lite.core.process import Process
from supervisord_lite.core.states import ProcessState, StartRequested, StateChanged, StopRequested
from supervisord_lite.linux.loop import EventLoop, now

S = ProcessState
Done = Callable[[list[dict]], None]


class RollHost(Protocol):
    """What a roll needs of the supervisor."""

    processes: dict[str, Process]
    shutting_down: bool
    loop: EventLoop
    cgroup_names: dict[Process, str]  # a slot whose cgroup is not named after it

    def cgroup_of(self, process: Process) -> str: ...

    def cgroup_gone(self, name: str) -> None: ...

    def dispatch(self, process: Process, event) -> None: ...

    def start(self, process: Process) -> None: ...

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None: ...

    def send_signal(self, process: Process, signum: int) -> bool: ...

    def describe(self, process: Process) -> str: ...

    def spawn_probe(self, process: Process, argv: tuple[str, ...]) -> int: ...

    def watch_exit(self, pid: int, on_exit: Callable[[int], None]) -> None: ...


class Rolls:
    """Every roll under way, and the slots outside the table they own."""

    def __init__(self, host: RollHost):
        self.host = host
        self.under_way: list[Roll] = []
        self.retiring: list[Process] = []  # replaced by surge, not exited yet

    def roll(self, processes: list[Process], done: Done) -> None:
        busy = [p.name for p in processes if any(p.name in r.names for r in self.under_way)]
        if busy:
            message = "a rolling restart of it is under way already"
            done([{"name": name, "ok": False, "message": message} for name in busy])
            return
        roll = Roll(self, [p.name for p in processes], done)
        self.under_way.append(roll)
        roll.next()

    def interrupt(self, reason: str) -> None:
        """A reload or shutdown begins: every roll ends now, saying why."""
        for roll in list(self.under_way):
            roll.fail(reason)

    def _cgroup_done(self, process: Process) -> None:
        """A surge's slot has exited: its cgroup goes, unless the table's slot of that
        name runs in it (a failed surge's old slot keeps its own)."""
        host = self.host
        cgroup = host.cgroup_of(process)
        host.cgroup_names.pop(process, None)
        current = host.processes.get(process.name)
        if current is None or host.cgroup_of(current) != cgroup:
            host.cgroup_gone(cgroup)

    def extra_slots(self) -> list[Process]:
        """Slots outside the table with a live child: for shutdown to stop too."""
        slots = list(self.retiring)
        for roll in self.under_way:
            if roll.newcomer is not None:
                slots.append(roll.newcomer)
        return slots

    def state_changed(self, process: Process, change: StateChanged | None) -> None:
        """The supervisor's listener: every roll's step looks at every change."""
        if process in self.retiring and change is not None and change.new in AT_REST:
            self.retiring.remove(process)
            self._cgroup_done(process)
        for roll in list(self.under_way):
            try:
                roll.changed(process, change)
            except Exception as exc:  # a bug ends that roll with an answer, not all rolls
                log.exception("restart --rolling: internal error")
                roll.fail(f"internal error: {exc!r}")


AT_REST = (S.STOPPED, S.EXITED, S.FATAL)


class Roll:
    """One `restart --rolling` request: its processes in order, one step at a time."""

    def __init__(self, rolls: Rolls, names: list[str], done: Done):
        self.rolls = rolls
        self.host = rolls.host
        self.names = names
        self.todo = list(names)
        self.results: list[dict] = []
        self.done = done
        self.current: Process | None = None  # the slot whose RUNNING ends the step
        self.old: Process | None = None  # surge: the slot still serving
        self.newcomer: Process | None = None  # surge: the slot starting beside it
        self.name = ""
        self.started = False  # the replacement's start was asked for
        self.waiting = None  # ready_again.ReadyAgain after a reload_signal
        self.finished = False

    def next(self) -> None:
        self.current = self.old = self.newcomer = None
        self.started = False
        if self.finished:
            return
        if not self.todo:
            self._finish()
            return
        self.name = self.todo.pop(0)
        process = self.host.processes.get(self.name)
        if process is None:
            self.fail("no longer in the config")
            return
        program = process.program
        if program.reload_signal is not None and process.state is S.RUNNING:
            if not self.host.send_signal(process, program.reload_signal):
                self.fail("not running: it exited as the signal was sent")
            elif program.ready is not None and program.ready.kind in ("tcp", "http", "exec"):
                self._wait_ready_again(process)
            else:
                self._succeed("signalled to reload")
        elif (
            program.numprocs == 1
            and (program.sockets or program.stdin_socket is not None)
            and process.state is S.RUNNING
        ):
            self._surge(process)
        else:
            self._replace(process)

    def _wait_ready_again(self, process: Process) -> None:
        # Loaded only for a reload_signal program with a probe: the probes' attempts
        # stay out of a daemon that never rolls one.
        from supervisord_lite.engine.ready_again import ReadyAgain

        self.current, self.started = process, True
        self.waiting = ReadyAgain(
            self.host.loop, process, self.host.spawn_probe, self.host.watch_exit, self._ready
        )

    def _ready(self, ok: bool, reason: str) -> None:
        self.waiting = None
        if ok:
            self._succeed(f"reloaded ({reason})")
        else:
            self.fail(reason)

    def _surge(self, old: Process) -> None:
        newcomer = Process(old.program, old.num)
        newcomer.logs = dict(old.logs)  # the same LogFiles: one log, both writers
        newcomer.ever_started = True
        # Its own cgroup (under cgroup tracking): cleaning up after the old one's exit
        # kills what is left in the old one's, which must not be the newcomer.
        cgroup = self.host.cgroup_of(old)
        self.host.cgroup_names[newcomer] = old.name + "~1" if cgroup == old.name else old.name
        self.old, self.newcomer, self.current = old, newcomer, newcomer
        self.started = True
        self.host.dispatch(newcomer, StartRequested(now()))

    def _replace(self, process: Process) -> None:
        self.current = process

        def stopped() -> None:
            if self.finished or self.current is not process:
                return
            if process.retired is not None or self.host.shutting_down:
                self.fail("interrupted while it was stopped")
                return
            self.started = True
            self.host.start(process)
            if self.finished or self.current is not process:
                return  # the step ended inside the start (RUNNING at once: startsecs = 0)
            if process.state is S.RUNNING:  # someone else started it meanwhile
                self._succeed("replaced")
            elif process.state in AT_REST and not process.waiting_for_deps:
                self.fail(process.dep_error or f"did not start: {self.host.describe(process)}")

        self.host.stop_many([process], stopped)

    def changed(self, process: Process, change: StateChanged | None) -> None:
        if self.finished:
            return
        if process is self.old and change is not None and change.new is not S.RUNNING:
            self.fail(f"it left RUNNING ({change.new.value}) before its replacement was ready")
            return
        if process is not self.current or not self.started:
            return
        if self.waiting is not None:
            if change is not None and change.new is not S.RUNNING:
                self.fail(f"it left RUNNING ({change.new.value}) while reloading")
            return
        if change is None:
            if process.dep_error:
                self.fail(process.dep_error)
            return
        if change.new is S.RUNNING:
            if self.newcomer is not None:
                self._swap()
            self._succeed("replaced")
        elif change.new is S.FATAL:
            self.fail(f"its replacement failed: {self.host.describe(process)}")
        elif change.new in (S.STOPPING, S.STOPPED) and change.old in (S.STARTING, S.BACKOFF):
            self.fail("its replacement was stopped before it was ready")

    def _swap(self) -> None:
        """The newcomer is RUNNING: it takes the table slot, the old one retires."""
        old, newcomer = self.old, self.newcomer
        self.old = self.newcomer = None
        table = self.host.processes
        if table.get(old.name) is old:
            table[old.name] = newcomer
        self.rolls.retiring.append(old)
        self.host.dispatch(old, StopRequested(now()))

    def _succeed(self, message: str) -> None:
        self.results.append({"name": self.name, "ok": True, "message": message})
        self.current = None
        # After the current transition's listeners: a step never runs inside another.
        self.host.loop.call_soon(self.next)

    def fail(self, reason: str) -> None:
        if self.finished:
            return
        self.results.append({"name": self.name, "ok": False, "message": reason})
        for name in self.todo:
            message = f"left as it was: the roll stopped at {self.name}"
            self.results.append({"name": name, "ok": False, "message": message})
        self.todo = []
        newcomer, self.newcomer, self.old = self.newcomer, None, None
        self._finish()  # first: the newcomer's stop below is no news to this roll
        if newcomer is not None and newcomer.state not in AT_REST:
            self.rolls.retiring.append(newcomer)  # listed, and stopped at shutdown
            self.host.dispatch(newcomer, StopRequested(now()))  # the old one serves on

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.current = None
        if self.waiting is not None:
            self.waiting.cancel()
            self.waiting = None
        if self in self.rolls.under_way:
            self.rolls.under_way.remove(self)
        self.done(self.results)
