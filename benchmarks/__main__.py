"""`python -m benchmarks [--quick] [--only NAME,...]`: run the workloads, print one table."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import resource
import sys
import time
import traceback

from benchmarks.common import Row, Settings, become_subreaper, kill_all_descendants
from benchmarks.managers import supervisor_available

WORKLOADS = ["spawn", "restart", "ctl", "logs", "idle", "memory", "stopall", "storm"]


def fmt(value, spec: str) -> str:
    if value is None:
        return "n/a"
    return spec.format(value)


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | metric | supervisord | supervisord_lite | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.ratio()
        ratio_text = (
            "n/a" if ratio is None else ("inf" if ratio == float("inf") else f"{ratio:.2f}x")
        )
        metric = (r.metric + (f" ({r.note})" if r.note else "")).replace("|", "\\|")
        left, right = fmt(r.supervisord, r.fmt), fmt(r.lite, r.fmt)
        if r.baseline is not None:
            left = right = fmt(r.baseline, r.fmt) + " (no manager)"
            ratio_text = "—"
        workload = r.workload.replace("|", "\\|")
        lines.append(f"| {workload} | {metric} | {left} | {right} | {ratio_text} |")
    return "\n".join(lines)


def revision() -> str:
    """The commit measured, with "+dirty" when the daemon's working tree differs from it."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "supervisord_lite"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (rev or "unknown") + ("+dirty" if dirty else "")


def raise_fd_limit() -> None:
    """1000 programs need ~5000 descriptors in either daemon; they inherit our limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {WORKLOADS}")
    parser.add_argument(
        "--no-supervisord", action="store_true", help="skip the supervisord side (n/a)"
    )
    args = parser.parse_args(argv)
    names = [w.strip() for w in args.only.split(",") if w.strip()] or WORKLOADS
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {WORKLOADS}")

    have_supervisor = supervisor_available() and not args.no_supervisord
    if not have_supervisor and not args.no_supervisord:
        print("supervisor is not installed: its column is n/a (pip install -e '.[bench]')")
    settings = Settings(quick=args.quick, with_supervisord=have_supervisor)
    become_subreaper()
    raise_fd_limit()

    print(
        f"# benchmarks ({'quick' if args.quick else 'full'}) on {platform.node()}: "
        f"{os.cpu_count()} cpus, Linux {platform.release()}, Python {platform.python_version()}, "
        f"supervisord_lite at {revision()}",
        flush=True,
    )
    rows: list[Row] = []
    failed = []
    started = time.monotonic()
    try:
        for name in names:
            t0 = time.monotonic()
            try:
                module = importlib.import_module(f"benchmarks.{name}")
                got = module.run(settings)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                got = [Row(name, "FAILED (traceback above)")]
            finally:
                kill_all_descendants()
            rows.extend(got)
            print(f"  {name}: {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
            for r in got:
                print(f"    {r.metric}: supervisord={r.supervisord} lite={r.lite}", file=sys.stderr)
    finally:
        kill_all_descendants()
    print()
    print(table(rows))
    print(f"\n(total {time.monotonic() - started:.0f}s; ratio > 1: supervisord_lite is better)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
