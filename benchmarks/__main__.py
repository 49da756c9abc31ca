"""`python -m benchmarks [--quick] [--only NAME,...] [--save]`: run the workloads, print
one table; --save also writes the whole output to benchmarks/runs/ for committing."""

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

WORKLOADS = [
    "spawn",
    "restart",
    "ctl",
    "logs",
    "idle",
    "memory",
    "stopall",
    "storm",
    "flood",
    "checkconf",
    "paced",
    "xmlrpc",
    "listeners",
]
# Run only when named with --only: supervisord has nothing to compare them with, and
# the default table keeps a figure on both sides of every row. scale10k (10,000
# programs, minutes) is saved as a run of its own: `--only scale10k --save`.
LITE_ONLY = ["probes", "scale10k", "hooks", "schedules", "reexec"]
# Run only when named (--only web, hosts, top): web needs Chromium, hosts an sshd, top
# urwid (the top extra) and Chromium;
# neither has a supervisord side.
OPTIONAL = ["web", "hosts", "top", "rolling"]
# rolling (held sockets and restart --rolling under load, against supervisord's restart)
# is named too: it measures downtime, not a cost, and takes a minute of restarts.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS_DIR = os.path.join(ROOT, "benchmarks", "runs")


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
        elif r.lite_only:
            left, ratio_text = "not run", "—"
        workload = r.workload.replace("|", "\\|")
        lines.append(f"| {workload} | {metric} | {left} | {right} | {ratio_text} |")
    return "\n".join(lines)


def git(*args: str) -> str:
    import subprocess

    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return proc.stdout.strip()


def revision() -> str:
    """The commit measured, with "+dirty" when the daemon's or the benchmark's files differ
    from it (then the figures belong to no commit)."""
    rev = git("rev-parse", "--short", "HEAD")
    dirty = git(
        "status", "--porcelain", "--", "supervisord_lite", "benchmarks", ":!benchmarks/runs"
    )
    return (rev or "unknown") + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("psutil", "supervisor"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def raise_fd_limit() -> None:
    """1000 programs need ~5000 descriptors in either daemon; they inherit our limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of {WORKLOADS + LITE_ONLY + OPTIONAL}; `default` "
        "stands for the default ones (e.g. --only default,scale10k)",
    )
    parser.add_argument(
        "--no-supervisord", action="store_true", help="skip the supervisord side (n/a)"
    )
    parser.add_argument(
        "--save",
        action="store_true",
        help="also write the output to benchmarks/runs/DATE-COMMIT-MODE.md, to commit",
    )
    args = parser.parse_args(argv)
    names = []
    for word in (w.strip() for w in args.only.split(",")):
        names += WORKLOADS if word == "default" else [word] if word else []
    names = names or WORKLOADS
    unknown = [w for w in names if w not in WORKLOADS + LITE_ONLY + OPTIONAL]
    if unknown:
        known = WORKLOADS + LITE_ONLY + OPTIONAL
        parser.error(f"unknown workload(s) {unknown}; choose from {known}")

    have_supervisor = supervisor_available() and not args.no_supervisord
    if not have_supervisor and not args.no_supervisord:
        print("supervisor is not installed: its column is n/a (pip install -e '.[bench]')")
    settings = Settings(quick=args.quick, with_supervisord=have_supervisor)
    become_subreaper()
    raise_fd_limit()

    out = Output()
    mode = "quick" if args.quick else "full"
    out.line(
        f"# benchmarks ({mode}) on {platform.node()}: "
        f"{os.cpu_count()} cpus, Linux {platform.release()}, Python {platform.python_version()}, "
        f"supervisord_lite at {out.revision}"
    )
    out.line(f"# started {time.strftime('%Y-%m-%d %H:%M:%S %z')}, command: {command_line(argv)}")
    out.line(f"# machine: {cpu_model()}; {versions()}; {load()} at start")
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
                out.progress(traceback.format_exc().rstrip())
                failed.append(name)
                got = [Row(name, "FAILED (traceback above)")]
            finally:
                kill_all_descendants()
            rows.extend(got)
            out.progress(f"  {name}: {time.monotonic() - t0:.1f}s ({load()})")
            for r in got:
                if r.baseline is not None:
                    out.progress(f"    {r.metric}: no manager={r.baseline}")
                else:
                    out.progress(f"    {r.metric}: supervisord={r.supervisord} lite={r.lite}")
    finally:
        kill_all_descendants()
    out.line()
    out.line(table(rows))
    out.line(
        f"\n(total {time.monotonic() - started:.0f}s, {load()} at the end; "
        "ratio > 1: supervisord_lite is better)"
    )
    if args.save:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        path = out.save("-".join([mode, *words]))  # e.g. full, full-scale10k
        print(f"saved to {os.path.relpath(path, ROOT)}", file=sys.stderr)
    return 1 if failed else 0


def command_line(argv: list[str] | None) -> str:
    return " ".join(["python -m benchmarks", *(sys.argv[1:] if argv is None else argv)])


class Output:
    """Prints the table (stdout) and progress (stderr) and keeps both, for --save."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.revision = revision()  # the code measured: the tree as the run starts
        self.started = time.strftime("%Y-%m-%d-%H%M")

    def line(self, text: str = "") -> None:
        print(text, flush=True)
        self.kept.append(text)

    def progress(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)
        self.kept.append(text)

    def save(self, mode: str) -> str:
        """benchmarks/runs/DATE-COMMIT-MODE.md: the run's whole output, as printed. Named
        by when the run started and the commit it measured, not those at saving time
        (a commit made meanwhile would otherwise name a run of the code before it)."""
        os.makedirs(RUNS_DIR, exist_ok=True)
        stem = f"{self.started}-{self.revision.replace('+', '-')}-{mode}"
        path = os.path.join(RUNS_DIR, stem + ".md")
        with open(path, "w") as f:
            f.write("\n".join(self.kept) + "\n")
        return path


if __name__ == "__main__":
    sys.exit(main())
