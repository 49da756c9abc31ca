"""The figures of our own process trees (resident memory, CPU time, threads), read from
/proc for the processes in them and no other.

A tree is its main process and every descendant, found through the kernel's
/proc/PID/task/TID/children lists, plus the processes of its session that left it:
the daemon is a child subreaper, so those were re-parented to the daemon itself and are
in its own children lists, and their session id says whose they are. The cost is a
few reads per process of OURS, whatever else runs on the host (a whole-host /proc pass
cost 9 system calls per host process and grew with every container on the machine).
Where a kernel lacks the children lists (CONFIG_PROC_CHILDREN), one pass over /proc
stands in, once per reading.

Plain os.open/os.read/os.close, not open(): three system calls a file instead of nine
(open() also stats the file, asks isatty and seeks).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")
_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")

# (ppid, session, resident bytes, CPU seconds, threads)
Stat = tuple[int, int, int, float, int]


def read_file(path: str) -> bytes:
    """The whole of a small /proc file (raises OSError when it is gone)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
        if len(data) < 4096:
            return data
        chunks = [data]
        while data:  # a children list of thousands of pids
            data = os.read(fd, 65536)
            chunks.append(data)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_stat(pid: int) -> Stat | None:
    """One process's /proc/PID/stat figures; None when it is gone or a zombie."""
    try:
        data = read_file(f"/proc/{pid}/stat")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ")": split after the last ")".
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    return int(fields[1]), int(fields[3]), int(fields[21]) * _PAGE, cpu, int(fields[17])


def children_of(pid: int, threads: int) -> list[int]:
    """pid's children: each thread keeps its own list (a child belongs to the thread
    that forked it), so a process with more than one thread lists its tasks first."""
    try:
        if threads == 1:
            return [int(x) for x in read_file(f"/proc/{pid}/task/{pid}/children").split()]
        out = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            out += [int(x) for x in read_file(f"/proc/{pid}/task/{tid}/children").split()]
        return out
    except OSError:  # gone meanwhile
        return []


class Trees:
    """One reading of our trees, for one request: each tree read when first asked for.

    roots: every main process the daemon has now (a child of the daemon that is not
    one is a re-parented orphan, or a helper such as a probe's command)."""

    __slots__ = ("_roots", "_orphans", "_host", "_links", "_read")

    def __init__(self, roots: Iterable[int]):
        self._roots = set(roots)
        self._orphans: dict[int, list[int]] | None = None  # session -> adopted pids
        self._host: dict[int, Stat] | None = None  # the fallback's whole-host pass
        self._links: tuple[dict, dict] = ({}, {})  # its children and sessions
        self._read: dict[int, Stat | None] = {}  # each stat read once per reading

    def totals(self, root: int) -> tuple[int, float, int]:
        """(resident bytes, CPU seconds, threads) of root's whole tree."""
        return self.sum(self.tree(root))

    def sum(self, pids: Iterable[int]) -> tuple[int, float, int]:
        """(resident bytes, CPU seconds, threads) summed over the live ones of pids."""
        rss = tasks = 0
        cpu = 0.0
        stats = self._host if self._host is not None else self._read
        for pid in pids:
            st = stats[pid] if pid in stats else self._stat(pid)
            if st is not None:
                rss += st[2]
                cpu += st[3]
                tasks += st[4]
        return rss, cpu, tasks

    def tree(self, root: int) -> list[int]:
        """root, its descendants, and the orphans of its session with theirs."""
        if not _CHILDREN:
            return self._host_tree(root)
        out: list[int] = []
        todo = [root, *self._adopted().get(root, ())]
        while todo:
            pid = todo.pop()
            st = self._read[pid] if pid in self._read else self._stat(pid)
            if st is None:
                continue
            out.append(pid)
            todo += children_of(pid, st[4])
        return out

    def _stat(self, pid: int) -> Stat | None:
        st = self._read[pid] = read_stat(pid)
        return st

    def _adopted(self) -> dict[int, list[int]]:
        if self._orphans is None:
            self._orphans = {}
            me = os.getpid()
            for pid in children_of(me, 0):
                if pid not in self._roots:
                    st = self._stat(pid)
                    if st is not None and st[1] in self._roots:
                        self._orphans.setdefault(st[1], []).append(pid)
        return self._orphans

    def _host_tree(self, root: int) -> list[int]:
        if self._host is None:
            self._host = _whole_host()
            children: dict[int, list[int]] = {}
            sessions: dict[int, list[int]] = {}
            for pid, st in self._host.items():
                children.setdefault(st[0], []).append(pid)
                sessions.setdefault(st[1], []).append(pid)
            self._links = children, sessions
        children, sessions = self._links
        seen: set[int] = set()
        todo = [root, *sessions.get(root, ())]
        out = []
        while todo:
            pid = todo.pop()
            if pid in self._host and pid not in seen:
                seen.add(pid)
                out.append(pid)
                todo += children.get(pid, ())
        return out


def _whole_host() -> dict[int, Stat]:
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st is not None:
                stats[int(name)] = st
    return stats
