"""4. log throughput: one child writes TOTAL bytes to stdout as fast as it can, with
rotation; MB/s from the writer's first byte until every byte is in the log files, daemon
CPU seconds, and bytes lost. The same writer with no manager (straight to a file, and
piped into `cat > file`) gives the physical limits, measured in the same run, interleaved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import BENCH_DIR, Row, Settings, cpu_seconds, median
from benchmarks.managers import Program, managers

WRITER = os.path.join(BENCH_DIR, "writer.py")
MiB = 1024 * 1024
GiB = 1024 * MiB


def writer_argv(total: int, mode: str, stamp: str) -> list[str]:
    return [sys.executable, WRITER, str(total), mode, stamp]


def read_stamp(path: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            text = open(path).read()
            if text:
                return float(text)
        except OSError:
            pass
        time.sleep(0.002)
    raise TimeoutError(f"writer never started ({path})")


def sizes(paths: list[str]) -> int:
    total = 0
    for p in paths:
        try:
            total += os.stat(p).st_size
        except OSError:
            pass
    return total


def wait_bytes(list_files, total: int, done_proc=None, settle: float = 3.0) -> tuple[float, int]:
    """(time.time() when all bytes are on disk, bytes on disk); gives up once the size
    stops growing for `settle` seconds (then bytes are lost)."""
    last, last_change = -1, time.monotonic()
    while True:
        got = sizes(list_files())
        now = time.time()
        if got >= total:
            return now, got
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > settle:
            return now, got
        time.sleep(0.003)


def no_manager(total: int, mode: str, via_cat: bool) -> tuple[float, float | None]:
    """(MB/s, CPU seconds of `cat` when piped through it)."""
    tmp = tempfile.mkdtemp(prefix="sdlb-", dir="/tmp")
    try:
        out_path = os.path.join(tmp, "out.log")
        stamp = os.path.join(tmp, "stamp")
        with open(out_path, "wb") as out:
            if via_cat:
                cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=out)
                w = subprocess.Popen(writer_argv(total, mode, stamp), stdout=cat.stdin)
                cat.stdin.close()
                procs = [w, cat]
            else:
                procs = [subprocess.Popen(writer_argv(total, mode, stamp), stdout=out)]
            cat_cpu = None
            try:
                if via_cat:
                    # wait4 gives cat's own rusage: the CPU a copying logger needs at least.
                    procs[0].wait(timeout=600)
                    _, status, usage = os.wait4(procs[1].pid, 0)
                    procs[1].returncode = os.waitstatus_to_exitcode(status)
                    cat_cpu = usage.ru_utime + usage.ru_stime
                for p in procs:
                    p.wait(timeout=600)
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            t1 = time.time()
        return total / MiB / (t1 - read_stamp(stamp)), cat_cpu
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def managed(kind, total: int, mode: str, maxbytes: int) -> tuple[float, float, int]:
    """(MB/s, daemon CPU seconds, bytes lost)."""
    with kind() as mgr:
        stamp = str(mgr.dir / "stamp")
        program = Program(
            "writer",
            writer_argv(total, mode, stamp),
            autostart=False,
            autorestart=False,
            maxbytes=maxbytes,
            backups=max(10, total // maxbytes + 2),
        )
        mgr.write_config([program])
        mgr.launch()
        client = mgr.client()
        try:
            cpu0 = cpu_seconds(mgr.pid)
            client.start("writer")
            t0 = read_stamp(stamp)
            t1, got = wait_bytes(lambda: mgr.stdout_logs("writer"), total)
            cpu = cpu_seconds(mgr.pid) - cpu0
        finally:
            client.close()
        return total / MiB / (t1 - t0), cpu, total - got


def run(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    repeats = settings.pick(5, 1)
    maxbytes = settings.pick(100 * MiB, 10 * MiB)
    cases = [
        ("block", settings.pick(500 * MiB, 50 * MiB), "64 KiB writes"),
        ("line", settings.pick(100 * MiB, 10 * MiB), "100-byte lines"),
    ]
    kinds = managers(settings)
    for mode, total, label in cases:
        workload = f"logs: {total // MiB} MB, {label}, rotate at {maxbytes // MiB} MB"
        base_file, base_cat, cat_cpu = [], [], []
        results: dict[str, list[tuple[float, float, int]]] = {k.label: [] for k in kinds}
        for _ in range(repeats):
            base_file.append(no_manager(total, mode, via_cat=False)[0])
            mbps_cat, cpu_cat = no_manager(total, mode, via_cat=True)
            base_cat.append(mbps_cat)
            cat_cpu.append(cpu_cat)
            for kind in kinds:
                results[kind.label].append(managed(kind, total, mode, maxbytes))
        cat_mbps = median(base_cat)

        def pick(label: str, index: int, fn=median, _results=results):
            values = [r[index] for r in _results.get(label, [])]
            return fn(values) if values else None

        mbps = Row(workload, "throughput (MB/s)", better="higher", fmt="{:.0f}")
        frac = Row(workload, "throughput / (writer | cat > file)", better="higher", fmt="{:.2f}")
        cpu = Row(workload, "daemon CPU (s)", fmt="{:.2f}")
        per_gb = Row(workload, "daemon CPU per GB (s/GiB)", fmt="{:.2f}")
        lost = Row(workload, "bytes lost (worst repeat)", fmt="{:.0f}")
        for kind in kinds:
            attr = "supervisord" if kind.label == "supervisord" else "lite"
            m = pick(kind.label, 0)
            c = pick(kind.label, 1)
            setattr(mbps, attr, m)
            setattr(frac, attr, m / cat_mbps if m is not None else None)
            setattr(cpu, attr, c)
            setattr(per_gb, attr, c / (total / GiB) if c is not None else None)
            setattr(lost, attr, pick(kind.label, 2, fn=max))
        rows += [
            Row(
                workload,
                "no manager: writer > file (MB/s)",
                fmt="{:.0f}",
                baseline=median(base_file),
            ),
            Row(
                workload, "no manager: writer | cat > file (MB/s)", fmt="{:.0f}", baseline=cat_mbps
            ),
            Row(
                workload,
                "no manager: CPU of that `cat` per GB (s/GiB)",
                fmt="{:.2f}",
                baseline=median(cat_cpu) / (total / GiB),
            ),
            mbps,
            frac,
            cpu,
            per_gb,
            lost,
        ]
    return rows
