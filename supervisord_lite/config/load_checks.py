"""The loader's checks across programs, groups and files, made once every file is
read: each program in one group, every group member defined, no group named after a
program outside it, depends_on naming programs that exist and making no cycle, and
every program log writable where the daemon would write it.
"""

from __future__ import annotations

import os

from supervisord_lite.config import values as cv
from supervisord_lite.config.load_context import LoadContext
from supervisord_lite.config.load_tables import section_of
from supervisord_lite.config.log_paths import log_path_problem


class CrossChecks(LoadContext):
    """The checks no single table can make: each sees every program and group."""

    def group_membership(self) -> dict[str, tuple[str, int]]:
        """program -> (its group, the group's priority); a second group is an error."""
        member_of: dict[str, tuple[str, int]] = {}
        for group, (file, members, priority) in self.groups.items():
            for program in members:
                if program in member_of:
                    other = member_of[program][0]
                    where = ("groups", group, "programs")
                    self.error(file, where, f'program "{program}" is already in group "{other}"')
                else:
                    member_of[program] = (group, priority)
        return member_of

    def check_group_members(self) -> None:
        """Once every program is known: members must exist, and a group must not take
        the name of a program outside it (which is a group of its own)."""
        for group, (file, members, _) in self.groups.items():
            for program in members:
                if program not in self.sources:
                    where = ("groups", group, "programs")
                    self.error(file, where, f"unknown program {cv.show(program)}")
            if group in self.sources and group not in members:
                self.error(
                    file,
                    ("groups", group),
                    f'a program outside this group is called "{group}" (and so is its own '
                    "group); rename one of them",
                )

    def check_log_paths(self, log_dir: str) -> None:
        """Every program log the daemon would write, checked as it would meet it."""
        directories: dict = {}  # one look at each directory, for this check
        for name, prog in self.programs.items():
            file, parts = prog.source, (section_of(prog), name)
            for stream in ("stdout", "stderr"):
                key = f"{stream}_logfile"
                auto = getattr(prog, key) == "auto"
                seen = set()
                for index in range(prog.numprocs):
                    path = prog.logfile_path(stream, index, log_dir)
                    if path is None or path in seen:
                        continue
                    seen.add(path)
                    # log_dir is created by the daemon; any other directory must exist
                    in_log_dir = os.path.dirname(path) == log_dir
                    problem = log_path_problem(path, in_log_dir, directories)
                    if problem:
                        what = f'"auto" log {path}' if auto else f"log {path}"
                        self.error(file, (*parts, key), f"cannot write {what}: {problem}")
                        break  # one line per key: its other processes fail alike

    def check_depends_on(self) -> None:
        """Unknown names, then cycles (each reported once, with its path: a -> b -> a)."""
        graph = {}
        for name, (file, deps) in self.deps.items():
            for dep in deps:
                # Any defined name counts, even one whose table had errors of its own.
                if dep not in self.sources:
                    where = ("programs", name, "depends_on")
                    self.error(file, where, f"unknown program {cv.show(dep)}")
            graph[name] = [d for d in deps if d in self.deps]
        self.check_conditions()
        for cycle in dependency_cycles(graph):
            file = self.deps[cycle[0]][0]
            where = ("programs", cycle[0], "depends_on")
            self.error(file, where, "dependency cycle: " + " -> ".join(cycle))

    def check_conditions(self) -> None:
        """A "healthy" condition needs a dependency whose health is probed: without one
        it could never be met, and the dependent would wait forever."""
        for name, program in self.programs.items():
            for dep, condition in program.conditions:
                other = self.programs.get(dep)
                if condition == "healthy" and other is not None and other.health is None:
                    where = ("programs", name, "depends_on", dep)
                    message = f'"healthy" needs a [programs.{dep}.health] probe'
                    self.error(program.source, where, message)


def dependency_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each back edge of a depth-first walk in file order, as a path ["a", "b", "a"].

    Iterative, so a long chain of programs cannot hit Python's recursion limit.
    """
    found, done = [], set()
    for root in graph:
        if root in done:
            continue
        path, on_path = [root], {root}
        todo = [iter(graph[root])]
        while todo:
            dep = next(todo[-1], None)
            if dep is None:  # every dependency of path[-1] explored
                done.add(path[-1])
                on_path.discard(path.pop())
                todo.pop()
            elif dep in on_path:
                found.append(path[path.index(dep) :] + [dep])
            elif dep not in done:
                path.append(dep)
                on_path.add(dep)
                todo.append(iter(graph[dep]))
    return found
