"""The state of one conversion (convert/converter.py): the INI as supervisor_ini.py read
it, the names given out so far, the superlance listeners found, and every warning with
the table it is written above. The rooms that write the tables (supervisord_table.py,
program_tables.py, program_warnings.py, listeners.py) all work on one Conversion.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.httpok import HttpOk
from supervisord_lite.convert.mailers import Mailer
from supervisord_lite.convert.memmon import MemMon
from supervisord_lite.convert.names import Renamer
from supervisord_lite.convert.templates import template_for


class Warning_:
    """One setting not carried over exactly: where it is and what happens instead."""

    __slots__ = ("file", "line", "section", "key", "message")

    def __init__(self, file: str, line: int, section: str, key: str | None, message: str):
        self.file, self.line, self.section, self.key, self.message = (
            file,
            line,
            section,
            key,
            message,
        )

    def __str__(self) -> str:
        where = f"{_shown_path(self.file)}:{self.line}" if self.line else _shown_path(self.file)
        what = f"[{self.section}] {self.key}" if self.key else f"[{self.section}]"
        return f"{where}: {what}: {self.message}"


def _shown_path(path: str) -> str:
    relative = os.path.relpath(path) if path else path
    return path if not path or relative.startswith("..") else relative


def argv_of(command: str) -> list[str]:
    """A command line as supervisord splits it at each start."""
    return shlex.split(command)


class Conversion:
    def __init__(self, parsed: dict[str, Any], environ: dict[str, str], keep_listeners=False):
        self.keep_listeners = keep_listeners  # superlance's too become [listeners.x]
        # [listeners.x] tables: name here -> (the INI's name, keys)
        self.listener_tables: dict[str, tuple[str, dict[str, Any]]] = {}
        self.parsed = parsed
        self.sections = parsed["sections"]
        self.warnings: list[Warning_] = []
        self.environ = environ
        self.here = os.path.dirname(os.path.abspath(parsed["path"]))
        self.literals = {f"ENV_{k}": v for k, v in environ.items()}
        self.literals.update(
            {f"ENV_{k}": v for k, v in parsed["supervisord"]["environment"].items()}
        )
        self.literals["here"] = self.here
        self.table_warnings: dict[str, list[Warning_]] = {}
        names = [p["name"] for p in parsed["programs"]] + [g["name"] for g in parsed["groups"]]
        self.renamer = Renamer(names)
        self.renamed_groups: set[str] = set()
        self.mailers: list[tuple[str, Mailer]] = []  # (section, what it asked for)
        self.httpoks: list[tuple[str, HttpOk]] = []
        self.memmons: list[tuple[str, MemMon]] = []

    # -- warnings

    def warn(self, section: str, key: str | None, message: str, table: str = "") -> None:
        info = self.sections.get(section, {})
        option = info.get("options", {}).get(key) if key else None
        if option is not None:
            file, line = option["file"], option["line"]
        else:
            file, line = info.get("file", self.parsed["path"]), info.get("line", 0)
        warning = Warning_(file, line, section, key, message)
        self.warnings.append(warning)
        self.table_warnings.setdefault(table, []).append(warning)

    def add(self, warning: Warning_, table: str) -> None:
        self.warnings.append(warning)
        self.table_warnings.setdefault(table, []).append(warning)

    def note_reading(self) -> None:
        """What reading the INI found: host problems, values taken from the environment
        convert runs in, % fields without a name."""
        for file, line, section, key, message in self.parsed["host_problems"]:
            message = f"{message} (supervisord would refuse this here)"
            self.add(Warning_(file, line, section, key, message), self.table_of(section))
        for file, line, section, key, names in self.parsed["environ_used"]:
            shown = ", ".join(f"%(ENV_{n})s" for n in names)
            message = (f"{shown} resolved from the environment convert ran in; the value is "
                       "written into the TOML")  # fmt: skip
            self.add(Warning_(file, line, section, key, message), self.table_of(section))
        for file, line, section, key in self.parsed["unnamed_fields"]:
            message = ("a % field without a (name), e.g. %s: supervisord puts the text of its "
                       "whole table of expansions (every environment variable) there, and so "
                       "does this conversion; write %% for a literal %")  # fmt: skip
            self.add(Warning_(file, line, section, key, message), self.table_of(section))

    def warn_relative(self, section: str, key: str, path: str, table: str) -> None:
        if path and not os.path.isabs(path) and path.lower() not in ("auto", "none"):
            self.warn(
                section,
                key,
                f"relative path {path!r}: resolved against the TOML file's directory here "
                "(Supervisor: against supervisord's working directory)",
                table,
            )

    def given(self, section: str, key: str) -> bool:
        return key in self.sections.get(section, {}).get("options", {})

    def sort_warnings(self) -> None:
        """In file order: the files in the order they were read, then by line."""
        order = {path: n for n, path in enumerate(self.parsed["files"])}

        def position(warning: Warning_) -> tuple[int, int]:
            return order.get(warning.file, len(order)), warning.line

        self.warnings.sort(key=position)
        for warnings in self.table_warnings.values():
            warnings.sort(key=position)

    # -- names and templates

    def table_of(self, section: str) -> str:
        kind, _, name = section.partition(":")
        if kind == "eventlistener":
            return f"listeners.{name}"
        if kind in ini.PROGRAM_KINDS:
            return f"programs.{name}"
        if kind == "group":
            return f"groups.{name}"
        return "supervisord"

    def table_name(self, name: str) -> str:
        """The program's name here: its own, or a replacement nothing else has."""
        return self.renamer.name(name)

    def group_name(self, name: str) -> str:
        """A [group:x]'s name here, warned once when it has to change."""
        new = self.renamer.name(name)
        if new != name and f"group:{name}" not in self.renamed_groups:
            self.renamed_groups.add(f"group:{name}")
            section = f"group:{name}" if f"group:{name}" in self.sections else None
            where = section or next(p["section"] for p in self.parsed["programs"]
                                    if p["group"] == name)  # fmt: skip
            self.warn(where, None, f"the group name {name!r} is not valid here (letters, "
                      f"digits, _ . -; not all): written as {new!r}, so its processes are "
                      f"{new}:NAME", f"groups.{new}")  # fmt: skip
        return new

    def template(self, raw: str | None, program: dict[str, Any], values: list[Any]) -> str | None:
        literals = dict(self.literals)
        literals.update({f"ENV_{k}": v for k, v in program["processes"][0]["environment"].items()})
        return template_for(raw, program, values, literals)
