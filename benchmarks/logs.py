"""4. log throughput: one child writes TOTAL bytes to stdout as fast as it can, with
rotation; MB/s from the writer's first byte until every byte is in the log files, daemon
CPU seconds, and bytes lost. The same writer with no manager, straight into a file and
piped into `cat > file` through a 1 MiB pipe (the size supervisord_lite gives a busy
child's pipe), gives reference figures measured in the same run, interleaved. They are
not limits: a manager reading bigger gulps than `cat`'s 128 KiB can beat `cat`.
"""

from __future__ import annotations

import fcntl
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
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Python < 3.10 lacks the name
FLOOR_PIPE_SIZE = MiB  # what supervisord_lite's logs/logfile.py enlarges a busy child's pipe to

# supervisord_lite program keys that change what is written per line: each entry adds
# the 100-byte-line rows again, supervisord_lite run with those keys (supervisord, which
# has no such keys, runs as in the plain case), so `--only logs` shows what marking every
# line costs beside the plain path. Both keys at once: the dearest combination.
LINE_KEY_VARIANTS: list[dict] = [{"log_prefix": "{name} | ", "log_timestamps": True}]


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
    tmp = tempfile.mkdtemp(prefix="sdlb-")
    try:
        out_path = os.path.join(tmp, "out.log")
        stamp = os.path.join(tmp, "stamp")
        with open(out_path, "wb") as out:
            if via_cat:
                procs = writer_into_cat(writer_argv(total, mode, stamp), out)
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


def writer_into_cat(argv: list[str], out) -> list[subprocess.Popen]:
    """[writer, cat]: the writer's stdout is a pipe of FLOOR_PIPE_SIZE read by `cat > out`,
    the same pipe size supervisord_lite reads a busy child through."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, FLOOR_PIPE_SIZE)
        cat = subprocess.Popen(["cat"], stdin=r, stdout=out)
        writer = subprocess.Popen(argv, stdout=w)
    finally:
        os.close(r)
        os.close(w)
    return [writer, cat]


def managed(
    kind, total: int, mode: str, maxbytes: int, lite_keys: tuple = ()
) -> tuple[float, float, int]:
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
            lite_keys=lite_keys,
        )
        mgr.write_config([program])
        mgr.launch()
        client = mgr.client()
        try:
            cpu0 = cpu_seconds(mgr.pid)
            client.start("writer")
            t0 = read_stamp(stamp)
            expected = total + marked_bytes(dict(lite_keys), total, mode)
            t1, got = wait_bytes(lambda: mgr.stdout_logs("writer"), expected)
            cpu = cpu_seconds(mgr.pid) - cpu0
        finally:
            client.close()
        # Throughput counts the program's bytes, not the marks added to them.
        return total / MiB / (t1 - t0), cpu, expected - got


def marked_bytes(keys: dict, total: int, mode: str) -> int:
    """What log_prefix / log_timestamps add to `total` bytes of 100-byte lines: the
    process name is "writer"; a timestamp is `2026-11-28T18:30:00.125Z ` (25 bytes)."""
    if mode != "line" or not keys:
        return 0
    per_line = len(
        keys.get("log_prefix", "").format(name="writer", group="writer", stream="stdout")
    )
    per_line += 25 if keys.get("log_timestamps") else 0
    return -(-total // 100) * per_line


def run(settings: Settings) -> list[Row]:
    maxbytes = settings.pick(100 * MiB, 10 * MiB)
    rows = case(settings, "block", settings.pick(500 * MiB, 50 * MiB), "64 KiB writes", maxbytes)
    rows += case(settings, "line", settings.pick(100 * MiB, 10 * MiB), "100-byte lines", maxbytes)
    for keys in LINE_KEY_VARIANTS:
        rows += lines_with_program_keys(settings, keys)
    return rows


def lines_with_program_keys(settings: Settings, keys: dict) -> list[Row]:
    """The 100-byte line case with extra supervisord_lite program keys (supervisord has
    none of them and runs as in the plain case): what a per-line feature such as a line
    prefix or a timestamp costs in throughput and daemon CPU."""
    maxbytes = settings.pick(100 * MiB, 10 * MiB)
    total = settings.pick(100 * MiB, 10 * MiB)
    shown = ", ".join(f"{k} = {v!r}" for k, v in keys.items())
    label = f"100-byte lines, lite with {shown}"
    return case(settings, "line", total, label, maxbytes, lite_keys=tuple(keys.items()))


def case(
    settings: Settings, mode: str, total: int, label: str, maxbytes: int, lite_keys: tuple = ()
) -> list[Row]:
    repeats = settings.pick(5, 1)
    workload = f"logs: {total // MiB} MB, {label}, rotate at {maxbytes // MiB} MB"
    base_file, base_cat, cat_cpu = [], [], []
    results: dict[str, list[tuple[float, float, int]]] = {k.label: [] for k in managers(settings)}
    for repeat in range(repeats):
        # The floors and the managers take turns going first from one repeat to the next.
        floors_first = repeat % 2 == 0
        if floors_first:
            measure_floors(total, mode, base_file, base_cat, cat_cpu)
        for kind in managers(settings, repeat):
            keys = lite_keys if kind.label != "supervisord" else ()
            results[kind.label].append(managed(kind, total, mode, maxbytes, keys))
        if not floors_first:
            measure_floors(total, mode, base_file, base_cat, cat_cpu)
    cat_mbps = median(base_cat)

    def pick(label: str, index: int, fn=median):
        values = [r[index] for r in results.get(label, [])]
        return fn(values) if values else None

    note = f"median of {repeats}" if repeats > 1 else ""
    pipe = f"{FLOOR_PIPE_SIZE // MiB} MiB pipe"
    mbps = Row(workload, "throughput (MB/s)", better="higher", fmt="{:.0f}", note=note)
    frac = Row(workload, f"throughput / (writer | cat > file, {pipe})", better="higher")
    frac.fmt, frac.note = "{:.2f}", note
    cpu = Row(workload, "daemon CPU (s)", fmt="{:.2f}", note=note)
    per_gb = Row(workload, "daemon CPU per GiB (s/GiB)", fmt="{:.2f}", note=note)
    lost = Row(workload, "bytes lost (worst repeat)", fmt="{:.0f}")
    for kind in managers(settings):
        m = pick(kind.label, 0)
        c = pick(kind.label, 1)
        mbps.set(kind.label, m)
        frac.set(kind.label, m / cat_mbps if m is not None else None)
        cpu.set(kind.label, c)
        per_gb.set(kind.label, c / (total / GiB) if c is not None else None)
        lost.set(kind.label, pick(kind.label, 2, fn=max))
    return [
        Row(workload, "no manager: writer > file (MB/s)", fmt="{:.0f}", baseline=median(base_file)),
        Row(
            workload,
            f"no manager: writer | cat > file, {pipe} (MB/s)",
            fmt="{:.0f}",
            baseline=cat_mbps,
        ),
        Row(
            workload,
            "no manager: CPU of that `cat` per GiB (s/GiB)",
            fmt="{:.2f}",
            baseline=median(cat_cpu) / (total / GiB),
        ),
        mbps,
        frac,
        cpu,
        per_gb,
        lost,
    ]


def measure_floors(total: int, mode: str, base_file: list, base_cat: list, cat_cpu: list) -> None:
    base_file.append(no_manager(total, mode, via_cat=False)[0])
    mbps_cat, cpu_cat = no_manager(total, mode, via_cat=True)
    base_cat.append(mbps_cat)
    cat_cpu.append(cpu_cat)
