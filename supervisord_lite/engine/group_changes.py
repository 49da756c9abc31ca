"""A reload by group, as Supervisor's `reread`, `update GROUP`, `add` and `remove` see it.

Supervisor's unit of change is the process group; ours (engine/reload.py) is the
program. Here, pure, on config values: which groups a config on disk adds, changes
and removes, and the running config with only some groups' change taken from it (or
one group taken out). The daemon then moves to that config with the one reload
there is: no second way of starting or stopping anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.engine.reload import config_diff

NO_SUCH_GROUP = "no such group: "


class GroupChangeError(ValueError):
    """A group change that cannot be made; the message says why and what to do."""


def group_diff(current: DaemonConfig, new: DaemonConfig) -> dict[str, list[str]]:
    """The groups `new` adds, changes and removes (Supervisor's reloadConfig lists), each
    sorted. A group is changed when any of its programs is added, changed or removed."""
    old_groups = _members(current.programs.values())
    new_groups = _members(new.programs.values())
    diff = config_diff(current.programs, current.log_dir, new)
    touched = {*diff["added"], *diff["changed"], *diff["removed"]}
    added = sorted(set(new_groups) - set(old_groups))
    removed = sorted(set(old_groups) - set(new_groups))
    changed = sorted(
        name
        for name in set(old_groups) & set(new_groups)
        if old_groups[name] != new_groups[name]
        or touched & (old_groups[name] | new_groups[name])
        or current.groups.get(name) != new.groups.get(name)
    )
    return {"added": added, "changed": changed, "removed": removed}


def running_groups(config: DaemonConfig) -> set[str]:
    return set(_members(config.programs.values()))


def with_groups(current: DaemonConfig, new: DaemonConfig, names: Iterable[str]) -> DaemonConfig:
    """The running config with the named groups as `new` has them (added, changed or
    gone), every other group as it runs; GroupChangeError when that cannot stand."""
    chosen = set(names)
    unknown = sorted(chosen - running_groups(current) - running_groups(new))
    if unknown:
        raise GroupChangeError(f"{NO_SUCH_GROUP}{', '.join(unknown)}")
    programs = {n: p for n, p in current.programs.items() if p.group not in chosen}
    for name, program in new.programs.items():
        if program.group in chosen:
            if name in programs:
                raise GroupChangeError(
                    f"program {name} moves from group {programs[name].group} to "
                    f"{program.group}: update both groups together (or reload)"
                )
            programs[name] = program
    groups = {n: g for n, g in current.groups.items() if n not in chosen}
    groups.update((n, g) for n, g in new.groups.items() if n in chosen)
    _check_dependencies(programs)
    return current.replace(programs=programs, groups=groups)


def without_group(current: DaemonConfig, name: str) -> DaemonConfig:
    """The running config with group `name` taken out (Supervisor's removeProcessGroup)."""
    programs = {n: p for n, p in current.programs.items() if p.group != name}
    _check_dependencies(programs)
    groups = {n: g for n, g in current.groups.items() if n != name}
    return current.replace(programs=programs, groups=groups)


def _check_dependencies(programs: dict[str, ProgramConfig]) -> None:
    for program in programs.values():
        missing = [dep for dep in program.depends_on if dep not in programs]
        if missing:
            raise GroupChangeError(
                f"program {program.name} (group {program.group}) depends on "
                f"{', '.join(missing)}, which would not be loaded: change their groups "
                "together (or reload)"
            )


def _members(programs: Iterable[ProgramConfig]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for program in programs:
        members.setdefault(program.group, set()).add(program.name)
    return members
