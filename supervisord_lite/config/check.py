"""`supervisord-lite --check --json`: what a config file means, every key resolved.

One JSON object: `{"ok", "errors", "warnings", "programs", "groups"}`. Each program shows every
key with defaults filled in, paths absolute, sizes in bytes, `command` as argv and
`stopsignal` as a name, plus its group, its processes' full names and the log file
each of them writes. Host problems (an unknown user, a missing directory or command)
are errors beside a still complete picture of the file (host.py says why launch
only warns about the last two).
"""

from __future__ import annotations

from typing import Any, Callable

from supervisord_lite.base import names
from supervisord_lite.base.frozen import Frozen
from supervisord_lite.config import limits
from supervisord_lite.config.host import host_problems
from supervisord_lite.config.keys import PROGRAM_KEY_TABLE
from supervisord_lite.config.load import load_config_report
from supervisord_lite.config.model import DaemonConfig, ProgramConfig, groups_of
from supervisord_lite.config.probes import Address
from supervisord_lite.config.values import signal_name


def check(path: str) -> tuple[DaemonConfig | None, list[str], list[str]]:
    """What --check says, text or JSON alike: the config as far as it could be built,
    every error (the loader's, and what this host lacks) and every warning."""
    config, errors = load_config_report(path)
    if config is None:
        return None, errors, []
    return config, [*errors, *host_problems(config)], list(config.warnings)


def check_report(path: str) -> dict[str, Any]:
    """The --check --json object for the config at `path`."""
    config, errors, warnings = check(path)
    if config is None:
        return {"ok": False, "errors": errors, "warnings": [], "programs": {}, "groups": {}}
    return {
        "ok": not errors,
        "errors": errors,
        "warnings": warnings,
        "programs": {name: program_json(p, config) for name, p in config.programs.items()},
        "groups": {
            name: {"programs": list(group.programs), "priority": group.priority}
            for name, group in groups_of(config.programs.values()).items()
        },
        "sockets": {name: _socket_json(sock) for name, sock in config.sockets.items()},
    }


def _socket_json(sock) -> dict[str, Any]:
    out: dict[str, Any] = {"listen": sock.listen, "backlog": sock.backlog}
    if sock.family == "unix":
        out.update(path=sock.path, mode=f"0{sock.mode:o}", owner=sock.owner)
    return out


def program_json(program: ProgramConfig, config: DaemonConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"name": program.name}
    for key in PROGRAM_KEY_TABLE:
        out[key.name] = _SHOWN[key.kind](program, key.name, config.log_dir)
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
    if program.templated:  # per-instance values: each process's own, resolved
        out["instances"] = {name: _instance_json(program, index) for index, name in
                            enumerate(program.processes)}  # fmt: skip
    return out


def _instance_json(program: ProgramConfig, index: int) -> dict[str, Any]:
    own = program.instance(index)
    return {
        "command": list(own.command),
        "directory": own.directory,
        "environment": dict(own.environment),
        "env_file": list(own.env_file),
    }


def _probe(program: ProgramConfig, key: str, log_dir: str) -> Any:
    """A ready or health table as written: {"tcp": "127.0.0.1:6379", "interval": ...}."""
    probe = getattr(program, key)
    if probe is None:
        return None
    out = {probe.kind: _plain(probe.target), "interval": probe.interval, "timeout": probe.timeout}
    if key == "health":
        out["failures"] = probe.failures
    return out


def _log_setting(program: ProgramConfig, key: str, log_dir: str) -> str:
    """A log path resolved: the path itself for one process, else the template with
    every field but {process_num} filled in ("auto" and "none" as they are)."""
    stream = key.split("_", 1)[0]
    setting = getattr(program, key)
    if setting in ("auto", "none") or (stream == "stderr" and program.redirect_stderr):
        return setting
    if program.numprocs == 1:
        return program.logfile_path(stream, 0, log_dir) or setting
    return names.expand_shared(setting, program.name, program.group, program.numprocs)


def _plain(value: Any) -> Any:
    """Tuples (of pairs too) as JSON lists, value classes (a probe table) as objects."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Address):
        return value.text
    if isinstance(value, Frozen):
        return {key: _plain(v) for key, v in value.fields().items()}
    return value


# How --check --json shows a value of each kind of key (keys.py's Key.kind).
_SHOWN: dict[str, Callable[[ProgramConfig, str, str], Any]] = {
    "plain": lambda program, key, _: _plain(getattr(program, key)),
    "signal": lambda program, key, _: _signal(getattr(program, key)),
    "logfile": _log_setting,
    "pairs": lambda program, key, _: dict(getattr(program, key)),
    # depends_on as written: a list of names, or a table name -> condition
    "conditions": lambda p, key, _: dict(p.conditions) if p.conditions else list(p.depends_on),
    "probe": _probe,
    "limits": lambda program, key, _: limits.as_json(getattr(program, key)),
    "sockets": lambda program, key, _: _socket_names(getattr(program, key)),
}


def _signal(value: int | None) -> str | None:
    return None if value is None else signal_name(value)


def _socket_names(value) -> Any:
    """Held sockets by name, as written (their tables are the report's "sockets")."""
    if value is None or isinstance(value, tuple):
        return value and [sock.name for sock in value]
    return value.name
