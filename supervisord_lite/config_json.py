"""`supervisord-lite --check --json`: what a config file means, every key resolved.

One JSON object: `{"ok", "errors", "programs", "groups"}`. Each program shows every
key with defaults filled in, paths absolute, sizes in bytes, `command` as argv and
`stopsignal` as a name, plus its group, its processes' full names and the log file
each of them writes. Host-dependent problems (an unknown user, a missing directory
or command) are errors beside a still complete picture of the file.
"""

from __future__ import annotations

import os
from typing import Any

from supervisord_lite import limits
from supervisord_lite.config import DaemonConfig, ProgramConfig, groups_of, load_config_report
from supervisord_lite.config_convert import signal_name
from supervisord_lite.config_keys import PROGRAM_KEYS
from supervisord_lite.frozen import Frozen
from supervisord_lite.probe_config import Address


def check_report(path: str) -> dict[str, Any]:
    """The --check --json object for the config at `path`."""
    config, errors = load_config_report(path)
    if config is None:
        return {"ok": False, "errors": errors, "warnings": [], "programs": {}, "groups": {}}
    errors = [*errors, *host_problems(config)]
    return {
        "ok": not errors,
        "errors": errors,
        "warnings": list(config.warnings),
        "programs": {name: program_json(p, config) for name, p in config.programs.items()},
        "groups": {
            name: {"programs": list(group.programs), "priority": group.priority}
            for name, group in groups_of(config.programs.values()).items()
        },
    }


def program_json(program: ProgramConfig, config: DaemonConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"name": program.name}
    for key in PROGRAM_KEYS:
        out[key] = _plain(getattr(program, key))
    out["stopsignal"] = signal_name(program.stopsignal)
    out["environment"] = dict(program.environment)
    for table in ("ready", "health"):  # as written: {"tcp": "127.0.0.1:6379", ...}
        probe = getattr(program, table)
        if probe is not None:
            out[table] = {probe.kind: _plain(probe.target), "interval": probe.interval,
                          "timeout": probe.timeout}  # fmt: skip
            if table == "health":
                out[table]["failures"] = probe.failures
    out["limits"] = limits.as_json(program.limits)
    out["group"] = program.group
    out["group_priority"] = program.group_priority
    out["processes"] = list(program.processes)
    out["logfiles"] = {
        name: {
            stream: program.logfile_path(stream, index, config.log_dir)
            for stream in ("stdout", "stderr")
        }
        for index, name in enumerate(program.processes)
    }
    return out


def _plain(value: Any) -> Any:
    """Tuples (of pairs too) as JSON lists, value classes (a probe table) as objects."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Address):
        return value.text
    if isinstance(value, Frozen):
        return {key: _plain(v) for key, v in value.fields().items()}
    return value


def host_problems(config: DaemonConfig) -> list[str]:
    """What this host lacks for the config: a command given as a path that names no
    file, a directory that does not exist. Not load errors: at run time each is that
    program's FATAL state, and either may appear later."""
    errors = []
    for program in config.programs.values():
        where = f"{program.source}: programs.{program.name}"
        path = program.command[0]
        if os.sep in path and not os.path.exists(path):
            errors.append(
                f"{where}.command: no such file {path}"
                " (a relative command is resolved against the program's directory,"
                " else the config file's)"
            )
        if program.directory is not None and not os.path.isdir(program.directory):
            errors.append(f"{where}.directory: no such directory {program.directory}")
    return errors
