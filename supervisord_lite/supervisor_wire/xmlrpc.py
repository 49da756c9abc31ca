"""The XML-RPC wire of a Supervisor-compatible server, pure: bytes in, bytes out.

Decoding is the standard library's own unmarshaller (xmlrpc.client) driven by an expat
parser we hold, so that hostile input is refused while it is read: a size cap before
parsing, no DOCTYPE (hence no entity declarations: no billion laughs, no external
entities), a nesting cap, and a cap on the digits of a number. Whatever the input, the
result is a request or a ``BadRequest`` carrying a fault: never another exception.

Encoding, fault texts and codes, state codes, the getProcessInfo struct and
system.multicall follow supervisor/xmlrpc.py and supervisor/rpcinterface.py (4.x).
"""

from __future__ import annotations

import datetime
import time
import xmlrpc.client
from typing import Any, Callable, Optional
from xml.parsers import expat

from supervisord_lite.base.frozen import Frozen, _set
from supervisord_lite.supervisor_wire import xml_encode

# supervisor/xmlrpc.py Faults.
UNKNOWN_METHOD = 1
INCORRECT_PARAMETERS = 2
BAD_ARGUMENTS = 3
SIGNATURE_UNSUPPORTED = 4
SHUTDOWN_STATE = 6
BAD_NAME = 10
BAD_SIGNAL = 11
NO_FILE = 20
NOT_EXECUTABLE = 21
FAILED = 30
ABNORMAL_TERMINATION = 40
SPAWN_ERROR = 50
ALREADY_STARTED = 60
NOT_RUNNING = 70
SUCCESS = 80
ALREADY_ADDED = 90
STILL_RUNNING = 91
CANT_REREAD = 92
# (getFaultDescription's table: every upper-case name defined so far is a fault code.)
FAULT_NAMES = {code: name for name, code in globals().copy().items() if name.isupper()}

# supervisor/states.py.
PROCESS_STATE_CODES = {
    "STOPPED": 0,
    "STARTING": 10,
    "RUNNING": 20,
    "BACKOFF": 30,
    "STOPPING": 40,
    "EXITED": 100,
    "FATAL": 200,
    "UNKNOWN": 1000,
}
SUPERVISOR_STATE_CODES = {"FATAL": 2, "RUNNING": 1, "RESTARTING": 0, "SHUTDOWN": -1}

MAX_REQUEST_BYTES = 1024 * 1024
MAX_DEPTH = 64  # elements; Supervisor's deepest call (a multicall) needs about 13
_MAX_NUMBER_CHARS = {"int": 64, "float": 400}
_NUMBER_TAGS = {
    **dict.fromkeys(("i1", "i2", "i4", "i8", "int", "biginteger"), "int"),
    **dict.fromkeys(("double", "float", "bigdecimal"), "float"),
}
_XML_RPC_MAXINT = 2**31 - 1


def fault(code: int, extra: Optional[str] = None) -> xmlrpc.client.Fault:
    """A Fault worded as Supervisor's RPCError words it: ``NAME`` or ``NAME: extra``."""
    text = FAULT_NAMES.get(code, "UNKNOWN")
    if extra is not None:
        text = f"{text}: {extra}"
    return xmlrpc.client.Fault(code, text)


class BadRequest(Exception):
    """A request that cannot be decoded; ``fault`` is the answer to send.

    supervisord answers these with HTTP 400; we answer with a fault (SPEC §12), always
    INCORRECT_PARAMETERS, with what was wrong.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.fault = fault(INCORRECT_PARAMETERS, reason)


def check_length(declared: int, limit: int = MAX_REQUEST_BYTES) -> None:
    """Refuse a body by its Content-Length, before reading it."""
    if declared > limit:
        raise BadRequest(f"request of {declared} bytes is over the limit of {limit}")


def decode_request(
    body: bytes, limit: int = MAX_REQUEST_BYTES, max_depth: int = MAX_DEPTH
) -> tuple[str, tuple]:
    """(method name, params) of an XML-RPC methodCall, or BadRequest.

    Values come as supervisord's own parser gives them: dateTime as datetime, base64
    decoded to str (UTF-8), a missing <params> as no parameters.
    """
    check_length(len(body), limit)
    target = xmlrpc.client.Unmarshaller(use_builtin_types=True)
    target.xml(None, None)  # expat hands out str: nothing to decode (as its ExpatParser)
    guard = _Guard(target, max_depth)
    parser = expat.ParserCreate(None, None)
    parser.StartDoctypeDeclHandler = guard.refuse_doctype
    parser.EntityDeclHandler = guard.refuse_entity
    parser.StartElementHandler = guard.start
    parser.EndElementHandler = guard.end
    parser.CharacterDataHandler = guard.data
    try:
        parser.Parse(body, True)
        if guard.root != "methodCall":
            raise BadRequest(f"expected a methodCall, got {guard.root or 'nothing'}")
        method = target.getmethodname()
        if not method:
            raise BadRequest("no methodName")
        params = target.close() if guard.saw_params else ()
        return method, tuple(_base64_as_str(value) for value in params)
    except BadRequest:
        raise
    except expat.ExpatError as error:
        raise BadRequest(f"not well-formed XML: {error}") from None
    except Exception as error:  # noqa: BLE001 - any value the unmarshaller chokes on
        raise BadRequest(f"not a valid XML-RPC request: {error}") from None


class _Guard:
    """Expat handlers that check each element, then hand it to xmlrpc's Unmarshaller."""

    def __init__(self, target: xmlrpc.client.Unmarshaller, max_depth: int):
        self.target = target
        self.max_depth = max_depth
        self.depth = 0
        self.root: Optional[str] = None
        self.saw_params = False
        self.text_chars = 0

    def refuse_doctype(self, *_args: Any) -> None:
        raise BadRequest("a DOCTYPE is not allowed (no entity declarations)")

    def refuse_entity(self, *_args: Any) -> None:
        raise BadRequest("entity declarations are not allowed")

    def start(self, tag: str, attrs: dict) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise BadRequest(f"nested deeper than {self.max_depth} elements")
        if self.root is None:
            self.root = tag
        self.saw_params = self.saw_params or (tag == "params" and self.depth == 2)
        self.text_chars = 0
        self.target.start(tag, attrs)

    def data(self, text: str) -> None:
        self.text_chars += len(text)
        self.target.data(text)

    def end(self, tag: str) -> None:
        kind = _NUMBER_TAGS.get(tag.split(":")[-1])
        # int() of a long digit string is quadratic (and refused past 4300 digits on
        # newer Pythons); no XML-RPC number needs more than these.
        if kind and self.text_chars > _MAX_NUMBER_CHARS[kind]:
            raise BadRequest(f"a <{tag}> of {self.text_chars} characters")
        self.depth -= 1
        self.target.end(tag)


def _base64_as_str(value: Any) -> Any:
    # supervisord decodes base64 into text (its unmarshallers in xmlrpc.py): so do we,
    # in lists and structs too.
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("base64 value is not UTF-8 text") from None
    if isinstance(value, list):
        return [_base64_as_str(item) for item in value]
    if isinstance(value, dict):
        return {key: _base64_as_str(item) for key, item in value.items()}
    return value


def encode_response(value: Any) -> bytes:
    """A methodResponse carrying ``value``, byte for byte as supervisord's xmlrpc_marshal.

    Like supervisord, None is not allowed (no allow_none) and ints must fit 32 bits;
    where supervisord would answer HTTP 500, this answers a FAILED fault.
    """
    if isinstance(value, xmlrpc.client.Fault):
        return encode_fault(value)
    try:
        try:
            text = xml_encode.method_response(value)
        except xml_encode.Unsupported:
            text = xmlrpc.client.dumps((value,), methodresponse=True)
        return text.encode("utf-8")
    except (TypeError, OverflowError, ValueError) as error:
        return encode_fault(fault(FAILED, f"cannot encode the result: {error}"))


def encode_fault(error: xmlrpc.client.Fault) -> bytes:
    """A methodResponse carrying a fault."""
    return xmlrpc.client.dumps(error).encode("utf-8")


def split_method(name: str) -> tuple[str, str]:
    """(namespace, method) of ``supervisor.getState``, or Fault UNKNOWN_METHOD.

    Exactly two parts and no leading underscore, as supervisor/xmlrpc.py traverse
    demands (CVE-2017-11610: no walking into objects).
    """
    parts = name.split(".")
    if len(parts) != 2 or parts[1].startswith("_"):
        raise fault(UNKNOWN_METHOD)
    return parts[0], parts[1]


def capped_int(value: float) -> int:
    """An int that XML-RPC can carry (supervisor/xmlrpc.py capped_int)."""
    return max(-_XML_RPC_MAXINT - 1, min(_XML_RPC_MAXINT, int(value)))


# --- getProcessInfo (supervisor/rpcinterface.py) ------------------------------------------


class ProcessRecord(Frozen):
    """What getProcessInfo needs to know of a process, from whatever holds it.

    ``state`` is Supervisor's state name; ``start``/``stop`` are epoch seconds, 0 when
    it never started or stopped; ``pid`` 0 when no child runs; ``exitstatus`` None
    before any exit.
    """

    __slots__ = (
        "name",
        "group",
        "state",
        "start",
        "stop",
        "pid",
        "spawnerr",
        "exitstatus",
        "stdout_logfile",
        "stderr_logfile",
    )

    def __init__(
        self,
        name: str,
        group: str,
        state: str,
        start: float = 0,
        stop: float = 0,
        pid: int = 0,
        spawnerr: Optional[str] = None,
        exitstatus: Optional[int] = None,
        stdout_logfile: Optional[str] = None,
        stderr_logfile: Optional[str] = None,
    ):
        values = (name, group, state, start, stop, pid, spawnerr, exitstatus)
        for slot, value in zip(self.__slots__, (*values, stdout_logfile, stderr_logfile)):
            _set(self, slot, value)


def process_info(record: ProcessRecord, now: float) -> dict[str, Any]:
    """supervisor.getProcessInfo's struct, with its description worded as supervisord's.

    The description of a stopped process shows its stop time in local time (``%b %d
    %I:%M %p``, C locale words): the one place the zone matters.
    """
    stdout_logfile = record.stdout_logfile or ""
    info = {
        "name": record.name,
        "group": record.group,
        "start": capped_int(record.start),
        "stop": capped_int(record.stop),
        "now": capped_int(now),
        "state": PROCESS_STATE_CODES[record.state],
        "statename": record.state,
        "spawnerr": record.spawnerr or "",
        "exitstatus": record.exitstatus or 0,
        "logfile": stdout_logfile,  # supervisord's alias, kept for old clients
        "stdout_logfile": stdout_logfile,
        "stderr_logfile": record.stderr_logfile or "",
        "pid": record.pid,
    }
    info["description"] = _description(info)
    return info


def _description(info: dict[str, Any]) -> str:
    """rpcinterface.py _interpretProcessInfo."""
    state = info["statename"]
    if state == "RUNNING":
        # supervisord subtracts two datetimes made from gmtime() of these whole seconds:
        # the same timedelta, without two gmtime() calls per process.
        uptime = datetime.timedelta(seconds=max(info["now"] - info["start"], 0))  # set back
        return f"pid {info['pid']}, uptime {uptime}"
    if state in ("FATAL", "BACKOFF"):
        return info["spawnerr"] or f'unknown error (try "tail {info["name"]}")'
    if state in ("STOPPED", "EXITED"):
        if not info["start"]:
            return "Not started"
        return datetime.datetime(*time.localtime(info["stop"])[:6]).strftime("%b %d %I:%M %p")
    return ""


def all_process_info(records: list[ProcessRecord], now: float) -> list[dict[str, Any]]:
    """getAllProcessInfo: every process, by group name then process name."""
    ordered = sorted(records, key=lambda record: (record.group, record.name))
    return [process_info(record, now) for record in ordered]


def state_info(state: str) -> dict[str, Any]:
    """supervisor.getState's struct for a supervisord state name (RUNNING, SHUTDOWN...)."""
    return {"statecode": SUPERVISOR_STATE_CODES[state], "statename": state}


# --- system.multicall (supervisor/xmlrpc.py SystemNamespaceRPCInterface.multicall) -----------


class Multicall:
    """Runs a multicall one call at a time, so that a call may wait for its answer.

    The shell asks ``next_call()`` for (method, params), makes the call, and reports
    ``returned(value)`` or ``raised(error)``; None from next_call means done, and
    ``results`` holds, in order, each value as it is (not wrapped in a list: what
    supervisord does, whatever its docstring says) or a fault struct.
    """

    def __init__(self, calls: Any):
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            # supervisord fails the whole request here (HTTP 500 or a bare fault).
            raise fault(INCORRECT_PARAMETERS, "multicall takes an array of structs")
        self._pending = list(calls)
        self._waiting = False
        self.results: list[Any] = []

    def next_call(self) -> Optional[tuple[str, list]]:
        if self._waiting:
            raise RuntimeError("next_call before the previous call was answered")
        while self._pending:
            call = self._pending.pop(0)
            name, params = call.get("methodName"), call.get("params", [])
            if name is None:
                self.results.append(_fault_struct(fault(INCORRECT_PARAMETERS, "No methodName")))
            elif not isinstance(name, str):
                self.results.append(_fault_struct(fault(UNKNOWN_METHOD)))
            elif name == "system.multicall":
                error = fault(INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")
                self.results.append(_fault_struct(error))
            elif not isinstance(params, (list, tuple)):
                self.results.append(_fault_struct(fault(INCORRECT_PARAMETERS)))
            else:
                self._waiting = True
                return name, list(params)
        return None

    def returned(self, value: Any) -> None:
        self._waiting = False
        self.results.append(value)

    def raised(self, error: BaseException) -> None:
        self._waiting = False
        if isinstance(error, xmlrpc.client.Fault):
            self.results.append(_fault_struct(error))
        else:  # supervisord's catch-all, worded as it words it
            failure = fault(FAILED, f"{type(error)}:{error}")
            self.results.append(_fault_struct(failure))


def _fault_struct(error: xmlrpc.client.Fault) -> dict[str, Any]:
    return {"faultCode": error.faultCode, "faultString": error.faultString}


def run_multicall(calls: Any, call: Callable[[str, list], Any]) -> list[Any]:
    """A whole multicall with a call function that answers at once."""
    run = Multicall(calls)
    while True:
        next_one = run.next_call()
        if next_one is None:
            return run.results
        try:
            value = call(*next_one)
        except Exception as error:  # noqa: BLE001 - each becomes that call's fault
            run.raised(error)
        else:
            run.returned(value)
