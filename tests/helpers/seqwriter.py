"""Writes numbered lines `seq 000001 <padding>` to stdout (and stderr with --stderr).

--count N lines (0 = forever), --interval seconds between lines, --width line length,
--split: each line written in two pieces a moment apart (--split-pause; a reader sees
half lines).
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--width", type=int, default=40)
    ap.add_argument("--stderr", action="store_true")
    ap.add_argument("--stay", action="store_true", help="sleep forever after --count lines")
    ap.add_argument("--split", action="store_true")
    ap.add_argument("--split-pause", type=float, default=0.0002, help="between the halves")
    args = ap.parse_args()
    i = 0
    while args.count == 0 or i < args.count:
        i += 1
        head = f"seq {i:07d} "
        line = head + "x" * max(0, args.width - len(head) - 1) + "\n"
        if args.split:
            sys.stdout.write(line[:10])
            sys.stdout.flush()
            time.sleep(args.split_pause)
            line = line[10:]
        sys.stdout.write(line)
        if args.stderr:
            sys.stderr.write("err" + line[3:])
        if args.interval:
            sys.stdout.flush()
            sys.stderr.flush()
            time.sleep(args.interval)
    sys.stdout.flush()
    sys.stderr.flush()
    while args.stay:
        time.sleep(3600)


if __name__ == "__main__":
    main()
