"""cgroup v2 tracking: each process in a cgroup of its own, the daemon in a leaf beside
them, so that a whole tree (descendants that left the process group and session too)
can be counted and killed.

Layout under ROOT (the daemon's own cgroup when delegated, or `[supervisord]
cgroup_root`): ROOT/supervisord-lite holds the daemon, ROOT/<process name> each process.

Joining before exec: a child must be in its cgroup before it runs a single
instruction of the program, or a fast fork escapes into the daemon's. posix_spawn runs
no code in the child and clone3(CLONE_INTO_CGROUP) is not reachable from Python, so
the daemon moves itself into the process's cgroup, spawns (a child is born in its
parent's cgroup), and moves back: two writes, 14 us on the machine measured
(docs/limits.md), race-free, and the same for the posix_spawn and Popen paths. The
daemon is single-threaded, so nothing else it does runs while it is in there.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Callable, TypeVar

from supervisord_lite.base.log import log

T = TypeVar("T")

LEAF = "supervisord-lite"  # the daemon's own cgroup under ROOT
CONTROLLERS = ("memory", "pids", "cpu")  # enabled for the processes where available
# A directory may not take the name of a cgroup's interface files ("cgroup.procs",
# "memory.max"...): names starting with these, or the leaf's, get an escape prefix.
_RESERVED_PREFIXES = ("cgroup.", "memory.", "pids.", "cpu.", "cpuset.", "io.", "hugetlb.")
_RESERVED_PREFIXES += ("rdma.", "misc.", "_")


class CgroupError(Exception):
    """The configured cgroup_root cannot be used; the message says why."""


def v2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on a
    hybrid host), from /proc/self/mountinfo; None without one."""
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split()[4].replace("\\040", " ")
    except OSError:
        pass
    return None


def own_cgroup() -> str | None:
    """The daemon's cgroup v2 path ("/system.slice/x.service"), from /proc/self/cgroup."""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _delegated(path: str) -> bool:
    """systemd marks a Delegate=yes cgroup with this xattr (systemd >= 251); a cgroup
    handed to our own non-root uid is delegated too (cgroups(7), "Delegation")."""
    for name in ("trusted.delegate", "user.delegate"):
        try:
            if os.getxattr(path, name) == b"1":
                return True
        except OSError:
            pass
    st = os.stat(path)
    return os.geteuid() != 0 and st.st_uid == os.geteuid() and os.access(path, os.W_OK)


def cpu_max(percent: float, period: int = 100_000) -> str:
    """cpu.max's "QUOTA PERIOD" for a percentage of one CPU (at least 1 ms a period)."""
    return f"{max(1000, round(percent * period / 100))} {period}"


def controllers_available(configured_root: str | None) -> tuple[set[str], str]:
    """Which controllers the daemon's processes could have in their cgroups, found
    without creating or moving anything (--check, and launch before detect), and a
    reason when there are none: the daemon's own cgroup when delegated, else what
    cgroup_root (or its nearest existing ancestor) offers."""
    mount, own = v2_mount(), own_cgroup()
    if mount is None:
        return set(), "this host has no cgroup v2 mount"
    if configured_root is not None:
        path = os.path.realpath(configured_root)
        while not os.path.isdir(path) and path != mount:
            path = os.path.dirname(path)
    elif own is None or own == "/":
        return set(), "the daemon runs in the root cgroup, not a delegated one (no cgroup_root)"
    else:
        path = os.path.join(mount, own.lstrip("/"))
        if not _delegated(path):
            return set(), f"cgroup {own} is not delegated to the daemon (no cgroup_root)"
    try:
        found = set(_read(os.path.join(path, "cgroup.controllers")).split())
    except OSError as exc:
        return set(), f"cannot read {path}/cgroup.controllers: {exc.strerror}"
    return found & set(CONTROLLERS), f"the cgroup v2 controllers offered at {path}: " + (
        " ".join(sorted(found)) or "none")  # fmt: skip


def detect(configured_root: str | None) -> tuple[CgroupTree | None, str]:
    """The cgroup tree to use, set up (the daemon moved into its leaf), and a line for
    the daemon log saying what is in force and why. Raises CgroupError only when
    cgroup_root is configured and cannot be used: the user asked for it."""
    mount, own = v2_mount(), own_cgroup()
    if configured_root is not None:
        if mount is None:
            raise CgroupError(f"cgroup_root {configured_root}: this host has no cgroup v2 mount")
        real = os.path.realpath(configured_root)
        if os.path.commonpath([real, mount]) != mount or real == mount:
            raise CgroupError(
                f"cgroup_root {configured_root}: must be a directory under the cgroup v2 "
                f"mount {mount}"
            )
        created = not os.path.isdir(real)
        try:
            os.makedirs(real, exist_ok=True)
        except OSError as exc:
            raise CgroupError(f"cgroup_root {configured_root}: {exc.strerror}") from None
        tree = CgroupTree(real, created, os.path.join(mount, (own or "/").lstrip("/")))
    else:
        if mount is None or own is None:
            return None, "process groups (no cgroup v2 here)"
        if own == "/":
            return None, "process groups (the daemon runs in the root cgroup: not delegated)"
        path = os.path.join(mount, own.lstrip("/"))
        if not _delegated(path):
            return None, f"process groups (cgroup {own} is not delegated to the daemon)"
        tree = CgroupTree(path, False, path)
    try:
        tree.setup()
    except OSError as exc:
        tree.close()
        if configured_root is not None:
            raise CgroupError(f"cgroup_root {configured_root}: {exc.strerror}") from None
        return None, f"process groups (cannot use cgroup {own}: {exc.strerror})"
    return tree, tree.summary()


def adopt(described: dict | None) -> CgroupTree | None:
    """The tree a previous image of this daemon (same pid) set up, from its describe():
    after a reexec the daemon is in its leaf already, so detect() would take the leaf
    for the tree. None when there was none, or it is gone (process groups then)."""
    if not described:
        return None
    tree = CgroupTree(described["root"], described["created"], described["original"])
    try:
        tree.setup()
    except OSError as exc:
        log.error("cgroups: cannot take over %s after reexec: %s", tree.root, exc.strerror)
        return None
    return tree


class CgroupTree:
    def __init__(self, root: str, created: bool, original: str):
        self.root = root
        self.created = created  # remove ROOT itself at close
        self.original = original  # where the daemon was: it goes back there at close
        self.leaf = os.path.join(root, LEAF)
        self.controllers: tuple[str, ...] = ()  # enabled for the processes' cgroups
        self.missing: tuple[str, ...] = CONTROLLERS
        self._made: set[str] = set()  # process names whose cgroup exists
        self._ids: dict[int, str] = {}  # their cgroup ids (directory inodes) -> name

    def setup(self) -> None:
        os.makedirs(self.leaf, exist_ok=True)
        _write(os.path.join(self.leaf, "cgroup.procs"), b"0")  # 0: the writer itself
        available = _read(os.path.join(self.root, "cgroup.controllers")).split()
        enabled = []
        for name in CONTROLLERS:
            if name in available:
                try:
                    _write(os.path.join(self.root, "cgroup.subtree_control"), f"+{name}".encode())
                    enabled.append(name)
                except OSError:
                    pass
        self.controllers = tuple(enabled)
        self.missing = tuple(c for c in CONTROLLERS if c not in enabled)

    def describe(self) -> dict:
        """What adopt() needs to take this tree over in a new image (reexec)."""
        return {"root": self.root, "created": self.created, "original": self.original}

    def summary(self) -> str:
        text = f"cgroup v2 under {self.root} (the daemon in {LEAF})"
        if self.missing:
            text += (
                f"; controllers not enabled there: {', '.join(self.missing)}"
                " (memory_limit is sampled from /proc, no kernel memory.max)"
                if "memory" in self.missing
                else f"; controllers not enabled there: {', '.join(self.missing)}"
            )
        return text

    # -- one process's cgroup ------------------------------------------------------------

    def path(self, name: str) -> str:
        escaped = "_" + name if name == LEAF or name.startswith(_RESERVED_PREFIXES) else name
        return os.path.join(self.root, escaped)

    def spawn_into(
        self,
        name: str,
        spawn: Callable[[], T],
        memory_max: int | None,
        cpu_max: str | None = None,
        pids_max: int | None = None,
    ) -> T:
        """Run spawn() with the daemon in `name`'s cgroup, so the child is born there,
        its limits (memory.max, cpu.max, pids.max) written first where the controller is
        on ("max" when none: a reload may have lifted one)."""
        path = self.path(name)
        if name not in self._made:
            self._make(name, path)
        limits = (
            ("memory", "memory.max", memory_max),
            ("cpu", "cpu.max", cpu_max),
            ("pids", "pids.max", pids_max),
        )
        try:
            self._enter(path, limits)
        except FileNotFoundError:
            # Removed from outside since we made it (an admin's rmdir, a cleanup script):
            # made again, or the program could never start again, not even after reload.
            log.warning("cgroups: %s was removed from outside; making it again", path)
            self._make(name, path)
            self._enter(path, limits)
        try:
            return spawn()
        finally:
            self._back_to_leaf()

    def _make(self, name: str, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self._made.add(name)
        # Its id, for naming an sd_notify sender that has already exited (probe_runner).
        self._ids[os.stat(path).st_ino] = name

    def _enter(self, path: str, limits: tuple[tuple[str, str, object], ...]) -> None:
        for controller, filename, value in limits:
            if controller in self.controllers:
                text = b"max" if value is None else str(value).encode()
                _write(os.path.join(path, filename), text)
        _write(os.path.join(path, "cgroup.procs"), b"0")

    def limit_files(self, name: str) -> dict[str, str]:
        """cpu.max and pids.max of `name`'s cgroup as the kernel has them (for status)."""
        out = {}
        for filename in ("cpu.max", "pids.max"):
            try:
                out[filename] = _read(os.path.join(self.path(name), filename)).strip()
            except OSError:
                pass
        return out

    def _back_to_leaf(self) -> None:
        # Staying in a process's cgroup would put the daemon in the way of its
        # cgroup.kill: try the leaf, then where the daemon came from.
        for target in (self.leaf, self.original):
            try:
                _write(os.path.join(target, "cgroup.procs"), b"0")
                return
            except OSError as exc:
                log.error("cgroups: cannot move the daemon into %s: %s", target, exc)

    def kill(self, name: str) -> None:
        """SIGKILL everything in name's cgroup, however it forked (cgroup.kill, Linux 5.14;
        before it, each listed pid)."""
        path = self.path(name)
        try:
            _write(os.path.join(path, "cgroup.kill"), b"1")
            return
        except FileNotFoundError:
            if not os.path.isdir(path):
                return
        except OSError:
            return
        for pid in self.pids(name):  # no cgroup.kill: a fork meanwhile may escape this
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def name_of(self, cgroup_id: int) -> str | None:
        """The process whose cgroup has this id (the inode number of its directory, as
        the kernel's cgroup ids are), among those made by this daemon."""
        return self._ids.get(cgroup_id)

    def pids(self, name: str) -> list[int]:
        return self._members(self.path(name))

    @staticmethod
    def _members(path: str) -> list[int]:
        try:
            return [int(x) for x in _read(os.path.join(path, "cgroup.procs")).split()]
        except OSError:
            return []

    def populated(self, name: str) -> bool:
        try:
            text = _read(os.path.join(self.path(name), "cgroup.events"))
        except OSError:
            return False
        return "populated 1" in text

    def oom_kills(self, name: str) -> int:
        """How many times the kernel's OOM killer struck in name's cgroup (memory.events)."""
        try:
            text = _read(os.path.join(self.path(name), "memory.events"))
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def clear_leftovers(self) -> list[str]:
        """At start-up, once a dead predecessor's recorded children are stopped: kill
        whatever is still in the cgroups it left under ROOT (a setsid'd descendant is on
        no record), and remove them. Without this, such a stray would live on in the
        cgroup the new instance of its program reuses. Returns the cgroups that held
        someone. Start-up only: it waits (up to 2 s) for the killed to be gone."""
        others = [pid for pid in self._members(self.leaf) if pid != os.getpid()]
        if others:  # a live daemon shares this ROOT: its programs are not leftovers
            log.warning(
                "cgroups: another process (pid %s) is in %s, another daemon's place: its "
                "cgroups are left alone; give each daemon its own cgroup_root",
                others[0],
                self.leaf,
            )
            return []
        try:
            entries = [e for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        held = []
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name == LEAF:
                continue
            try:
                populated = "populated 1" in _read(os.path.join(entry.path, "cgroup.events"))
            except OSError:
                continue
            if populated:
                held.append(entry.name)
            _kill_and_rmdir(entry.path, 2.0)  # one still busy is reused by spawn_into
        if held:
            log.warning(
                "cgroups: killed what a previous daemon left running in %s", ", ".join(held)
            )
        return held

    def remove(self, name: str, wait: float = 0.0) -> bool:
        """Kill what is left in name's cgroup and remove it; False if it stays busy."""
        self._made.discard(name)
        self._ids = {key: value for key, value in self._ids.items() if value != name}
        return _kill_and_rmdir(self.path(name), wait)

    def close(self) -> None:
        """At shutdown: the daemon back where it was, every cgroup made here removed."""
        try:
            _write(os.path.join(self.original, "cgroup.procs"), b"0")
        except OSError as exc:
            log.warning("cgroups: cannot move the daemon back to %s: %s", self.original, exc)
        busy = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:  # the processes' cgroups, and the daemon's leaf
            if entry.is_dir(follow_symlinks=False) and not _kill_and_rmdir(entry.path, 2.0):
                busy.append(entry.path)
        if self.created and not _kill_and_rmdir(self.root, 0.0):
            busy.append(self.root)
        self._made.clear()
        self._ids.clear()
        if busy:
            log.warning("cgroups: could not remove %s (still busy)", ", ".join(busy))


def _kill_and_rmdir(path: str, wait: float) -> bool:
    """SIGKILL what is in the cgroup at `path`, then remove it, waiting up to `wait`
    seconds for the killed to be gone. True once it no longer exists."""
    try:
        _write(os.path.join(path, "cgroup.kill"), b"1")
    except OSError:
        pass  # gone already, or a kernel before 5.14: rmdir says whether it is empty
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(path)
            return True
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return True
            if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                return False
        time.sleep(0.01)  # only at shutdown or reload, once the loop has no more to do
