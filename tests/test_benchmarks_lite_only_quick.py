"""The supervisord_lite-only benchmarks run when named (`python -m benchmarks --only
hooks`, `--only schedules`) must never rot: each one's quick mode runs and prints a
number for each of its rows, leaving nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("workload, rows_expected", [("hooks", 2), ("schedules", 2)])
def test_quick_benchmark_prints_its_rows(workload: str, rows_expected: int) -> None:
    root = tempfile.mkdtemp(prefix=f"sdlb-{workload}-", dir="/tmp")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--quick", "--only", workload],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=170,
            env={**os.environ, "TMPDIR": root},
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(f"| {workload} |")]
    assert len(rows) == rows_expected, proc.stdout
    for line in rows:
        lite = [c.strip() for c in line.split("|")][4]
        assert re.fullmatch(r"-?\d+(\.\d+)?", lite), line
