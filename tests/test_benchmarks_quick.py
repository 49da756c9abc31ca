"""The benchmark harness must never rot: run its quick mode on two cheap workloads and
check that a table comes out and that nothing it started survives it. The supervisord
column is n/a when PyPI supervisor is not installed (it is in the `bench` extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench_procs() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "/tmp/sdlb-" in cmdline:
            found.add(proc.pid)
    return found


@pytest.mark.timeout(120)
def test_quick_benchmark_prints_a_table() -> None:
    before = _bench_procs()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "spawn,ctl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "| workload | metric | supervisord | supervisord_lite | ratio |" in lines
    rows = [line for line in lines if line.startswith("| spawn |") or line.startswith("| ctl |")]
    rows = [row for row in rows if "no manager" not in row]  # reference floors, not managers
    assert len(rows) >= 4, proc.stdout
    for row in rows:
        lite = row.split("|")[4].strip()
        float(lite)  # the supervisord_lite column always has a number
    try:
        import supervisor  # noqa: F401
    except ImportError:
        assert all(row.split("|")[3].strip() == "n/a" for row in rows)
    assert not (_bench_procs() - before), "the benchmark left processes behind"
