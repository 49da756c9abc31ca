"""Run the whole suite as a few pytest processes side by side (`make test` uses it).

The suite drives real daemons and real children, so it spends nearly all its time
waiting on them, not computing (a full run keeps a 2-core machine under one core busy).
Splitting the test files over SHARDS processes (default 3) gives back that idle time.
Every test is independent of the others' processes: each has its own temp dir, daemon
and session token (tests/conftest.py), and the leftover check looks at its own.

Usage: python tests/run_shards.py [PYTEST ARGS...]; the args go to every shard. Each
shard's output is printed whole when it ends; the exit code is the worst shard's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Files that take far longer than their size says (real browsers, Prometheus, sshd, the
# benchmark harness, hypothesis' state machine): weighed by what they took in a run.
SLOW = {
    "tests/test_benchmarks_quick.py": 220,  # 170 + the top workload's quick run
    "tests/integration/test_reexec.py": 150,  # 30 reexecs in a row, each running the code twice
    "tests/integration/test_rolling.py": 60,  # servers under load through each roll
    "tests/integration/test_listeners.py": 40,
    "tests/integration/test_schedules.py": 90,  # waits for a whole minute
    "tests/integration/test_web_page.py": 100,  # with the charts' polls
    "tests/integration/test_top.py": 60,
    "tests/integration/test_top_hosts.py": 40,
    "tests/integration/test_ssh_hosts.py": 60,
    "tests/integration/test_prometheus.py": 40,
    "tests/integration/test_stateful.py": 30,
    "tests/integration/test_alerts.py": 40,
}


def weight(path: Path) -> float:
    """A guess at a file's run time in seconds: its size, unless it is a known slow one."""
    rel = path.relative_to(ROOT).as_posix()
    if rel in SLOW:
        return SLOW[rel]
    if "/unit/" in rel:
        return path.stat().st_size / 20000  # no processes: fast per byte
    return path.stat().st_size / 1000


def shards(count: int) -> list[list[str]]:
    """The test files in `count` groups of about equal weight (greedy, heaviest first)."""
    files = sorted((ROOT / "tests").rglob("test_*.py"), key=weight, reverse=True)
    groups: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(count)]
    for path in files:
        total, members = min(groups, key=lambda g: g[0])
        groups.remove((total, members))
        groups.append((total + weight(path), [*members, str(path.relative_to(ROOT))]))
    return [members for _, members in groups if members]


def main(argv: list[str]) -> int:
    count = max(1, int(os.environ.get("SHARDS", "3")))
    started = time.monotonic()
    running = []
    for n, files in enumerate(shards(count)):
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
        print(f"===== shard {n + 1}/{len(running)} ({len(files)} files): exit {rc} =====")
        print(log.read(), end="", flush=True)
        worst = max(worst, rc)
    print(f"===== {len(running)} shards in {time.monotonic() - started:.0f} s: exit {worst} =====")
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
