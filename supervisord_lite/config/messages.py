"""How a config problem is told: `Invalid` (the error every converter raises, each
problem with its sub key path), and values and key paths shown as the user wrote them
in TOML (strings quoted, long values cut, odd key names quoted).

Pure and small, so every config module, the ctl and the daemon can word a problem
alike without importing the converters (values.py).
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

from supervisord_lite.base import cjson

# TOML bare keys (toml.io: "A-Za-z0-9_-"); anything else is shown quoted in a key path.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Invalid(ValueError):
    """One or more problems with a value; each is (sub key path, message).

    The sub path is empty for the value itself, or e.g. (2,) for the third list item
    or ("PORT",) for one entry of a table, so errors point at the exact element.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]):
        super().__init__("; ".join(msg for _, msg in problems))
        self.problems = problems


def fail(message: str) -> Invalid:
    return Invalid([((), message)])


def show(value: Any, limit: int = 60) -> str:
    """A TOML-ish rendering of `value` for messages (strings quoted), cut at `limit`."""
    text = _show(value, depth=0)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, depth: int) -> str:
    if depth > 3:  # a message needs a hint of the value, not a deep dump of it
        return "..."
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return cjson.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_show(v, depth + 1) for v in value[:8]) + "]"
    if isinstance(value, dict):
        items = list(value.items())[:8]
        return "{" + ", ".join(f"{key_path(k)} = {_show(v, depth + 1)}" for k, v in items) + "}"
    return repr(value)


def key_path(*parts: str | int) -> str:
    """("programs", "web", "command", 1) -> 'programs.web.command[1]'; odd names get quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else cjson.dumps(part, ensure_ascii=False)
            out += f".{name}" if out else name
    return out
