"""Two installs of supervisord_lite side by side, for a change that must cost nothing
(issue 23's move into packages): the ctl's start-up, the daemon's RSS with 1000
sleeping programs after one `status`, and its wakeups while idle.

    python -m benchmarks.house OLD_VENV NEW_VENV [--runs 20] [--rounds 3]

Each VENV is a regular (not editable) install, e.g. `python3 -m venv V && V/bin/pip
install .` in the tree to measure. Runs alternate between the two (A B A B ...), so a
busy moment of the shared machine falls on both alike. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks.common import ctx_switches, median
from benchmarks.managers import Lite

MiB = 1024 * 1024


class VenvLite(Lite):
    """The benchmarks' supervisord_lite manager, run from a given venv's bin/."""

    def __init__(self, bin_dir: Path):
        super().__init__()
        self.bin = bin_dir

    def launch(self) -> None:
        argv = [str(self.bin / "supervisord-lite"), "-c", str(self.config)]
        proc = self._run_daemon(argv, 300)
        if proc.returncode != 0:
            raise RuntimeError(f"supervisord-lite failed: {proc.stderr.strip()}")
        self.pid = self._read_pid(self.pidfile)

    def ctl(self, *args: str) -> list[str]:
        return [str(self.bin / "supervisorctl-lite"), "-c", str(self.config), *args]


def ctl_wall(bin_dir: Path) -> float:
    """Seconds for `supervisorctl-lite --version`, process start to exit."""
    t0 = time.perf_counter()
    subprocess.run([str(bin_dir / "supervisorctl-lite"), "--version"], capture_output=True)
    return time.perf_counter() - t0


def ctl_modules(bin_dir: Path) -> tuple[int, int]:
    """(modules imported, of which supervisord_lite's) by `supervisorctl-lite --version`."""
    argv = [str(bin_dir / "python"), "-X", "importtime", str(bin_dir / "supervisorctl-lite")]
    err = subprocess.run([*argv, "--version"], capture_output=True, text=True).stderr
    # One line per module after the header ("import time: self [us] | ... | package").
    names = [line.rsplit("|", 1)[-1].strip() for line in err.splitlines()[1:]]
    return len(names), sum(n.startswith("supervisord_lite") for n in names)


def daemon_figures(bin_dir: Path, n: int, window: float) -> tuple[float, int]:
    """(RSS in MiB after one status, context switches over `window` s idle) with n
    sleeping programs."""
    with VenvLite(bin_dir) as mgr:
        mgr.launch_sleepers(n, timeout=300, interval=0.1)  # ends with one full status
        time.sleep(1.0)  # let start-up work (timers, the log flush) finish
        rss = psutil.Process(mgr.pid).memory_info().rss / MiB
        before = ctx_switches(mgr.pid)
        time.sleep(window)
        return rss, ctx_switches(mgr.pid) - before


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.house")
    parser.add_argument("old", type=Path, help="the venv of the tree before")
    parser.add_argument("new", type=Path, help="the venv of the tree after")
    parser.add_argument("--runs", type=int, default=20, help="ctl runs per install")
    parser.add_argument("--rounds", type=int, default=3, help="daemons per install")
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=5.0, help="idle seconds watched")
    args = parser.parse_args(argv)
    bins = {"before": args.old / "bin", "after": args.new / "bin"}
    walls: dict[str, list[float]] = {k: [] for k in bins}
    for i in range(args.runs):
        for label in sorted(bins, reverse=i % 2 == 1):
            walls[label].append(ctl_wall(bins[label]))
    modules = {label: ctl_modules(b) for label, b in bins.items()}
    daemon: dict[str, list[tuple[float, int]]] = {k: [] for k in bins}
    for i in range(args.rounds):
        for label in sorted(bins, reverse=i % 2 == 1):
            daemon[label].append(daemon_figures(bins[label], args.programs, args.window))
    rows = [
        (f"`supervisorctl-lite --version` wall time, median of {args.runs} (ms)", "{:.1f}",
         {k: median(v) * 1000 for k, v in walls.items()}),
        ("modules it imports (all / supervisord_lite's)", "{}",
         {k: f"{m[0]} / {m[1]}" for k, m in modules.items()}),
        (f"daemon RSS, {args.programs} programs, after one status, median of {args.rounds} (MiB)",
         "{:.1f}", {k: median([r for r, _ in v]) for k, v in daemon.items()}),
        (f"daemon context switches in {args.window:g} s idle, max of {args.rounds}", "{}",
         {k: max(c for _, c in v) for k, v in daemon.items()}),
    ]  # fmt: skip
    print("| measure | before | after |\n|---|---:|---:|")
    for what, fmt, values in rows:
        print(f"| {what} | {fmt.format(values['before'])} | {fmt.format(values['after'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
