"""Supervisor's `supervisor.*` process methods on our command handlers: getProcessInfo,
start, stop and signal (one process, a group, all), with Supervisor's names, result
structs and fault codes (supervisor/rpcinterface.py, 4.x).

A method returns its value, raises a Fault, or returns LATER and answers through
`answer` once the handler has replied (a start waits until RUNNING, as Supervisor's
deferred callbacks do). Which processes a group call touches follows Supervisor:
start only those not running, stop only those running, signal only signallable ones.
"""

from __future__ import annotations

import os
import xmlrpc.client
from typing import Callable

from supervisord_lite.config.values import signal_number
from supervisord_lite.control.replies import LATER
from supervisord_lite.core.process import Process
from supervisord_lite.http.xmlrpc_calls import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    Answer,
    Calls,
    Table,
    fault_struct,
    result_struct,
    run,
)
from supervisord_lite.supervisor_wire import xmlrpc as wire

Fault = xmlrpc.client.Fault


class ProcessMethods:
    """getProcessInfo, getAllProcessInfo, start*, stop*, signal*."""

    def __init__(self, supervisor, handlers: dict):
        self.supervisor = supervisor
        self.handlers = handlers
        self.table = Table(supervisor)

    # -- info ---------------------------------------------------------------------------

    def getProcessInfo(self, calls: Calls, answer: Answer, name):
        _group, process = self.table.find(name)
        if process is None:
            raise wire.fault(wire.BAD_NAME, name)
        return self.table.info(process)

    def getAllProcessInfo(self, calls: Calls, answer: Answer):
        return self.table.all_info()

    # -- start ----------------------------------------------------------------------------

    def startProcess(self, calls: Calls, answer: Answer, name, wait=True):
        group, process = self.table.find(name)
        if process is None:
            return self.startProcessGroup(calls, answer, group, wait)
        _check_command(process)
        if process.state.value in RUNNING_STATES:
            raise wire.fault(wire.ALREADY_STARTED, name)
        if not wait:
            self._start(calls, [process], False, lambda results: None)
            return True
        self._start(calls, [process], True, lambda results: answer(_one(results)))
        return LATER

    def startProcessGroup(self, calls: Calls, answer: Answer, name, wait=True):
        return self._start_many(calls, answer, self.table.group(_text(name)), wait)

    def startAllProcesses(self, calls: Calls, answer: Answer, wait=True):
        return self._start_many(calls, answer, list(self.supervisor.processes.values()), wait)

    def _start_many(self, calls: Calls, answer: Answer, processes: list[Process], wait):
        refused, starting = [], []
        for process in processes:
            if process.state.value in RUNNING_STATES:
                continue  # isNotRunning: a running one is not in the answer at all
            try:
                _check_command(process)
                starting.append(process)
            except Fault as error:
                refused.append(fault_struct(process, error))
        if not starting:
            return refused
        if not wait:
            self._start(calls, starting, False, lambda results: None)
            return refused + [result_struct(p, wire.SUCCESS) for p in starting]
        self._start(calls, starting, True, lambda results: answer(refused + results))
        return LATER

    def _start(self, calls: Calls, processes: list[Process], wait: bool, done) -> None:
        """The `start` handler on these processes; done([result struct...]) once each
        is RUNNING or has failed (SPAWN_ERROR when it could not be spawned, else
        ABNORMAL_TERMINATION, as supervisord tells them apart)."""

        def refused(process: Process, item: dict) -> Fault:
            current = self.supervisor.processes.get(process.name, process)
            code = wire.SPAWN_ERROR if current.machine.spawn_error else wire.ABNORMAL_TERMINATION
            return wire.fault(code, process.name)

        self._each(calls if wait else None, "start", {}, processes, refused, done)

    def _each(self, calls: Calls | None, cmd: str, args: dict, processes: list[Process],
              refused: Callable[[Process, dict], Fault], done) -> None:  # fmt: skip
        """The `cmd` handler on these processes (with args besides their names), then
        done([result struct...]) in its answer's order: SUCCESS for each it did,
        refused(process, its item) for each it did not, FAILED for all when the handler
        itself fails. Without calls (no one waits) a handler answers at once."""
        by_name = {p.name: p for p in processes}

        def answered(results: list[dict]) -> None:
            out = []
            for item in results:
                process = by_name.get(item["name"])
                if process is None:
                    continue
                if item.get("ok"):
                    out.append(result_struct(process, wire.SUCCESS))
                else:
                    out.append(fault_struct(process, refused(process, item)))
            done(out)

        def failed(code: str, message: str) -> None:
            done([fault_struct(p, wire.fault(wire.FAILED, message)) for p in processes])

        run(self.handlers, calls, cmd, {"names": list(by_name), **args}, answered, failed)

    # -- stop -----------------------------------------------------------------------------

    def stopProcess(self, calls: Calls, answer: Answer, name, wait=True):
        group, process = self.table.find(name)
        if process is None:
            return self.stopProcessGroup(calls, answer, group, wait)
        if process.state.value not in RUNNING_STATES:
            raise wire.fault(wire.NOT_RUNNING, name)
        if not wait:
            self._stop(None, [process], lambda results: None)
            return True
        self._stop(calls, [process], lambda results: answer(_one(results)))
        return LATER

    def stopProcessGroup(self, calls: Calls, answer: Answer, name, wait=True):
        return self._stop_many(calls, answer, self.table.group(_text(name)), wait)

    def stopAllProcesses(self, calls: Calls, answer: Answer, wait=True):
        return self._stop_many(calls, answer, list(self.supervisor.processes.values()), wait)

    def _stop_many(self, calls: Calls, answer: Answer, processes: list[Process], wait):
        running = [p for p in processes if p.state.value in RUNNING_STATES]
        if not running:
            return []
        if not wait:
            self._stop(None, running, lambda results: None)
            return [result_struct(p, wire.SUCCESS) for p in running]
        # supervisord answers in the order they stop; we answer in stop-batch order.
        self._stop(calls, running, answer)
        return LATER

    def _stop(self, calls: Calls | None, processes: list[Process], done) -> None:
        def refused(process: Process, item: dict) -> Fault:
            return wire.fault(wire.FAILED, item["message"])

        self._each(calls, "stop", {}, processes, refused, done)

    # -- signal ---------------------------------------------------------------------------

    def signalProcess(self, calls: Calls, answer: Answer, name, signal):
        group, process = self.table.find(name)
        if process is None:
            return self.signalProcessGroup(calls, answer, group, signal)
        signum = _signal(signal)
        if process.state.value not in SIGNALLABLE_STATES:
            raise wire.fault(wire.NOT_RUNNING, name)
        return _one(self._signal([process], signum))

    def signalProcessGroup(self, calls: Calls, answer: Answer, name, signal):
        return self._signal_many(self.table.group(_text(name)), signal)

    def signalAllProcesses(self, calls: Calls, answer: Answer, signal):
        return self._signal_many(list(self.supervisor.processes.values()), signal)

    def _signal_many(self, processes: list[Process], signal) -> list[dict]:
        chosen = [p for p in processes if p.state.value in SIGNALLABLE_STATES]
        try:
            signum = _signal(signal)
        except Fault as error:  # make_allfunc: each process gets the fault
            return [fault_struct(p, error) for p in chosen]
        return self._signal(chosen, signum) if chosen else []

    def _signal(self, processes: list[Process], signum: int) -> list[dict]:
        def refused(process: Process, item: dict) -> Fault:
            return wire.fault(wire.NOT_RUNNING, process.name)

        out: list[dict] = []  # the handler answers at once: nobody waits for a signal
        self._each(None, "signal", {"signal": signum}, processes, refused, out.extend)
        return out


def _one(results: list[dict]):
    """A one-process call's answer: True, or its fault."""
    if not results:
        return Fault(wire.FAILED, "FAILED: no answer")
    item = results[0]
    if item["status"] == wire.SUCCESS:
        return True
    return Fault(item["status"], item["description"])


def _text(value) -> str:
    if not isinstance(value, str):
        raise wire.fault(wire.INCORRECT_PARAMETERS, "a name is a string")
    return value


def _signal(value) -> int:
    """supervisor/datatypes.py signal_number: a name (HUP, SIGHUP) or a number."""
    try:
        return signal_number(value)
    except ValueError:
        raise wire.fault(wire.BAD_SIGNAL, str(value)) from None


def _check_command(process: Process) -> None:
    """supervisord refuses to spawn a command it cannot find or run (NO_FILE,
    NOT_EXECUTABLE) before trying; the config resolved it to a path at load."""
    command = process.program.command
    program = command[0] if command else ""
    if not os.path.isabs(program):
        return  # a spawn error at run time, as ours are
    if not os.path.exists(program):
        raise wire.fault(wire.NO_FILE, f"can't find command {program!r}")
    if os.path.isdir(program) or not os.access(program, os.X_OK):
        raise wire.fault(wire.NOT_EXECUTABLE, f"command at {program!r} is not executable")
