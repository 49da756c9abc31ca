"""benchmarks/compare.py reads two saved runs and prints every ratio's change: a ratio
that fell is marked, and --fail turns that into exit status 1 (a commit that costs speed
is seen when it lands)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TABLE = """# benchmarks (full) on vm: 2 cpus, supervisord_lite at {rev}
# started 2026-11-28 22:50:19 +0000, command: python -m benchmarks --save

| workload | metric | supervisord | supervisord_lite | ratio |
|---|---|---:|---:|---:|
| ctl | status round trips/s on one connection, 100 programs (median of 3) | 75 | {rtt} | {ratio} |
| memory | 1000 programs: daemon RSS (MiB) (median of {n}) | 37.0 | 18.0 | 2.06x |
| logs: 1 MB \\| cat | throughput (MB/s) | 100 | 100 | 1.00x |
| spawn | no manager: 1000 x Popen, serial (s) | 0.558 (no manager) | 0.558 (no manager) | — |
{extra}
(total 42s)
"""


def write_run(path: Path, rev: str, rtt: int, ratio: str, n: int = 3, extra: str = "") -> Path:
    path.write_text(TABLE.format(rev=rev, rtt=rtt, ratio=ratio, n=n, extra=extra))
    return path


def compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def row(out: str, text: str) -> str:
    return next(line for line in out.splitlines() if text in line)


def test_a_fallen_ratio_is_marked_and_fails_with_fail(tmp_path) -> None:
    old = write_run(tmp_path / "old.md", "aaaaaaa", 2604, "34.72x")
    new = write_run(
        tmp_path / "new.md",
        "bbbbbbb",
        1623,
        "21.64x",
        n=1,  # another note: rows still pair up on the metric without it
        extra="| paced status | API round trip, median (ms) | 1.0 | 0.5 | 2.00x |",
    )
    proc = compare(str(old), str(new))
    assert proc.returncode == 0, proc.stderr
    ctl = row(proc.stdout, "status round trips/s")
    assert "| 34.72x | 21.64x | -37.7% | 2604 | 1623 | -37.7% | **worse** |" in ctl
    memory = row(proc.stdout, "daemon RSS")
    assert "| 2.06x | 2.06x | = | 18.0 | 18.0 | = |  |" in memory
    assert "| logs: 1 MB \\| cat | throughput (MB/s) |" in proc.stdout
    assert "| 0.558 | 0.558 | = |" in row(proc.stdout, "no manager: 1000 x Popen")
    assert "paced status | API round trip, median (ms): 1.0 / 0.5" not in proc.stdout
    assert "workloads not in the other run: paced status (1 rows)" in proc.stdout
    assert "(aaaaaaa)" in proc.stdout and "(bbbbbbb)" in proc.stdout
    assert compare("--fail", str(old), str(new)).returncode == 1
    assert compare("--fail", str(new), str(old)).returncode == 0  # it rose: not worse


def test_a_run_is_found_by_part_of_its_name() -> None:
    runs = sorted((ROOT / "benchmarks" / "runs").glob("*-full.md"))
    assert len(runs) >= 2
    proc = compare(runs[0].stem, runs[-1].name)
    assert proc.returncode == 0, proc.stderr
    assert f"old: {runs[0].name}" in proc.stdout and f"new: {runs[-1].name}" in proc.stdout


def test_an_unknown_run_is_an_error_that_says_so(tmp_path) -> None:
    proc = compare("no-such-run-anywhere", "neither")
    assert proc.returncode != 0
    assert "no run file 'no-such-run-anywhere'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_commit_names_its_whole_run_not_a_later_partial_one(tmp_path, monkeypatch) -> None:
    """A commit's main run and its scale10k run, saved after it, share the commit in
    their names: `compare OLD COMMIT` took the newer, partial one and matched no row."""
    from benchmarks import compare as module

    whole = write_run(tmp_path / "2026-12-07-2224-9394eb1-full.md", "9394eb1", 1538, "37.08x")
    write_run(tmp_path / "2026-12-07-2241-9394eb1-full-scale10k.md", "9394eb1", 1, "1.00x")
    only = write_run(tmp_path / "2026-12-07-2300-abcdef1-full-restart.md", "abcdef1", 1, "1.00x")
    monkeypatch.setattr(module, "RUNS_DIR", str(tmp_path))
    assert module.resolve("9394eb1") == str(whole)
    assert module.resolve("abcdef1") == str(only)  # with no whole run, the one there is


def test_a_commit_names_its_run_of_every_default_workload_not_its_ab_notes(
    tmp_path, monkeypatch
) -> None:
    """`--only default,scale10k` saves the whole run as ...-full-default-scale10k.md, and
    an A/B's notes (no table) saved later share the commit: the whole run is meant."""
    from benchmarks import compare as module

    whole = write_run(
        tmp_path / "2026-12-08-0244-0af719b-full-default-scale10k.md", "0af719b", 2018, "40.04x"
    )
    write_run(tmp_path / "2026-12-08-0302-0af719b-full-restart-stopall.md", "0af719b", 1, "1.00x")
    (tmp_path / "2026-12-08-0310-0af719b-ab-together.md").write_text("# A/B notes\n\nno table\n")
    monkeypatch.setattr(module, "RUNS_DIR", str(tmp_path))
    assert module.resolve("0af719b") == str(whole)
