"""Values written into systemd unit files so that systemd reads back exactly the value
meant, and never a directive nobody wrote (systemd.syntax(7), systemd.service(5)).

systemd reads a unit line by line and ends a line at LF, at CR and at NUL; a line whose
last character is an unescaped backslash continues on the next one. So a value holding
a lone CR would end its line, and the rest of it (say `ExecStartPre=+/bin/sh ...`)
would be read as a directive of its own, run as root. Every value therefore goes
through one of the writers below, and `check_unit_text` refuses a finished unit that
still holds a control character or a continuation: the last guard, for any value a
writer was not used for.

Settings that systemd C-unescapes inside quotes (ExecStart= words, Environment=
assignments) carry any character but NUL; settings it reads verbatim (User=,
WorkingDirectory=, StandardOutput=append:PATH, Description=) cannot carry a control
character at all: `verbatim` refuses one with `Unrepresentable`.
"""

from __future__ import annotations

import re

_ESCAPE_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")
# C0 controls and DEL: what systemd's line reader and C unescaping care about.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_C_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}
# Unquoted, a word of these characters is read as written (no escape, no specifier,
# no variable, no separator).
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./,=:@+-]+")
# What a first ExecStart= word may start with to change how it runs ("+": as root).
_EXEC_PREFIXES = "@-:+!|"
# systemd.exec(5) "Environment": names as the shell takes them; others are ignored.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Unrepresentable(ValueError):
    """A value a unit file cannot carry exactly; the message says why."""


def unit_escape(name: str) -> str:
    """`name` escaped as `systemd-escape NAME` does: `/` becomes `-`, every byte outside
    [A-Za-z0-9:_.] (and a leading `.`) becomes `\\xNN`."""
    out = []
    for i, byte in enumerate(name.encode()):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif char in _ESCAPE_KEEP and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def specifiers(text: str) -> str:
    """`%` is systemd's specifier character in every value: doubled to stay literal."""
    return text.replace("%", "%%")


def _c_escape(text: str) -> str:
    """For the inside of a double-quoted word: systemd C-unescapes it (\\n, \\xNN)."""
    if "\0" in text:
        raise Unrepresentable("holds a NUL character, which no unit setting can carry")
    out = []
    for char in text:
        if char in _C_ESCAPES:
            out.append(_C_ESCAPES[char])
        elif _CONTROL.match(char):
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def control_characters(text: str) -> str:
    """The control characters of `text`, shown as escapes ("\\r, \\x1b"); "" if none."""
    found = dict.fromkeys(_CONTROL.findall(text))
    return ", ".join(repr(c)[1:-1] for c in found)


def quote_word(word: str, first: bool = False) -> str:
    """One argument of ExecStart= (systemd.service(5) "Command lines"): as is when it is
    plain, else double-quoted with C escapes; `%` and `$` doubled so systemd expands
    neither. Unrepresentable for a first word that starts like a prefix (`+`: full
    privileges, `-`: failure ignored ...): systemd reads prefixes after unquoting."""
    if first and word[:1] in tuple(_EXEC_PREFIXES):
        raise Unrepresentable(
            f"{word!r} begins with {word[0]!r}, which systemd reads as a prefix of "
            "ExecStart= (e.g. + runs it with full privileges); give its absolute path"
        )
    if _PLAIN_WORD.fullmatch(word):
        return word
    return '"' + specifiers(_c_escape(word)).replace("$", "$$") + '"'


def quote_assignment(key: str, value: str) -> str:
    """One Environment= item: `"KEY=value"`, quoted and escaped (`$` is literal there).
    Unrepresentable for a name systemd would ignore."""
    if not _ENV_NAME.fullmatch(key):
        raise Unrepresentable(
            f"variable name {key!r}: systemd takes only letters, digits and _ "
            "(not first) in Environment= and ignores the rest"
        )
    return '"' + specifiers(_c_escape(f"{key}={value}")) + '"'


def verbatim(value: str) -> str:
    """A value systemd reads as written but for specifiers (paths, user names): `%`
    doubled; Unrepresentable when it holds what no unit line can carry."""
    shown = control_characters(value)
    if shown:
        raise Unrepresentable(f"holds control characters ({shown}) that a unit line cannot carry")
    if value != value.strip():
        raise Unrepresentable("begins or ends with white space, which systemd strips")
    if value.endswith("\\"):
        raise Unrepresentable("ends with a backslash, which would join the next line to it")
    return specifiers(value)


def visible(text: str) -> str:
    """Text for a comment or description: every control character shown as `\\xNN`,
    never written (a CR in a comment would end it and start a directive)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def comment(text: str) -> str:
    return "# " + visible(text)


def check_unit_text(name: str, text: str) -> None:
    """The last guard: no control character but the line ends, and no setting line
    that systemd would join to the next. Raises Unrepresentable (a writer was skipped:
    a bug, refused rather than written)."""
    for number, line in enumerate(text.split("\n"), start=1):
        shown = control_characters(line)
        if shown:
            raise Unrepresentable(f"{name}: line {number} holds control characters ({shown})")
        if line.endswith("\\") and not line.startswith(("#", ";")):
            raise Unrepresentable(f"{name}: line {number} ends with a backslash")
