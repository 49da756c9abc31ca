"""Supervisor's `supervisor.*` methods about the daemon, its config and the logs, on our
command handlers: versions and state, shutdown and restart, reloadConfig and the
group changes, getAllConfigInfo, log reads by byte and log clearing.
"""

from __future__ import annotations

from typing import Callable

from supervisord_lite import __version__
from supervisord_lite.base import protocol
from supervisord_lite.control.replies import LATER
from supervisord_lite.http.xmlrpc_calls import Answer, Calls, Table, result_struct, run
from supervisord_lite.supervisor_wire import log_reads
from supervisord_lite.supervisor_wire import xmlrpc as wire

API_VERSION = "3.0"
IDENTIFICATION = "supervisor"  # supervisord's default `identifier`
MOST_BYTES = 4 * 1024 * 1024  # control/commands.py MAX_RANGE: one read by byte at most


class DaemonMethods:
    def __init__(self, supervisor, handlers: dict):
        self.supervisor = supervisor
        self.handlers = handlers
        self.table = Table(supervisor)
        self.restarting = False
        # The event listeners' machinery, when present: told (type, data) of each
        # sendRemoteCommEvent (REMOTE_COMMUNICATION). Until then, nobody listens.
        self.remote_comm: list[Callable[[str, str], None]] = []

    # -- the daemon ------------------------------------------------------------------------

    def getAPIVersion(self, calls: Calls, answer: Answer):
        return API_VERSION

    getVersion = getAPIVersion  # supervisorctl's upcheck still asks this

    def getSupervisorVersion(self, calls: Calls, answer: Answer):
        return __version__

    def getIdentification(self, calls: Calls, answer: Answer):
        return IDENTIFICATION

    def getState(self, calls: Calls, answer: Answer):
        if self.supervisor.shutting_down:
            return wire.state_info("SHUTDOWN")
        return wire.state_info("RESTARTING" if self.restarting else "RUNNING")

    def getPID(self, calls: Calls, answer: Answer):
        return _now(self.handlers, "pid", {})

    def shutdown(self, calls: Calls, answer: Answer):
        # Answered at once, as supervisord does; the daemon then stops everything.
        run(self.handlers, None, "shutdown", {}, lambda result: None, lambda c, m: None)
        return True

    def restart(self, calls: Calls, answer: Answer):
        """supervisord's restart: every process stopped, the config read again, the
        autostart ones started. Ours keeps its pid and sockets (no re-exec)."""
        self.restarting = True

        def started(_result=None, *_ignored) -> None:
            self.restarting = False

        def reloaded(_result=None, *_ignored) -> None:
            names = [p.name for p in self.supervisor.processes.values() if p.program.autostart]
            if not names:
                started()
                return
            run(self.handlers, None, "start", {"names": names}, started, started)

        def stopped(_result=None, *_ignored) -> None:
            run(self.handlers, None, "reload", {}, reloaded, reloaded)

        run(self.handlers, None, "stop", {"names": ["all"]}, stopped, stopped)
        return True

    def sendRemoteCommEvent(self, calls: Calls, answer: Answer, type, data):
        if not isinstance(type, str) or not isinstance(data, str):
            raise wire.fault(wire.INCORRECT_PARAMETERS, "type and data are strings")
        for tell in self.remote_comm:
            tell(type, data)
        return True

    def sendProcessStdin(self, calls: Calls, answer: Answer, name, chars):
        """Text to a process's stdin: a program with `stdin = true` (else NO_FILE)."""
        _group, process = self.table.find(name)
        if process is None:
            raise wire.fault(wire.BAD_NAME, name)
        if not isinstance(chars, str):
            raise wire.fault(wire.INCORRECT_PARAMETERS, "chars is a string")
        outcome: list = []

        def refused(code: str, message: str) -> None:
            fault = wire.NOT_RUNNING if message.endswith("is not running") else wire.NO_FILE
            outcome.append(wire.fault(wire.FAILED if code == protocol.BUSY else fault, message))

        args = {"name": process.name, "data": chars}
        run(self.handlers, None, "stdin", args, lambda result: outcome.append(True), refused)
        return outcome[0]

    # -- the config ------------------------------------------------------------------------

    def reloadConfig(self, calls: Calls, answer: Answer):
        def read(result: dict) -> None:
            groups = result["groups"]
            answer([[groups["added"], groups["changed"], groups["removed"]]])

        def refused(code: str, message: str) -> None:
            answer(wire.fault(wire.CANT_REREAD, message))

        run(self.handlers, calls, "reload", {"dry_run": True}, read, refused)
        return LATER

    def addProcessGroup(self, calls: Calls, answer: Answer, name):
        def refused(code: str, message: str) -> None:
            if code == protocol.NO_SUCH_PROCESS:
                answer(wire.fault(wire.BAD_NAME, name))
            elif code == protocol.BAD_ARGUMENT and message.startswith("already active"):
                answer(wire.fault(wire.ALREADY_ADDED, name))
            else:
                answer(wire.fault(wire.FAILED, message))

        run(self.handlers, calls, "add", {"names": [_text(name)]}, lambda r: answer(True), refused)
        return LATER

    def removeProcessGroup(self, calls: Calls, answer: Answer, name):
        def refused(code: str, message: str) -> None:
            if code == protocol.NO_SUCH_PROCESS:
                answer(wire.fault(wire.BAD_NAME, name))
            elif code == protocol.BAD_ARGUMENT and message.startswith("still running"):
                answer(wire.fault(wire.STILL_RUNNING, name))
            else:
                answer(wire.fault(wire.FAILED, message))

        args = {"names": [_text(name)]}
        run(self.handlers, calls, "remove", args, lambda r: answer(True), refused)
        return LATER

    def getAllConfigInfo(self, calls: Calls, answer: Answer):
        config = self.supervisor.config
        out = [
            _config_info(program, index, config.log_dir)
            for program in config.programs.values()
            for index in range(program.numprocs)
        ]
        out.sort(key=lambda item: item["name"])
        return out

    # -- logs --------------------------------------------------------------------------------

    def readLog(self, calls: Calls, answer: Answer, offset, length):
        offset, length = log_reads.read_request(offset, length, MOST_BYTES)
        return _text_of(self._read("maintail", {"offset": offset, "length": length}))

    def clearLog(self, calls: Calls, answer: Answer):
        raise wire.fault(wire.FAILED, "the daemon's log is not cleared here; rotate it "
                         "(logrotate, then SIGUSR2 to the daemon)")  # fmt: skip

    def readProcessStdoutLog(self, calls: Calls, answer: Answer, name, offset, length):
        return self._read_process(name, "stdout", offset, length)

    def readProcessStderrLog(self, calls: Calls, answer: Answer, name, offset, length):
        return self._read_process(name, "stderr", offset, length)

    def tailProcessStdoutLog(self, calls: Calls, answer: Answer, name, offset, length):
        return self._tail_process(name, "stdout", offset, length)

    def tailProcessStderrLog(self, calls: Calls, answer: Answer, name, offset, length):
        return self._tail_process(name, "stderr", offset, length)

    def clearProcessLogs(self, calls: Calls, answer: Answer, name):
        _group, process = self.table.find(name)
        if process is None:
            raise wire.fault(wire.BAD_NAME, name)
        result = self._now_or_fault("clear", {"names": [process.name]})
        if not result or not result[0].get("ok"):
            raise wire.fault(wire.FAILED, name)
        return True

    def clearAllProcessLogs(self, calls: Calls, answer: Answer):
        processes = list(self.supervisor.processes.values())
        results = self._now_or_fault("clear", {"names": [p.name for p in processes]})
        by_name = {item["name"]: item for item in results}
        return [
            result_struct(p, wire.SUCCESS)
            if by_name.get(p.name, {}).get("ok")
            else result_struct(p, wire.FAILED, f"FAILED: {p.name}")
            for p in processes
        ]

    def _read_process(self, name, stream: str, offset, length) -> str:
        process = self._logged(name, stream)
        if process is None:
            raise wire.fault(wire.NO_FILE, name)
        offset, length = log_reads.read_request(offset, length, MOST_BYTES)
        args = {"name": process.name, "stream": stream, "offset": offset, "length": length}
        return _text_of(self._read("tail", args))

    def _tail_process(self, name, stream: str, offset, length) -> list:
        process = self._logged(name, stream)
        want = log_reads.tail_length(offset, length, MOST_BYTES)
        if process is None:
            return ["", 0, False]
        args = {"name": process.name, "stream": stream, "offset": -want, "length": want}
        result = self._read("tail", args)
        last = result["data"].encode("utf-8") if want else b""
        return log_reads.tail_result(result["size"], offset, length, last)

    def _logged(self, name, stream: str):
        _group, process = self.table.find(name)
        if process is None:
            raise wire.fault(wire.BAD_NAME, name)
        config = self.supervisor.config
        if process.program.logfile_path(stream, process.num, config.log_dir) is None:
            return None
        return process

    def _read(self, cmd: str, args: dict) -> dict:
        """A log read by byte: NO_FILE when there is no log, FAILED when unreadable."""
        outcome: list = []
        run(self.handlers, None, cmd, args, outcome.append,
            lambda code, message: outcome.append(wire.fault(
                wire.FAILED if code != protocol.LOG_ERROR or "no log" not in message
                else wire.NO_FILE, message)))  # fmt: skip
        if isinstance(outcome[0], wire.xmlrpc.client.Fault):
            raise outcome[0]
        return outcome[0]

    def _now_or_fault(self, cmd: str, args: dict):
        outcome: list = []
        run(self.handlers, None, cmd, args, outcome.append,
            lambda code, message: outcome.append(wire.fault(wire.FAILED, message)))  # fmt: skip
        if isinstance(outcome[0], wire.xmlrpc.client.Fault):
            raise outcome[0]
        return outcome[0]


def _now(handlers: dict, cmd: str, args: dict):
    outcome: list = []
    run(handlers, None, cmd, args, outcome.append,
        lambda code, message: outcome.append(wire.fault(wire.FAILED, message)))  # fmt: skip
    return outcome[0]


def _text_of(result: dict) -> str:
    return log_reads.xml_text(result["data"])


def _text(value) -> str:
    if not isinstance(value, str):
        raise wire.fault(wire.INCORRECT_PARAMETERS, "a name is a string")
    return value


def _config_info(program, index: int, log_dir: str) -> dict:
    """One process's getAllConfigInfo struct, with Supervisor's keys (values that
    XML-RPC cannot carry, None, as "none" as supervisord does)."""
    full = program.processes[index]
    group = program.group
    name = full[len(group) + 1 :] if full.startswith(group + ":") else full
    stdout = program.logfile_path("stdout", index, log_dir)
    stderr = program.logfile_path("stderr", index, log_dir)
    info = {
        "autostart": program.autostart,
        "directory": program.directory,
        "uid": None,
        "command": " ".join(program.command),
        "exitcodes": list(program.exitcodes),
        "group": group,
        "group_prio": program.group_priority,
        "inuse": True,
        "killasgroup": program.stopasgroup,
        "name": name,
        "process_prio": program.priority,
        "redirect_stderr": program.redirect_stderr,
        "startretries": program.startretries,
        "startsecs": int(program.startsecs),
        "stdout_capture_maxbytes": 0,
        "stdout_events_enabled": False,
        "stdout_logfile": stdout,
        "stdout_logfile_backups": program.stdout_logfile_backups,
        "stdout_logfile_maxbytes": program.stdout_logfile_maxbytes,
        "stdout_syslog": False,
        "stopsignal": int(program.stopsignal),
        "stopwaitsecs": int(program.stopwaitsecs),
        "stderr_capture_maxbytes": 0,
        "stderr_events_enabled": False,
        "stderr_logfile": stderr,
        "stderr_logfile_backups": program.stderr_logfile_backups,
        "stderr_logfile_maxbytes": program.stderr_logfile_maxbytes,
        "stderr_syslog": False,
        "serverurl": "AUTO",
    }
    return {key: _carried(value) for key, value in info.items()}


def _carried(value):
    """A value XML-RPC can carry: None as "none" (as supervisord), ints within 32 bits
    (a 4 GB maxbytes would fail the whole answer)."""
    if value is None:
        return "none"
    if isinstance(value, int) and not isinstance(value, bool):
        return wire.capped_int(value)
    return value
