"""6. memory: daemon RSS and PSS with N programs, all RUNNING, and its open descriptors
per program (psutil num_fds / N: pipes and log files, plus the daemon's few of its own)."""

from __future__ import annotations

import time

import psutil

from benchmarks.common import Row, Settings, median
from benchmarks.managers import per_manager

MiB = 1024 * 1024


def measure(kind, n: int) -> tuple[float, float | None, float]:
    with kind() as mgr:
        mgr.launch_sleepers(n, timeout=300, interval=0.1)
        time.sleep(1.0)
        proc = psutil.Process(mgr.pid)
        try:
            full = proc.memory_full_info()
            pss = getattr(full, "pss", None)
        except psutil.AccessDenied:
            full, pss = proc.memory_info(), None
        return full.rss / MiB, (pss / MiB if pss is not None else None), proc.num_fds() / n


def run(settings: Settings) -> list[Row]:
    n, repeats = settings.pick(1000, 200), settings.pick(3, 1)
    note = f"median of {repeats}, order alternating"
    rss = Row("memory", f"{n} programs: daemon RSS (MiB)", fmt="{:.1f}", note=note)
    pss = Row("memory", f"{n} programs: daemon PSS (MiB)", fmt="{:.1f}", note=note)
    fds = Row("memory", f"{n} programs: daemon open fds per program", fmt="{:.2f}", note=note)
    for label, runs in per_manager(settings, repeats, lambda k: measure(k, n)).items():
        rss.set(label, median([r for r, _, _ in runs]))
        pss_values = [p for _, p, _ in runs if p is not None]
        pss.set(label, median(pss_values) if pss_values else None)
        fds.set(label, median([f for _, _, f in runs]))
    return [rss, pss, fds]
