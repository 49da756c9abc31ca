"""`supervisord-lite convert SUPERVISORD.CONF [-o OUT.toml]`: a Supervisor INI config
(read by supervisor_ini.py exactly as supervisord reads it) written as this project's
TOML, with a warning for every setting not carried over exactly.

Each warning reads `FILE:LINE: [section] key: message`; it goes to stderr and, as a
`# ` comment, above the table it concerns in the output. Values are written wherever
Supervisor's resolved value differs from this project's default, so the converted
file behaves as the old one did (stopasgroup = false, backoff_max = 0, ...).

A numprocs > 1 program whose command, directory or environment differs between its
processes (e.g. `--name=%(process_num)d`) cannot be one table here (those keys take no
templates): it becomes one program per process, all in a [groups.NAME] of the original
name, each with its process_name fixed, so every full name stays supervisorctl's.
Log paths and process names become `{process_num:02d}`-style templates instead when
the template renders exactly Supervisor's names.

The rooms: conversion.py (the state and the warnings), supervisord_table.py,
program_tables.py, program_warnings.py, listeners.py (superlance); the TOML text is
toml_writer.py's, the templates templates.py's, the names names.py's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.conversion import Conversion, Warning_
from supervisord_lite.convert.fcgi import fcgi_sockets
from supervisord_lite.convert.listeners import apply_httpoks, apply_memmons, listener, mail_alerts
from supervisord_lite.convert.program_tables import program_tables
from supervisord_lite.convert.supervisord_table import supervisord_table, warn_sections
from supervisord_lite.convert.toml_writer import comment, toml_key, toml_setting, toml_value

EXIT_OK = 0
EXIT_REFUSED = 2


# --- the conversion ---------------------------------------------------------------------


def convert(path: str, environ: dict[str, str] | None = None) -> tuple[str, list[Warning_]]:
    """The TOML text for the Supervisor config at `path`, and the warnings.
    Raises ini.IniError for input supervisord itself would refuse."""
    environ = dict(os.environ if environ is None else environ)
    c = Conversion(ini.read(path, environ), environ)
    c.note_reading()
    warn_sections(c)
    supervisord = supervisord_table(c)
    programs, groups = program_and_group_tables(c)
    sockets = fcgi_sockets(c, programs)
    alerts = mail_alerts(c)
    c.sort_warnings()
    return render(c, supervisord, alerts, groups, programs, sockets), c.warnings


def program_and_group_tables(
    c: Conversion,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every [program:x] as its table(s), every group that needs one (a [group:x], or a
    program split per process), and what the listeners add to the programs they watch."""
    tables: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    heterogeneous = {g["name"]: g for g in c.parsed["groups"]}
    for group in c.parsed["groups"]:
        groups[c.group_name(group["name"])] = {
            "programs": [],
            "priority": group["priority"],
        }
    for program in c.parsed["programs"]:
        section = program["section"]
        if program["kind"] == "eventlistener":
            listener(c, program)
            continue
        if section in seen:
            c.warn(
                section,
                None,
                f"also named by [group:{program['group']}]: here a program is in one "
                f"group only, it stays in {seen[section]}",
                f"groups.{program['group']}",
            )
            continue
        seen[section] = program["group"]
        converted = program_tables(c, program)
        program["tables"] = [name for name, _ in converted]
        in_group = program["group"] in heterogeneous
        if len(converted) > 1 and not in_group:
            groups[c.group_name(program["group"])] = {
                "programs": [],
                "priority": program["settings"]["priority"],
            }
            in_group = True
        for name, table in converted:
            tables[name] = table
            if in_group:
                groups[c.group_name(program["group"])]["programs"].append(name)
    apply_httpoks(c, tables)
    apply_memmons(c, tables)
    return tables, groups


def render(
    c: Conversion,
    supervisord: dict[str, Any],
    alerts: dict[str, Any] | None,
    groups: dict[str, dict[str, Any]],
    programs: dict[str, dict[str, Any]],
    sockets: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The TOML text, each table's warnings as comments above it."""
    files = c.parsed["files"]
    lines = [f"# Converted by `supervisord-lite convert` from {files[0]}"]
    for extra in files[1:]:
        lines.append(f"# and its [include] {extra}")
    lines.append("# Each setting not carried over exactly is a comment above its table.")
    lines.append("")
    lines.extend(comment(str(w)) for w in c.table_warnings.get("supervisord", []))
    lines.append("[supervisord]")
    lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in supervisord.items())
    lines.append("")
    if alerts is not None or c.table_warnings.get("alerts"):
        lines.extend(comment(str(w)) for w in c.table_warnings.get("alerts", []))
    if alerts is not None:
        lines.append("[alerts]")
        lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in alerts.items())
        lines.append("")
    for name, group in groups.items():
        lines.extend(comment(str(w)) for w in c.table_warnings.get(f"groups.{name}", []))
        lines.append(f"[groups.{toml_key(name)}]")
        lines.append(f"programs = {toml_value(group['programs'])}")
        if group["priority"] != 999:
            lines.append(f"priority = {group['priority']}")
        lines.append("")
    for name, table in (sockets or {}).items():  # [fcgi-program:x]'s (fcgi.py)
        lines.append(f"[sockets.{toml_key(name)}]")
        lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in table.items())
        lines.append("")
    done: set[str] = set()
    for program in c.parsed["programs"]:
        table = f"programs.{program['name']}"
        if table in done:
            continue
        done.add(table)
        lines.extend(comment(str(w)) for w in c.table_warnings.get(table, []))
        for name in program.get("tables", ()):
            lines.append(f"[programs.{toml_key(name)}]")
            lines.extend(f"{toml_key(k)} = {toml_setting(v)}" for k, v in programs[name].items())
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the command line -------------------------------------------------------------------


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="supervisord-lite convert",
        description="Convert a Supervisor config (supervisord.conf) to supervisord-lite TOML.",
    )
    parser.add_argument("config", metavar="SUPERVISORD.CONF")
    parser.add_argument("-o", "--output", metavar="OUT.toml", help="write here (default: stdout)")
    args = parser.parse_args(argv)
    if args.output and _same_file(args.config, args.output):
        print(
            f"supervisord-lite convert: {args.output} is the input file: refusing to overwrite it",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    try:
        text, warnings = convert(args.config)
    except ini.IniError as exc:
        print(f"supervisord-lite convert: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for warning in warnings:
        print(str(warning), file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        write_atomically(args.output, text)
    except OSError as exc:
        print(
            f"supervisord-lite convert: cannot write {args.output}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    return EXIT_OK


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def write_atomically(path: str, text: str) -> None:
    """A reader never sees half a file: write beside it, then rename over it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".toml", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
