"""`supervisord-lite export systemd [-c CONFIG] -o DIR [--force]`: the config as systemd
units, one `supervisord-lite-<process>.service` per process and a
`supervisord-lite.target` that wants the autostart ones (docs/export.md).

The exit door: whoever moves to systemd takes every setting systemd can hold. What it
cannot hold exactly is said twice, as a warning on stderr (`programs.X.key: message`)
and as a comment in the unit, so nothing is lost silently. A setting left at its
default gets the comment only: a warning per program for a default nobody chose would
bury the ones that matter.

Every file written starts with MARKER; a file in DIR without it was not written here
and is never overwritten without --force. Units of ours for processes no longer in the
config are removed, so the directory mirrors the config.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Callable

from supervisord_lite import export_systemd_files as files
from supervisord_lite.config import ConfigError, ProgramConfig, find_config_path, load_config
from supervisord_lite.config_convert import signal_name
from supervisord_lite.config_keys import PROGRAM_KEYS
from supervisord_lite.export_systemd_files import MARKER
from supervisord_lite.limits import UNLIMITED
from supervisord_lite.systemd_syntax import (
    Unrepresentable,
    check_unit_text,
    comment,
    quote_assignment,
    quote_word,
    specifiers,
    unit_escape,
    verbatim,
    visible,
)

EXIT_OK = 0
EXIT_FAILED = 1  # a file that is not ours in the way, or DIR cannot be written
EXIT_CONFIG = 2  # config errors, or a value no unit file can carry

PREFIX = "supervisord-lite-"
TARGET = "supervisord-lite.target"

# Signals systemd counts as a clean exit, which supervisor's "unexpected" does not
# (any death by signal is unexpected there): forced back into restarting.
_CLEAN_SIGNALS = "SIGHUP SIGINT SIGTERM SIGPIPE"


def unit_name(process: str) -> str:
    return f"{PREFIX}{unit_escape(process)}.service"


def group_target(group: str) -> str:
    return f"{PREFIX}{unit_escape(group)}.target"


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


def service_basics(program: ProgramConfig, index: int, unit: Unit) -> None:
    argv = resolve_command(program, unit)
    words = [unit.carry("command", lambda w, first=(i == 0): quote_word(w, first), w)
             for i, w in enumerate(argv)]  # fmt: skip
    unit.set("Service", "ExecStart", " ".join(words))
    env = [
        *program.environment,
        ("SUPERVISOR_PROCESS_NAME", program.short_name(index)),
        ("SUPERVISOR_GROUP_NAME", program.group),
        ("SUPERVISOR_PROCESS_NUM", str(program.process_num(index))),
    ]
    for key, value in env:
        item = unit.carry("environment", lambda v, k=key: quote_assignment(k, v), value)
        unit.set("Service", "Environment", item)
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
        return
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
        else:
            soft, hard = ("infinity" if v == UNLIMITED else v for v in value)
            unit.set("Service", f"Limit{key.upper()}", f"{soft}:{hard}")
    if program.memory_limit is not None:
        unit.set("Service", "MemoryMax", program.memory_limit)
        unit.note("memory_limit", "MemoryMax= is enforced by the kernel's OOM killer (the "
                  "unit is killed, then restarted per Restart=), where supervisord-lite "
                  "restarts the process through its stop rules")  # fmt: skip


def logging(program: ProgramConfig, index: int, log_dir: str, unit: Unit) -> None:
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
                          f"journalctl -u '{unit_name(program.processes[index])}'")  # fmt: skip
        else:
            path = program.logfile_path(stream, index, log_dir)
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


class Exporter:
    def __init__(self, config):
        self.config = config
        self.programs = config.programs
        self.warnings: list[str] = []
        self.errors: list[str] = []  # values no unit can carry: nothing is written

    def units(self) -> dict[str, str]:
        """file name -> text, every process's unit and the target."""
        out: dict[str, str] = {}
        wanted = []
        tiers = self._priority_tiers()
        for program in self.programs.values():
            try:
                for index, process in enumerate(program.processes):
                    unit = self._unit(program, index, tiers)
                    out[unit_name(process)] = unit.render(self.config.path, process)
                    if program.autostart:
                        wanted.append(unit_name(process))
                    for warning in unit.warnings:
                        if warning not in self.warnings:  # once per program, not per process
                            self.warnings.append(warning)
            except Unrepresentable as exc:
                self.errors.append(str(exc))
        out[TARGET] = self._target(wanted, "every autostart process of it", "programs")
        for group in self.config.groups.values():  # [groups.*]: `GROUP:*` as a target
            members = [self.programs[name] for name in group.programs]
            units = [unit_name(p) for prog in members if prog.autostart for p in prog.processes]
            out[group_target(group.name)] = self._target(
                units, f"the autostart processes of group {group.name}", f"group {group.name}"
            )
        for name, text in out.items():
            check_unit_text(name, text)
        return out

    def _unit(self, program: ProgramConfig, index: int, tiers) -> Unit:
        unit = Unit(program)
        process = program.processes[index]
        description = f"{process} (supervisord-lite program {program.name})"
        unit.set("Unit", "Description", specifiers(visible(description)))
        partof = [TARGET]
        if program.group in self.config.groups:
            partof.append(group_target(program.group))
        unit.set("Unit", "PartOf", " ".join(partof))
        self._ordering(program, unit, tiers)
        service_basics(program, index, unit)
        readiness(program, unit)
        restart_policy(program, unit)
        stopping(program, unit)
        resources(program, unit)
        logging(program, index, self.config.log_dir, unit)
        unit.set("Install", "WantedBy", TARGET)
        if not program.autostart:
            unit.notes.append("autostart: false: not wanted by the target; "
                              f"systemctl start {unit_name(process)}")  # fmt: skip
        return unit

    def _ordering(self, program: ProgramConfig, unit: Unit, tiers) -> None:
        """depends_on: Requires= + After=. priority: After= the next lower tier, so a
        chain orders starts by priority and stops in reverse, as the daemon does."""
        deps = [unit_name(p) for dep in program.depends_on for p in self.programs[dep].processes]
        after = list(dict.fromkeys([*deps, *tiers.get(program.order_key(), ())]))
        if deps:
            unit.set("Unit", "Requires", " ".join(deps))
        if after:
            unit.set("Unit", "After", " ".join(after))

    def _priority_tiers(self) -> dict[tuple[int, int], list[str]]:
        """Each start-order key -> the units of the next lower key (none for the lowest)."""
        by_key: dict[tuple[int, int], list[str]] = {}
        for program in self.programs.values():
            by_key.setdefault(program.order_key(), []).extend(map(unit_name, program.processes))
        keys = sorted(by_key)
        return {key: by_key[lower] for lower, key in zip(keys, keys[1:])}

    def _target(self, wanted: list[str], what: str, title: str) -> str:
        lines = [
            MARKER,
            comment(f"from {self.config.path}: {what}"),
            "",
            "[Unit]",
            f"Description=supervisord-lite {specifiers(visible(title))} (exported)",
        ]
        if wanted:
            lines.append("Wants=" + " ".join(wanted))
        lines += ["", "[Install]", "WantedBy=multi-user.target"]
        return "\n".join(lines) + "\n"


# --- the files ----------------------------------------------------------------------------


def in_the_way(dir_fd: int, units: dict[str, str]) -> list[str]:
    """Files named like a unit we would write that we did not write."""
    return [name for name in units if files.exists(dir_fd, name) and not files.ours(dir_fd, name)]


def stale(dir_fd: int, units: dict[str, str]) -> list[str]:
    """Units we wrote earlier for processes gone from the config."""
    return sorted(
        name
        for name in files.listing(dir_fd)
        if name.startswith(PREFIX.rstrip("-"))
        and name not in units
        and name.endswith((".service", ".target"))
        and files.ours(dir_fd, name)
    )


# --- the command --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="supervisord-lite export systemd",
        description="Write a systemd unit per process, and supervisord-lite.target, to DIR.",
    )
    parser.add_argument("-c", "--config", help="the TOML config (found as the daemon finds it)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="where the units go")
    parser.add_argument("--force", action="store_true",
                        help="overwrite unit files this command did not write")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] != ["systemd"]:
        print("usage: supervisord-lite export systemd [-c CONFIG] -o DIR [--force]",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    args = parse_args(argv[1:])
    try:
        config = load_config(find_config_path(args.config), check_logs=False)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    exporter = Exporter(config)
    units = exporter.units()
    for line in exporter.warnings:
        print(line, file=sys.stderr)
    if exporter.errors:
        for line in exporter.errors:
            print(line, file=sys.stderr)
        print("nothing written: change those values, or leave those programs out",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    return save(args.output, units, args.force)


def save(out_dir: str, units: dict[str, str], force: bool) -> int:
    dir_fd = -1
    try:
        dir_fd = files.open_dir(out_dir)
        blocking = [] if force else in_the_way(dir_fd, units)
        if blocking:
            for name in blocking:
                print(f"{os.path.join(out_dir, name)}: exists and was not written by export "
                      "systemd; move it away or pass --force", file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        old = stale(dir_fd, units)
        for name, text in units.items():
            files.write_file(dir_fd, name, text)
        for name in old:
            files.remove(dir_fd, name)
    except OSError as exc:
        print(f"{out_dir}: cannot write the units: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)
    for name in old:
        print(f"removed {os.path.join(out_dir, name)} (no longer in the config)")
    for name in units:
        print(f"wrote {os.path.join(out_dir, name)}")
    return EXIT_OK
