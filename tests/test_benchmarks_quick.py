"""The benchmark harness must never rot: run EVERY workload in quick mode against both
supervisord (PyPI supervisor, in the test extra) and supervisord_lite, and check that
every row has a number on both sides (or is a no-manager floor, or a supervisord_lite-only
row of scale10k) and that nothing the run started survives it. The quick run takes
~100-150 s on the 2-core dev machine, up to 4 minutes when it is loaded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)?$")
FLOOR = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)? \(no manager\)$")

# Table workload names (before any ":") of the workloads `python -m benchmarks` runs by
# default, and of scale10k, run here too (its own run at full size takes minutes).
EXPECTED = {
    "spawn", "restart", "ctl", "logs", "idle", "memory", "stop-all", "crash storm", "flood",
    "checkconf", "paced status", "scale", "xmlrpc", "listeners",
}  # fmt: skip
# Workloads whose rows may leave supervisord's column empty ("not run": it cannot), and
# rows of other workloads that measure what supervisord has not (its process info has
# no tree figures).
LITE_ONLY_ROWS = {"scale"}
LITE_ONLY_METRICS = ("daemon CPU per API request with every tree's figures",)

pytestmark = pytest.mark.timeout(480)


def _bench_procs(root: str) -> set[int]:
    """Processes whose command line names a path under `root` (this run's TMPDIR): other
    benchmark runs on the machine are not this one's business."""
    found = set()
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if root in cmdline:
            found.add(proc.pid)
    return found


def _cells(line: str) -> list[str]:
    """The cells of a table row; `\\|` inside a cell is not a separator."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


@pytest.fixture
def bench_tmpdir():
    """A short TMPDIR of this run's own (AF_UNIX paths are at most 107 bytes)."""
    root = tempfile.mkdtemp(prefix="sdlb-run-", dir="/tmp")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_quick_benchmark_measures_every_workload_on_both_sides(bench_tmpdir) -> None:
    import supervisor  # noqa: F401  (the test extra installs it: both sides must run)

    root = bench_tmpdir  # the benchmarks make their directories under TMPDIR
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "default,scale10k",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=470,
        env={**os.environ, "TMPDIR": root},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = "| workload | metric | supervisord | supervisord_lite | ratio |"
    assert header in lines, proc.stdout
    rows = [_cells(line) for line in lines[lines.index(header) + 2 :] if line.startswith("| ")]
    seen = set()
    for workload, metric, left, right, _ratio in rows:
        assert "FAILED" not in metric, proc.stdout + proc.stderr
        seen.add(workload.split(":")[0])
        if FLOOR.match(left):
            assert left == right, (workload, metric)
            continue
        if left == "not run":
            lite_only = workload.split(":")[0] in LITE_ONLY_ROWS
            assert lite_only or metric.startswith(LITE_ONLY_METRICS), (workload, metric)
            assert NUMBER.match(right), (workload, metric, right)
            continue
        assert NUMBER.match(left) and NUMBER.match(right), (workload, metric, left, right)
    assert seen == EXPECTED, seen
    assert not _bench_procs(root), "the benchmark left processes behind"


def test_pid_env_benchmark_prints_its_table():
    """benchmarks/pid_env.py (docs/health.md quotes it) still runs and prints every row."""
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks.pid_env", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 7, res.stdout
    for row in rows[1:]:
        cpu, wall = row.strip("| ").split(" | ")[-2:]
        assert NUMBER.match(cpu) and NUMBER.match(wall), row


def test_env_file_benchmark_prints_its_table():
    """benchmarks/env_file.py (docs/lifecycle.md quotes it) still runs and prints every row."""
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks.env_file", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4, res.stdout
    for row in rows[1:]:
        cpu, wall = row.strip("| ").split(" | ")[-2:]
        assert NUMBER.match(cpu) and NUMBER.match(wall), row


@pytest.mark.timeout(240)
def test_top_benchmark_measures_top_and_the_page_with_1000_processes(bench_tmpdir):
    """benchmarks/top.py (docs/top.md quotes it): top's frame times and the page's, each
    row a number (urwid is in the test extra; without Chromium the page's row is left out)."""
    from integration import browser

    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "top"],
        cwd=ROOT, capture_output=True, text=True, timeout=230,
        env={**os.environ, "TMPDIR": bench_tmpdir},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [_cells(line) for line in res.stdout.splitlines() if line.startswith("| top |")]
    assert len(rows) == (4 if browser.available() else 3), res.stdout
    for _workload, metric, _left, right, _ratio in rows:
        assert "1000 processes" in metric and NUMBER.match(right), (metric, right)


def test_rolling_benchmark_runs_quick_and_drops_nothing(bench_tmpdir) -> None:
    """benchmarks/rolling.py (`--only rolling`): both sides measured; under the held
    socket and restart --rolling, no refused connection and no failed request."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "rolling"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": bench_tmpdir},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [_cells(line) for line in proc.stdout.splitlines() if line.startswith("| rolling")]
    assert len(rows) == 6, proc.stdout
    for _workload, metric, left, right, _ratio in rows:
        assert NUMBER.match(right), (metric, right)
        if "refused" in metric or "failed" in metric:
            assert right == "0", (metric, right, proc.stdout)
        if not metric.startswith("4 processes"):
            assert NUMBER.match(left), (metric, left)
    assert not _bench_procs(bench_tmpdir), "the benchmark left processes behind"


@pytest.mark.timeout(300)
def test_reexec_benchmark_prints_its_rows(bench_tmpdir):
    """`--only reexec` (supervisord_lite alone: supervisord cannot upgrade in place)."""
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "reexec"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
        env={**os.environ, "TMPDIR": bench_tmpdir},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [_cells(line) for line in res.stdout.splitlines() if line.startswith("| reexec |")]
    assert len(rows) == 4, res.stdout
    for row in rows:
        assert row[2] == "not run" and NUMBER.match(row[3]), row
    assert not _bench_procs(bench_tmpdir), "the benchmark left processes behind"
