"""The plain lines of a config that name the daemon's socket, read without `re`.

The ctl reads `[supervisord] socket` from the config before it can connect; the
regular expressions that did it cost ~7 ms of start-up for `import re` (enum,
functools...): a third of the ctl's own work. These few string tests read exactly
what those expressions matched (tests/unit/test_socket_lines.py holds them side by
side):
  programs header  (?m)^[ \\t]*\\[[ \\t]*["']?programs
  table header     \\[\\s*(["']?)supervisord\\1\\s*\\]\\s*(#.*)?$
  socket line      (["']?)socket\\1\\s*=\\s*(?:"([^"\\\\]*)"|'([^']*)')\\s*(#.*)?$
  a key to leave to tomllib   ["']?(?:socket|supervisord)\\b
"""

from __future__ import annotations

_QUOTES = ("'", '"')


def programs_cut(text: str) -> int:
    """Where the first `[programs...` table header line starts (len(text): none)."""
    start = 0
    for line in text.split("\n"):
        rest = line.lstrip(" \t")
        if rest[:1] == "[":
            rest = rest[1:].lstrip(" \t")
            if rest[:1] in _QUOTES:
                rest = rest[1:]
            if rest.startswith("programs"):
                return start
        start += len(line) + 1
    return len(text)


def _quote(line: str) -> str:
    return line[0] if line[:1] in _QUOTES else ""


def _ends(rest: str) -> bool:
    """Only blanks, or a comment, left on the line."""
    rest = rest.lstrip()
    return not rest or rest[0] == "#"


def is_supervisord_header(line: str) -> bool:
    """line (stripped) is the [supervisord] table's header."""
    if line[:1] != "[":
        return False
    rest = line[1:].lstrip()
    quote = _quote(rest)
    word = len(quote) + len("supervisord")
    if not rest.startswith("supervisord", len(quote)) or not rest.startswith(quote, word):
        return False
    rest = rest[word + len(quote) :].lstrip()
    return rest[:1] == "]" and _ends(rest[1:])


def socket_value(line: str) -> str | None:
    """The value of a plain `socket = "..."` line (stripped), else None."""
    quote = _quote(line)
    word = len(quote) + len("socket")
    if not line.startswith("socket", len(quote)) or not line.startswith(quote, word):
        return None
    rest = line[word + len(quote) :].lstrip()
    if rest[:1] != "=":
        return None
    rest = rest[1:].lstrip()
    delimiter = rest[:1]
    if delimiter not in _QUOTES:
        return None
    end = rest.find(delimiter, 1)
    value = rest[1:end]
    if end < 0 or (delimiter == '"' and "\\" in value) or not _ends(rest[end + 1 :]):
        return None
    return value


def names_socket_key(line: str) -> bool:
    """line (stripped) sets `socket` or `supervisord` some other way (dotted, inline)."""
    if line[:1] in _QUOTES:
        line = line[1:]
    for word in ("socket", "supervisord"):
        if line.startswith(word):
            after = line[len(word) : len(word) + 1]
            return not (after.isalnum() or after == "_")
    return False
