"""One option of a Supervisor INI read as supervisord reads it: its %-expansion (with
which names), its conversion to a value, an error naming FILE:LINE, and what the host
lacks noted instead of refused. supervisor_ini.py (the file, [supervisord], the
servers) and ini_programs.py (groups and programs) read every option through it.

The parsing itself is ini_parser.py's, the value types supervisor_datatypes.py's.
"""

from __future__ import annotations

import configparser
import os
import re
from typing import Any

from supervisord_lite.convert.ini_parser import IniError, Parser
from supervisord_lite.convert.supervisor_datatypes import expand, referenced_names

# `%s` with no (name): `text % mapping` puts the repr of the whole mapping there.
_UNNAMED = re.compile(r"%(?:%|\([^)]*\))|(%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")


class Lookup:
    """The parsed file and what reading it has found so far: the ENV_* names expansions
    see, the host problems, the environment variables a value took from the environment
    convert runs in, the % fields without a name."""

    def __init__(self, path: str, environ: dict[str, str]) -> None:
        self.path = path  # as given: messages name it so
        self.here = os.path.dirname(os.path.abspath(path))
        self.os_environ = environ
        self.environ_expansions = {f"ENV_{k}": v for k, v in environ.items()}
        self.config_env_names: set[str] = set()
        self.parser = Parser()
        self.host_problems: list[tuple[str, int, str, str, str]] = []
        self.environ_used: dict[tuple[str, str], list[str]] = {}
        self.unnamed: set[tuple[str, str]] = set()
        self.files = [self.path]

    def fail(self, section: str, key: str | None, message: str) -> IniError:
        file, line = (
            self.parser.locate(section, key) if key else self.parser.locate_section(section)
        )
        where = f"{file}:{line}" if line else (file or self.path)
        what = f"[{section}] {key}" if key else f"[{section}]"
        return IniError(f"{where}: {what}: {message}")

    def host_problem(self, section: str, key: str, message: str) -> None:
        file, line = self.parser.locate(section, key)
        self.host_problems.append((file, line, section, key, message))

    def note_environ(self, section: str, key: str, text: str, local: set[str]) -> None:
        names = [
            n[4:]
            for n in referenced_names(text)
            if n.startswith("ENV_")
            and n[4:] not in local
            and n[4:] not in self.config_env_names
            and n[4:] in self.os_environ
        ]
        if names:
            self.environ_used.setdefault((section, key), [])
            for name in names:
                if name not in self.environ_used[(section, key)]:
                    self.environ_used[(section, key)].append(name)

    def get(
        self,
        section: str,
        key: str,
        default: Any = None,
        expansions: dict[str, Any] | None = None,
        expand_it: bool = True,
        local_env: set[str] = frozenset(),
    ) -> Any:
        """UnhosedConfigParser.saneget: the raw value or `default`, %-expanded with the
        environment's ENV_* names plus `expansions`."""
        try:
            value = self.parser.get(section, key)
        except configparser.NoOptionError:
            value = default
        if expand_it and isinstance(value, str):
            if any(m.group(1) for m in _UNNAMED.finditer(value)):
                self.unnamed.add((section, key))
            combined = dict(self.environ_expansions)
            combined.update(expansions or {})
            self.note_environ(section, key, value, local_env)
            try:
                value = expand(value, combined, f"{section}.{key}")
            except ValueError as exc:
                raise self.fail(section, key, str(exc)) from None
        return value

    def convert(self, section: str, key: str, converter, value: Any) -> Any:
        try:
            return converter(value)
        except (TypeError, ValueError) as exc:
            raise self.fail(section, key, str(exc)) from None

    def expand_again(self, section: str, key: str, text: str, expansions: dict) -> str:
        """supervisord %-expands some values a second time (logfiles, environments)."""
        combined = dict(self.environ_expansions)
        combined.update(expansions)
        try:
            return expand(text, combined, key)
        except ValueError as exc:
            raise self.fail(section, key, str(exc)) from None

    def check_dirpath(self, section: str, key: str, path: str) -> None:
        """supervisor.datatypes.existing_dirpath, as a host problem."""
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            self.host_problem(
                section, key, f"the directory named as part of the path {path} does not exist"
            )
