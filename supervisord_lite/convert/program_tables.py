"""A [program:x] as TOML tables: one table, or one per process when a literal key
(command, directory, environment) or a log path differs between its processes in a
way no template can say. Only values that differ from this project's defaults are
written, in the order of config/keys.py's key table.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from supervisord_lite.config.keys import PROGRAM_KEY_TABLE, PROGRAM_KEYS
from supervisord_lite.convert import supervisor_ini as ini
from supervisord_lite.convert.conversion import Conversion, argv_of
from supervisord_lite.convert.names import fixed_template, replacement, valid
from supervisord_lite.convert.program_warnings import program_warnings
from supervisord_lite.convert.templates import escape_braces
from supervisord_lite.convert.toml_writer import Octal, size


def program_tables(c: Conversion, program: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One table, or one per process when a literal key differs between processes."""
    section = program["section"]
    table = f"programs.{program['name']}"
    processes = program["processes"]
    settings = program["settings"]
    program_warnings(c, program, table)
    if not processes:
        c.warn(section, "numprocs", "numprocs = 0: no process, not converted", table)
        return []
    common = common_keys(c, program, table)
    literal = ("command", "directory", "environment")
    varying = [k for k in literal if any(p[k] != processes[0][k] for p in processes)]
    logs = log_keys(c, program, table)
    name_template = process_name_template(c, program)
    if settings["numprocs"] == 1 or (not varying and logs is not None and name_template):
        keys = dict(common)
        keys.update(literal_keys(processes[0]))
        if settings["numprocs_start"]:  # the process_num of the first process
            keys["numprocs_start"] = settings["numprocs_start"]
        if settings["numprocs"] > 1:
            keys["numprocs"] = settings["numprocs"]
            name_template = valid_process_names(c, program, name_template, table)
            if name_template != "{process_num}":
                keys["process_name"] = name_template
        elif processes[0]["name"] != program["name"]:  # else it follows a renamed program
            name = valid_process_names(c, program, processes[0]["name"], table)
            keys["process_name"] = escape_braces(name)
            if "%(host_node_name)" in program["process_name"] and valid(name):
                keys["process_name"] = name_template or keys["process_name"]
        keys.update(logs if logs is not None else log_keys_of(c, processes[0]))
        return [(c.table_name(program["name"]), ordered(keys))]
    reasons = varying + ([] if logs is not None else ["log paths"])
    reasons += [] if name_template else ["process_name"]
    c.warn(
        section,
        None,
        f"{', '.join(reasons)}: not the same for its {len(processes)} processes, in a "
        "way no template here can say: written as one program per process, in "
        f"[groups.{c.group_name(program['group'])}], so the process names stay "
        "supervisorctl's",
        table,
    )
    out = []
    for process in processes:
        keys = dict(common)
        keys.update(literal_keys(process))
        name = valid_process_names(c, program, process["name"], table, [process])
        keys["process_name"] = escape_braces(name)
        if process["process_num"]:  # its SUPERVISOR_PROCESS_NUM, as in the pool
            keys["numprocs_start"] = process["process_num"]
        keys.update(log_keys_of(c, process))
        name = split_name(c, program["name"], process)
        out.append((name, ordered(keys)))
    return out


def split_name(c: Conversion, program_name: str, process: dict[str, Any]) -> str:
    base = (
        process["name"]
        if process["name"].startswith(program_name)
        else (f"{program_name}_{process['name']}")
    )
    return c.renamer.unused(replacement(base))


def valid_process_names(
    c: Conversion, program: dict[str, Any], name: str, table: str, processes: list | None = None
) -> str:
    """`name` (a process name, or the template giving them) with what a name cannot
    hold as `_`, warned; supervisorctl's names change with it."""
    processes = program["processes"] if processes is None else processes
    shown = [p["name"] for p in processes]
    if all(valid(n) for n in shown):
        return name
    fixed = fixed_template(name) if "{" in name else replacement(name)
    c.warn(program["section"], "process_name", f"the process name {shown[0]!r} is "
              f"not valid here (letters, digits, _ . -): written as {fixed!r}, so "
              "supervisorctl-lite names it differently", table)  # fmt: skip
    return fixed


def ordered(keys: dict[str, Any]) -> dict[str, Any]:
    """The keys in the key table's order (config/keys.py)."""
    return {key.name: keys[key.name] for key in PROGRAM_KEY_TABLE if key.name in keys}


def process_name_template(c: Conversion, program: dict[str, Any]) -> str | None:
    names = [p["name"] for p in program["processes"]]
    return c.template(program["process_name"], program, names)


def literal_keys(process: dict[str, Any]) -> dict[str, Any]:
    """A process's own command, directory and environment, as written: these keys take
    the process_name fields here (docs/lifecycle.md), so their braces are doubled."""
    keys: dict[str, Any] = {"command": [escape_braces(a) for a in argv_of(process["command"])]}
    if process["directory"] is not None:
        keys["directory"] = escape_braces(os.path.expanduser(process["directory"]))
    if process["environment"]:
        keys["environment"] = {k: escape_braces(v) for k, v in process["environment"].items()}
    return keys


def common_keys(c: Conversion, program: dict[str, Any], table: str) -> dict[str, Any]:
    """The keys every process of the program shares, where they differ from ours."""
    settings = program["settings"]
    sup = c.parsed["supervisord"]
    wanted: dict[str, Any] = {
        "user": settings["user"],
        "umask": settings["umask"] if settings["umask"] is not None else sup["umask"],
        "priority": settings["priority"],
        "autostart": settings["autostart"],
        "autorestart": settings["autorestart"],
        "exitcodes": settings["exitcodes"],
        "startsecs": settings["startsecs"],
        "startretries": settings["startretries"],
        "stopsignal": settings["stopsignal"],
        "stopwaitsecs": settings["stopwaitsecs"],
        "stopasgroup": settings["stopasgroup"] or settings["killasgroup"],
        "redirect_stderr": settings["redirect_stderr"],
    }
    if settings["autorestart"] is not False:
        # Supervisor restarts a crashing program at once, every time.
        wanted["backoff_max"] = 0
    keys = {}
    for key, value in wanted.items():
        if not _same(value, _our_default(key)):
            keys[key] = Octal(value) if key == "umask" else value
    return keys


def log_keys_of(c: Conversion, process: dict[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    # with redirect_stderr, supervisord has no stderr log and neither do we
    streams = ("stdout",) if process["redirect_stderr"] else ("stdout", "stderr")
    for stream in streams:
        path = process[f"{stream}_logfile"]
        value = "none" if path is None else ("auto" if path == ini.AUTO else path)
        if value not in ("auto", "none"):
            value = escape_braces(value)
        keys[f"{stream}_logfile"] = value
        keys[f"{stream}_logfile_maxbytes"] = process[f"{stream}_logfile_maxbytes"]
        keys[f"{stream}_logfile_backups"] = process[f"{stream}_logfile_backups"]
    return {
        k: (size(v) if k.endswith("maxbytes") else v)
        for k, v in keys.items()
        if not _same(v, _our_default(k))
    }


def log_keys(c: Conversion, program: dict[str, Any], table: str) -> dict[str, Any] | None:
    """The log keys of all processes as one set (templates where paths differ), or
    None when a path differs in a way no template renders, or when numprocs > 1
    processes would share one file (an error here)."""
    processes = program["processes"]
    first = log_keys_of(c, processes[0])
    numprocs = program["settings"]["numprocs"]
    for process in processes[1:]:
        other = log_keys_of(c, process)
        for key in set(first) | set(other):
            if key.endswith("_logfile"):
                continue
            if first.get(key) != other.get(key):
                return None
    for stream in ("stdout", "stderr"):
        key = f"{stream}_logfile"
        if key not in first:
            continue
        paths = [p[key] for p in processes]
        raw = c.sections[program["section"]]["options"].get(key)
        if paths[0] in (None, ini.AUTO) or numprocs == 1:
            if len(set(map(str, paths))) != 1:
                return None
            if raw and "%(host_node_name)" in raw["value"]:  # resolved where it runs
                first[key] = c.template(raw["value"], program, paths) or first[key]
            continue
        if len(set(paths)) == 1:
            if paths[0] in ("/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"):
                continue
            c.warn(
                program["section"],
                key,
                f"its {numprocs} processes share the file {paths[0]}; one program "
                "with numprocs > 1 cannot share a path here, so each process "
                "becomes a program appending to that same file (as in Supervisor, "
                "their rotations are not coordinated: give each its own file with "
                "{process_num} or set maxbytes = 0)",
                table,
            )
            return None
        template = c.template(raw["value"] if raw else None, program, paths)
        if template is None:
            return None
        first[key] = template
    return first


def _our_default(key: str) -> Any:
    return PROGRAM_KEYS[key][1] if key in PROGRAM_KEYS else None


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, list):
        return tuple(value) == tuple(default or ())
    if isinstance(default, int) and isinstance(value, str) and default == int(signal.SIGTERM):
        return value == "TERM"
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default
