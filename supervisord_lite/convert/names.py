"""Names in a converted config. Supervisor takes almost any program, group or process
name (anything but ' ', ':' and '/'); supervisord-lite takes letters of any script,
digits, '_', '.' and '-' (names.NAME), and keeps `all` for every process. A name it
can take is kept as is; any other is renamed, once, to a name nothing else in the
config has, and convert warns with both names: the process names supervisorctl showed
change, so whoever scripts against them must know.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from supervisord_lite.base.names import NAME

RESERVED = frozenset({"all"})
_NOT_IN_A_NAME = re.compile(r"[^\w.-]")
_FORMATTER = string.Formatter()


def valid(name: str) -> bool:
    return NAME.fullmatch(name) is not None and name not in RESERVED


def replacement(name: str) -> str:
    """`name` with every character a name cannot hold as `_` (`all` as `all_`)."""
    fixed = _NOT_IN_A_NAME.sub("_", name) or "_"
    return fixed + "_" if fixed in RESERVED else fixed


def fixed_template(template: str) -> str:
    """A process_name template whose literal text holds only what a name can: fields
    stay fields (their values are names or numbers already)."""
    out = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        out.append(_NOT_IN_A_NAME.sub("_", literal))
        if field is not None:
            out.append("{" + field + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")  # fmt: skip
    return "".join(out)


class Renamer:
    """One config's program and group names: each invalid one gets a replacement no
    other name has; asking twice gives the same answer."""

    def __init__(self, names: Iterable[str]):
        self.taken = {n for n in names if valid(n)}  # an invalid name is never written
        self.given: dict[str, str] = {}

    def name(self, original: str) -> str:
        if valid(original):
            return original
        if original not in self.given:
            self.given[original] = self.unused(replacement(original))
        return self.given[original]

    def unused(self, base: str) -> str:
        """`base`, or `base_2`, `base_3` ...: the first no other program or group has."""
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}_{n}"
        self.taken.add(candidate)
        return candidate
