"""One XML-RPC request: the body decoded (bounded, supervisor_wire/xmlrpc.py), the method
found and called, its answer (now or later) encoded; and the `system.*` namespace:
listMethods, methodHelp, methodSignature and multicall (one call at a time, so a
call in it may wait).
"""

from __future__ import annotations

import inspect
import xmlrpc.client
from typing import Any, Callable

from supervisord_lite.base.log import log
from supervisord_lite.control.replies import LATER
from supervisord_lite.http.xmlrpc_calls import Calls
from supervisord_lite.http.xmlrpc_daemon import DaemonMethods
from supervisord_lite.http.xmlrpc_methods import ProcessMethods
from supervisord_lite.supervisor_wire import xmlrpc as wire

Fault = xmlrpc.client.Fault

# Each supervisor.* method: its XML-RPC signature (return type first) and help.
SIGNATURES: dict[str, tuple[list[str], str]] = {
    "getAPIVersion": (["string"], "The version of the RPC API (3.0, as supervisord 4)."),
    "getVersion": (["string"], "getAPIVersion's old name."),
    "getSupervisorVersion": (["string"], "The version of supervisord-lite."),
    "getIdentification": (["string"], "The daemon's identifying string."),
    "getState": (["struct"], "The daemon's state: statecode and statename."),
    "getPID": (["int"], "The daemon's pid."),
    "readLog": (["string", "int", "int"], "length bytes of the daemon's log from offset."),
    "clearLog": (["boolean"], "Not done here: rotate the daemon's log instead."),
    "shutdown": (["boolean"], "Stop every process and the daemon."),
    "restart": (["boolean"], "Stop every process, read the config again, start."),
    "reloadConfig": (["array"], "Read the config: [[added, changed, removed]] groups."),
    "addProcessGroup": (["boolean", "string"], "Add a group from the config on disk."),
    "removeProcessGroup": (["boolean", "string"], "Remove a stopped group."),
    "getProcessInfo": (["struct", "string"], "A process's info struct."),
    "getAllProcessInfo": (["array"], "Every process's info struct."),
    "getAllConfigInfo": (["array"], "Every process's config struct."),
    "startProcess": (["boolean", "string", "boolean"], "Start a process (wait: till RUNNING)."),
    "startProcessGroup": (["array", "string", "boolean"], "Start a group's processes."),
    "startAllProcesses": (["array", "boolean"], "Start every process."),
    "stopProcess": (["boolean", "string", "boolean"], "Stop a process (wait: till stopped)."),
    "stopProcessGroup": (["array", "string", "boolean"], "Stop a group's processes."),
    "stopAllProcesses": (["array", "boolean"], "Stop every process."),
    "signalProcess": (["boolean", "string", "string"], "Send a signal to a process."),
    "signalProcessGroup": (["array", "string", "string"], "Signal a group's processes."),
    "signalAllProcesses": (["array", "string"], "Signal every process."),
    "readProcessStdoutLog": (["string", "string", "int", "int"], "Bytes of a stdout log."),
    "readProcessStderrLog": (["string", "string", "int", "int"], "Bytes of a stderr log."),
    "tailProcessStdoutLog": (["array", "string", "int", "int"], "[bytes, offset, overflow]."),
    "tailProcessStderrLog": (["array", "string", "int", "int"], "[bytes, offset, overflow]."),
    "clearProcessLogs": (["boolean", "string"], "Empty a process's log files."),
    "clearAllProcessLogs": (["array"], "Empty every process's log files."),
    "sendProcessStdin": (["boolean", "string", "string"], "Text to a process's stdin."),
    "sendRemoteCommEvent": (["boolean", "string", "string"], "A REMOTE_COMMUNICATION event."),
}
SYSTEM: dict[str, tuple[list[str], str]] = {
    "listMethods": (["array"], "Every method's name."),
    "methodHelp": (["string", "string"], "A method's help."),
    "methodSignature": (["array", "string"], "A method's signature (return type first)."),
    "multicall": (["array", "array"], "Several calls in one request, in order."),
}
# Methods that answer even while the daemon shuts down (supervisord's _update skips it).
ANY_STATE = frozenset(("supervisor.sendRemoteCommEvent",))

# A multicall's calls at most: each answer is kept until the last, and supervisord's
# own clients send a few.
MAX_MULTICALL = 256

Method = Callable[..., Any]  # (calls, answer, *params) -> value | LATER; raises Fault


class XmlRpc:
    """The methods, and one request's life through them."""

    def __init__(self, supervisor, handlers: dict):
        self.supervisor = supervisor
        self.daemon = DaemonMethods(supervisor, handlers)
        processes = ProcessMethods(supervisor, handlers)
        self.methods: dict[str, tuple[Method, int, int]] = {}
        for name in SIGNATURES:
            owner = processes if hasattr(processes, name) else self.daemon
            self._add(f"supervisor.{name}", getattr(owner, name))
        for name in SYSTEM:
            self._add(f"system.{name}", getattr(self, f"system_{name}"))

    def _add(self, name: str, method: Method) -> None:
        """Keep how many parameters it takes: a wrong count is INCORRECT_PARAMETERS."""
        params = list(inspect.signature(method).parameters.values())[2:]  # calls, answer
        least = sum(1 for p in params if p.default is inspect.Parameter.empty)
        self.methods[name] = (method, least, len(params))

    def handle(self, calls: Calls, body: bytes, respond: Callable[[bytes], None]) -> None:
        """respond(the methodResponse), now or later; a bad request gets a fault."""
        try:
            name, params = wire.decode_request(body)
        except wire.BadRequest as exc:
            log.info("xmlrpc: refusing a request: %s", exc)
            respond(wire.encode_fault(exc.fault))
            return
        self.call(calls, name, list(params), lambda value: respond(wire.encode_response(value)))

    def call(self, calls: Calls, name: str, params: list, answer: Callable[[Any], None]) -> None:
        """answer(value or Fault) once, now or later."""
        answered: list = []

        def once(value: Any) -> None:
            if not answered:
                answered.append(True)
                answer(value)

        try:
            wire.split_method(name)
            entry = self.methods.get(name)
            if entry is None:
                raise wire.fault(wire.UNKNOWN_METHOD)
            method, least, most = entry
            if not least <= len(params) <= most:
                raise wire.fault(wire.INCORRECT_PARAMETERS)
            if self.supervisor.shutting_down and name.startswith("supervisor."):
                if name not in ANY_STATE:
                    raise wire.fault(wire.SHUTDOWN_STATE)
            result = method(calls, once, *params)
        except Fault as error:
            once(error)
            return
        except Exception as exc:  # a bug here is this call's fault, never more
            log.exception("xmlrpc: internal error in %s", name)
            once(wire.fault(wire.FAILED, f"{type(exc)}:{exc}"))
            return
        if result is not LATER:
            once(result)

    # -- system.* --------------------------------------------------------------------------

    def system_listMethods(self, calls: Calls, answer: Callable):
        return sorted(self.methods)

    def system_methodHelp(self, calls: Calls, answer: Callable, name):
        return self._described(name)[1]

    def system_methodSignature(self, calls: Calls, answer: Callable, name):
        return self._described(name)[0]

    def _described(self, name) -> tuple[list[str], str]:
        if not isinstance(name, str) or name not in self.methods:
            raise wire.fault(wire.SIGNATURE_UNSUPPORTED)
        namespace, method = name.split(".", 1)
        return (SYSTEM if namespace == "system" else SIGNATURES)[method]

    def system_multicall(self, calls: Calls, answer: Callable, requests):
        """Each call in turn, one per loop turn: a long multicall (a hundred starts, each
        answering later) never holds the loop, and stops when its client has gone."""
        if isinstance(requests, list) and len(requests) > MAX_MULTICALL:
            too_many = f"{len(requests)} calls; a multicall takes at most {MAX_MULTICALL}"
            raise wire.fault(wire.INCORRECT_PARAMETERS, too_many)
        run = wire.Multicall(requests)
        loop = self.supervisor.loop

        def step() -> None:
            if calls.conn is not None and calls.conn.closed:
                return
            next_call = run.next_call()
            if next_call is None:
                answer(run.results)
            else:
                self.call(calls, next_call[0], next_call[1], resume)

        def resume(value: Any) -> None:
            if isinstance(value, Fault):
                run.raised(value)
            else:
                run.returned(value)
            loop.call_soon(step)

        step()
        return LATER
