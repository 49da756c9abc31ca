"""One config load's state, and the steps every part of the loader takes: an error
with its file and key path, a path made absolute against the config's folder, a
table's keys converted per a key table (an unknown key named with the nearest one).

The loader is split by job into classes over this one: load_tables.py converts each
table, load_checks.py checks what spans programs, groups and files, and loader.py
(Loader, both of them) reads the files and includes and runs the load in order.
"""

from __future__ import annotations

import os
from typing import Any

from supervisord_lite.config import values as cv
from supervisord_lite.config.messages import key_path
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.config.sockets import SocketConfig


class LoadContext:
    """One load: the collected errors and the context every check needs."""

    def __init__(
        self,
        path: str,
        euid: int,
        check_logs: bool = True,
    ):
        self.path = path
        self.euid = euid
        self.check_logs = check_logs
        self.base = os.path.dirname(os.path.abspath(path))  # relative paths resolve here
        self.errors: list[str] = []
        self.warnings: list[str] = []  # loaded anyway: told at launch and by --check
        self.sources: dict[str, str] = {}  # every program name seen -> its file
        self.deps: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (file, depends_on)
        self.programs: dict[str, ProgramConfig] = {}  # the valid ones, in load order
        # group name -> (file, its programs, its priority), from [groups.*]
        self.groups: dict[str, tuple[str, tuple[str, ...], int]] = {}
        self.member_of: dict[str, tuple[str, int]] = {}  # program -> (group, priority)
        self.environment: tuple[tuple[str, str], ...] = ()  # [supervisord] environment
        self.taken: dict[str, str] = {}  # full process name -> the program giving it
        self.sockets: dict[str, SocketConfig] = {}  # [sockets.*], every file's
        self.values_seen: dict = {}  # for shared(): (type, value) -> the first such value

    def shared(self, value: Any) -> Any:
        """value, or the equal value of the same type seen before in this load.

        Each program's settings are parsed into objects of their own: a thousand
        programs with the same command, log settings and timeouts held a thousand
        copies of each (0.35 KiB a program, measured). Strings, numbers and tuples of strings
        are immutable, so equal ones can be one object."""
        kind = type(value)
        if kind is tuple:
            if not value or not all(type(item) is str for item in value):
                return value
            value = tuple([self.shared(item) for item in value])
        elif kind is not str and kind is not int and kind is not float:
            return value  # bools and None are singletons; the rest are left as they are
        return self.values_seen.setdefault((kind, value), value)

    def error(self, file: str, parts: tuple[str | int, ...], message: str) -> None:
        self.errors.append(f"{file}: {key_path(*parts)}: {message}")

    def resolve(self, p: str) -> str:
        return os.path.normpath(os.path.join(self.base, p))

    def unknown_key(
        self, file: str, parts: tuple[str | int, ...], key: str, known: Any, hint: str = ""
    ) -> None:
        import difflib  # only for a mistake: not worth its memory for the daemon's life

        close = difflib.get_close_matches(key, list(known), n=1)
        if close and close[0] != key:
            hint = f' (did you mean "{close[0]}"?)' + hint
        self.error(file, parts, "unknown key" + hint)

    def convert_table(
        self, file: str, parts: tuple[str, ...], table: dict[str, Any], keys: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Convert every key of `table` per `keys`: (the good values, whether all were good)."""
        values = {}
        ok = True
        for key, raw in table.items():
            if key not in keys:
                self.unknown_key(file, (*parts, key), key, keys)
                ok = False
                continue
            try:
                values[key] = keys[key][0](raw)
            except cv.Invalid as exc:
                for sub, message in exc.problems:
                    self.error(file, (*parts, key, *sub), message)
                ok = False
            except ValueError as exc:  # a plain ValueError from some other converter
                self.error(file, (*parts, key), str(exc))
                ok = False
        return values, ok
