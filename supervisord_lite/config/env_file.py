"""Environment files in systemd's ``EnvironmentFile=`` syntax, parsed as systemd parses them.

The parser is a port of systemd's state machine (src/basic/env-file.c,
parse_env_file_internal) and the checks its exec code applies afterwards
(src/core/execute.c exec_context_load_environment, strv_env_clean_with_callback), so a
file gives a program the same variables it gives a systemd unit:

* ``KEY=VALUE``; whitespace around the key and before the value is dropped, and so is
  trailing whitespace of an unquoted value. A line without ``=`` is ignored.
* ``#`` or ``;`` first on a line makes a comment (not after a value: ``A=b # c`` keeps
  ``b # c``); a comment ending in a backslash does not continue (systemd >= 254).
* ``'...'`` keeps everything literally, newlines too; ``"..."`` unescapes ``\\"``,
  ``\\\\``, ``\\``` and ``\\$``, keeps any other backslash, and drops a
  backslash-newline. Quoted and unquoted pieces join: ``A="x"'y'z`` is ``xyz``.
* Unquoted, a backslash escapes the next character and a backslash-newline continues
  the line. CR counts as a line end, so CRLF files work.
* No ``$VAR`` expansion, and ``export A=1`` is not an assignment: systemd drops both
  ``export A`` (not a valid name) and names with ``-`` or ``.`` in them, with a warning.
* Invalid UTF-8 in a key or value, or a NUL byte anywhere, makes systemd refuse the
  whole file: so do we.
* Later assignments win, within a file and across files.

Where systemd is silent (a line without ``=``, a quote never closed) we add a warning:
the behaviour is systemd's, the explanation is ours.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import Callable, Optional

from supervisord_lite.base.frozen import Frozen, _set

# Bounds what a spawn reads and parses. Linux refuses a single variable over 128 KiB
# (MAX_ARG_STRLEN) and a whole environment over a quarter of the stack limit, so a
# bigger file could not be passed on anyway.
MAX_FILE_BYTES = 256 * 1024

_WHITESPACE = " \t\n\r"  # systemd's string-util.h
_NEWLINE = "\n\r"
_COMMENTS = "#;"
_SHELL_NEED_ESCAPE = '"\\`$'  # systemd's escape.h: unescaped inside double quotes
_NAME_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_FIRST | frozenset("0123456789")

(
    _PRE_KEY,
    _KEY,
    _PRE_VALUE,
    _VALUE,
    _VALUE_ESCAPE,
    _SINGLE_QUOTE,
    _DOUBLE_QUOTE,
    _DOUBLE_QUOTE_ESCAPE,
    _COMMENT,
    _COMMENT_ESCAPE,
) = range(10)
# What each state takes without a decision: everything but its special characters.
_RUNS = {
    _KEY: re.compile(r"[^\n\r= \t]+"),
    _VALUE: re.compile(r"[^\n\r\\ \t]+"),
    _SINGLE_QUOTE: re.compile(r"[^']+"),
    _DOUBLE_QUOTE: re.compile(r'[^"\\]+'),
    _COMMENT: re.compile(r"[^\\\n\r]+"),
}
_UNDECODED = re.compile("[\udc80-\udcff]")
_IN_VALUE = (_PRE_VALUE, _VALUE, _VALUE_ESCAPE, _SINGLE_QUOTE, _DOUBLE_QUOTE, _DOUBLE_QUOTE_ESCAPE)


class EnvFileError(ValueError):
    """A file systemd would refuse whole (invalid UTF-8 in an assignment, a NUL byte)."""


class LoadedEnvironment(Frozen):
    """What ``read_env_files`` found: the merged variables, errors, warnings.

    ``errors`` (a required file missing or unreadable, not a regular file, too big,
    invalid UTF-8) mean the spawn should fail with them; ``warnings`` (lines systemd
    ignores) are worth a log line. Each names its file, and its line where there is one.
    """

    __slots__ = ("environment", "errors", "warnings")

    def __init__(self, environment: dict[str, str], errors: list[str], warnings: list[str]):
        _set(self, "environment", environment)
        _set(self, "errors", errors)
        _set(self, "warnings", warnings)


def is_valid_name(name: str) -> bool:
    """systemd's env_name_is_valid: letters, digits and ``_``, not starting with a digit."""
    return bool(name) and name[0] in _NAME_FIRST and all(c in _NAME_CHARS for c in name)


def parse(text: str, source_name: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The valid assignments of one file, in order, and warnings ``source:line: ...``.

    ``text`` is the file decoded as UTF-8 with ``surrogateescape``; an assignment with
    an undecodable byte, or a NUL byte, raises EnvFileError (systemd refuses the file
    then). Duplicates
    are kept in order: the last one wins when they are put in a dict.
    """
    nul = text.find("\0")
    if nul != -1:
        # systemd's read_full_file refuses a file with a NUL byte (EBADMSG).
        line = text.count("\n", 0, nul) + 1
        raise EnvFileError(f"{source_name}:{line}: a NUL byte: this is not a text file")
    assignments: list[tuple[str, str]] = []
    warnings: list[str] = []
    for line, key, value in _scan(text, source_name, warnings):
        if _has_invalid_utf8(key) or _has_invalid_utf8(value):
            what = "name" if _has_invalid_utf8(key) else f"value of {_printable(key)}"
            raise EnvFileError(
                f"{source_name}:{line}: invalid UTF-8 in the {what}: "
                "systemd refuses such a file whole, and so do we"
            )
        if is_valid_name(key):
            assignments.append((key, value))
        else:
            warnings.append(f"{source_name}:{line}: {_why_invalid(key)}: line ignored")
    return assignments, warnings


def _scan(text: str, source_name: str, warnings: list[str]) -> list[tuple[int, str, str]]:
    """systemd's parse_env_file_internal: (line, key, value) for every assignment pushed.

    Kept close to the C so that each quirk stays the same (names and comments follow the
    C's states and its last_*_whitespace marks); the line is where the key began.

    One function on purpose, though long: it is a byte-level state machine mirroring
    systemd's, one loop over the characters with a branch per C state sharing the same
    locals (the key and value being built, the whitespace marks, the line numbers).
    Split into functions, that state would have to travel between them on every
    character, and the side-by-side reading against the C, which is how its quirks
    are checked, would be lost.
    """
    found: list[tuple[int, str, str]] = []
    state = _PRE_KEY
    key: list[str] = []
    value: list[str] = []
    last_key_whitespace: Optional[int] = None
    last_value_whitespace: Optional[int] = None
    line = key_line = quote_line = 1

    def push() -> None:
        if last_key_whitespace is not None:
            del key[last_key_whitespace:]
        found.append((key_line, "".join(key), "".join(value)))
        key.clear()
        value.clear()

    position, length = 0, len(text)
    while position < length:
        # Runs of ordinary characters in a value or comment go in one step (a long value
        # char by char would hold up a spawn); each special character goes below.
        run = _RUNS[state].match(text, position) if state in _RUNS else None
        if run:
            position = run.end()
            line += run.group().count("\n")
            if state == _KEY:
                key.append(run.group())  # items of many characters: see _VALUE
                last_key_whitespace = None
            elif state != _COMMENT:
                value.append(run.group())
                if state == _VALUE:
                    last_value_whitespace = None
            continue
        c = text[position]
        position += 1
        if state == _PRE_KEY:
            if c in _COMMENTS:
                state = _COMMENT
            elif c not in _WHITESPACE:
                state = _KEY
                last_key_whitespace = None
                key_line = line
                key.append(c)
        elif state == _KEY:
            if c in _NEWLINE:
                state = _PRE_KEY
                warnings.append(_no_equals(source_name, key_line, key))
                key.clear()
            elif c == "=":
                state = _PRE_VALUE
                last_value_whitespace = None
            else:
                if c not in _WHITESPACE:
                    last_key_whitespace = None
                elif last_key_whitespace is None:
                    last_key_whitespace = len(key)
                key.append(c)
        elif state == _PRE_VALUE:
            if c in _NEWLINE:
                state = _PRE_KEY
                push()
            elif c == "'":
                state, quote_line = _SINGLE_QUOTE, line
            elif c == '"':
                state, quote_line = _DOUBLE_QUOTE, line
            elif c == "\\":
                state = _VALUE_ESCAPE
            elif c not in _WHITESPACE:
                state = _VALUE
                value.append(c)
        elif state == _VALUE:
            # last_value_whitespace indexes items, not characters: whitespace is always
            # an item of its own, so cutting there cuts where the C cuts.
            if c in _NEWLINE:
                state = _PRE_KEY
                if last_value_whitespace is not None:
                    del value[last_value_whitespace:]  # trailing whitespace goes
                push()
            elif c == "\\":
                state = _VALUE_ESCAPE
                last_value_whitespace = None
            else:
                if c not in _WHITESPACE:
                    last_value_whitespace = None
                elif last_value_whitespace is None:
                    last_value_whitespace = len(value)
                value.append(c)
        elif state == _VALUE_ESCAPE:
            state = _VALUE
            if c not in _NEWLINE:  # a backslash-newline continues the line
                value.append(c)
        elif state == _SINGLE_QUOTE:
            if c == "'":
                state = _PRE_VALUE
            else:
                value.append(c)
        elif state == _DOUBLE_QUOTE:
            if c == '"':
                state = _PRE_VALUE
            elif c == "\\":
                state = _DOUBLE_QUOTE_ESCAPE
            else:
                value.append(c)
        elif state == _DOUBLE_QUOTE_ESCAPE:
            state = _DOUBLE_QUOTE
            if c in _SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != "\n":  # like the shell, other backslashes stay
                value.append("\\")
                value.append(c)
        elif state == _COMMENT:
            if c == "\\":
                state = _COMMENT_ESCAPE
            elif c in _NEWLINE:
                state = _PRE_KEY
        elif state == _COMMENT_ESCAPE:
            state = _PRE_KEY if c in _NEWLINE else _COMMENT
        if c == "\n":
            line += 1
    if state in _IN_VALUE:
        if state == _VALUE and last_value_whitespace is not None:
            del value[last_value_whitespace:]
        if state in (_SINGLE_QUOTE, _DOUBLE_QUOTE, _DOUBLE_QUOTE_ESCAPE):
            warnings.append(
                f"{source_name}:{quote_line}: a quote is never closed: "
                f"{_printable(''.join(key).rstrip(_WHITESPACE))} takes the rest of the file"
            )
        push()
    elif state == _KEY:
        warnings.append(_no_equals(source_name, key_line, key))
    return found


def _no_equals(source_name: str, line: int, key: list[str]) -> str:
    return f'{source_name}:{line}: no "=" in "{_printable("".join(key))}": line ignored'


def _why_invalid(key: str) -> str:
    shown = _printable(key)
    if key.startswith("export ") and is_valid_name(key[7:].strip()):
        return f'"{shown}" is shell syntax; systemd ignores it: write {key[7:].strip()}=...'
    return f'"{shown}" is not a valid variable name (letters, digits, _; not a digit first)'


def _has_invalid_utf8(text: str) -> bool:
    # surrogateescape turned each undecodable byte into one of these.
    return _UNDECODED.search(text) is not None


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")[:80]


def read_env_files(
    paths: list[str],
    base_directory: str = "/",
    may_read: Optional[Callable[[os.stat_result], Optional[str]]] = None,
) -> LoadedEnvironment:
    """Read env files in order into one environment (later files win).

    A path with a leading ``-`` is optional: missing, it is skipped silently (systemd's
    rule); unreadable, it is skipped with a warning. Relative paths are taken from
    ``base_directory``. Only regular files are read (symlinks to one are fine: a FIFO
    would block the reader, a device would never end), each up to MAX_FILE_BYTES.
    ``may_read(stat of the opened file)`` gives why the file must not be read (None:
    it may): the daemon reads as root for a program that runs as another user.
    Blocking file I/O, bounded: the caller decides where it runs.
    """
    environment: dict[str, str] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for given in paths:
        optional = given.startswith("-")
        path = os.path.join(base_directory, given[1:] if optional else given)
        try:
            data = _read_regular_file(path, may_read)
        except OSError as error:
            if optional and error.errno == errno.ENOENT:
                continue
            reason = error.strerror or str(error)
            (warnings if optional else errors).append(f"{path}: {reason}")
            continue
        text = data.decode("utf-8", "surrogateescape")
        try:
            assignments, file_warnings = parse(text, path)
        except EnvFileError as error:
            (warnings if optional else errors).append(str(error))
            continue
        warnings.extend(file_warnings)
        environment.update(assignments)
    return LoadedEnvironment(environment, errors, warnings)


def _read_regular_file(
    path: str, may_read: Optional[Callable[[os.stat_result], Optional[str]]] = None
) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    flags = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        refusal = may_read(info) if may_read is not None else None
        if refusal is not None:  # checked on what was opened: a symlink swap cannot dodge it
            raise OSError(errno.EACCES, refusal)
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES // 1024} KiB")
    finally:
        os.close(fd)
