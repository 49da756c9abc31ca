"""The daemon's side of a spawn, measured in-process: its CPU per spawn from
getrusage(RUSAGE_SELF) around N spawns of `true`, each reaped before the next, and the
wall time per spawn until the child has exited. For `pid_env` and `env_file`, which
compare ways of starting the same child."""

from __future__ import annotations

import os
import resource
import time
from typing import Callable

from benchmarks.common import median

StartOne = Callable[[], int]  # starts a child, returns its pid


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(start_one: StartOne, n: int) -> tuple[float, float]:
    """(daemon-side CPU ms per spawn, wall ms per spawn until the child has exited)."""
    cpu0, t0 = self_cpu(), time.perf_counter()
    for _ in range(n):
        os.waitpid(start_one(), 0)
    return (self_cpu() - cpu0) / n * 1000, (time.perf_counter() - t0) / n * 1000


def compare(ways: dict[str, StartOne], n: int, repeats: int, heading: str) -> None:
    """Measure every way `repeats` times, interleaved so that load changes hit each
    alike, and print the medians as a table under `heading`."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, start_one in ways.items():
            results[name].append(measure(start_one, n))
    print(f"{heading}; median of {repeats}\n")
    print("| how | daemon CPU per spawn (ms) | wall per spawn, until exit (ms) |")
    print("|---|---:|---:|")
    for name, runs in results.items():
        cpu = median([c for c, _ in runs])
        wall = median([w for _, w in runs])
        print(f"| {name} | {cpu:.3f} | {wall:.3f} |")
