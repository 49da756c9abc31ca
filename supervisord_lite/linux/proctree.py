"""One pass over /proc: every process's parent, session, resident memory, CPU time and
threads; and the figures of a process's whole tree from it.

One pass serves every program (memory limits, status figures), so the cost is one
read of /proc/PID/stat per process on the host, whatever the number of programs.
Plain reads, not psutil.process_iter: psutil builds an object per process and reads
several files; stat alone has every field needed (docs/limits.md has the figures).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


class Snapshot:
    """The process table at one instant (processes that exit meanwhile are skipped)."""

    __slots__ = ("stat", "children", "by_session")

    def __init__(self) -> None:
        # pid -> (ppid, session, rss bytes, cpu seconds, threads); zombies left out
        self.stat: dict[int, tuple[int, int, int, float, int]] = {}
        self.children: dict[int, list[int]] = {}
        self.by_session: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                self._read(int(name))

    def _read(self, pid: int) -> None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:  # exited between listdir and open
            return
        # The command name (field 2) may hold spaces and ")": split after the last ")".
        fields = data[data.rfind(b")") + 2 :].split()
        if fields[0] == b"Z":
            return
        ppid, session = int(fields[1]), int(fields[3])
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        self.stat[pid] = (ppid, session, int(fields[21]) * _PAGE, cpu, int(fields[17]))
        self.children.setdefault(ppid, []).append(pid)
        self.by_session.setdefault(session, []).append(pid)

    def tree(self, root: int) -> list[int]:
        """root and every live descendant: by parent, and every member of root's session
        (a program's main process leads its own session) with their descendants. An
        orphan that also left the session is out of reach here: cgroups catch it."""
        seen: set[int] = set()
        todo = [root, *self.by_session.get(root, ())]
        out = []
        while todo:
            pid = todo.pop()
            if pid in self.stat and pid not in seen:
                seen.add(pid)
                out.append(pid)
                todo.extend(self.children.get(pid, ()))
        return out

    def totals(self, pids: Iterable[int]) -> tuple[int, float, int]:
        """(resident bytes, CPU seconds, threads) summed over the live ones of pids."""
        rss = tasks = 0
        cpu = 0.0
        for pid in pids:
            st = self.stat.get(pid)
            if st is not None:
                rss += st[2]
                cpu += st[3]
                tasks += st[4]
        return rss, cpu, tasks
