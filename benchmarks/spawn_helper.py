"""What a spawn costs the more descriptors the spawner holds, in the daemon and through
its spawn helper (supervisord_lite/linux/spawner.py): `python -m benchmarks.spawn_helper
[--quick]`.

For each count of held descriptors (pipe ends, as a daemon holds its programs'), N
`posix_spawn`s of `sleep` with stdout on a fresh pipe, timed until each call returns
(the child's exec done), the daemon's CPU from getrusage(RUSAGE_SELF): straight from
this process, and through the real Spawner with a ready helper. The two ways run
interleaved, repeats alternating; medians. This process makes itself a child subreaper,
as the daemon does, so the helper's children come back to it and are reaped.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import time

from benchmarks.common import median
from supervisord_lite.linux.spawn import spawn_helper
from supervisord_lite.linux.spawner import START_AFTER, Spawner

ARGV = ["/bin/sleep", "30"]
SIGDEF = (int(signal.SIGPIPE), int(signal.SIGXFSZ))


class _Turns:
    """The loop's calls the Spawner makes; the burst's turn ends when we say so."""

    def __init__(self) -> None:
        self.soon: list = []

    def call_soon(self, callback) -> None:
        self.soon.append(callback)

    def call_later(self, delay: float, callback) -> None:
        pass

    def end_turn(self) -> None:
        batch, self.soon = self.soon, []
        for callback in batch:
            callback()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_process(env: dict, null: int, w: int) -> int:
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, w, 1)]
    actions.append((os.POSIX_SPAWN_DUP2, null, 2))
    return os.posix_spawn(ARGV[0], ARGV, env, file_actions=actions, setsid=True)


def _ready_spawner(env: dict, null: int) -> Spawner:
    spawner = Spawner(_Turns(), lambda argv, fd: spawn_helper(argv, stdin_fd=fd))
    for _ in range(START_AFTER):
        spawner.spawn(ARGV[0], ARGV, env, [null, null, null], 0o022, SIGDEF)
    deadline = time.monotonic() + 30
    while not spawner._became_ready(spawner.helper):
        if time.monotonic() > deadline:
            raise RuntimeError("the spawn helper never became ready")
        time.sleep(0.005)
    return spawner


def measure(way: str, n: int, env: dict, null: int) -> tuple[float, float]:
    """(wall ms per spawn until it returned, this process's CPU ms per spawn)."""
    spawner = _ready_spawner(env, null) if way == "helper" else None
    pids, wall = [], 0.0
    cpu0 = _cpu()
    for _ in range(n):
        r, w = os.pipe()
        t0 = time.perf_counter()
        if spawner is None:
            pid = _in_process(env, null, w)
        else:
            pid = spawner.spawn(ARGV[0], ARGV, env, [null, w, null], 0o022, SIGDEF)
        wall += time.perf_counter() - t0
        os.close(w)
        os.close(r)
        pids.append(pid)
    cpu = _cpu() - cpu0
    if spawner is not None:
        spawner.retire()  # its children are ours now
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    _reap_all()
    return wall / n * 1000, cpu / n * 1000


def _reap_all() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, repeats = (50, 1) if args.quick else (300, 3)
    counts = (0, 2000) if args.quick else (0, 2000, 4000, 10000, 18000)
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as the daemon
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = dict(os.environb)
    null = os.open(os.devnull, os.O_RDWR)
    held: list[int] = []
    print(f"{n} spawns of `sleep` with a stdout pipe, timed until posix_spawn returned;")
    print(f"median of {repeats}, the two ways alternating\n")
    print("| descriptors held | in process: wall (ms) | CPU (ms) | helper: wall (ms) | CPU (ms) |")
    print("|---:|---:|---:|---:|---:|")
    for count in counts:
        if count + 64 > hard:
            break  # the hard limit leaves no room for this count
        while len(held) < count:
            held.extend(os.pipe())
        results: dict[str, list[tuple[float, float]]] = {"daemon": [], "helper": []}
        for _ in range(repeats):
            for way in results:
                results[way].append(measure(way, n, env, null))
        cells = []
        for way in ("daemon", "helper"):
            cells.append(f"{median([w for w, _ in results[way]]):.2f}")
            cells.append(f"{median([c for _, c in results[way]]):.3f}")
        print(f"| {len(held)} | " + " | ".join(cells) + " |", flush=True)
    for fd in held:
        os.close(fd)


if __name__ == "__main__":
    main()
