"""The control protocol's wire format: JSON lines, message shapes and error codes.

Pure: bytes in, bytes out. Shared by the daemon's server and the ctl client, so it
imports nothing heavy: not even the json package (cjson.py drives its C parts).
"""

from __future__ import annotations

from supervisord_lite.base import cjson

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the ctl's start-up a few ms; annotations only
    from typing import Any

MAX_LINE = 1024 * 1024  # SPEC §4: at most 1 MiB a line

# Stable error codes: clients and scripts match on these, never on messages.
BAD_REQUEST = "BAD_REQUEST"
UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
NO_SUCH_PROCESS = "NO_SUCH_PROCESS"
BAD_ARGUMENT = "BAD_ARGUMENT"
LINE_TOO_LONG = "LINE_TOO_LONG"
FORBIDDEN = "FORBIDDEN"
TOO_MANY_CLIENTS = "TOO_MANY_CLIENTS"
SHUTTING_DOWN = "SHUTTING_DOWN"
TOO_SLOW = "TOO_SLOW"
CONFIG_ERROR = "CONFIG_ERROR"
BUSY = "BUSY"
REEXEC_FAILED = "REEXEC_FAILED"  # reexec: the installed code cannot take over (still running)
TIMEOUT = "TIMEOUT"
LOG_ERROR = "LOG_ERROR"  # tail: the log cannot be read (a directory, a stream, no access)
INTERNAL = "INTERNAL"

COMMANDS = (
    "status",
    "start",
    "stop",
    "restart",
    "signal",
    "pid",
    "tail",
    "reload",
    "events",
    "shutdown",
    "version",
    "metrics",
    "avail",
    "clear",
    "maintail",
    "scale",
    "update",  # these three: control/group_commands.py
    "add",
    "remove",
    "stdin",  # control/stdin_command.py
    "reexec",
)


class ProtocolError(Exception):
    """A request the server must answer with an error reply."""

    def __init__(self, code: str, message: str, req_id: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.req_id = req_id  # echoed in the error reply when the request had a usable id


class Request:
    """One decoded request. A plain class, not a dataclass: dataclasses (and inspect,
    which it imports) would cost the ctl's start-up about 10 ms."""

    __slots__ = ("id", "cmd", "args")

    def __init__(self, id: Any, cmd: str, args: dict | None = None):
        self.id = id
        self.cmd = cmd
        self.args = {} if args is None else args

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.id, self.cmd, self.args) == (other.id, other.cmd, other.args)

    __hash__ = None  # type: ignore[assignment]  # args is a dict

    def __repr__(self) -> str:
        return f"Request(id={self.id!r}, cmd={self.cmd!r}, args={self.args!r})"


# JSON text as the protocol writes it: compact, UTF-8 as is, and standard: NaN and
# Infinity are not JSON (RFC 8259), and a strict client could not read a line with them.
to_json = cjson.encoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_BATCH = 64  # result items per encoder call


def encode(message: dict) -> bytes:
    """One message as a UTF-8 JSON line."""
    result = message.get("result")
    if type(result) is list and len(result) > _BATCH and next(reversed(message)) == "result":
        # The same bytes, the result's items encoded a batch at a time: the C encoder
        # keeps every small piece of its output until it is done (1.3 MiB of them for
        # a 1000-process status), and memory the daemon touched once stays its own.
        rest = {key: value for key, value in message.items() if key != "result"}
        parts = [to_json(rest)[:-1] + ',"result":[' if rest else '{"result":[']
        for i in range(0, len(result), _BATCH):
            parts.append(to_json(result[i : i + _BATCH])[1:-1])
            parts.append(",")
        parts[-1] = "]}"
        text = "".join(parts)
    else:
        text = to_json(message)
    return text.encode() + b"\n"


class Raw:
    """A result that is JSON text already (`status`: see control/status_json.py)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def encode_ok_raw(req_id: Any, result: Raw) -> bytes:
    """The same line as encode(ok(req_id, <what result.text encodes>))."""
    req = to_json(req_id)
    return f'{{"id":{req},"ok":true,"result":{result.text}}}\n'.encode()


def request(req_id: Any, cmd: str, args: dict | None = None) -> bytes:
    return encode({"id": req_id, "cmd": cmd, "args": args or {}})


def ok(req_id: Any, result: Any) -> dict:
    return {"id": req_id, "ok": True, "result": result}


def error(req_id: Any, code: str, message: str) -> dict:
    return {"id": req_id, "ok": False, "error": {"code": code, "message": message}}


def decode_request(line: bytes) -> Request:
    """Parse one request line; raise ProtocolError with a stable code if it is malformed."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(BAD_REQUEST, f"request is not valid UTF-8: {exc.reason}") from None
    try:
        message = cjson.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ProtocolError(BAD_REQUEST, f"request is not valid JSON: {exc}") from None
    except RecursionError:  # json raises this, not ValueError, for [[[[… a few thousand deep
        raise ProtocolError(BAD_REQUEST, "request is nested too deeply") from None
    if not isinstance(message, dict):
        raise ProtocolError(BAD_REQUEST, "request must be a JSON object")
    req_id = message.get("id")
    # Only scalars: an id is echoed in every reply, and a deeply nested one could not
    # even be encoded back.
    if not isinstance(req_id, (str, int, float, type(None))):
        raise ProtocolError(BAD_REQUEST, '"id" must be a string, a number or null')
    cmd = message.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(BAD_REQUEST, 'request needs a string "cmd"', req_id)
    if cmd not in COMMANDS:
        raise ProtocolError(UNKNOWN_COMMAND, f"unknown command {cmd!r}", req_id)
    args = message.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ProtocolError(BAD_REQUEST, '"args" must be a JSON object', req_id)
    return Request(req_id, cmd, args)


def _refuse_constant(name: str):
    # Python's json reads NaN, Infinity and -Infinity; no standard JSON has them, and
    # an id holding one could not be echoed back as JSON.
    raise ValueError(f"{name} is not a JSON number")


def decode_reply(line: bytes) -> dict:
    message = cjson.loads(line)
    if not isinstance(message, dict) or "ok" not in message:
        raise ValueError(f"malformed reply: {line[:200]!r}")
    return message


class LineBuffer:
    """Splits a byte stream into lines, refusing any line longer than MAX_LINE."""

    def __init__(self, limit: int = MAX_LINE):
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines = []
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end < 0:
                break
            if end - start > self._limit:
                raise ProtocolError(LINE_TOO_LONG, f"request line over {self._limit} bytes")
            lines.append(bytes(self._buf[start:end]))
            start = end + 1
        del self._buf[:start]
        if len(self._buf) > self._limit:
            raise ProtocolError(LINE_TOO_LONG, f"request line over {self._limit} bytes")
        return lines

    @property
    def pending(self) -> int:
        return len(self._buf)


# Argument readers shared by the server's handlers: each raises BAD_ARGUMENT clearly.


def arg_names(args: dict, key: str = "names", default: list | None = None) -> list[str]:
    value = args.get(key, default if default is not None else [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(BAD_ARGUMENT, f'"{key}" must be a list of strings')
    return value


def arg_str(args: dict, key: str, default: str | None = None) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(BAD_ARGUMENT, f'"{key}" must be a string')
    return value


def arg_int(args: dict, key: str, default: int, minimum: int = 0) -> int:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProtocolError(BAD_ARGUMENT, f'"{key}" must be an integer >= {minimum}')
    return value


def arg_bool(args: dict, key: str, default: bool = False) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(BAD_ARGUMENT, f'"{key}" must be true or false')
    return value
