"""The values supervisor's datatypes accept (supervisor/datatypes.py and options.py's
expand), answered as plain Python values, with supervisor's own refusals as ValueError.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
from typing import Any

LOGLEVELS = ("critical", "error", "warn", "info", "debug", "trace", "blather")

AUTO = "auto"  # supervisor's Automatic: a log file in childlogdir
SYSLOG = "syslog"  # supervisor's deprecated stdout_logfile=syslog

_FIELD = re.compile(r"%(?:%|\(([^)]*)\))")


def expand(text: str, expansions: dict[str, Any], name: str) -> str:
    """supervisor.options.expand: `%` formatting with a readable error."""
    try:
        return text % expansions
    except KeyError as exc:
        names = ", ".join(sorted(k for k in expansions if not k.startswith("ENV_")))
        raise ValueError(
            f"{text!r} for {name!r} names {exc} which cannot be expanded "
            f"(available: {names}, ENV_* from the environment)"
        ) from None
    except Exception as exc:
        raise ValueError(f"{text!r} for {name!r} is badly formatted: {exc}") from None


def referenced_names(text: str) -> list[str]:
    """The %(name)s fields of a string, without the %% escapes."""
    return [m.group(1) for m in _FIELD.finditer(text) if m.group(1) is not None]


def name_check(name: str) -> str:
    text = str(name).strip()
    for character in " :/":
        if character in text:
            raise ValueError(f"invalid name {name!r} because of the character {character!r}")
    return text


def integer(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"not an integer: {value!r}") from None


TRUTHY = ("yes", "true", "on", "1")
FALSY = ("no", "false", "off", "0")


def boolean(value: Any) -> bool:
    text = str(value).lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    raise ValueError(f"not a valid boolean value: {value!r}")


def list_of_strings(value: str | None) -> list[str]:
    if not value:
        return []
    return [x.strip() for x in value.split(",")]


def exitcodes(value: str) -> list[int]:
    if not value:
        return []
    try:
        codes = [int(x) for x in value.split(",")]
    except ValueError:
        raise ValueError(f"not a valid list of exit codes: {value!r}") from None
    for code in codes:
        if not 0 <= code <= 255:
            raise ValueError(f"not a valid list of exit codes: {value!r}")
    return codes


def key_value_pairs(value: str) -> dict[str, str]:
    """supervisor.datatypes.dict_of_key_value_pairs: shlex tokens KEY = VALUE , ..."""
    lexer = shlex.shlex(str(value))
    lexer.wordchars += "/.+-():"
    try:
        tokens = list(lexer)
    except ValueError as exc:  # "No closing quotation"
        raise ValueError(f"cannot parse {value!r}: {exc}") from None
    pairs: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        triple = tokens[i : i + 3]
        if len(triple) != 3 or triple[1] != "=":
            raise ValueError(f"unexpected end of key/value pairs in {value!r}")
        pairs[triple[0]] = triple[2].strip("'\"")
        i += 4
    return pairs


def byte_size(value: str) -> int:
    text = str(value).lower()
    for suffix, factor in (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3)):
        if text[-2:] == suffix:
            return int(text[:-2]) * factor
    return int(text)


def octal(value: str) -> int:
    try:
        return int(value, 8)
    except (TypeError, ValueError):
        raise ValueError(f"{value} can not be converted to an octal type") from None


def signal_name(value: str) -> str:
    """supervisor.datatypes.signal_number, answered as a name ("TERM")."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        name = value.strip().upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        number = getattr(signal, name, None)
        if not isinstance(number, int):
            raise ValueError(f"value {value!r} is not a valid signal name") from None
    try:
        return signal.Signals(number).name[3:]
    except ValueError:
        raise ValueError(f"value {value!r} is not a valid signal number") from None


def auto_restart(value: str) -> bool | str:
    text = str(value).lower()
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    if text == "unexpected":
        return "unexpected"
    raise ValueError(f"invalid 'autorestart' value {text!r}")


def logfile_name(value: str) -> str | None:
    """None (NONE/OFF), AUTO, SYSLOG or the path with ~ expanded."""
    text = value.lower()
    if text in ("none", "off"):
        return None
    if text == "auto":
        return AUTO
    if text == "syslog":
        return SYSLOG
    return os.path.expanduser(value)


def logging_level(value: str) -> str:
    text = str(value).lower()
    if text not in LOGLEVELS:
        raise ValueError(f"bad logging level name {value!r}")
    return text
