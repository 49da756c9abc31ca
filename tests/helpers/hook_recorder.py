"""A hook for the tests: appends one JSON line to RECORD_FILE (its argv, MAINPID, the
hook kind, its cwd, uid and a few environment variables), prints to stdout and stderr,
then exits with --exit (default 0), or first sleeps --sleep seconds (a hanging hook)
or forks a grandchild that sleeps (--leave-child: it must die with the hook).

Usage: hook_recorder.py RECORD_FILE LABEL [--exit N] [--sleep S] [--leave-child]
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    record, label, *rest = sys.argv[1:]
    code = int(rest[rest.index("--exit") + 1]) if "--exit" in rest else 0
    sleep = float(rest[rest.index("--sleep") + 1]) if "--sleep" in rest else 0.0
    entry = {
        "label": label,
        "argv": sys.argv[1:],
        "pid": os.getpid(),
        "MAINPID": os.environ.get("MAINPID"),
        "EXIT_STATUS": os.environ.get("EXIT_STATUS"),
        "hook": os.environ.get("SUPERVISOR_HOOK"),
        "APP_ENV": os.environ.get("APP_ENV"),
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "t": time.time(),
    }
    if "--leave-child" in rest:
        child = os.fork()
        if child == 0:
            time.sleep(300)
            os._exit(0)
        entry["child"] = child
    with open(record, "a") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"hook {label} says hello on stdout", flush=True)
    print(f"hook {label} says hello on stderr", file=sys.stderr, flush=True)
    if sleep:
        time.sleep(sleep)
    sys.exit(code)


if __name__ == "__main__":
    main()
