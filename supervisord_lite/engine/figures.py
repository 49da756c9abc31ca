"""The figures `status --json`, `metrics`, the web page and memory_limit show for each
process's tree: how it is tracked, CPU seconds, resident bytes, threads.

One FiguresReading serves one request: the trees are read from /proc when asked for
and forgotten with it, so nothing is kept between requests and a request that asks no
figures (the ctl's text `status`) reads nothing. A tree is its cgroup's members where
the daemon tracks processes in cgroups, else the main process's descendants and
session (linux/proctree.py). Either way the members' /proc/PID/stat give the figures,
so they mean the same in both: the cgroup's own counters would count the CPU of
members that have exited (cpu.stat) and the page cache (memory.current), and cost as
many reads for a one-process tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from supervisord_lite.core.process import Process
from supervisord_lite.linux.proctree import Trees

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.linux.cgroups import CgroupTree


class FiguresHost(Protocol):
    """What the figures need of the supervisor: its cgroups, set once running (or
    never), and its children by pid (the trees' roots)."""

    cgroups: CgroupTree | None
    by_pid: dict[int, Process]

    def cgroup_of(self, process: Process) -> str: ...


class Figures:
    """The supervisor's figures: a reading per request, or one process's at once."""

    def __init__(self, host: FiguresHost):
        self.host = host

    def reading(self) -> FiguresReading:
        """A reading of the trees for one request (status, a scrape, a memory check)."""
        return FiguresReading(self.host.cgroups, self.host.by_pid, self.host.cgroup_of)

    def of(self, process: Process, reading: FiguresReading | None = None) -> dict:
        """`status` figures of process's tree: how it is tracked, CPU, memory, tasks."""
        return (reading or self.reading()).of(process)


class FiguresReading:
    __slots__ = ("cgroup_of", "cgroups", "trees", "tracking")

    def __init__(
        self,
        cgroups: CgroupTree | None,
        roots: Iterable[int],
        cgroup_of: Callable[[Process], str],
    ):
        self.cgroups = cgroups
        self.cgroup_of = cgroup_of  # not the name for a surge's newcomer (rolling.py)
        self.trees = Trees(roots)
        self.tracking = "pgroup" if cgroups is None else "cgroup"

    def totals(self, process: Process) -> tuple[int, float, int]:
        """(resident bytes, CPU seconds, threads) of process's tree (zeros: none live)."""
        pid = process.pid
        if pid is None:
            return 0, 0.0, 0
        if self.cgroups is not None:
            return self.trees.sum(self.cgroups.pids(self.cgroup_of(process)))
        return self.trees.totals(pid)

    def of(self, process: Process) -> dict:
        """The `status` figures of process's tree, in the protocol's key order."""
        figures = {"tracking": self.tracking, "cpu_seconds": None, "memory_bytes": None,
                   "tasks": None}  # fmt: skip
        if process.pid is not None:
            rss, cpu, tasks = self.totals(process)
            figures.update(cpu_seconds=round(cpu, 2), memory_bytes=rss, tasks=tasks)
        figures["memory_limit_by"] = memory_limit_by(process, self.cgroups)
        return figures


def memory_limit_by(process: Process, cgroups: CgroupTree | None) -> str | None:
    """Who enforces memory_limit: the kernel ("memory.max"), or our /proc sampling
    where the memory controller is not on (None: no limit)."""
    if process.program.memory_limit is None:
        return None
    if cgroups is not None and "memory" in cgroups.controllers:
        return "memory.max"
    return "sampling"
