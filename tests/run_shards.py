"""Run the whole suite as a few pytest processes side by side (`make test` uses it).

The suite drives real daemons and real children, so it spends nearly all its time
waiting on them, not computing (a full run keeps a 2-core machine under one core busy).
Splitting the test files over SHARDS processes (default 3) gives back that idle time.
Every test is independent of the others' processes: each has its own temp dir, daemon
and session token (tests/conftest.py), and the leftover check looks at its own.

Usage: python tests/run_shards.py [--record-times] [PYTEST ARGS...]; the args go to
every shard. Each shard's output is printed whole when it ends; the exit code is the
worst shard's. --record-times rewrites tests/file_times.json from this run (when green).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Seconds each test file took (setup + call + teardown of its tests) in a sharded run
# here: what the split balances. A file not listed yet is guessed from its size.
# Refresh after adding or slowing tests: python tests/run_shards.py --record-times
TIMES = ROOT / "tests" / "file_times.json"
_DURATION = re.compile(r"([0-9.]+)s\s+(?:setup|call|teardown)\s+(tests/[^:]+)::")


def measured() -> dict[str, float]:
    try:
        return json.loads(TIMES.read_text())
    except (OSError, ValueError):
        return {}


def weight(path: Path, times: dict[str, float]) -> float:
    """A file's expected run time in seconds: measured, else guessed from its size."""
    rel = path.relative_to(ROOT).as_posix()
    if rel in times:
        return times[rel]
    if "/unit/" in rel:
        return path.stat().st_size / 20000  # no processes: fast per byte
    return path.stat().st_size / 1000


def deselected_files(argv: list[str]) -> set[str]:
    """Files the pytest args deselect whole (`--deselect FILE`): they weigh nothing."""
    return {b for a, b in zip(argv, argv[1:]) if a == "--deselect" and "::" not in b}


def shards(count: int, skip: set[str] = frozenset()) -> list[list[str]]:
    """The test files in `count` groups of about equal time (greedy, longest first)."""
    times = measured()
    files = [p for p in (ROOT / "tests").rglob("test_*.py")
             if p.relative_to(ROOT).as_posix() not in skip]  # fmt: skip
    files.sort(key=lambda p: weight(p, times), reverse=True)
    groups: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(count)]
    for path in files:
        total, members = min(groups, key=lambda g: g[0])
        groups.remove((total, members))
        groups.append((total + weight(path, times), [*members, str(path.relative_to(ROOT))]))
    return [members for _, members in groups if members]


def record_times(outputs: list[str]) -> None:
    """Sum each file's test durations from the shards' `--durations=0` reports."""
    times: dict[str, float] = {}
    for text in outputs:
        for seconds, path in _DURATION.findall(text):
            times[path] = times.get(path, 0.0) + float(seconds)
    rounded = {k: round(v) if v >= 1 else round(v, 1) for k, v in times.items()}
    TIMES.write_text(json.dumps(rounded, indent=1, sort_keys=True) + "\n")
    print(f"recorded the times of {len(times)} files in {TIMES.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    count = max(1, int(os.environ.get("SHARDS", "3")))
    record = "--record-times" in argv
    if record:
        argv = [a for a in argv if a != "--record-times"] + ["--durations=0", "--durations-min=0"]
    started = time.monotonic()
    running = []
    outputs = []
    for n, files in enumerate(shards(count, deselected_files(argv))):
        log = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv, *files]
        running.append((n, files, log, subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                                        stderr=subprocess.STDOUT)))  # fmt: skip
    worst = 0
    for n, files, log, proc in running:
        rc = proc.wait()
        if rc == 5:  # pytest: nothing collected (every file of this shard deselected)
            rc = 0
        log.seek(0)
        text = log.read()
        outputs.append(text)
        print(f"===== shard {n + 1}/{len(running)} ({len(files)} files): exit {rc} =====")
        print(text, end="", flush=True)
        worst = max(worst, rc)
    print(f"===== {len(running)} shards in {time.monotonic() - started:.0f} s: exit {worst} =====")
    if record and worst == 0:
        record_times(outputs)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
