"""JSON through CPython's C scanner and encoder (_json), without the json package.

`import json` costs the ctl ~9 ms of its start-up, nearly all of it json.decoder's
`import re` (and, through it, enum, functools, collections...), for two regular
expressions that only skip whitespace. The C scanner and encoder that json drives are
in the _json module itself; this drives them the same way, with the same output and the
same errors (json.JSONDecodeError, which _json imports only to raise one). Where _json is
missing (another Python), the json package does the work.
"""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None

_WHITESPACE = " \t\n\r"  # JSON's whitespace (RFC 8259), what json's regexp skips


def _type_error(obj):
    # json.JSONEncoder.default's error, word for word
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


class _Context:
    """What _json.make_scanner reads from a json.JSONDecoder: its parse settings."""

    __slots__ = ("strict", "object_hook", "object_pairs_hook", "parse_float", "parse_int",
                 "parse_constant", "memo")  # fmt: skip

    def __init__(self, parse_constant):
        self.strict = True
        self.object_hook = self.object_pairs_hook = None
        self.parse_float, self.parse_int = float, int
        self.parse_constant = parse_constant
        self.memo = {}


_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _scanner(parse_constant):
    return _json.make_scanner(_Context(parse_constant or _CONSTANTS.__getitem__))


def _decode_error(message: str, text: str, pos: int) -> Exception:
    from json import JSONDecodeError  # an error path: json's own exception type

    return JSONDecodeError(message, text, pos)


def loads(data: bytes | str, parse_constant=None):
    """json.loads(data) of UTF-8 bytes or a str: the value, or json.JSONDecodeError."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    if _json is None:  # pragma: no cover
        import json

        return json.loads(text, parse_constant=parse_constant)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scanner(parse_constant)(text, start)
    except StopIteration as exc:
        raise _decode_error("Expecting value", text, exc.value) from None
    except SystemError:
        # _json raises its JSONDecodeError (an unterminated object, a missing comma)
        # only once json.decoder is loaded; before that it fails as SystemError. An
        # error path: json itself reads the text again and raises the same error.
        import json

        return json.loads(text, parse_constant=parse_constant)
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest != len(text):
        raise _decode_error("Extra data", text, rest)
    return value


def encoder(separators: tuple[str, str], ensure_ascii: bool, allow_nan: bool):
    """json.JSONEncoder(separators=..., ensure_ascii=..., allow_nan=...).encode."""
    if _json is None:  # pragma: no cover
        import json

        return json.JSONEncoder(
            separators=separators, ensure_ascii=ensure_ascii, allow_nan=allow_nan
        ).encode
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    item_separator, key_separator = separators
    make = _json.make_encoder

    def encode(obj) -> str:
        if isinstance(obj, str):
            return quote(obj)
        # A new encoder per call, as JSONEncoder.encode makes: its dict of the
        # containers being encoded (circular reference check) starts empty each time.
        chunks = make({}, _type_error, quote, None, key_separator, item_separator, False, False,
                      allow_nan)(obj, 0)  # fmt: skip
        return "".join(chunks)

    return encode


def indented(obj, indent: int = 2) -> str:
    """json.dumps(obj, indent=indent): the C encoder writes no indentation, and json's
    Python one comes with the package's imports."""
    scalar = encoder((", ", ": "), ensure_ascii=True, allow_nan=True)
    out: list[str] = []

    def write(value, depth: int) -> None:
        if isinstance(value, (list, tuple)) and value:
            inner = "\n" + " " * (indent * (depth + 1))
            for i, item in enumerate(value):
                out.append(("[" if i == 0 else ",") + inner)
                write(item, depth + 1)
            out.append("\n" + " " * (indent * depth) + "]")
        elif isinstance(value, dict) and value:
            inner = "\n" + " " * (indent * (depth + 1))
            for i, (key, item) in enumerate(value.items()):
                out.append(("{" if i == 0 else ",") + inner + scalar(_key(key)) + ": ")
                write(item, depth + 1)
            out.append("\n" + " " * (indent * depth) + "}")
        else:
            out.append(scalar(value))

    write(obj, 0)
    return "".join(out)


def _key(key) -> str:
    # json writes a dict's non-string keys as strings: True -> "true", 1.5 -> "1.5"
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return encoder((",", ":"), ensure_ascii=True, allow_nan=True)(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


_dumps_ascii = encoder((", ", ": "), ensure_ascii=True, allow_nan=True)
_dumps_text = encoder((", ", ": "), ensure_ascii=False, allow_nan=True)


def dumps(obj, ensure_ascii: bool = True) -> str:
    """json.dumps(obj, ensure_ascii=ensure_ascii)."""
    return _dumps_ascii(obj) if ensure_ascii else _dumps_text(obj)
