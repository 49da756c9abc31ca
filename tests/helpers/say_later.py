"""Prints `starting`, waits --delay seconds, prints --line (to stderr with --stderr),
then sleeps until signalled."""

from __future__ import annotations

import argparse
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--delay", type=float, default=0.5)
ap.add_argument("--line", default="Ready to accept connections")
ap.add_argument("--stderr", action="store_true")
args = ap.parse_args()
print("starting", flush=True)
time.sleep(args.delay)
out = sys.stderr if args.stderr else sys.stdout
out.write("partial " + args.line[:3])
out.flush()
time.sleep(0.05)
out.write(args.line[3:] + "\n")
out.flush()
while True:
    time.sleep(3600)
