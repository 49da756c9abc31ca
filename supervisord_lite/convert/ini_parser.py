"""Supervisor's INI parsing: configparser with the options supervisor's
UnhosedConfigParser sets, keeping the file and line where every section and option was
(last) set, so that every message can say FILE:LINE.
"""

from __future__ import annotations

import configparser
import io
from typing import Any

from supervisord_lite.config.bounded_read import UnreadableFile, read_bounded


class IniError(Exception):
    """Input supervisord itself would refuse; the message names the file (and line)."""


class Located(dict):
    """One option: {"value": raw text, "file": path, "line": n}."""


# --- reading: configparser with supervisor's settings, plus line numbers ------------------


def read_text(path: str) -> str:
    """A config file's text: a regular file, bounded (config/bounded_read.py), UTF-8."""
    try:
        data = read_bounded(path)
    except UnreadableFile as exc:
        raise IniError(f"{path}: cannot read: {exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IniError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _Position:
    def __init__(self) -> None:
        self.file = ""
        self.line = 0


class _CountingLines:
    """Iterates a file's lines, telling `position` which line configparser is reading."""

    def __init__(self, fp: Any, position: _Position) -> None:
        self.fp = fp
        self.position = position
        self.name = getattr(fp, "name", "<string>")

    def __iter__(self):
        for number, line in enumerate(self.fp, start=1):
            self.position.line = number
            yield line


def _located_dict_type(position: _Position, where: dict):
    """configparser's dict_type: records where each section and option was (last) set.

    configparser stores a new option as `section[key] = [first line]` and joins the
    continuation lines later with a plain-string assignment; only the first kind is a
    definition. A section is stored as `sections[name] = dict`."""

    class LocatedDict(dict):
        section = "DEFAULT"

        def __setitem__(self, key: str, value: Any) -> None:
            if isinstance(value, list):
                where[(self.section, key)] = (position.file, position.line)
            elif isinstance(value, LocatedDict) and not isinstance(key, tuple):
                value.section = key
                where.setdefault((key, None), (position.file, position.line))
            super().__setitem__(key, value)

    return LocatedDict


class Parser(configparser.RawConfigParser):
    """supervisor's UnhosedConfigParser, keeping where every option was set."""

    def __init__(self) -> None:
        self.position = _Position()
        self.where: dict[tuple[str, str | None], tuple[str, int]] = {}
        super().__init__(
            inline_comment_prefixes=(";", "#"),
            strict=False,
            dict_type=_located_dict_type(self.position, self.where),
        )
        self.section_to_file: dict[str, str] = {}

    def read_path(self, path: str) -> None:
        """Parse one file. Errors name the file and line, never quote it: an [include]
        can name any file (/etc/shadow when convert runs as root)."""
        before = set(self.sections())
        text = read_text(path)
        self.position.file = path
        lines = _CountingLines(io.StringIO(text), self.position)
        try:
            self.read_file(lines, source=path)
        except configparser.MissingSectionHeaderError as exc:
            raise IniError(
                f"{path}:{exc.lineno}: no [section] header before this line (is this an INI file?)"
            ) from None
        except configparser.ParsingError as exc:
            lineno, _ = exc.errors[0]
            raise IniError(
                f"{path}:{lineno}: cannot parse this line (expected key = value)"
            ) from None
        for section in set(self.sections()) - before:
            self.section_to_file[section] = path

    def expand_here(self, here: str) -> None:
        # supervisor replaces %(here)s textually, file by file, while reading [include]s
        for section in self.sections():
            for key, value in self.items(section):
                if "%(here)s" in value:
                    self.set(section, key, value.replace("%(here)s", here))

    def locate(self, section: str, key: str) -> tuple[str, int]:
        found = self.where.get((section, key)) or self.where.get(("DEFAULT", key))
        if found is None:
            return self.locate_section(section)
        return found

    def locate_section(self, section: str) -> tuple[str, int]:
        return self.where.get((section, None), (self.section_to_file.get(section, ""), 0))


def inline_comment_cut(path: str, line: int) -> bool:
    """Whether line `line` of `path` holds ` ;` or ` #`, where configparser (with
    supervisor's inline_comment_prefixes) ended its value."""
    try:
        text = read_text(path).splitlines()[line - 1]
    except (IniError, IndexError):
        return False
    return " ;" in text or " #" in text or "\t;" in text or "\t#" in text
