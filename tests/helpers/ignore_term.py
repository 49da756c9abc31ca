"""Ignores SIGTERM, prints `ready` and sleeps forever: only SIGKILL (or --exit-on) ends it."""

from __future__ import annotations

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mark import write_pid_atomically  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pidfile", default=None)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.pidfile:
        write_pid_atomically(args.pidfile, os.getpid())
    print("ready", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
