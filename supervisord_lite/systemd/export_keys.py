"""How `export systemd` writes one program's settings as unit settings (the table in
docs/export.md), for one process or, as a template unit, for all of them.

What systemd cannot hold exactly is said twice, as a warning on stderr
(`programs.X.key: message`) and as a comment in the unit, so nothing is lost silently.
A setting left at its default gets the comment only: a warning per program for a
default nobody chose would bury the ones that matter.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

from supervisord_lite.base import names
from supervisord_lite.config.keys import PROGRAM_KEYS
from supervisord_lite.config.limits import UNLIMITED
from supervisord_lite.config.model import ProgramConfig
from supervisord_lite.config.values import signal_name
from supervisord_lite.systemd.export_files import MARKER
from supervisord_lite.systemd.syntax import (
    Unrepresentable,
    comment,
    quote_assignment,
    quote_word,
    unit_escape,
    verbatim,
)

PREFIX = "supervisord-lite-"

# Signals systemd counts as a clean exit, which supervisor's "unexpected" does not
# (any death by signal is unexpected there): forced back into restarting.
_CLEAN_SIGNALS = "SIGHUP SIGINT SIGTERM SIGPIPE"


def unit_name(process: str) -> str:
    """`web` -> `supervisord-lite-web.service`; `GROUP:PROCESS` -> an instance name,
    `supervisord-lite-GROUP@PROCESS.service` (a ':' in a unit's file name is read as
    FILE:NAME by systemd-analyze and its alias handling)."""
    group, colon, short = process.partition(":")
    if not colon:
        return f"{PREFIX}{unit_escape(process)}.service"
    return f"{PREFIX}{unit_escape(group)}@{unit_escape(short)}.service"


class View:
    """What a unit says of its process: full and short name, process_num, unit name and
    log paths (None for "auto" and "none"). A template's view holds a stand-in for the
    instance where each of these differs between processes."""

    def __init__(self, full: str, short: str, num: str, logs: dict[str, str | None]):
        self.full, self.short, self.num, self.logs = full, short, num, logs
        self.unit = unit_name(full)


def process_view(program: ProgramConfig, index: int) -> View:
    num = program.process_num(index)
    logs = {s: _log_path(program, s, num) for s in ("stdout", "stderr")}
    return View(program.processes[index], program.short_name(index), str(num), logs)


def template_view(program: ProgramConfig, stand_in: str) -> View | None:
    """The view with `stand_in` as process_num, or None when the process name is not
    the number itself (systemd's %i can only give what the instance name holds) or a
    template cannot take text for it (`{process_num:02d}`)."""
    try:
        short = names.expand(program.process_name, program.name, program.group,
                             stand_in, program.numprocs)  # fmt: skip
        logs = {s: _log_path(program, s, stand_in) for s in ("stdout", "stderr")}
    except (ValueError, TypeError):
        return None
    if short != stand_in:
        return None
    return View(names.full_name(program.group, short), short, stand_in, logs)


def _log_path(program: ProgramConfig, stream: str, num) -> str | None:
    setting = getattr(program, f"{stream}_logfile")
    if setting in ("auto", "none") or (stream == "stderr" and program.redirect_stderr):
        return None
    return names.expand(setting, program.name, program.group, num, program.numprocs)


class Unit:
    """One unit's sections, and what could not go into them."""

    def __init__(self, program: ProgramConfig):
        self.program = program
        self.sections: dict[str, list[str]] = {"Unit": [], "Service": [], "Install": []}
        self.notes: list[str] = []  # comments at the top of the unit
        self.warnings: list[str] = []  # for stderr, `programs.X.key: message`

    def set(self, section: str, key: str, value: object) -> None:
        self.sections[section].append(f"{key}={value}")

    def carry(self, key: str, write: Callable[[str], str], value: str) -> str:
        """`write(value)`, its Unrepresentable naming the config key."""
        try:
            return write(value)
        except Unrepresentable as exc:
            raise Unrepresentable(f"programs.{self.program.name}.{key}: {exc}") from None

    def note(self, key: str, message: str) -> None:
        """A setting systemd cannot hold exactly: a comment; a warning too when the
        config chose it (it is not the default)."""
        self.notes.append(f"{key}: {message}")
        if getattr(self.program, key) != PROGRAM_KEYS[key][1] or key in _ALWAYS_WARN:
            self.warnings.append(f"programs.{self.program.name}.{key}: {message}")

    def render(self, source: str, process: str) -> str:
        lines = [MARKER, comment(f"from {source}, process {process}")]
        lines += [comment(f"not carried over exactly: {n}") for n in self.notes]
        for section, items in self.sections.items():
            if items:
                lines += ["", f"[{section}]", *items]
        return "\n".join(lines) + "\n"


_ALWAYS_WARN = frozenset({"command", "ready", "health"})


def resolve_command(program: ProgramConfig, unit: Unit) -> list[str]:
    """argv with its program as an absolute path, as systemd wants it; looked up now, in
    the PATH the child would get (the daemon looks it up at each spawn)."""
    argv = list(program.command)
    name = argv[0]
    if os.path.isabs(name):
        return argv
    env = dict(program.environment)
    if "/" in name:  # relative to the process's directory, as execvp takes it
        found = os.path.abspath(os.path.join(program.directory or "/", name))
    else:
        found = shutil.which(name, path=env.get("PATH", os.environ.get("PATH", os.defpath)))
    if found is None:
        unit.note("command", f"{name!r} is not in PATH here; install it and give its path")
        return argv
    unit.note("command", f"{name!r} resolved to {found} at export time (PATH is not searched)")
    return [found, *argv[1:]]


def service_basics(program: ProgramConfig, view: View, unit: Unit) -> None:
    argv = resolve_command(program, unit)
    words = [unit.carry("command", lambda w, first=(i == 0): quote_word(w, first), w)
             for i, w in enumerate(argv)]  # fmt: skip
    unit.set("Service", "ExecStart", " ".join(words))
    env = [
        *program.environment,
        ("SUPERVISOR_ENABLED", "1"),
        ("SUPERVISOR_PROCESS_NAME", view.short),
        ("SUPERVISOR_GROUP_NAME", program.group),
        ("SUPERVISOR_PROCESS_NUM", view.num),
    ]
    for key, value in env:
        item = unit.carry("environment", lambda v, k=key: quote_assignment(k, v), value)
        unit.set("Service", "Environment", item)
    for path in program.env_file:  # absolute, "-" first when optional: systemd's syntax
        unit.set("Service", "EnvironmentFile", unit.carry("env_file", verbatim, path))
    if program.env_file and program.environment:
        unit.note("env_file", "systemd lets EnvironmentFile= override Environment=; "
                  "supervisord-lite lets environment override env_file")  # fmt: skip
    if program.user is not None:
        unit.set("Service", "User", unit.carry("user", verbatim, program.user))
    if program.directory is not None:
        directory = unit.carry("directory", verbatim, program.directory)
        unit.set("Service", "WorkingDirectory", directory)
    unit.set("Service", "UMask", f"{program.umask:04o}")


def restart_policy(program: ProgramConfig, unit: Unit) -> None:
    """autorestart as Restart=; exitcodes as SuccessExitStatus=; startsecs/startretries as
    the start rate limit; backoff as a fixed RestartSec."""
    if program.autorestart is True:
        unit.set("Service", "Restart", "always")
    elif program.autorestart is False:
        unit.set("Service", "Restart", "no")
    else:
        unit.set("Service", "Restart", "on-failure")
        unexpected_clean = [str(c) for c in program.exitcodes if c != 0]
        if unexpected_clean:
            unit.set("Service", "SuccessExitStatus", " ".join(unexpected_clean))
        force = ([] if 0 in program.exitcodes else ["0"]) + [_CLEAN_SIGNALS]
        unit.set("Service", "RestartForceExitStatus", " ".join(force))
    unit.set("Service", "RestartSec", "1")
    unit.note("backoff_max", "systemd 252 restarts after a fixed RestartSec=1; "
              "RestartSteps=/RestartMaxDelaySec= (systemd >= 254) would escalate")  # fmt: skip
    if program.autorestart is not False:
        unit.note("backoff_reset", "no systemd equivalent: every restart waits RestartSec")
    attempts = program.startretries + 1
    window = max(10, int(attempts * (program.startsecs + 1) + 1))
    unit.set("Unit", "StartLimitBurst", attempts)
    unit.set("Unit", "StartLimitIntervalSec", f"{window}s")
    unit.note("startsecs", f"systemd counts a start as done at exec; {attempts} starts "
              f"within {window}s fail the unit instead (StartLimitBurst=)")  # fmt: skip


def stopping(program: ProgramConfig, unit: Unit) -> None:
    unit.set("Service", "KillSignal", "SIG" + signal_name(program.stopsignal))
    unit.set("Service", "TimeoutStopSec", f"{program.stopwaitsecs:g}s")
    unit.set("Service", "KillMode", "control-group" if program.stopasgroup else "process")
    unit.set("Service", "SendSIGKILL", "yes")


def readiness(program: ProgramConfig, unit: Unit) -> None:
    ready = program.ready
    if ready is not None and ready.kind == "notify":
        unit.set("Service", "Type", "notify")
        # the daemon accepts the process or any descendant; systemd's nearest is the cgroup
        unit.set("Service", "NotifyAccess", "all")
        unit.set("Service", "TimeoutStartSec", f"{ready.timeout:g}s")
        if program.watchdog_sec is not None:
            unit.set("Service", "WatchdogSec", f"{program.watchdog_sec:g}s")
    else:
        unit.set("Service", "Type", "exec")
        if ready is not None:
            unit.note("ready", f"{ready.describe()}: systemd has only sd_notify readiness; "
                      "dependents start once it is exec'd")  # fmt: skip
    if program.health is not None:
        unit.note("health", f"{program.health.describe()}: systemd has no health probes "
                  "(its WatchdogSec= needs the process to send WATCHDOG=1)")  # fmt: skip


def resources(program: ProgramConfig, unit: Unit) -> None:
    """limits as Limit*= (soft:hard), Nice=, OOMScoreAdjust=; memory_limit as MemoryMax=,
    which the kernel enforces on the unit's cgroup (systemd needs no sampling)."""
    for key, value in program.limits:
        if key == "nice":
            unit.set("Service", "Nice", value)
        elif key == "oom_score_adj":
            unit.set("Service", "OOMScoreAdjust", value)
        elif key == "cpu_quota":  # the same percentage of one CPU, kept in cpu.max
            unit.set("Service", "CPUQuota", f"{value:g}%")
        elif key == "tasks_max":
            unit.set("Service", "TasksMax", value)
        else:
            soft, hard = ("infinity" if v == UNLIMITED else v for v in value)
            unit.set("Service", f"Limit{key.upper()}", f"{soft}:{hard}")
    if program.memory_limit is not None:
        unit.set("Service", "MemoryMax", program.memory_limit)
        unit.note("memory_limit", "MemoryMax= is enforced by the kernel's OOM killer (the "
                  "unit is killed, then restarted per Restart=), where supervisord-lite "
                  "restarts the process through its stop rules")  # fmt: skip


def logging(program: ProgramConfig, view: View, log_dir: str, unit: Unit) -> None:
    for stream, key in (("stdout", "StandardOutput"), ("stderr", "StandardError")):
        if stream == "stderr" and program.redirect_stderr:
            unit.set("Service", key, "inherit")  # into wherever stdout goes
            continue
        setting = getattr(program, f"{stream}_logfile")
        if setting == "none":
            unit.set("Service", key, "null")
        elif setting == "auto" or setting.startswith("/dev/"):
            unit.set("Service", key, "journal")
            if setting == "auto":
                unit.note(f"{stream}_logfile", f"auto (under {log_dir}) becomes the journal: "
                          f"journalctl -u '{view.unit}'")  # fmt: skip
        else:
            path = view.logs[stream]
            unit.set("Service", key, "append:" + unit.carry(f"{stream}_logfile", verbatim, path))
            if getattr(program, f"{stream}_logfile_maxbytes"):
                unit.notes.append(f"{stream}_logfile_maxbytes: systemd does not rotate "
                                  f"{path}; rotate it with logrotate (copytruncate)")  # fmt: skip
                unit.warnings.append(f"programs.{program.name}.{stream}_logfile: systemd does "
                                     "not rotate it; use logrotate (copytruncate)")  # fmt: skip
    if program.log_prefix:
        unit.note("log_prefix", "not added by systemd (the journal keeps the unit's name)")
    if program.log_timestamps:
        unit.note("log_timestamps", "not added by systemd (the journal stamps every line)")
