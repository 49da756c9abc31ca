"""An event listener written with supervisor.childutils, as Supervisor's users write them.

Appends one JSON line per event it gets to OUT: {"headers": ..., "payload": ...}; its
first line is {"env": {...}} (the SUPERVISOR_* variables it was started with).
--fail N: answer FAIL to its first N events (they must come again).
--garbage: write a stray line instead of READY (the daemon must show it UNKNOWN).
--never-read: say READY once, then never read stdin again.
--delay S: wait S seconds before the first READY (a listener slow to start).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from supervisor import childutils


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--never-read", action="store_true")
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    out = open(args.out, "a", buffering=1)
    env = {k: v for k, v in os.environ.items() if k.startswith("SUPERVISOR_")}
    out.write(json.dumps({"env": env}) + "\n")
    if args.delay:
        time.sleep(args.delay)
    if args.garbage:
        sys.stdout.write("hello, I am not a listener\n")
        sys.stdout.flush()
        time.sleep(3600)
    if args.never_read:
        childutils.listener.ready(sys.stdout)
        time.sleep(3600)
    failed = 0
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        out.write(json.dumps({"headers": headers, "payload": payload}) + "\n")
        if failed < args.fail:
            failed += 1
            childutils.listener.fail(sys.stdout)
        else:
            childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
