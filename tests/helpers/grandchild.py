"""Spawns a grandchild in its own process group, then sleeps (or exits after --exit-after).

The grandchild writes its pid to --pidfile once set up; with --grandchild-ignores-term it
ignores SIGTERM, so only a group SIGKILL gets rid of it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mark import write_pid_atomically  # noqa: E402


def grandchild(args: argparse.Namespace) -> None:
    if args.grandchild_ignores_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write_pid_atomically(args.pidfile, os.getpid())
    while True:
        signal.pause()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--grandchild-ignores-term", action="store_true")
    ap.add_argument("--exit-after", type=float, default=None)
    ap.add_argument("--as-grandchild", action="store_true")
    args = ap.parse_args()
    if args.as_grandchild:
        grandchild(args)
        return
    cmd = [sys.executable, os.path.abspath(__file__), "--as-grandchild", "--pidfile", args.pidfile]
    if args.grandchild_ignores_term:
        cmd.append("--grandchild-ignores-term")
    # Same session and process group as us: no start_new_session.
    subprocess.Popen(cmd, close_fds=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(args.pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", flush=True)
    if args.exit_after is not None:
        time.sleep(args.exit_after)
        os._exit(1)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
