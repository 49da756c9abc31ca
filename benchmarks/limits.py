"""Limits and process trees (issue 15), supervisord_lite only (supervisord has none of
these): `python -m benchmarks.limits [--quick]`, medians of repeats.

1. spawn cost: the W8 crash storm (50 programs exiting every 50 ms, backoff_max = 0),
   daemon CPU per spawn without limits (posix_spawn), with `[limits]` (Popen and a
   preexec_fn), and with cgroup tracking (the daemon moves itself around each spawn).
2. memory sampling: 100 sleeping programs, each with a memory_limit, at the default
   5 s memory_check_interval: the daemon's CPU as a share of one core.
3. stop of a tree of 100 processes, half of them setsid escapees: are all gone, and
   the time from `stop` to the last death, process groups vs cgroups.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import uuid

import psutil

from benchmarks.common import cpu_seconds, median
from benchmarks.managers import Lite, Program

# A main process with 99 children; every other child calls setsid (an escapee from the
# process group and session); all sleep. Prints its tree's pids once all are up.
TREE = r"""
import os, signal, sys, time
r, w = os.pipe()
for n in range(99):
    if os.fork() == 0:
        if n % 2:
            os.setsid()
        os.write(w, b".")
        while True:
            signal.pause()
got = 0
while got < 99:
    got += len(os.read(r, 128))
print("ready", flush=True)
while True:
    signal.pause()
"""


def cgroup_mount() -> str | None:
    from supervisord_lite.linux.cgroups import v2_mount

    mount = v2_mount()
    if mount is None or not os.access(mount, os.W_OK):
        return None
    return mount


def with_cgroup_root(keys: dict, mount: str | None) -> str | None:
    if mount is None:
        return None
    return os.path.join(mount, f"sdlb-{uuid.uuid4().hex[:10]}")


class LiteWith(Lite):
    """Lite with extra [supervisord] keys (cgroup_root)."""

    daemon_keys: dict = {}

    def write_config(self, programs):
        super().write_config(programs)
        if self.daemon_keys:
            text = self.config.read_text()
            extra = "".join(f'{k} = "{v}"\n' for k, v in self.daemon_keys.items())
            self.config.write_text(text.replace("[supervisord]\n", "[supervisord]\n" + extra, 1))


def run_lite(programs, cgroup_root: str | None, body):
    LiteWith.daemon_keys = {"cgroup_root": cgroup_root} if cgroup_root else {}
    try:
        with LiteWith() as mgr:
            mgr.write_config(programs)
            mgr.launch()
            return body(mgr)
    finally:
        if cgroup_root and os.path.isdir(cgroup_root):
            _remove_cgroups(cgroup_root)


def _remove_cgroups(root: str) -> None:
    for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
        try:
            with open(os.path.join(dirpath, "cgroup.kill"), "w") as fh:
                fh.write("1")
        except OSError:
            pass
        for _ in range(500):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)


# -- 1. spawn cost --------------------------------------------------------------------------


def storm(limits: bool, cgroups: str | None, window: float) -> float:
    keys = (("limits", {"nofile": 1024}),) if limits else ()
    programs = [
        Program(f"crash{i:02d}", ["sleep", "0.05"], backoff_max=0, stopwaitsecs=1, lite_keys=keys)
        for i in range(50)
    ]

    def body(mgr):
        time.sleep(0.5)
        spawned = mgr.log_counter(b"spawned:")
        n0, cpu0 = spawned.poll(), cpu_seconds(mgr.pid)
        time.sleep(window)
        spawns = spawned.poll() - n0
        return (cpu_seconds(mgr.pid) - cpu0) / max(spawns, 1) * 1000

    return run_lite(programs, cgroups, body)


# -- 2. memory sampling ---------------------------------------------------------------------


def sampling(n: int, window: float) -> float:
    keys = (("memory_limit", "1GB"),)
    programs = [Program(f"p{i:03d}", ["sleep", "100000"], lite_keys=keys) for i in range(n)]

    def body(mgr):
        mgr.wait_all_running(mgr.client(), n)
        time.sleep(1.0)
        cpu0 = cpu_seconds(mgr.pid)
        time.sleep(window)
        return (cpu_seconds(mgr.pid) - cpu0) / window * 100

    return run_lite(programs, None, body)


# -- 3. stopping a tree with escapees ---------------------------------------------------------


def tree_stop(cgroups: str | None) -> tuple[int, float]:
    """(processes left alive 5 s after stop, seconds from stop to the last death)."""
    programs = [Program("tree", [sys.executable, "-c", TREE], stopwaitsecs=2)]

    def body(mgr):
        client = mgr.client()
        deadline = time.monotonic() + 30
        while not any("ready" in open(p).read() for p in mgr.stdout_logs("tree")):
            assert time.monotonic() < deadline, "tree never got ready"
            time.sleep(0.05)
        main = next(pid for name, state, pid in client.states() if name == "tree")
        pids = [main, *(c.pid for c in psutil.Process(main).children())]
        assert len(pids) == 100, len(pids)
        t0 = time.perf_counter()
        client.call("stop", {"names": ["tree"]})
        last, left = t0, pids
        end = t0 + 5
        while left and time.perf_counter() < end:
            left = [p for p in left if _alive(p)]
            if left:
                time.sleep(0.002)
            last = time.perf_counter()
        for pid in left:  # the survivors of process-group tracking
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(left), (last - t0) if not left else float("nan")

    return run_lite(programs, cgroups, body)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 1 if args.quick else 3
    window = 3.0 if args.quick else 10.0
    mount = cgroup_mount()

    def cg() -> str | None:
        return with_cgroup_root({}, mount)

    rows = []
    for label, limits, cgroups in (
        ("no limits (posix_spawn)", False, False),
        ("[limits] nofile (Popen + preexec_fn)", True, False),
        ("cgroup tracking, no limits (posix_spawn)", False, True),
    ):
        if cgroups and mount is None:
            continue
        runs = [storm(limits, cg() if cgroups else None, window) for _ in range(repeats)]
        rows.append(("crash storm: daemon CPU per spawn (ms)", label, f"{median(runs):.3f}"))
    interval_window = 15.0 if args.quick else 30.0
    runs = [sampling(100, interval_window) for _ in range(repeats)]
    rows.append(
        ("memory sampling: daemon CPU, % of a core", "100 programs, 5 s", f"{median(runs):.3f}")
    )
    for label, cgroups in (("process group", False), ("cgroup", True)):
        if cgroups and mount is None:
            continue
        results = [tree_stop(cg() if cgroups else None) for _ in range(repeats)]
        left = median([r[0] for r in results])
        took = median([r[1] for r in results])
        rows.append(("stop 100-process tree, 49 setsid: left alive after 5 s", label, f"{left:g}"))
        shown = "never (survivors)" if took != took else f"{took * 1000:.1f}"
        rows.append(("stop 100-process tree, 49 setsid: ms to the last death", label, shown))
    print("| metric | case | median |\n|---|---|---:|")
    for metric, case, value in rows:
        print(f"| {metric} | {case} | {value} |")


if __name__ == "__main__":
    if shutil.which("sleep") is None:
        sys.exit("needs sleep(1)")
    main()
