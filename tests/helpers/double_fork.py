"""Double-forks an orphan, waits until it is set up, then exits (or lives --main-lifetime s).

The orphan (setsid'd unless --same-group, so the daemon's leftover-group kill does not
take it) writes its pid to --pidfile, lives --orphan-lifetime seconds (or, with
--exit-when FILE, until FILE exists, at most 30 s) and exits: its new parent (the daemon,
a child subreaper) must reap it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mark import write_pid_atomically  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--orphan-lifetime", type=float, default=0.5)
    ap.add_argument("--main-lifetime", type=float, default=0.0)
    ap.add_argument("--same-group", action="store_true")
    ap.add_argument("--exit-when", default=None)
    args = ap.parse_args()
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        intermediate = os.getpid()
        if os.fork() == 0:
            if not args.same_group:
                os.setsid()
            # Wait until our parent is gone so that we really are an orphan when we say so.
            while os.getppid() == intermediate:
                time.sleep(0.001)
            write_pid_atomically(args.pidfile, os.getpid())
            if args.exit_when:
                deadline = time.monotonic() + 30
                while not os.path.exists(args.exit_when) and time.monotonic() < deadline:
                    time.sleep(0.01)
            else:
                time.sleep(args.orphan_lifetime)
            os._exit(0)
        os._exit(0)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while not os.path.exists(args.pidfile) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("ready", flush=True)
    if args.main_lifetime:
        time.sleep(args.main_lifetime)
    os._exit(0)


if __name__ == "__main__":
    main()
