"""6. memory: daemon RSS and PSS with N programs, all RUNNING, and its open descriptors
per program (psutil num_fds / N: pipes and log files, plus the daemon's few of its own).

Twice: N silent sleepers, and N "talkers" that write one line to stdout and one to
stderr, then sleep. A daemon may open a program's log file only at its first byte, so
silent sleepers show its descriptors and memory without any log file open; the talkers
have both log files of every program open, as most real programs do.
"""

from __future__ import annotations

import time

import psutil

from benchmarks.common import Row, Settings, median
from benchmarks.managers import per_manager, sleepers, talkers

MiB = 1024 * 1024


def measure(kind, n: int, talking: bool) -> tuple[float, float | None, float]:
    with kind() as mgr:
        mgr.launch_programs(talkers(n) if talking else sleepers(n), timeout=300, interval=0.1)
        if talking:
            mgr.wait_logs_written(2 * n, timeout=300)  # both lines of every program
        time.sleep(1.0)
        proc = psutil.Process(mgr.pid)
        try:
            full = proc.memory_full_info()
            pss = getattr(full, "pss", None)
        except psutil.AccessDenied:
            full, pss = proc.memory_info(), None
        return full.rss / MiB, (pss / MiB if pss is not None else None), proc.num_fds() / n


def rows_for(settings: Settings, n: int, talking: bool) -> list[Row]:
    repeats = settings.pick(3, 1)
    what = f"{n} programs writing a line to stdout and stderr" if talking else f"{n} programs"
    note = f"median of {repeats}, order alternating"
    rss = Row("memory", f"{what}: daemon RSS (MiB)", fmt="{:.1f}", note=note)
    pss = Row("memory", f"{what}: daemon PSS (MiB)", fmt="{:.1f}", note=note)
    fds = Row("memory", f"{what}: daemon open fds per program", fmt="{:.2f}", note=note)
    for label, runs in per_manager(settings, repeats, lambda k: measure(k, n, talking)).items():
        rss.set(label, median([r for r, _, _ in runs]))
        pss_values = [p for _, p, _ in runs if p is not None]
        pss.set(label, median(pss_values) if pss_values else None)
        fds.set(label, median([f for _, _, f in runs]))
    return [rss, pss, fds]


def run(settings: Settings) -> list[Row]:
    n = settings.pick(1000, 200)
    return rows_for(settings, n, talking=False) + rows_for(settings, n, talking=True)
