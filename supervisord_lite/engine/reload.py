"""Reload: move the running table to a new config, touching only what differs.

Works out which programs a new config adds, changes, scales and removes (a program
whose only change is `numprocs` keeps its processes: only the tail comes or goes);
has the supervisor stop the processes that go (in stop order), then owns the replace step: the new
table, with unchanged slots carried over, goes in place and what is new starts.
A start asked meanwhile of a slot on its way out waits for the slot replacing it.
It never stops, starts or spawns anything itself: the supervisor does.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable, Protocol

from supervisord_lite.base import names
from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.core.process import Process, slots_for
from supervisord_lite.engine.scaling import runtime_programs


class ReloadHost(Protocol):
    """What a reload needs of the supervisor: its table, and the verbs it carries out."""

    config: DaemonConfig
    processes: dict[str, Process]
    scaled: dict[str, int]  # program -> numprocs a `scale` put in force (scaling.py)

    def programs(self) -> dict[str, ProgramConfig]: ...

    def set_table(self, config: DaemonConfig, processes: dict[str, Process]) -> None: ...

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None: ...

    def start(self, process: Process) -> None: ...

    def spawns_together(self) -> AbstractContextManager[None]:
        """A burst of starts whose spawns may overlap (children.py)."""

    def refuse_start(self, process: Process, reason: str) -> None: ...

    def settle_waiting_soon(self) -> None: ...

    def close_logs(self, process: Process) -> None: ...

    def cgroup_gone(self, name: str) -> None: ...

    cgroup_names: dict[Process, str]

    def cgroup_of(self, process: Process) -> str: ...


class Reloader:
    """Carries out the reloads of one supervisor (one at a time: the daemon queues them)."""

    def __init__(self, supervisor: ReloadHost):
        self.supervisor = supervisor
        # While a reload stops what it retires, starts asked of those wait here for
        # their successors (the same names in the new table).
        self.replacing = False
        self._start_after: list[Process] = []

    def apply(self, new: DaemonConfig, on_done: Callable[[dict], None]) -> dict:
        """Move to a new config, touching only what differs; on_done(diff) when applied.

        Removed and changed programs are stopped (in stop order); then removed ones are
        dropped, changed ones are re-created with their new settings, and new and changed
        ones start if autostart. Unchanged processes keep running, same pid.
        """
        supervisor = self.supervisor
        diff = config_diff(supervisor.config.programs, supervisor.config.log_dir, new)
        removed, changed = diff["removed"], diff["changed"]
        # A `scale` stays in force while the file's number for that program is unchanged.
        scaled = {
            name: count
            for name, count in supervisor.scaled.items()
            if name in new.programs and name not in (*changed, *diff["scaled"])
        }
        in_force = runtime_programs(new, scaled)
        retiring = [
            p
            for p in supervisor.processes.values()
            if p.program.name in (*removed, *changed)
            or p.retired is not None  # a scale's tail, on its way out
            or p.num >= in_force[p.program.name].numprocs  # a numprocs-only change: the tail
        ]
        for process in retiring:
            if process.retired is None:
                process.retired = "removed" if process.program.name in removed else "changed"
        self.replacing = True
        supervisor.stop_many(retiring, lambda: self._replace(new, scaled, retiring, diff, on_done))
        return diff

    def _replace(
        self,
        new: DaemonConfig,
        scaled: dict[str, int],
        retiring: list[Process],
        diff: dict,
        on_done: Callable[[dict], None],
    ) -> None:
        supervisor = self.supervisor
        for process in retiring:
            supervisor.close_logs(process)
        survivors = {p.name: p for p in supervisor.processes.values() if p not in retiring}
        supervisor.scaled = scaled
        table, fresh = slots_for(runtime_programs(new, scaled).values(), survivors)
        supervisor.set_table(new, table)
        self.replacing = False
        for process in retiring:
            cgroup = supervisor.cgroup_of(process)  # not its name after a surge (rolling.py)
            if process.name not in table or cgroup != process.name:  # removed, or dropped
                supervisor.cgroup_gone(cgroup)  # by a numprocs change, or a surge's own
            supervisor.cgroup_names.pop(process, None)
        with supervisor.spawns_together():
            for process in fresh:
                if process.program.autostart:
                    supervisor.start(process)
        deferred, self._start_after = self._start_after, []
        for process in deferred:
            supervisor.start(process)  # now its successor, or a refusal if it has none
        # Waiting dependents may now wait on a successor, or on nothing any more.
        supervisor.settle_waiting_soon()
        on_done(diff)

    def start_successor(self, process: Process) -> None:
        """A start asked of a slot a reload retired goes to the slot replacing it."""
        supervisor = self.supervisor
        if process.retired == "removed":
            supervisor.refuse_start(
                process, f"{process.name} was removed from the config by reload"
            )
        elif process.retired == "scaled":
            supervisor.refuse_start(process, f"{process.name} is being scaled away (scale)")
        elif self.replacing:
            self._start_after.append(process)
        else:
            successor = supervisor.processes.get(process.name)
            if successor is None:
                supervisor.refuse_start(process, f"{process.name} is no longer in the config")
            else:
                supervisor.start(successor)


def config_diff(
    old_programs: dict[str, ProgramConfig], old_log_dir: str, new: DaemonConfig
) -> dict[str, list[str]]:
    """The programs a new config adds, changes (replaced whole), scales (only `numprocs`
    differs: the tail comes or goes) and removes, by name."""
    log_dir_moved = new.log_dir != old_log_dir
    added = [name for name in new.programs if name not in old_programs]
    removed = [name for name in old_programs if name not in new.programs]
    changed, scaled = [], []
    for name, program in new.programs.items():
        old = old_programs.get(name)
        if old is None:
            continue
        if log_dir_moved and _uses_auto_logs(program):
            changed.append(name)
        elif _settings(program) != _settings(old):
            only_numprocs = _settings(program) == _settings(old).replace(
                numprocs=program.numprocs
            ) and "numprocs" not in names.template_fields(program.process_name)
            (scaled if only_numprocs else changed).append(name)
    return {"added": added, "changed": changed, "scaled": scaled, "removed": removed}


def _settings(program: ProgramConfig) -> ProgramConfig:
    """A program's settings for comparison: which file it came from is not a setting."""
    return program.replace(source="")


def _uses_auto_logs(program: ProgramConfig) -> bool:
    return "auto" in (program.stdout_logfile, program.stderr_logfile)


def changed_keys(old: ProgramConfig, new: ProgramConfig, log_dir_moved: bool) -> list[str]:
    """Which of a changed program's settings differ (for `reload --dry-run`): the same
    comparison as config_diff's, key by key."""
    old_fields, new_fields = _settings(old).fields(), _settings(new).fields()
    keys = [key for key, value in new_fields.items() if old_fields.get(key) != value]
    if log_dir_moved and _uses_auto_logs(new):
        keys.append("log_dir")  # [supervisord] log_dir, where its "auto" logs go
    return keys


def preview(
    old_programs: dict[str, ProgramConfig], old_log_dir: str, new: DaemonConfig
) -> dict[str, object]:
    """What a reload to `new` would do, applying nothing (`reload --dry-run`, Supervisor's
    `reread`): config_diff's lists, and for each changed program the keys that differ."""
    diff = config_diff(old_programs, old_log_dir, new)
    log_dir_moved = new.log_dir != old_log_dir
    keys = {
        name: changed_keys(old_programs[name], new.programs[name], log_dir_moved)
        for name in (*diff["changed"], *diff["scaled"])
    }
    return {**diff, "keys": keys}
