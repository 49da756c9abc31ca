"""Pure helpers for the config: value converters (TOML value in, Python value out, or a
readable error). How a problem is worded (Invalid, show, key paths) is messages.py's.

Every converter raises `Invalid` (a ValueError) whose message completes the line
`<file>: <key path>: <message>`; the loader adds the file and the key path. Nothing
here does I/O. Kept apart so the loader (loader.py) stays readable.
"""

from __future__ import annotations

import math
import re
import shlex
import signal
from string import Formatter
from typing import Any, Callable

from supervisord_lite.base import cjson, redact
from supervisord_lite.base.names import template_problem

# Invalid, fail and show are part of every converter's kit, here and in the other
# config modules that write converters (cv.fail, cv.show): they live in messages.py.
from supervisord_lite.config.messages import Invalid, fail, show

Converter = Callable[[Any], Any]

_SIZE = re.compile(r"(\d+)\s*(kb|mb|gb|b)?", re.IGNORECASE | re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)
_SIZE_UNITS = {None: 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_OCTAL = re.compile(r"(?:0o)?([0-7]+)", re.IGNORECASE)
# TOML integers are 64-bit (toml.io), though tomllib reads any size: past this, a
# number is a mistake, never a setting.
INT64_MAX = 2**63 - 1
# Seconds: 100 years. A longer timer is a typo; float arithmetic on monotonic time
# stays exact to the microsecond below it.
MAX_SECONDS = 100 * 365 * 86400


# --- public converters, also used by the ctl and the daemon --------------------------------


def signal_number(value: Any) -> int:
    """ "TERM", "SIGTERM", "term", "15" or 15 -> 15; ValueError with a readable message."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise fail(f"expected a signal name or number, got {show(value)}")
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int):
        # 0 is no signal (kill(2) uses it only to probe); NSIG is one past the last.
        if 1 <= value < signal.NSIG:
            return value
        raise fail(f"no such signal number {value} (valid: 1..{signal.NSIG - 1})")
    name = value.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    member = signal.Signals.__members__.get(name)
    if member is None:
        raise fail(f"unknown signal {show(value)}")
    return int(member)


def signal_name(num: int) -> str:
    """15 -> "TERM"; numbers with no name (real-time signals) come back as digits."""
    num = signal_number(num)
    try:
        return signal.Signals(num).name[3:]
    except ValueError:
        return str(num)


def byte_size(value: Any) -> int:
    """ "50MB", "10kb", "1GB" (powers of 1024), 1234 or "1234" (bytes) -> int bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise fail(f"expected a size >= 0, got {show(value)}")
        return _size_within_limit(value, value)
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return _size_within_limit(int(match.group(1)) * _SIZE_UNITS[unit], value)
    raise fail(
        f'expected a size like "50MB" (KB, MB, GB, or a plain number of bytes), got {show(value)}'
    )


def positive_size(value: Any) -> int:
    """A size as byte_size, but > 0: a limit of 0 bytes is a mistake."""
    size = byte_size(value)
    if size > 0:
        return size
    raise fail(f'expected a size > 0 like "512MB", got {show(value)}')


def _size_within_limit(size: int, value: Any) -> int:
    if size > INT64_MAX:
        raise fail(f"{show(value)} is too large: at most {INT64_MAX} bytes")
    return size


def octal(value: Any) -> int:
    """0o022 (a TOML integer), "022" or "0o22" -> 18. Negative numbers are errors."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 0:
            return value
    elif isinstance(value, str):
        match = _OCTAL.fullmatch(value.strip())
        if match:
            return int(match.group(1), 8)
    raise fail(f'expected an octal number like 0o022 or "022", got {show(value)}')


# --- converters for config keys -------------------------------------------------------------


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise fail(f"expected true or false, got {show(value)}")


def string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise fail(f"expected a string, got {show(value)}")


PREFIX_FIELDS = ("name", "group", "stream")


def check_prefix(template: str) -> str | None:
    """Why a log_prefix template is unusable, or None when it is fine."""
    try:
        fields = [field for _, field, _, _ in Formatter().parse(template)]
    except ValueError as exc:
        return f"not a valid template: {exc}"
    for field in fields:
        if field is None:
            continue
        if field not in PREFIX_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in PREFIX_FIELDS)
            return f"unknown field {{{field}}} (allowed: {allowed})"
    return None


def log_prefix(value: Any) -> str:
    """A log_prefix template: text with {name}, {group} and {stream} fields."""
    text = string(value)
    problem = check_prefix(text)
    if problem is not None:
        raise fail(f"{problem}, in {show(text)}")
    return text


def later(module: str, name: str) -> Converter:
    """supervisord_lite.<module>.<name>, imported at its first use: a daemon whose config
    has no probe or limit never loads those modules (their memory, for its whole life)."""

    def convert(value: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"supervisord_lite.{module}"), name)(value)

    return convert


def template(value: Any) -> str:
    """A process_name template: text with {program_name}, {process_num:02d}, ... fields."""
    text = string(value)
    if not text:
        raise fail("expected a template, got an empty string")
    problem = template_problem(text)
    if problem is not None:
        raise fail(f"{problem}, in {show(text)}")
    return text


def path_string(value: Any) -> str:
    """A non-empty path; the loader makes it absolute against the config's directory."""
    text = string(value)
    if not text:
        raise fail("expected a path, got an empty string")
    if "\0" in text:  # os.* would raise ValueError ("embedded null byte") much later
        raise fail(f"a path cannot contain a NUL character, got {show(value)}")
    return text


def logfile(value: Any) -> str:
    """ "auto" | "none" (any case, as supervisor's AUTO/NONE) | a path."""
    text = path_string(value)
    return text.lower() if text.lower() in ("auto", "none") else text


def integer(
    minimum: int | None = None, maximum: int | None = None, limit: int = INT64_MAX, why: str = ""
) -> Converter:
    """An int (not a bool, not a float) within [minimum, maximum], and at most `limit`:
    a sanity bound, named only to a value past it (`why` says what it protects)."""
    if minimum is not None and maximum is not None:
        want = f"an integer {minimum}..{maximum}"
    elif minimum is not None:
        want = f"an integer >= {minimum}"
    else:
        want = "an integer"
    why = why or "TOML integers are 64-bit"

    def convert(value: Any) -> int:
        # TOML true/false arrive as Python bools, which are ints: refuse them explicitly.
        if isinstance(value, int) and not isinstance(value, bool):
            if (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
                if value > limit:
                    raise fail(f"{value} is too large: at most {limit} ({why})")
                if minimum is None and value < -limit:
                    raise fail(f"{value} is too small: at least {-limit} ({why})")
                return value
        raise fail(f"expected {want}, got {show(value)}")

    return convert


def number(value: Any) -> float:
    """Seconds: a finite int or float 0..MAX_SECONDS; inf or nan would never fire as a
    timer (nan compares false with everything)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and value > MAX_SECONDS:
            raise fail(f"{show(value)} seconds is too long: at most {MAX_SECONDS} (100 years)")
        if math.isfinite(value) and value >= 0:
            return float(value)
    raise fail(f"expected a number >= 0, got {show(value)}")


def positive_number(value: Any) -> float:
    """Seconds for a period, such as a sampling interval: a number > 0."""
    try:
        result = number(value)
    except Invalid:
        result = 0.0
    if result > 0:
        return result
    raise fail(f"expected a number > 0, got {show(value)}")


def url(value: Any) -> str:
    """An http:// or https:// URL with a host (an alert webhook)."""
    from urllib.parse import urlsplit  # only for a config that has a URL

    text = string(value)
    shown = show(redact.url(text))  # its path may be its secret: never echoed (base/redact.py)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number 0..65535
    except ValueError as exc:
        reason = re.sub(r"'[^']*'", "...", str(exc))  # it may quote user:password@host
        raise fail(f"{reason}, in {shown}") from None
    if parts.scheme not in ("http", "https"):
        raise fail(f"expected an http:// or https:// URL, got {shown}")
    if not parts.hostname:
        raise fail(f"no host in {shown}")
    return text


def mode(value: Any) -> int:
    """A permission mask such as a umask or a socket mode: octal, 0o000..0o777."""
    try:
        result = octal(value)
    except Invalid:
        result = -1
    if 0 <= result <= 0o777:
        return result
    is_int = isinstance(value, int) and not isinstance(value, bool)
    shown = f"0o{value:o}" if is_int and value >= 0 else show(value)  # as the user wrote it
    raise fail(f'expected an octal mode 0o000..0o777 (like 0o022 or "022"), got {shown}')


def choice(*allowed: str) -> Converter:
    """One of `allowed`, case-insensitive; returned lower-case."""

    def convert(value: Any) -> str:
        if isinstance(value, str) and value.lower() in allowed:
            return value.lower()
        options = " | ".join(cjson.dumps(a) for a in allowed)
        raise fail(f"expected {options}, got {show(value)}")

    return convert


def list_of(item: Converter, what: str) -> Converter:
    """A TOML array whose items all pass `item`; every bad item is reported."""

    def convert(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise fail(f"expected a list of {what}, got {show(value)}")
        out, problems = [], []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except Invalid as exc:
                problems += [((index, *sub), msg) for sub, msg in exc.problems]
        if problems:
            raise Invalid(problems)
        return tuple(out)

    return convert


def command(value: Any) -> tuple[str, ...]:
    """A string split with shlex (no shell ever runs it), or a non-empty array of strings."""
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise fail(f"cannot split {show(value)}: {exc}") from None
        if not argv:
            raise fail("must not be empty")
    elif isinstance(value, list):
        if not value:
            raise fail("must not be empty")
        argv = list(list_of(_argument, "strings")(value))
        if not argv[0]:
            raise fail('the program to run (the first element) must not be ""')
    else:
        raise fail(f"expected a string or a list of strings, got {show(value)}")
    if any("\0" in arg for arg in argv):  # execve(2) cannot pass a NUL inside an argument
        raise fail(f"an argument cannot contain a NUL character, got {show(value)}")
    return tuple(argv)


def _argument(value: Any) -> str:
    # Empty arguments are legitimate (`redis-server --save ""`); only the program is not.
    if isinstance(value, str):
        return value
    raise fail(f"expected a string, got {show(value)}")


def environment(value: Any) -> tuple[tuple[str, str], ...]:
    """A table of string -> string, kept in file order as (key, value) pairs."""
    if not isinstance(value, dict):
        raise fail(f'expected a table of strings like {{ PORT = "8000" }}, got {show(value)}')
    out, problems = [], []
    for key, val in value.items():
        if not key or "=" in key or "\0" in key:
            # putenv(3): a name holding "=" would be read back split at the wrong place
            problems.append(((key,), 'a variable name must be non-empty, without "=" or NUL'))
        elif not isinstance(val, str):
            problems.append(((key,), f"expected a string, got {show(val)}"))
        elif "\0" in val:
            problems.append(((key,), f"a value cannot contain a NUL character, got {show(val)}"))
        else:
            out.append((key, val))
    if problems:
        raise Invalid(problems)
    return tuple(out)


def autorestart(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() == "unexpected":
        return "unexpected"
    raise fail(f'expected true, false or "unexpected", got {show(value)}')


def program_name(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    raise fail(f"expected a program name, got {show(value)}")
