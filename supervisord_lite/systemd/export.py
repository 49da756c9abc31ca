"""`supervisord-lite export systemd [-c CONFIG] -o DIR [--force]`: the config as systemd
units (docs/export.md): a service per process, or one template unit for the processes
of a numprocs program, a target named after the config that wants the autostart ones,
and a target per [groups.*] table.

The exit door: whoever moves to systemd takes every setting systemd can hold
(export_keys.py says how, and warns about the rest).

Every file written starts with MARKER; a file in DIR without it was not written here
and is never overwritten without --force. Each config's export keeps a manifest of the
files it wrote (export_files.py): it removes only those, when their processes
leave the config, and refuses a unit name another config's export holds.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys

from supervisord_lite.config.load import find_config_path, load_config
from supervisord_lite.config.model import ConfigError, ProgramConfig
from supervisord_lite.systemd import export_files as files
from supervisord_lite.systemd.export_files import MARKER
from supervisord_lite.systemd.export_keys import (
    PREFIX,
    Unit,
    View,
    logging,
    process_view,
    readiness,
    resources,
    restart_policy,
    service_basics,
    stopping,
    template_view,
    unit_name,
)
from supervisord_lite.systemd.export_lifecycle import dependency_lines, lifecycle
from supervisord_lite.systemd.export_sockets import socket_units, sockets_of
from supervisord_lite.systemd.syntax import (
    Unrepresentable,
    check_unit_text,
    comment,
    specifiers,
    unit_escape,
    visible,
)

EXIT_OK = 0
EXIT_FAILED = 1  # a file that is not ours in the way, or DIR cannot be written
EXIT_CONFIG = 2  # config errors, or a value no unit file can carry

DEFAULT_TARGET = "supervisord-lite.target"
_DEFAULT_STEMS = ("supervisord_lite", "supervisord-lite")


def config_target(path: str) -> str:
    """The target of a config's export, named after the config file: the default
    config's is `supervisord-lite.target`, `/etc/app.toml`'s `supervisord-lite@app.target`
    (the `@` keeps it apart from a group's `supervisord-lite-GROUP.target`)."""
    stem = os.path.basename(path)
    stem = stem[: -len(".toml")] if stem.endswith(".toml") else stem
    if stem in _DEFAULT_STEMS:
        return DEFAULT_TARGET
    escaped = unit_escape(stem).replace(":", "\\x3a")  # a ':' would read as FILE:NAME
    return f"supervisord-lite@{escaped}.target"


def group_target(group: str) -> str:
    return f"{PREFIX}{unit_escape(group)}.target"


def template_name(program: ProgramConfig) -> str:
    return f"{PREFIX}{unit_escape(program.name)}@.service"


def start_rounds(programs: dict[str, ProgramConfig]) -> list[list[ProgramConfig]]:
    """The daemon's start order as rounds: each round the lowest (group priority,
    priority) among the programs whose depends_on have all started in earlier rounds.
    A program's After= the previous round can never contradict its depends_on."""
    rounds: list[list[ProgramConfig]] = []
    started: set[str] = set()
    waiting = list(programs.values())
    while waiting:
        free = [p for p in waiting if started.issuperset(p.depends_on)]
        lowest = min(p.order_key() for p in free)  # never empty: load_config refuses cycles
        this = [p for p in free if p.order_key() == lowest]
        rounds.append(this)
        started.update(p.name for p in this)
        waiting = [p for p in waiting if p.name not in started]
    return rounds


def instantiate(template: str, instance: str) -> str:
    """A template unit's text as systemd reads it for `instance`: `%i` filled in."""
    return re.sub(r"%([%i])", lambda m: "%%" if m.group(1) == "%" else instance, template)


class Exporter:
    def __init__(self, config):
        self.config = config
        self.programs = config.programs
        self.target = config_target(config.path)
        self.warnings: list[str] = []
        self.errors: list[str] = []  # values no unit can carry: nothing is written
        self.after: dict[str, list[str]] = {}  # program -> the units of the round before

    def units(self) -> dict[str, str]:
        """file name -> text, every unit and target."""
        out: dict[str, str] = {}
        rounds = start_rounds(self.programs)
        for before, current in zip([[], *rounds], rounds):
            previous = [unit_name(p) for prog in before for p in prog.processes]
            for program in current:
                self.after[program.name] = previous
        wanted = []
        for program in self.programs.values():
            try:
                out.update(self._program_units(program))
            except Unrepresentable as exc:
                self.errors.append(str(exc))
            if program.autostart:
                wanted.extend(unit_name(p) for p in program.processes)
        out.update(socket_units(self.config, self.target))  # [sockets.*] (export_sockets.py)
        out[self.target] = self._target(wanted, "every autostart process of it", "programs")
        for group in self.config.groups.values():  # [groups.*]: `GROUP:*` as a target
            members = [self.programs[name] for name in group.programs]
            units = [unit_name(p) for prog in members if prog.autostart for p in prog.processes]
            out[group_target(group.name)] = self._target(
                units, f"the autostart processes of group {group.name}", f"group {group.name}"
            )
        for name, text in out.items():
            check_unit_text(name, text)
        return out

    def _program_units(self, program: ProgramConfig) -> dict[str, str]:
        """One unit per process; or, for a numprocs program alone in its group, one
        template unit when it gives each instance exactly its own unit."""
        concrete = {}
        for index in range(program.numprocs):
            view = process_view(program, index)
            unit = self._unit(program.instance(index), view)
            concrete[view.unit] = unit.render(self.config.path, view.full)
            for warning in unit.warnings:
                if warning not in self.warnings:  # once per program, not per process
                    self.warnings.append(warning)
        template = self._template(program) if program.numprocs > 1 else None
        if template is None:
            return concrete
        for index in range(program.numprocs):
            view = process_view(program, index)
            if instantiate(template, unit_escape(view.short)) != concrete[view.unit]:
                return concrete
        return {template_name(program): template}

    def _template(self, program: ProgramConfig) -> str | None:
        """`NAME@.service` with `%i` where each process's name and number go, or None
        when that cannot be said (a group of several programs, a name not the number)."""
        if program.group != program.name:
            return None
        stand_in = f"sdl{secrets.token_hex(8)}"  # letters and digits: no writer escapes it
        view = template_view(program, stand_in)
        if view is None:
            return None
        try:  # per-instance values with %i where process_num goes
            own = program.instance_with(stand_in) if program.templated else program
        except (ValueError, TypeError):  # {process_num:d}: one unit per process instead
            return None
        text = self._unit(own, view).render(self.config.path, view.full)
        return text.replace(stand_in, "%i")

    def _unit(self, program: ProgramConfig, view: View) -> Unit:
        unit = Unit(program)
        description = f"{view.full} (supervisord-lite program {program.name})"
        unit.set("Unit", "Description", specifiers(visible(description)))
        partof = [self.target]
        if program.group in self.config.groups:
            partof.append(group_target(program.group))
        unit.set("Unit", "PartOf", " ".join(partof))
        self._ordering(program, unit)
        service_basics(program, view, unit)
        readiness(program, unit)
        restart_policy(program, unit)
        stopping(program, unit)
        lifecycle(program, unit)
        resources(program, unit)
        logging(program, view, self.config.log_dir, unit)
        sockets_of(program, unit)
        unit.set("Install", "WantedBy", self.target)
        if not program.autostart:
            unit.notes.append("autostart: false: not wanted by the target; "
                              f"systemctl start {view.unit}")  # fmt: skip
        return unit

    def _ordering(self, program: ProgramConfig, unit: Unit) -> None:
        """depends_on: Requires= + After=. priority: After= the previous start round, so
        starts follow the daemon's order and stops go in reverse (docs/export.md)."""
        deps, wants = dependency_lines(program, self.programs, unit)
        after = list(dict.fromkeys([*deps, *wants, *self.after[program.name]]))
        if deps:
            unit.set("Unit", "Requires", " ".join(deps))
        if wants:
            unit.set("Unit", "Wants", " ".join(wants))
        if after:
            unit.set("Unit", "After", " ".join(after))

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


class Plan:
    """What an export does to DIR, decided before anything is written: the files to
    write, the ones its earlier export wrote that are gone from the config, and why it
    must not go ahead (files it did not write, or that another config's export wrote)."""

    def __init__(self, dir_fd: int, out_dir: str, config: str, target: str,
                 units: dict[str, str], force: bool):  # fmt: skip
        manifests = files.read_manifests(dir_fd)
        own = manifests.pop(target, {"config": config, "files": []})
        self.problems: list[str] = []
        self.taken: dict[str, list[str]] = {}  # another export's target -> names we take
        if own["config"] != config and not force:
            self.problems.append(
                f"{os.path.join(out_dir, target)}: the export of {own['config']} wrote it; "
                "this config's target has the same name: rename the config file, export "
                "into another directory, or pass --force to take it over"
            )
        for name in units:
            holders = [t for t, m in manifests.items() if name in m["files"]]
            for holder in holders:
                self.taken.setdefault(holder, []).append(name)
            if force:
                continue
            path = os.path.join(out_dir, name)
            if files.exists(dir_fd, name) and not files.ours(dir_fd, name):
                self.problems.append(f"{path}: exists and was not written by export systemd; "
                                     "move it away or pass --force")  # fmt: skip
            elif holders:
                self.problems.append(
                    f"{path}: the export of {manifests[holders[0]]['config']} wrote it: two "
                    "configs cannot share a unit name; rename the program, export into "
                    "another directory, or pass --force to take it over"
                )
        self.others = manifests
        # Only what this config's export wrote, and still carries our marker (a target
        # taken over from another config with --force leaves that config's units be).
        self.stale = sorted(
            name
            for name in own["files"]
            if own["config"] == config and name not in units and files.ours(dir_fd, name)
            and not any(name in m["files"] for m in manifests.values())
        )  # fmt: skip

    def carry_out(self, dir_fd: int, config: str, target: str, units: dict[str, str]) -> None:
        for name, text in units.items():
            files.write_file(dir_fd, name, text)
        files.write_manifest(dir_fd, target, config, list(units))
        for name in self.stale:
            files.remove(dir_fd, name)
        for other, names in self.taken.items():  # --force took them: no longer theirs
            manifest = self.others[other]
            kept = [n for n in manifest["files"] if n not in names]
            files.write_manifest(dir_fd, other, manifest["config"], kept)


# --- the command --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="supervisord-lite export systemd",
        description="Write a systemd unit per process (a template unit per numprocs "
        "program), and a target named after the config, to DIR.",
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
    return save(args.output, exporter, units, args.force)


def save(out_dir: str, exporter: Exporter, units: dict[str, str], force: bool) -> int:
    config, target = exporter.config.path, exporter.target
    dir_fd = -1
    try:
        dir_fd = files.open_dir(out_dir)
        plan = Plan(dir_fd, out_dir, config, target, units, force)
        if plan.problems:
            for line in plan.problems:
                print(line, file=sys.stderr)
            return EXIT_FAILED
        plan.carry_out(dir_fd, config, target, units)
    except OSError as exc:
        print(f"{out_dir}: cannot write the units: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)
    for name in plan.stale:
        print(f"removed {os.path.join(out_dir, name)} (no longer in the config)")
    for name in units:
        print(f"wrote {os.path.join(out_dir, name)}")
    return EXIT_OK
