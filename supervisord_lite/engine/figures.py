"""`status` figures of a process's tree: how it is tracked, CPU, memory, tasks.

One /proc pass (linux/proctree.py, loaded at the first figures asked for) serves every
request for a second, so a page or a scraper polling a thousand processes costs one
pass, not a thousand; a pid spawned since the pass takes a fresh one. A tree is its
cgroup's members where cgroups are in force, else the process's descendants and
session.
"""

from __future__ import annotations

from typing import Protocol

from supervisord_lite.core.process import Process
from supervisord_lite.linux.loop import now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from supervisord_lite.linux.cgroups import CgroupTree
    from supervisord_lite.linux.proctree import Snapshot


class FiguresHost(Protocol):
    """What the figures need of the supervisor: its cgroups, set once running (or never)."""

    cgroups: CgroupTree | None


class Figures:
    """The figures of the supervisor's processes, from a /proc pass at most 1 s old."""

    def __init__(self, host: FiguresHost):
        self.host = host
        self._snapshot: Snapshot | None = None
        self._snapshot_at = 0.0

    def tree_pids(self, process: Process, snapshot: Snapshot) -> list[int]:
        """The pids of process's whole tree: its cgroup's members, else its descendants
        and session in `snapshot`."""
        cgroups = self.host.cgroups
        if cgroups is not None:
            return cgroups.pids(process.name)
        pid = process.pid
        return snapshot.tree(pid) if pid is not None else []

    def of(self, process: Process) -> dict:
        """`status` figures of process's tree: how it is tracked, CPU, memory, tasks."""
        tracking = "pgroup" if self.host.cgroups is None else "cgroup"
        figures = {"tracking": tracking, "cpu_seconds": None, "memory_bytes": None, "tasks": None}
        if process.pid is not None:
            snapshot = self._recent_snapshot(process.pid)
            rss, cpu, tasks = snapshot.totals(self.tree_pids(process, snapshot))
            figures.update(cpu_seconds=round(cpu, 2), memory_bytes=rss, tasks=tasks)
        figures["memory_limit_by"] = self._memory_limit_by(process)
        return figures

    def stamp(self, process: Process) -> tuple:
        """What process's figures depend on: they stay the same while this does."""
        pid = process.pid
        taken = -1.0
        if pid is not None:
            self._recent_snapshot(pid)
            taken = self._snapshot_at
        memory_limit = process.program.memory_limit
        return taken, pid, self.host.cgroups is not None, memory_limit

    def _memory_limit_by(self, process: Process) -> str | None:
        """Who enforces memory_limit: the kernel ("memory.max"), or our /proc sampling
        where the memory controller is not on (None: no limit)."""
        if process.program.memory_limit is None:
            return None
        cgroups = self.host.cgroups
        if cgroups is not None and "memory" in cgroups.controllers:
            return "memory.max"
        return "sampling"

    def _recent_snapshot(self, pid: int) -> Snapshot:
        # A new pid not in the pass (spawned since) takes a fresh one, but not twice in
        # 10 ms: a burst of spawns must not turn each status into a /proc pass.
        age = now() - self._snapshot_at
        snapshot = self._snapshot
        if snapshot is None or age > 1.0 or (pid not in snapshot.stat and age > 0.01):
            from supervisord_lite.linux.proctree import Snapshot  # at the first status figures

            snapshot = self._snapshot = Snapshot()
            self._snapshot_at = now()
        return snapshot
