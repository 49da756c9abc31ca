"""What an XML-RPC method needs to run a control command: a `Replier` for the command
handlers (control/commands.py), the process table seen as Supervisor names it
(groups and process names), and getProcessInfo's record of a process.

The methods (xmlrpc_methods.py) never act on the supervisor themselves: every change
goes through the handler the JSON protocol uses, with its reply turned into
Supervisor's value or fault here.
"""

from __future__ import annotations

import time
import xmlrpc.client
from typing import Any, Callable

from supervisord_lite.base import protocol
from supervisord_lite.base.log import log
from supervisord_lite.base.protocol import ProtocolError
from supervisord_lite.control.replies import LATER
from supervisord_lite.core.process import Process
from supervisord_lite.linux.loop import now
from supervisord_lite.supervisor_wire import xmlrpc as wire

# Supervisor's states.py groups.
RUNNING_STATES = ("RUNNING", "BACKOFF", "STARTING")
SIGNALLABLE_STATES = ("RUNNING", "STARTING", "STOPPING")

Answer = Callable[[Any], None]  # a value, or an xmlrpc.client.Fault


class Calls:
    """The handler calls one request made (a multicall makes several): the connection's
    `caller`, so that when the response is over or the connection gone, whatever the
    handlers subscribed (a parked start's listener) is unsubscribed."""

    def __init__(self, conn):
        self.conn = conn
        self.askers: list[Asker] = []

    def detach(self) -> None:
        askers, self.askers = self.askers, []
        for asker in askers:
            callbacks, asker.on_close = asker.on_close, []
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("xmlrpc: a clean-up after a call failed: %r", callback)


class Asker:
    """A `Replier` for one handler call: its reply goes to `done(result)`, its
    failure to `failed(code, message)`. Without `calls` it answers no connection
    (shutdown: the daemon's last words go nowhere)."""

    def __init__(self, calls: Calls | None, done, failed):
        self.conn = None if calls is None else calls.conn
        self.done = done
        self.failed = failed
        self.on_close: list[Callable[[], None]] = []
        self.streaming = False
        self.answered = False
        if calls is not None:
            calls.askers.append(self)

    @property
    def closed(self) -> bool:
        return self.conn is not None and self.conn.closed

    @property
    def out(self) -> bytearray:
        return self.conn.out if self.conn is not None else bytearray()

    def reply(self, req_id, result) -> None:
        if not self.answered:
            self.answered = True
            self.done(result)

    def fail(self, req_id, code: str, message: str) -> None:
        if not self.answered:
            self.answered = True
            self.failed(code, message)

    def flush(self) -> None:
        if self.conn is not None:
            self.conn.flush()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run(handlers: dict, calls: Calls | None, cmd: str, args: dict, done, failed) -> None:
    """Run control command `cmd`; done(result) or failed(code, message), now or later."""
    asker = Asker(calls, done, failed)
    try:
        result = handlers[cmd](asker, protocol.Request(None, cmd, args))
    except ProtocolError as exc:
        asker.fail(None, exc.code, exc.message)
        return
    if result is not LATER:
        asker.reply(None, result)


def split_namespec(name: str) -> tuple[str, str | None]:
    """supervisor/options.py split_namespec: `g:p` -> (g, p), `g:*` -> (g, None),
    `p` -> (p, p)."""
    group, sep, process = name.partition(":")
    if not sep:
        return name, name
    return group, None if process in ("*", "") else process


def short_name(process: Process) -> str:
    """The process's name within its group (Supervisor's `name` field)."""
    group = process.program.group
    return process.name[len(group) + 1 :] if process.name.startswith(group + ":") else process.name


class Table:
    """The process table as Supervisor's clients name it."""

    def __init__(self, supervisor):
        self.supervisor = supervisor

    def group(self, name: str) -> list[Process]:
        """The processes of group `name` in start order; Fault BAD_NAME if none."""
        members = [p for p in self.supervisor.processes.values() if p.program.group == name]
        if not members:
            raise wire.fault(wire.BAD_NAME, name)
        return members

    def find(self, name: Any) -> tuple[str, Process | None]:
        """(group, process) for NAME as _getGroupAndProcess reads it: process None for
        `group:*`; Fault BAD_NAME for a name that is no process or group."""
        if not isinstance(name, str):
            raise wire.fault(wire.INCORRECT_PARAMETERS, "a name is a string")
        group, process_name = split_namespec(name)
        members = self.group(group) if process_name is None else None
        if members is not None:
            return group, None
        for process in self.supervisor.processes.values():
            if process.program.group == group and short_name(process) == process_name:
                return group, process
        raise wire.fault(wire.BAD_NAME, name)

    def record(self, process: Process, wall: float, mono: float) -> wire.ProcessRecord:
        machine = process.machine
        program = process.program
        log_dir = self.supervisor.config.log_dir
        return wire.ProcessRecord(
            name=short_name(process),
            group=program.group,
            state=process.state.value,
            start=_wall(machine.started_at, wall, mono),
            stop=_wall(machine.stopped_at, wall, mono),
            pid=machine.pid or 0,
            spawnerr=machine.spawn_error or process.dep_error,
            exitstatus=machine.exitstatus,
            stdout_logfile=program.logfile_path("stdout", process.num, log_dir),
            stderr_logfile=program.logfile_path("stderr", process.num, log_dir),
        )

    def info(self, process: Process) -> dict:
        wall = time.time()
        return wire.process_info(self.record(process, wall, now()), wall)

    def all_info(self) -> list[dict]:
        wall, mono = time.time(), now()
        records = [self.record(p, wall, mono) for p in self.supervisor.processes.values()]
        return wire.all_process_info(records, wall)


def _wall(monotonic: float | None, wall: float, mono: float) -> float:
    """A loop time (monotonic) as epoch seconds; 0 for never."""
    return 0 if monotonic is None else wall - (mono - monotonic)


def result_struct(process: Process, code: int, description: str = "OK") -> dict:
    """One entry of a group call's answer (rpcinterface.py make_allfunc)."""
    return {
        "name": short_name(process),
        "group": process.program.group,
        "status": code,
        "description": description,
    }


def fault_struct(process: Process, error: xmlrpc.client.Fault) -> dict:
    return result_struct(process, error.faultCode, error.faultString)
