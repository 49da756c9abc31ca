"""The config loader: reading the main file and its includes, and the load in order:
the tables converted (load_tables.py), then the checks that span keys or files
(load_checks.py: groups, depends_on, every program log writable).

Every problem is collected in `Loader.errors` (`<file>: <key path>: <message>`), never
raised: load_config (load.py) turns them into one ConfigError. Builds the
programs as model.py's ProgramConfig; does no process work.
"""

from __future__ import annotations

import glob
import os
import sys
from typing import Any

from supervisord_lite.base import paths
from supervisord_lite.config.bounded_read import UnreadableFile
from supervisord_lite.config.bounded_read import read_bounded as read_config_bytes
from supervisord_lite.config.keys import INCLUDE_TOP_KEYS, TOP_KEYS
from supervisord_lite.config.load_checks import CrossChecks
from supervisord_lite.config.load_tables import TableConverter
from supervisord_lite.config.sockets import held_socket_tables, used_sockets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the 3.9/3.10 CI only
    import tomli as tomllib


class Loader(TableConverter, CrossChecks):
    """One load of a main file and its includes (load_context.py holds its state)."""

    def load(self) -> dict[str, Any] | None:
        """The [supervisord] settings, with self.programs filled in (the programs that
        could be built, even when self.errors has others' problems); None when the main
        file cannot be read or parsed."""
        doc = self.read(self.path)
        if doc is None:
            return None
        self.check_trusted(self.path)
        self.check_top_keys(self.path, doc, TOP_KEYS)
        settings = self.daemon_settings(doc.get("supervisord", {}))
        settings["alerts"] = self.alerts(doc.get("alerts"))
        settings["http"] = self.http_settings(doc["http"]) if "http" in doc else None
        docs = [(self.path, doc)]
        for file in self.include_files(settings["include"]):
            inc = self.read(file)
            if inc is not None:
                self.check_trusted(file)
                self.check_top_keys(file, inc, INCLUDE_TOP_KEYS)
                docs.append((file, inc))
        # Groups first, wherever they are: each program is built once, knowing its group.
        for file, tables in docs:
            self.add_groups(file, tables)
        self.member_of = self.group_membership()
        self.environment = settings["environment"]
        self.sockets = held_socket_tables(docs, self.resolve, self.euid, self.error)
        for file, tables in docs:
            self.add_programs(file, tables)
        settings["sockets"] = self.sockets
        for name in self.sockets.keys() - used_sockets(self.programs.values()).keys():
            self.warnings.append(f"[sockets.{name}]: no program names it, so it is not bound")
        self.check_group_members()
        self.check_depends_on()
        if self.check_logs:
            self.check_log_paths(settings["log_dir"])
        settings["include"] = tuple(self.resolve(p) for p in settings["include"])
        settings["groups"] = {
            name: (members, priority) for name, (_, members, priority) in self.groups.items()
        }
        return settings

    def read(self, file: str) -> dict[str, Any] | None:
        try:
            data = read_config_bytes(file)
        except UnreadableFile as exc:  # a FIFO, /dev/zero, a huge file: never read
            self.errors.append(f"{file}: cannot read: {exc}")
            return None
        try:
            return tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self.errors.append(f"{file}: invalid TOML: not UTF-8 ({exc})")
        except tomllib.TOMLDecodeError as exc:  # its message carries line and column
            self.errors.append(f"{file}: invalid TOML: {exc}")
        except RecursionError:  # tomllib recurses into nested arrays and inline tables
            self.errors.append(f"{file}: invalid TOML: nested too deeply")
        return None

    def check_trusted(self, file: str) -> None:
        """A file root reads that another user could write is a warning, as supervisord
        warns about searching the current directory: named with -c or included, it is
        the admin's choice (found without -c, paths.find_config_path refuses it)."""
        reason = paths.untrusted_reason(file, self.euid)
        if reason is not None:
            self.warnings.append(
                f"{file}: {reason}; another user could make root run anything "
                "(make it and its directories root's, not writable by group or others)"
            )

    def check_top_keys(self, file: str, doc: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in doc:
            if key in allowed:
                continue
            if key == "supervisord":  # allowed only in the main file
                message = (
                    "not allowed in an include file (only [programs.*], [groups.*] and "
                    "[sockets.*] are)"
                )
                self.error(file, (key,), message)
            else:
                self.unknown_key(file, (key,), key, allowed)

    def include_files(self, patterns: tuple[str, ...]) -> list[str]:
        """Files matched by the include globs: each pattern's matches sorted, no repeats."""
        shown_base = os.path.dirname(self.path)  # so messages name files as the user would
        main = os.path.realpath(self.path)
        seen, files = {main}, []
        for pattern in patterns:
            if not os.path.isabs(pattern):
                pattern = os.path.join(glob.escape(shown_base), pattern) if shown_base else pattern
            for match in sorted(glob.glob(pattern)):
                real = os.path.realpath(match)
                if real in seen:  # "*.toml" beside the main file must not include it again
                    continue
                seen.add(real)
                if os.path.isfile(match):
                    files.append(match)
                else:  # a directory, or a FIFO or device that a read could block on forever
                    self.errors.append(f"{match}: cannot read: not a regular file")
        return files
