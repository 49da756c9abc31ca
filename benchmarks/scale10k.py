"""12. scale10k (`--only scale10k`): 10,000 sleeping programs in one supervisord_lite,
and what a descriptor limit lets each daemon start.

supervisord_lite alone: launch until every program has either a `success:` line (RUNNING)
or a `gave up:` line (FATAL: it could not start) in the daemon's own log, how many are
RUNNING, then `status` of all at one request per 1.3 s (API round trip, daemon CPU per
request, and the whole `supervisorctl-lite status` command), daemon RSS and descriptors
per program. The daemon gets as many descriptors as this host allows a process (the hard
RLIMIT_NOFILE, up to 65536). A program costs the daemon one pipe per stream (and a log
file per stream once it writes): 10,000 programs need 20,000 for their pipes alone,
which a hard limit of 20,000 (a container's root without CAP_SYS_RESOURCE) cannot
give. Where the limit is under 3 descriptors a program, the programs run with
`redirect_stderr = true` (one pipe each), and the rows say so.

Two more rows say where the launch time goes: the same launch with programs that have no
pipes (both logs "none": the daemon then holds no descriptor per program, and each
spawn's copy of its descriptor table is empty), and no manager at all (this process
posix_spawns the 10,000 itself, one after another: what spawning alone costs here).

supervisord is not run at 10,000: it keeps ~5 descriptors per program (memory's fds
row), 50,000 for 10,000. Both daemons are instead given M programs under a limit of
4 per program (20,000 for 5,000 programs, scaled down to M), and the programs that reach
RUNNING are counted once each has a `success:` or a `gave up:` line.
"""

from __future__ import annotations

import dataclasses
import resource
import subprocess
import time

import psutil

from benchmarks.common import CpuMeter, Row, Settings, median, wait_for
from benchmarks.managers import Lite, Program, per_manager, sleepers
from benchmarks.spawn import floor as spawn_floor

MiB = 1024 * 1024
PERIOD = 1.3
MAX_NOFILE = 65536


def host_nofile() -> int:
    """The most descriptors a daemon started from here can have (root without
    CAP_SYS_RESOURCE, as in a container, cannot raise the hard limit)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return MAX_NOFILE if hard == resource.RLIM_INFINITY else min(hard, MAX_NOFILE)


def wait_settled(mgr, n: int, timeout: float) -> int:
    """Until each of n programs has reached RUNNING or given up (the daemon's own log
    says so: asking a big status while it spawns would slow it); how many are RUNNING."""
    successes, gave_up = mgr.log_counter(b"success:"), mgr.log_counter(b"gave up:")

    def settled() -> bool:
        return successes.poll() + gave_up.poll() >= n

    wait_for(settled, timeout=timeout, interval=0.01, what=f"{mgr.label}: {n} settled")
    return successes.count


def one_pipe(programs: list[Program]) -> list[Program]:
    return [dataclasses.replace(p, lite_keys=(("redirect_stderr", True),)) for p in programs]


def lite_at_scale(n: int, requests: int, nofile: int) -> dict:
    with Lite() as mgr:
        mgr.nofile = nofile
        mgr.write_config(one_pipe(sleepers(n)) if nofile < 3 * n else sleepers(n))
        t0 = time.perf_counter()
        mgr.launch()
        running = wait_settled(mgr, n, timeout=600)
        spawn = time.perf_counter() - t0
        client = mgr.client()
        meter = CpuMeter(mgr.pid)
        rtts, walls = [], []
        try:
            for _ in range(requests):
                time.sleep(PERIOD)
                with meter:
                    t1 = time.perf_counter()
                    got = client.status()
                    rtts.append((time.perf_counter() - t1) * 1000)
                if len(got) != n:
                    raise RuntimeError(f"status listed {len(got)} of {n}")
        finally:
            # Closed before the ctl runs: the descriptors the programs' pipes and logs
            # may need leave room for a single client where the limit is tight.
            client.close()
        for _ in range(requests):
            time.sleep(PERIOD)
            t1 = time.perf_counter()
            proc = subprocess.run(mgr.ctl("status"), capture_output=True, timeout=120)
            walls.append((time.perf_counter() - t1) * 1000)
            if proc.returncode not in (0, 3):  # 3: some program is not running
                raise RuntimeError(f"status: exit {proc.returncode}: {proc.stderr!r}")
        daemon = psutil.Process(mgr.pid)
        return {
            "running": running,
            "settled": spawn,
            "spawn": spawn if running == n else None,
            "rtt": median(rtts),
            "cpu": meter.per_window_ms(),
            "wall": median(walls),
            "rss": daemon.memory_info().rss / MiB,
            "fds": daemon.num_fds() / n,
        }


def launch_without_pipes(n: int, nofile: int) -> float:
    """Seconds from launch until n sleepers with both logs "none" are RUNNING."""
    silent = (("stdout_logfile", "none"), ("stderr_logfile", "none"))
    with Lite() as mgr:
        mgr.nofile = nofile
        mgr.write_config([dataclasses.replace(p, lite_keys=silent) for p in sleepers(n)])
        t0 = time.perf_counter()
        mgr.launch()
        if wait_settled(mgr, n, timeout=600) != n:
            raise RuntimeError(f"{mgr.label}: not all {n} programs without pipes RUNNING")
        return time.perf_counter() - t0


def running_under_limit(kind, m: int, limit: int) -> int:
    """How many of m sleepers reach RUNNING in a daemon pinned to `limit` descriptors."""
    with kind() as mgr:
        mgr.nofile = limit
        mgr.write_config(sleepers(m))
        mgr.launch()
        running = wait_settled(mgr, m, timeout=300)
        client = mgr.client()
        try:
            states = [s for _, s, _ in client.states()]
        finally:
            client.close()
        if states.count("RUNNING") != running:
            raise RuntimeError(f"{mgr.label}: {running} success: lines, status says {states}")
        return running


def run(settings: Settings) -> list[Row]:
    n, requests = settings.pick(10000, 200), settings.pick(5, 2)
    m = settings.pick(500, 50)
    nofile = host_nofile()
    workload = f"scale: {n} programs"
    note = f"supervisord not run: ~5 descriptors per program; RLIMIT_NOFILE {nofile}"
    if nofile < 3 * n:
        note += "; redirect_stderr = true (one pipe a program: the limit is under 3 a program)"
    found = lite_at_scale(n, requests, nofile)
    without_pipes = launch_without_pipes(n, nofile)
    api = f"API `status` of all, 1 per {PERIOD:g} s, median of {requests} (ms)"
    command = f"`status` command wall time, median of {requests} (ms)"
    rows = [
        Row(workload, "programs RUNNING", lite=found["running"], better="higher", fmt="{:.0f}"),
        Row(workload, "launch until all RUNNING (s)", lite=found["spawn"], fmt="{:.2f}"),
        Row(workload, "launch until each RUNNING or given up (s)", lite=found["settled"]),
        Row(workload, "launch, programs without pipes (logs none) (s)", lite=without_pipes),
        Row(workload, api, lite=found["rtt"]),
        Row(workload, "daemon CPU per `status` of all (ms)", lite=found["cpu"]),
        Row(workload, command, lite=found["wall"]),
        Row(workload, "daemon RSS (MiB)", lite=found["rss"], fmt="{:.1f}"),
        Row(workload, "daemon open fds per program", lite=found["fds"], fmt="{:.2f}"),
    ]
    for row in rows:
        row.note, row.lite_only = note, True
        if row.fmt == "{:.3g}":
            row.fmt = "{:.2f}" if "(s)" in row.metric else "{:.1f}"
    budget = Row(
        f"scale: descriptor budget, {m} programs",
        f"programs RUNNING under RLIMIT_NOFILE = {4 * m} (4 per program)",
        better="higher",
        fmt="{:.0f}",
        note="as 5000 under 20,000; counted once each is RUNNING or gave up; 1 daemon each",
    )
    for label, got in per_manager(settings, 1, lambda k: running_under_limit(k, m, 4 * m)).items():
        budget.set(label, got[0])
    floor_metric = f"no manager: {n} x posix_spawn, serial (s)"
    floor = Row(workload, floor_metric, fmt="{:.2f}", baseline=spawn_floor(n, "posix_spawn"))
    return [*rows, floor, budget]
