"""The hooks benchmark (`python -m benchmarks --only hooks`) must never rot: its quick
mode runs and prints a number for each row, leaving nothing behind."""

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


def test_quick_hooks_benchmark_prints_its_rows() -> None:
    root = tempfile.mkdtemp(prefix="sdlb-hooks-", dir="/tmp")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--quick", "--only", "hooks"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=170,
            env={**os.environ, "TMPDIR": root},
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| hooks |")]
    assert len(rows) == 2, proc.stdout
    for line in rows:
        lite = [c.strip() for c in line.split("|")][4]
        assert re.fullmatch(r"-?\d+(\.\d+)?", lite), line
