"""Scale: a program's number of processes set at runtime, touching only the tail.

`scale PROGRAM N` (and a reload whose only change to a program is `numprocs`) adds
processes after the last, or stops the highest-numbered; the others keep running with
the same pids. The number in force is the config's unless a `scale` set another
(`Supervisor.scaled`); `status` shows both. A scale-down stops the tail first (their
slots, marked retired, stay in the table and in `status` while they stop), then drops
them, their logs and their cgroups. It never spawns or signals anything itself: the
supervisor does.
"""

from __future__ import annotations

from typing import Callable, Protocol

from supervisord_lite.base import names
from supervisord_lite.config.keys import MAX_NUMPROCS
from supervisord_lite.config.model import DaemonConfig, ProgramConfig
from supervisord_lite.core.process import Process, slots_for


class ScaleError(Exception):
    """Why a scale cannot be done, for the user; `kind` says what is wrong: "unknown"
    (no such program), "invalid" (the number or the program's names), "busy" (try
    again later)."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


class ScaleHost(Protocol):
    """What scaling needs of the supervisor: its table and the verbs it carries out."""

    config: DaemonConfig
    processes: dict[str, Process]
    scaled: dict[str, int]  # program -> numprocs in force where it is not the config's
    shutting_down: bool

    def programs(self) -> dict[str, ProgramConfig]: ...

    def reloading(self) -> bool: ...

    def set_table(self, config: DaemonConfig, processes: dict[str, Process]) -> None: ...

    def stop_many(self, processes: list[Process], on_done: Callable[[], None]) -> None: ...

    def start(self, process: Process) -> None: ...

    def close_logs(self, process: Process) -> None: ...

    def cgroup_gone(self, name: str) -> None: ...


class Scaler:
    """Carries out the scales of one supervisor; one at a time per program."""

    def __init__(self, host: ScaleHost):
        self.host = host
        self.busy: set[str] = set()  # programs whose tail is being stopped

    def scale(self, name: str, count: int, on_done: Callable[[list[str]], None]) -> dict:
        """Set program `name`'s number of processes to `count`. Returns what it does
        ({"program", "numprocs", "numprocs_config", "started", "stopping"}); on_done(names
        of the processes removed) once the tail that goes has stopped (at once when none).
        ScaleError when it cannot be done."""
        host = self.host
        program = self._check(name, count)
        current = program.numprocs
        if count == current:
            on_done([])
            return self._result(name, count, [], [])
        self._set_numprocs(name, count)
        if count > current:
            fresh = self._new_table()
            for process in fresh:
                host.start(process)
            on_done([])
            return self._result(name, count, [p.name for p in fresh], [])
        tail = [p for p in host.processes.values() if p.program.name == name and p.num >= count]
        for process in tail:
            process.retired = "scaled"
        self.busy.add(name)
        host.stop_many(tail, lambda: self._drop(name, tail, on_done))
        return self._result(name, count, [], [p.name for p in tail])

    def _check(self, name: str, count: int) -> ProgramConfig:
        host = self.host
        program = host.programs().get(name)
        if program is None:
            hint = ""
            if any(p.program.group == name for p in host.processes.values()):
                hint = f' ("{name}" is a group: scale each of its programs)'
            raise ScaleError(f'no program "{name}"{hint}', "unknown")
        if not 0 <= count <= MAX_NUMPROCS:
            raise ScaleError(f"the number of processes must be 0..{MAX_NUMPROCS}, got {count}")
        if host.shutting_down:
            raise ScaleError("the daemon is shutting down", "busy")
        if host.reloading() or name in self.busy:
            raise ScaleError(
                f"{name} is being scaled or reloaded; try again when it is done", "busy"
            )
        fields = names.template_fields(program.process_name)
        if "numprocs" in fields:
            raise ScaleError(
                f"{name}'s process_name uses {{numprocs}}: every name would change; "
                "change numprocs in the config and reload instead"
            )
        if count > 1 and "process_num" not in fields:
            raise ScaleError(
                f'{name} has one process named "{program.processes[0]}": give it a '
                'process_name with "{process_num}" (e.g. "{program_name}_{process_num}") '
                "so that more processes get names of their own"
            )
        for stream in ("stdout", "stderr"):
            path = getattr(program, f"{stream}_logfile")
            fixed = path not in ("auto", "none") and "process_num" not in names.template_fields(
                path
            )
            if count > 1 and fixed and not path.startswith("/dev/"):
                raise ScaleError(
                    f'{name}\'s {stream}_logfile must contain "{{process_num}}" '
                    "so that each process gets its own log"
                )
        self._check_names(program, count)
        return program

    def _check_names(self, program: ProgramConfig, count: int) -> None:
        """The new processes' names must not be another program's."""
        more = program.replace(numprocs=count).processes[program.numprocs :]
        for full in more:
            other = self.host.processes.get(full)
            if other is not None and other.program.name != program.name:
                raise ScaleError(
                    f'{program.name} would get the process name "{full}", '
                    f'which program "{other.program.name}" has'
                )

    def _set_numprocs(self, name: str, count: int) -> None:
        if count == self.host.config.programs[name].numprocs:
            self.host.scaled.pop(name, None)
        else:
            self.host.scaled[name] = count

    def _new_table(self, leaving: list[Process] = ()) -> list[Process]:
        """The table rebuilt for the numbers in force (kept slots kept, with the
        program as now scaled); the new slots."""
        host = self.host
        keep = {n: p for n, p in host.processes.items() if p not in leaving}
        table, fresh = slots_for(host.programs().values(), keep)
        host.set_table(host.config, table)
        return fresh

    def _drop(self, name: str, tail: list[Process], on_done: Callable[[list[str]], None]) -> None:
        host = self.host
        self.busy.discard(name)
        for process in tail:
            host.close_logs(process)
        if any(host.processes.get(p.name) is p for p in tail):  # no reload took over meanwhile
            for process in self._new_table(tail):  # none, unless the numbers moved since
                host.start(process)
        for process in tail:
            if process.name not in host.processes:
                host.cgroup_gone(process.name)
        on_done([p.name for p in tail])

    def _result(self, name: str, count: int, started: list[str], stopping: list[str]) -> dict:
        return {
            "program": name,
            "numprocs": count,
            "numprocs_config": self.host.config.programs[name].numprocs,
            "started": started,
            "stopping": stopping,
        }


def runtime_programs(config: DaemonConfig, scaled: dict[str, int]) -> dict[str, ProgramConfig]:
    """The config's programs with the numbers of processes in force (a `scale`'s)."""
    programs = config.programs
    if not scaled:
        return programs
    return {
        name: program.replace(numprocs=scaled[name]) if name in scaled else program
        for name, program in programs.items()
    }
