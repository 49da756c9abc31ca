"""Prints `ready`, waits --delay seconds, then exits with --code.

With --mark FILE it appends a `start` event at start and an `exit` event just before exiting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mark import mark  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--mark", default=None)
    ap.add_argument("--name", default="exiter")
    args = ap.parse_args()
    mark(args.mark, "start", args.name)
    print("ready", flush=True)
    if args.delay:
        time.sleep(args.delay)
    mark(args.mark, "exit", args.name)
    sys.stdout.flush()
    os._exit(args.code)


if __name__ == "__main__":
    main()
