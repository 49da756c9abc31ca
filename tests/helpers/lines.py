"""Writes N numbered lines to stdout (`out 000001`) and stderr (`err 000001`), interleaved.

Then exits 0, or with --stay sleeps forever.
"""

from __future__ import annotations

import argparse
import signal
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("count", type=int)
    ap.add_argument("--stay", action="store_true")
    args = ap.parse_args()
    for i in range(1, args.count + 1):
        sys.stdout.write(f"out {i:06d}\n")
        sys.stderr.write(f"err {i:06d}\n")
        if i % 100 == 0:
            sys.stdout.flush()
            sys.stderr.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    if args.stay:
        while True:
            signal.pause()


if __name__ == "__main__":
    main()
