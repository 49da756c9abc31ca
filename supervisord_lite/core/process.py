"""One supervised process slot, and what `status` says about it.

A Process is the supervisor's record of one slot (`web` or `web:1`): its machine, its
current child, its pipes and logs. Here too: the slots of a set of programs (at
start-up, and a reload's new table), and a slot's `status` object and description.
Nothing here acts on a child or looks at the table: the caller says what a slot
waiting for its dependencies still waits for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Callable, Protocol

from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.core.states import ProcessMachine, ProcessState, describe_exit
from supervisord_lite.linux.loop import now
from supervisord_lite.logs.logfile import LogFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.linux.loop import Timer
    from supervisord_lite.linux.spawn import Child
    from supervisord_lite.logs.pipes import PipeReader

S = ProcessState


class ProbeView(Protocol):
    """What a process shows of its probes (the probe runner's per-child record, made
    only for a program with `ready`, `health` or `watchdog_sec`): `status` reads it.

    Read-only here: only the runner (probes/runner.py, its `Checks`) writes the record,
    and it is the one that sets `Process.checks`; core never imports it (it sits above).
    """

    @property
    def waiting_for(self) -> str | None:
        """STARTING: what readiness waits for."""
        ...

    @property
    def health(self) -> str | None:
        """ "healthy", "unhealthy" or None (no verdict yet)."""
        ...

    @property
    def health_reason(self) -> str | None: ...

    @property
    def notify_status(self) -> str | None:
        """The last sd_notify STATUS=."""
        ...

    @property
    def probe_error(self) -> str | None:
        """Why the ready probe itself cannot run."""
        ...

    def key(self) -> tuple:
        """What status shows from here: part of the status cache's key."""
        ...


class ScheduleView(Protocol):
    """What a scheduled process shows of its schedule (the engine's scheduler keeps the
    record, engine/scheduler.py's Entry, and sets `Process.schedule`): `status` reads it."""

    @property
    def text(self) -> str: ...

    @property
    def next_run(self) -> float | None:
        """The next run, in seconds since the epoch; None: it never runs."""
        ...

    @property
    def runs(self) -> int: ...

    @property
    def skipped(self) -> int: ...

    def key(self) -> tuple:
        """What status shows from here: part of the status cache's key."""
        ...


class ListenerView(Protocol):
    """What a listener process shows of its protocol (engine/listener_pipes.py's
    ListenerPipes): a stray byte on its stdout puts it in UNKNOWN until it restarts."""

    protocol_error: str  # "" while it speaks the protocol


class Process:
    """One supervised process slot (`web` or `web:1`) and its current child, if any."""

    __slots__ = (
        "program",
        "num",
        "name",
        "machine",
        "child",
        "readers",
        "logs",
        "timers",
        "changed_at",
        "stamp",
        "ever_started",
        "waiting_for_deps",
        "dep_error",
        "retired",
        "_log_bytes",
        "checks",
        "restart_pending",
        "_instance",
        "hook",
        "schedule",
        "listener",
    )

    def __init__(self, program: ProgramConfig, num: int):
        self.program = program
        self.num = num
        self.name = program.processes[num]
        self.machine = ProcessMachine(program)
        self.child: Child | None = None
        self.readers: list[PipeReader] = []
        self.logs: dict[str, LogFile | None] = {}
        self.timers: dict[str, Timer] | None = None  # made at the first timer
        self.changed_at = time.time()  # wall clock of the last transition, for `status`
        self.stamp: str | None = None  # changed_at as text, made when first needed
        self.ever_started = False
        self.waiting_for_deps = False
        self.dep_error: str | None = None  # why the last start was refused, if it was
        # Set when a reload takes this slot out of the table ("changed" or "removed"):
        # from then on it is only stopped, never started again (its successor is).
        self.retired: str | None = None
        self.checks: ProbeView | None = None  # probe state (probes/runner.py's Checks), if any
        # Bytes read from the pipes of its finished children, per stream (made at the
        # first: a thousand quiet programs keep no dict).
        self._log_bytes: dict[str, int] | None = None
        # A restart the daemon decided (a memory limit): the restarts count to set once
        # the stop is done and the start made; None when none is under way.
        self.restart_pending: int | None = None
        # (program, its instance for this slot): per-instance values filled in once.
        self._instance: tuple[ProgramConfig, ProgramConfig] | None = None
        self.hook: str | None = None  # the hook command running now (engine/hooks.py)
        self.schedule: ScheduleView | None = None  # its schedule's record, if it has one
        self.listener: ListenerView | None = None  # a listener's protocol, while it runs

    def settings(self) -> ProgramConfig:
        """The program as this process runs it: per-instance values (`{process_num}` in
        `command`, `environment`, `directory`, `env_file`) filled in, once per program."""
        program = self.program
        if not program.templated:
            return program
        made = self._instance
        if made is None or made[0] is not program:
            made = self._instance = (program, program.instance(self.num))
        return made[1]

    def count_log_bytes(self, stream: str, count: int) -> None:
        """Keep what a closing pipe reader read (log_bytes adds the open readers')."""
        if self._log_bytes is None:
            self._log_bytes = {}
        self._log_bytes[stream] = self._log_bytes.get(stream, 0) + count

    def log_bytes(self) -> dict[str, int]:
        """Bytes read from its pipes since the daemon began, per stream (with
        redirect_stderr, all under stdout)."""
        totals = dict.fromkeys(("stdout", "stderr"), 0)
        totals.update(self._log_bytes or {})
        for reader in self.readers:
            totals[reader.stream] += reader.bytes_read
        return totals

    @property
    def state(self) -> ProcessState:
        return self.machine.state

    @property
    def pid(self) -> int | None:
        return self.machine.pid


def slots_for(
    programs: Iterable[ProgramConfig], keep: dict[str, Process]
) -> tuple[dict[str, Process], list[Process]]:
    """The slots of these programs by name, in priority order, and which of them are new.

    A slot named in `keep` is carried over (its program has the same settings)."""
    table: dict[str, Process] = {}
    fresh = []
    for program in sorted(programs, key=lambda p: p.order_key()):
        for num in range(program.numprocs):
            process = keep.get(program.processes[num])
            if process is None:
                process = Process(program, num)
                fresh.append(process)
            else:
                process.program = process.machine.config = program  # same settings
            table[process.name] = process
    return table, fresh


# The dependencies a slot waiting for them still waits for (the table knows them).
WaitingOn = Callable[[Process], list[Process]]


def status_of(process: Process, waiting_on: WaitingOn, current: float | None = None) -> dict:
    """The `status` object of one process. Pass `current` (now()) when listing many:
    this runs per process per status request, so it reads each field once."""
    machine = process.machine
    state = machine.state
    uptime = 0.0
    if (state is S.RUNNING or state is S.STARTING) and machine.started_at is not None:
        uptime = (now() if current is None else current) - machine.started_at
    status = {
        "name": process.name,
        "program": process.program.name,
        "group": process.program.group,
        # the plain attribute: .value goes through a descriptor
        "state": "UNKNOWN" if process.listener and listener_error(process) else state._value_,
        "pid": machine.pid,
        "exitstatus": machine.exitstatus,
        "uptime": round(uptime, 3) if uptime else 0,
        "restarts": machine.restarts,
        "description": description_of(process, waiting_on, uptime),
        "spawn_error": machine.spawn_error,
        "health": process.checks.health if process.checks is not None else None,
        "health_reason": process.checks.health_reason if process.checks is not None else None,
    }
    # A feature's fields only for the programs that use it: every status request carries
    # them for every process, and most programs use none (docs/protocol.md).
    program = process.program
    schedule = process.schedule
    if schedule is not None:
        status["schedule"] = schedule.text
        status["next_run"] = schedule.next_run
        status["scheduled_runs"] = schedule.runs
        status["skipped_runs"] = schedule.skipped
    if program.oneshot:  # its last run: true completed, false failed for good, else null
        status["completed"] = machine.completed()
    if program.has_hooks():  # "exec_start_pre: /usr/bin/migrate (pid 12)" while one runs
        status["hook"] = process.hook
    return status


def description_of(process: Process, waiting_on: WaitingOn, uptime: float | None = None) -> str:
    """The `status` description, with any log that cannot be written named after it,
    and a scheduled process's next run."""
    text = _describe_state(process, waiting_on, uptime)
    if process.hook is not None:
        text = f"{text}; running {process.hook}" if text else f"running {process.hook}"
    schedule = process.schedule
    if schedule is not None:
        text = "; ".join(part for part in (text, _next_run_text(schedule)) if part)
    if process.listener is not None and process.listener.protocol_error:
        text = f"listener protocol error: {process.listener.protocol_error}; {text}"
    problems = log_problems(process)
    if problems:
        return f"{text}; {problems}" if text else problems
    return text


def _describe_state(process: Process, waiting_on: WaitingOn, uptime: float | None) -> str:
    text = _describe_machine(process, waiting_on, uptime)
    checks = process.checks
    if checks is None:
        return text
    state = process.machine.state
    if state not in (S.STARTING, S.RUNNING):
        if checks.probe_error and state in (S.BACKOFF, S.FATAL):  # why it never got ready
            return f"{text}; the ready probe cannot run: {checks.probe_error}"
        return text
    # What readiness waits for, health, and sd_notify's STATUS= follow the pid.
    waiting = checks.waiting_for
    if waiting and checks.probe_error:
        waiting += f" (it cannot run: {checks.probe_error})"
    extra = [
        f"waiting for {waiting}" if waiting else "",
        f"unhealthy: {checks.health_reason}" if checks.health == "unhealthy" else "",
        checks.notify_status or "",
    ]
    return "; ".join(part for part in (text, *extra) if part)


def _describe_machine(process: Process, waiting_on: WaitingOn, uptime: float | None) -> str:
    machine = process.machine
    state = machine.state
    if process.waiting_for_deps:
        deps = ", ".join(d.name for d in waiting_on(process))
        return f"waiting for {deps}"
    if state is S.RUNNING:
        if uptime is None:
            uptime = machine.uptime(now())
        return f"pid {machine.pid}, uptime {hms(uptime)}"
    if state in (S.STARTING, S.STOPPING):
        return f"pid {machine.pid}" if machine.pid else ""
    if state in (S.BACKOFF, S.FATAL):
        if machine.spawn_error:
            return f"spawn error: {machine.spawn_error}"
        last = machine.history[-1] if machine.history else None
        program = process.program
        if last and (
            state is S.BACKOFF or program.ready or program.oneshot or last.old is S.STOPPING
        ):
            # "crash loop: restart in 4s"; with readiness, what it waited for; after
            # health restarts, why it gave up: none of these is an exit "too quickly"
            return last.reason
        return "Exited too quickly (process log may have details)"
    if state is S.EXITED:
        done = "completed: " if machine.completed() else ""
        return f"{done}{describe_exit(machine.exitstatus)}, {_stamp(process)}"
    if process.dep_error:
        return f"not started: {process.dep_error}"
    return _stamp(process) if process.ever_started else "Not started"


def _next_run_text(schedule: ScheduleView) -> str:
    when = schedule.next_run
    if when is None:
        return f"schedule {schedule.text}: never runs in this time zone"
    return "next run " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def listener_error(process: Process) -> str:
    """Why a listener process is UNKNOWN ("" when it is not): it broke the protocol."""
    listener = process.listener
    return listener.protocol_error if listener is not None else ""


def log_problems(process: Process) -> str:
    """Why a process's logs cannot be written now ("" when they can): for `status`."""
    # Asked for every process at every status request, and nearly always "": one loop
    # over the error attributes, no list built, the text only for a log that has one.
    if not LogFile.failing:
        return ""
    problems = ""
    for log in process.logs.values():
        if log is not None and log.error is not None:
            problems = f"{problems}; {log.problem()}" if problems else log.problem()
    return problems


def _stamp(process: Process) -> str:
    # strftime(localtime()) per process per status call was 30% of a status round trip.
    if process.stamp is None:
        process.stamp = time.strftime("%b %d %I:%M %p", time.localtime(process.changed_at))
    return process.stamp


def hms(seconds: float) -> str:
    """An uptime as `status` writes it: H:MM:SS."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
