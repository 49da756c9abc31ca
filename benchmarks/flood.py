"""9. flood: is the control socket still responsive while one child floods its log?

One program writes TOTAL bytes (500 MB; quick: 50 MB) to stdout in 64 KiB blocks, as
fast as it can, rotating at 100 MB (quick: 10 MB). Meanwhile one open connection asks
for `status` every ~10 ms (supervisord: XML-RPC getAllProcessInfo; supervisord_lite: the
JSON `status` line) and times each round trip. Per run: median, p95 and max round trip,
log throughput (the writer's first byte until every byte is in the log files) and daemon
CPU per GiB; each row is the median of those over the runs (single runs here swing
2-4x). The same client's round trip with the daemon idle, just before the flood, is the
reference. Targets shown in the rows: median <= 2 ms, max <= 20 ms.
"""

from __future__ import annotations

import time

from benchmarks.common import Row, Settings, cpu_seconds, median, percentile
from benchmarks.logs import GiB, MiB, read_stamp, sizes, writer_argv
from benchmarks.managers import Program, per_manager

INTERVAL = 0.010
IDLE_SAMPLES = 50


def round_trip(client) -> float:
    t0 = time.perf_counter()
    client.status()
    return time.perf_counter() - t0


def measure(kind, total: int, maxbytes: int) -> dict[str, float]:
    with kind() as mgr:
        stamp = str(mgr.dir / "stamp")
        program = Program(
            "flooder",
            writer_argv(total, "block", stamp),
            autostart=False,
            autorestart=False,
            maxbytes=maxbytes,
            backups=max(10, total // maxbytes + 2),
        )
        mgr.write_config([program])
        mgr.launch()
        client = mgr.client()
        starter = mgr.client()  # a start must not queue behind the sampling connection
        try:
            idle = []
            for _ in range(IDLE_SAMPLES):
                idle.append(round_trip(client))
                time.sleep(INTERVAL)
            cpu0 = cpu_seconds(mgr.pid)
            starter.start("flooder")
            t0 = read_stamp(stamp)
            rtts, t1, got = sample_until_written(client, lambda: mgr.stdout_logs("flooder"), total)
            cpu = cpu_seconds(mgr.pid) - cpu0
        finally:
            client.close()
            starter.close()
        if got < total:
            raise RuntimeError(f"{mgr.label}: {total - got} bytes of the flood never reached disk")
        ms = [v * 1000 for v in rtts]
        return {
            "idle": median([v * 1000 for v in idle]),
            "median": median(ms),
            "p95": percentile(ms, 95),
            "max": max(ms),
            "mbps": total / MiB / (t1 - t0),
            "cpu_per_gib": cpu / (total / GiB),
        }


def sample_until_written(client, list_files, total: int, settle: float = 5.0):
    """(round trips, time.time() when every byte was on disk, bytes on disk): a status
    every INTERVAL until the log files hold `total` bytes or stop growing for `settle` s."""
    rtts: list[float] = []
    last, last_change = -1, time.monotonic()
    next_at = time.perf_counter()
    while True:
        rtts.append(round_trip(client))
        got = sizes(list_files())
        if got >= total:
            return rtts, time.time(), got
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > settle:
            return rtts, time.time(), got
        next_at += INTERVAL
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.perf_counter()  # a slow reply: no burst to catch up


def run(settings: Settings) -> list[Row]:
    total, maxbytes = settings.pick(500 * MiB, 50 * MiB), settings.pick(100 * MiB, 10 * MiB)
    repeats = settings.pick(3, 1)
    workload = f"flood: {total // MiB} MB in 64 KiB writes, rotate at {maxbytes // MiB} MB"
    note = f"median of {repeats} runs, order alternating"
    rows = {
        "idle": Row(workload, "status round trip, daemon idle, median (ms)", fmt="{:.2f}"),
        "median": Row(workload, "status round trip during flood, median (ms) [target <= 2]"),
        "p95": Row(workload, "status round trip during flood, p95 (ms)"),
        "max": Row(workload, "status round trip during flood, max (ms) [target <= 20]"),
        "mbps": Row(workload, "log throughput (MB/s)", better="higher", fmt="{:.0f}"),
        "cpu_per_gib": Row(workload, "daemon CPU per GiB (s/GiB)"),
    }
    for row in rows.values():
        row.note = note
        if row.fmt == "{:.3g}":
            row.fmt = "{:.2f}"
    results = per_manager(settings, repeats, lambda kind: measure(kind, total, maxbytes))
    for label, runs in results.items():
        for key, row in rows.items():
            row.set(label, median([r[key] for r in runs]))
    return list(rows.values())
